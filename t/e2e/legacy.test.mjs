// backend_rpc_legacy: calls of procedures not declared here go to the legacy
// tRPC server (fixtures/legacy-server.mjs, the real @trpc/server), through
// a location of nginx's own proxy_pass.  The real @trpc/client gets the same
// results through nginx as from the legacy server directly, with httpLink,
// httpBatchLink and httpBatchStreamLink, for batches of declared calls,
// of legacy calls and of both; a legacy server that is down, slow or not
// tRPC gives its calls error envelopes and the declared calls still run.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createTRPCClient, httpBatchLink, httpBatchStreamLink, httpLink, TRPCClientError } from '@trpc/client';
import { Nginx, conninfo } from './lib/nginx.mjs';
import { Legacy, freePort } from './lib/legacy.mjs';

const legacy = new Legacy();
let nginx;

const http = `
    backend_pg main "${conninfo()}" max=4 query_timeout=5s;

    backend_procedure health { type query; tier public; data '{"ok":true}'; }
    backend_procedure native.double {
        tier public; sql "select $1::int * 2 as v"; params input.n; result value;
    }
    backend_procedure native.slow {
        tier public; sql "select true as slept from pg_sleep($1::float8)"; params input; result value;
    }
    backend_procedure native.note {
        type mutation; tier public; sql "select $1::text as note"; params input.note; result one;
    }
    backend_procedure native.moved { tier public; data '"here"'; }
`;

function location(legacyPort, downPort) {
  return `
        location /trpc/ { backend_rpc; backend_rpc_legacy /_legacy/; }
        location /trpc-down/ { backend_rpc; backend_rpc_legacy /_down; }
        location /trpc-html/ { backend_rpc; backend_rpc_legacy /_html/; }
        location /trpc-none/ { backend_rpc; }
        location /_legacy/ {
            internal;
            proxy_pass http://127.0.0.1:${legacyPort}/trpc/;
            proxy_read_timeout 2s;
            subrequest_output_buffer_size 256k;
        }
        location /_down/ { internal; proxy_pass http://127.0.0.1:${downPort}/trpc/; }
        location /_html/ { internal; default_type text/html; return 200 "<html>maintenance</html>"; }`;
}

