// backend_rpc_legacy with backend_rpc_transformer superjson: the legacy
// server transforms with superjson too (fixtures/legacy-server.mjs
// superjson).  Its calls' Dates, inputs and errors reach the real
// @trpc/client as they do from the legacy server directly, alone, in
// batches with declared calls, and in httpBatchStreamLink's lines.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import superjson from 'superjson';
import { createTRPCClient, httpBatchLink, httpBatchStreamLink, httpLink, TRPCClientError } from '@trpc/client';
import { Nginx, conninfo } from './lib/nginx.mjs';
import { Legacy, freePort } from './lib/legacy.mjs';

const legacy = new Legacy({ transformer: 'superjson' });
let nginx;

const http = `
    backend_metrics_zone metrics 2m;
    backend_pg main "${conninfo()}" max=4 query_timeout=5s;
    backend_procedure health { type query; tier public; data '{"ok":true}'; }
    backend_procedure native.when {
        tier public; sql "select '2021-05-06T07:08:09.123Z'::timestamptz as at, $1::int as n";
        params input.n; result one;
    }
    backend_procedure shadow.same {
        tier public;
        sql "select $1::int as id, 'item ' || $1 as title, array['a', 'b'] as tags,
                    '2020-01-01T00:00:00Z'::timestamptz as at";
        params input.id; result one;
    }
`;

before(async () => {
  await legacy.start();
  nginx = new Nginx({
    http,
    location: `
        location /trpc/ {
            backend_rpc;
            backend_rpc_transformer superjson;
            backend_rpc_legacy /_legacy/;
            backend_rpc_shadow shadow.same rate=1 ignore=$.at;
        }
        location = /metrics { backend_metrics; }
        location /trpc-down/ {
            backend_rpc;
            backend_rpc_transformer superjson;
            backend_rpc_legacy /_down/;
        }
        location /_legacy/ { internal; proxy_pass http://127.0.0.1:${legacy.port}/trpc/; }
        location /_down/ { internal; proxy_pass http://127.0.0.1:${await freePort()}/trpc/; }`,
  });
  await nginx.start();
});

after(async () => {
  try {
    assert.deepEqual(nginx.problems(), []);
    await nginx.stop();
  } finally {
    await legacy.stop();
  }
});

async function outcome(promise) {
  try {
    return { ok: await promise };
  } catch (err) {
    assert.ok(err instanceof TRPCClientError, `not a TRPCClientError: ${err}`);
    return { code: err.data?.code, httpStatus: err.data?.httpStatus, message: err.message };
  }
}

function calls(url, link) {
  const c = createTRPCClient({ links: [link({ url, transformer: superjson })] });
  return Promise.all([
    outcome(c.legacy.when.query()),
    outcome(c.legacy.echo.query({ d: new Date('1999-12-31T23:59:59.000Z'), list: [new Date(1)] })),
    outcome(c.legacy.conflict.query()),
    outcome(c.legacy.strict.query({ n: 21 })),
  ]);
}

for (const [name, link] of [['httpLink', httpLink], ['httpBatchLink', httpBatchLink],
                            ['httpBatchStreamLink', httpBatchStreamLink]]) {
  describe(name, () => {
    test('legacy calls: what the legacy server gives directly, Dates and bigints included', async () => {
      const direct = await calls(legacy.url, link);
      const through = await calls(nginx.url, link);
      assert.deepEqual(through, direct);
      assert.ok(through[0].ok.at instanceof Date);
      assert.deepEqual(through[0].ok, { at: new Date('2020-01-02T03:04:05.678Z'), list: [new Date(0)], n: 1 });
      assert.deepEqual(through[1].ok, { input: { d: new Date('1999-12-31T23:59:59.000Z'), list: [new Date(1)] } });
      assert.equal(through[2].code, 'CONFLICT');
      assert.deepEqual(through[3], { ok: 42 });
    });

    test('bigint and undefined: as the legacy gives them, but in a stream', async () => {
      const input = { big: 12n, u: undefined, d: new Date(2) };
      const c = (url) => createTRPCClient({ links: [link({ url, transformer: superjson })] });
      const direct = await outcome(c(legacy.url).legacy.echo.query(input));
      const through = await outcome(c(nginx.url).legacy.echo.query(input));
      assert.deepEqual(direct, { ok: { input } });
      if (name !== 'httpBatchStreamLink') {
        assert.deepEqual(through, direct);
      } else {
        // a stream's line carries Dates only here (docs/directives.md)
        assert.deepEqual(through, { code: 'BAD_GATEWAY', httpStatus: 502,
                                    message: 'Legacy answer not representable in a stream' });
      }
    });

    test('declared and legacy calls together', async () => {
      const c = createTRPCClient({ links: [link({ url: nginx.url, transformer: superjson })] });
      const r = await Promise.all([outcome(c.native.when.query({ n: 3 })), outcome(c.legacy.when.query()),
                                   outcome(c.health.query()), outcome(c.legacy.conflict.query())]);
      assert.deepEqual(r[0], { ok: { at: new Date('2021-05-06T07:08:09.123Z'), n: 3 } });
      assert.deepEqual(r[1], { ok: { at: new Date('2020-01-02T03:04:05.678Z'), list: [new Date(0)], n: 1 } });
      assert.deepEqual(r[2], { ok: { ok: true } });
      assert.equal(r[3].code, 'CONFLICT');
    });

    test('legacy down: BAD_GATEWAY in superjson\'s envelope', async () => {
      const c = createTRPCClient({ links: [link({ url: nginx.url.replace('/trpc', '/trpc-down'),
                                                  transformer: superjson })] });
      const r = await Promise.all([outcome(c.legacy.when.query()), outcome(c.health.query())]);
      assert.deepEqual(r[0], { code: 'BAD_GATEWAY', httpStatus: 502, message: 'Legacy server unavailable' });
      assert.deepEqual(r[1], { ok: { ok: true } });
    });
  });
}

test('shadow calls with superjson: the input as the client wrote it, the values compared', async () => {
  const count = async (outcome) => {
    const text = await (await fetch(nginx.url.replace('/trpc', '/metrics'))).text();
    const m = new RegExp(`^backend_shadow_calls_total\\{procedure="shadow\\.same",outcome="${outcome}"\\} (\\d+)$`, 'm')
      .exec(text);
    return m ? Number(m[1]) : 0;
  };
  for (const link of [httpLink, httpBatchLink, httpBatchStreamLink]) {
    const c = createTRPCClient({ links: [link({ url: nginx.url, transformer: superjson })] });
    assert.deepEqual(await c.shadow.same.query({ id: 5 }),
                     { id: 5, title: 'item 5', tags: ['a', 'b'], at: new Date('2020-01-01T00:00:00Z') });
  }
  let n = 0;
  for (let i = 0; i < 300 && n < 3; i++) {
    n = await count('match');
    if (n < 3) await new Promise((ok) => setTimeout(ok, 50));
  }
  assert.equal(n, 3);
  assert.equal(await count('mismatch') + await count('legacy_error'), 0);
});