before(async () => {
  await legacy.start();
  nginx = new Nginx({ http, location: location(legacy.port, await freePort()) });
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

const base = () => `http://127.0.0.1:${nginx.port}`;

async function outcome(promise) {
  try {
    return { ok: await promise };
  } catch (err) {
    assert.ok(err instanceof TRPCClientError, `not a TRPCClientError: ${err}`);
    return { code: err.data?.code, httpStatus: err.data?.httpStatus, message: err.message, path: err.data?.path };
  }
}

// the same calls, made together, through a client of the given link
function calls(url, link, headers = {}) {
  const c = createTRPCClient({ links: [link({ url, headers })] });
  return Promise.all([
    outcome(c.legacy.echo.query({ a: 1, s: 'é & ü?', big: 12345678901234567890, list: [1, null, 'x'] })),
    outcome(c.legacy.conflict.query()),
    outcome(c.legacy.strict.query({ n: 1.5 })),
    outcome(c.legacy.strict.query({ n: 21 })),
    outcome(c.legacy.headers.query()),
    outcome(c.no.such.query()),
  ]);
}

for (const [name, link] of [['httpLink', httpLink], ['httpBatchLink', httpBatchLink],
                            ['httpBatchStreamLink', httpBatchStreamLink]]) {
  describe(name, () => {
    const headers = { authorization: 'Bearer legacy-token', cookie: 'a=1; __session=xyz' };

    test('legacy calls get what the legacy server gives directly', async () => {
      const direct = await calls(legacy.url, link, headers);
      const through = await calls(`${base()}/trpc`, link, headers);
      assert.deepEqual(through, direct);
      // and they are the legacy's answers, not a refusal of ours
      assert.deepEqual(through[0], { ok: { input: { a: 1, s: 'é & ü?', big: 12345678901234567000, list: [1, null, 'x'] } } });
      assert.equal(through[1].code, 'CONFLICT');
      assert.equal(through[1].message, 'legacy says no');
      assert.equal(through[2].code, 'BAD_REQUEST');
      assert.deepEqual(through[3], { ok: 42 });
      assert.deepEqual(through[4], { ok: { authorization: 'Bearer legacy-token', cookie: 'a=1; __session=xyz' } });
      assert.equal(through[5].code, 'NOT_FOUND');
    });

    test('a legacy mutation', async () => {
      const c = createTRPCClient({ links: [link({ url: `${base()}/trpc` })] });
      const r = await c.legacy.add.mutate({ a: 2, b: 3 });
      assert.equal(r.sum, 5);
    });

    test('declared and legacy calls together: each answered by its side', async () => {
      const c = createTRPCClient({ links: [link({ url: `${base()}/trpc` })] });
      const r = await Promise.all([
        outcome(c.health.query()),
        outcome(c.legacy.echo.query('one')),
        outcome(c.native.double.query({ n: 21 })),
        outcome(c.legacy.conflict.query()),
        outcome(c.legacy.echo.query({ two: [2] })),
        outcome(c.native.double.query({ n: 'x' })),
      ]);
      assert.deepEqual(r.slice(0, 3), [{ ok: { ok: true } }, { ok: { input: 'one' } }, { ok: 42 }]);
      assert.equal(r[3].code, 'CONFLICT');
      assert.deepEqual(r[4], { ok: { input: { two: [2] } } });
      assert.equal(r[5].code, 'BAD_REQUEST');
    });

    test('mutations together: declared and legacy', async () => {
      const c = createTRPCClient({ links: [link({ url: `${base()}/trpc` })] });
      const [a, b, d] = await Promise.all([c.legacy.add.mutate({ a: 1, b: 1 }), c.native.note.mutate({ note: 'n' }),
                                           c.legacy.add.mutate({ a: 5, b: 5 })]);
      assert.equal(a.sum, 2);
      assert.deepEqual(b, { note: 'n' });
      assert.equal(d.sum, 10);
    });

    test('legacy down: its calls are BAD_GATEWAY, the declared ones still answer', async () => {
      const c = createTRPCClient({ links: [link({ url: `${base()}/trpc-down` })] });
      const r = await Promise.all([outcome(c.legacy.echo.query(1)), outcome(c.health.query()),
                                   outcome(c.legacy.conflict.query())]);
      assert.deepEqual(r[0], { code: 'BAD_GATEWAY', httpStatus: 502, message: 'Legacy server unavailable',
                               path: 'legacy.echo' });
      assert.deepEqual(r[1], { ok: { ok: true } });
      assert.deepEqual(r[2], { code: 'BAD_GATEWAY', httpStatus: 502, message: 'Legacy server unavailable',
                               path: 'legacy.conflict' });
    });

    test('a legacy answer that is not tRPC: BAD_GATEWAY', async () => {
      const c = createTRPCClient({ links: [link({ url: `${base()}/trpc-html` })] });
      const r = await Promise.all([outcome(c.legacy.echo.query(1)), outcome(c.native.double.query({ n: 1 }))]);
      assert.deepEqual(r[0], { code: 'BAD_GATEWAY', httpStatus: 502, message: 'Legacy server gave no tRPC answer',
                               path: 'legacy.echo' });
      assert.deepEqual(r[1], { ok: 2 });
    });

    test('a legacy server too slow: GATEWAY_TIMEOUT (proxy_read_timeout)', async () => {
      const c = createTRPCClient({ links: [link({ url: `${base()}/trpc` })] });
      const r = await Promise.all([outcome(c.legacy.slow.query(6000)), outcome(c.health.query())]);
      assert.deepEqual(r[0], { code: 'GATEWAY_TIMEOUT', httpStatus: 504, message: 'Legacy server timed out',
                               path: 'legacy.slow' });
      assert.deepEqual(r[1], { ok: { ok: true } });
    });

    test('without backend_rpc_legacy an undeclared procedure is NOT_FOUND, as before', async () => {
      const c = createTRPCClient({ links: [link({ url: `${base()}/trpc-none` })] });
      const r = await outcome(c.legacy.echo.query(1));
      assert.equal(r.code, 'NOT_FOUND');
    });
  });
}

test('a batch: one request, the status of all its calls (200, 207), envelopes in order', async () => {
  const input = encodeURIComponent(JSON.stringify({ 1: 'x', 3: { n: 4 } }));
  let r = await fetch(`${base()}/trpc/health,legacy.echo,legacy.conflict,native.double?batch=1&input=${input}`);
  assert.equal(r.status, 207);
  const body = await r.json();
  assert.deepEqual(body[0], { result: { data: { ok: true } } });
  assert.deepEqual(body[1], { result: { data: { input: 'x' } } });
  assert.equal(body[2].error.data.code, 'CONFLICT');
  assert.equal(body[2].error.data.path, 'legacy.conflict');
  assert.deepEqual(body[3], { result: { data: 8 } });

  r = await fetch(`${base()}/trpc/legacy.echo,health?batch=1&input=${encodeURIComponent('{"0":7}')}`);
  assert.equal(r.status, 200);
  assert.deepEqual(await r.json(), [{ result: { data: { input: 7 } } }, { result: { data: { ok: true } } }]);

  // a call alone: the legacy's status and bytes as they are
  r = await fetch(`${base()}/trpc/legacy.conflict`);
  const direct = await fetch(`${legacy.url}/legacy.conflict`);
  assert.equal(r.status, 409);
  assert.equal(await r.text(), await direct.text());
});

test('httpBatchStreamLink: each line names its call, whichever side answers first', async () => {
  const order = [];
  const c = createTRPCClient({ links: [httpBatchStreamLink({ url: `${base()}/trpc` })] });
  const track = (name, p) => p.then((v) => { order.push(name); return v; });
  const r = await Promise.all([
    track('legacy-slow', c.legacy.slow.query(1000)),
    track('native-slow', c.native.slow.query(0.1)),
    track('native-fast', c.native.double.query({ n: 5 })),
    track('legacy-fast', c.legacy.echo.query('f')),
  ]);
  assert.deepEqual(r, [{ slept: 1000 }, true, 10, { input: 'f' }]);
  // the legacy's answer comes whole, after its slowest call: ours before it
  assert.deepEqual(order.slice(0, 2).sort(), ['native-fast', 'native-slow']);

  // the lines themselves: a head of promises, then [index, 0, [[envelope]]]
  const res = await fetch(`${base()}/trpc/legacy.echo,native.double?batch=1&input=${encodeURIComponent('{"0":1,"1":{"n":2}}')}`,
                          { headers: { 'trpc-accept': 'application/jsonl' } });
  const lines = (await res.text()).trim().split('\n').map((l) => JSON.parse(l));
  const settled = Object.fromEntries(lines.slice(1).map(([i, , [[env]]]) => [i, env]));
  const head = lines[0];
  const value = (i) => head[i].length === 1 ? head[i][0][0] : settled[head[i][1][2]];
  assert.deepEqual(value(0), { result: { data: { input: 1 } } });
  assert.deepEqual(value(1), { result: { data: 4 } });
});

test('a client that goes away while the legacy server works: nothing breaks', async () => {
  for (const [path, headers] of [['legacy.slow?input=800', {}],
                                 ['legacy.slow,health?batch=1&input=%7B%220%22%3A800%7D',
                                  { 'trpc-accept': 'application/jsonl' }]]) {
    const ac = new AbortController();
    const r = fetch(`${base()}/trpc/${path}`, { signal: ac.signal, headers })
      .then((res) => res.text());
    await sleep(200);
    ac.abort();
    await assert.rejects(r);
  }
  await sleep(1000);
  const c = createTRPCClient({ links: [httpBatchLink({ url: `${base()}/trpc` })] });
  assert.deepEqual(await Promise.all([c.legacy.echo.query(3), c.health.query()]), [{ input: 3 }, { ok: true }]);
  assert.deepEqual(nginx.problems(), []);
});

test('a procedure moves back to legacy: its block deleted, a reload', async () => {
  const c = () => createTRPCClient({ links: [httpLink({ url: `${base()}/trpc` })] });
  assert.equal(await c().native.moved.query(), 'here');
  const conf = join(nginx.prefix, 'nginx.conf');
  writeFileSync(conf, readFileSync(conf, 'utf8').replace(/backend_procedure native\.moved \{[^}]*\}/, ''));
  await nginx.reload();
  let r;
  // the new workers answer it from the legacy server; the old ones finish
  for (let i = 0; i < 200; i++) {
    r = await c().native.moved.query();
    if (r === 'from legacy') break;
    await sleep(50);
  }
  assert.equal(r, 'from legacy');
});
