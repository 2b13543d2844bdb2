// backend_rpc_shadow: a sample of declared calls is sent to the legacy server
// too (fixtures/legacy-server.mjs), the answers compared, the outcome counted
// in backend_shadow_calls_total and a mismatch logged with its first
// differing path.  The client gets our answer, and neither it nor its
// keep-alive connection waits for the shadow.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, request } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { createTRPCClient, httpBatchLink, httpLink } from '@trpc/client';
import { Nginx, conninfo } from './lib/nginx.mjs';
import { Legacy, freePort } from './lib/legacy.mjs';

const legacy = new Legacy();
let nginx;

const http = `
    backend_metrics_zone metrics 2m;
    backend_pg main "${conninfo()}" max=4 query_timeout=5s;

    # the same as the legacy's, but for "at" (a timestamp, ignored)
    backend_procedure shadow.same {
        tier public;
        sql "select $1::int as id, 'item ' || $1 as title, array['a', 'b'] as tags,
                    '2020-01-01T00:00:00Z'::timestamptz as at";
        params input.id; result one;
    }
    # items.1.title differs from the legacy's: a mismatch planted
    backend_procedure shadow.planted {
        tier public;
        sql "select $1::int as id, '[{\\"title\\": \\"one\\"}, {\\"title\\": \\"two\\"}]'::jsonb as items,
                    now() as at";
        params input.id; result one;
    }
    # the legacy's sleeps as long as it is asked to
    backend_procedure legacy.slow { tier public; data '{"slept":0}'; }
    backend_procedure shadow.add { type mutation; tier public; data '{"a":0}'; }
    backend_procedure legacy.echo { tier public; data '{"input":"ours"}'; }
`;

function location(legacyPort, downPort) {
  return `
        location /trpc/ {
            backend_rpc;
            backend_rpc_legacy /_legacy/;
            backend_rpc_shadow rate=1 ignore=$.at;
            backend_rpc_shadow legacy.slow rate=1 max=2;
        }
        location /trpc-mut/ {
            backend_rpc;
            backend_rpc_legacy /_legacy/;
            backend_rpc_shadow shadow.add rate=1 mutations;
        }
        location /trpc-down/ { backend_rpc; backend_rpc_legacy /_down/; backend_rpc_shadow rate=1; }
        location /_legacy/ {
            internal;
            proxy_pass http://127.0.0.1:${legacyPort}/trpc/;
            proxy_read_timeout 10s;
        }
        location /_down/ { internal; proxy_pass http://127.0.0.1:${downPort}/trpc/; }
        location = /metrics { backend_metrics; }`;
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
const client = (link = httpLink, path = 'trpc') => createTRPCClient({ links: [link({ url: `${base()}/${path}` })] });

async function counter(procedure, outcome) {
  // after a reload an old worker closes its idle keep-alive connections as
  // it shuts down: a scrape sent on one as it goes is retried, as clients do
  const scrape = () => fetch(`${base()}/metrics`);
  const text = await (await scrape().catch(scrape)).text();
  const re = new RegExp(`^backend_shadow_calls_total\\{procedure="${procedure.replace('.', '\\.')}",`
                        + `outcome="${outcome}"\\} (\\d+)$`, 'm');
  const m = re.exec(text);
  return m ? Number(m[1]) : 0;
}

// polls until the counter reaches n (shadow calls end after the answer)
async function reaches(procedure, outcome, n) {
  let v;
  for (let i = 0; i < 300; i++) {
    v = await counter(procedure, outcome);
    if (v >= n) return v;
    await sleep(50);
  }
  assert.fail(`backend_shadow_calls_total{${procedure},${outcome}} is ${v}, not ${n}, after 15 s`);
}

test('the same answers match (the ignored timestamp aside)', async () => {
  const c = client();
  for (const id of [1, 2, 3]) {
    assert.deepEqual(await c.shadow.same.query({ id }),
                     { id, title: `item ${id}`, tags: ['a', 'b'], at: '2020-01-01T00:00:00.000Z' });
  }
  assert.equal(await reaches('shadow.same', 'match', 3), 3);
  assert.equal(await counter('shadow.same', 'mismatch'), 0);
});

test('a planted difference: counted, logged with its path and the request id; the client has ours', async () => {
  const r = await fetch(`${base()}/trpc/shadow.planted?input=${encodeURIComponent('{"id":7}')}`);
  const body = await r.json();
  assert.deepEqual(body.result.data.items, [{ title: 'one' }, { title: 'two' }]);
  const id = r.headers.get('x-request-id');
  assert.ok(id);

  // in a batch too, with calls the legacy server answers
  const c = client(httpBatchLink);
  const [a, b] = await Promise.all([c.shadow.planted.query({ id: 8 }), c.shadow.same.query({ id: 4 })]);
  assert.equal(a.items[1].title, 'two');
  assert.equal(b.title, 'item 4');

  assert.equal(await reaches('shadow.planted', 'mismatch', 2), 2);
  let line;
  for (let i = 0; i < 100 && !line; i++) {
    line = nginx.errorLog().split('\n').find((l) => l.includes(`request ${id}`) && l.includes('[warn]'));
    if (!line) await sleep(50);
  }
  assert.match(line, /backend shadow: procedure "shadow\.planted" request [0-9a-f]+: mismatch at \$\.items\.1\.title/);
  assert.match(line, new RegExp(`request_id: "${id}"`));
});

test('the client and its keep-alive connection do not wait for the shadow', async () => {
  // the legacy's legacy.slow sleeps 3 s; ours answers at once, and the next
  // request on the same connection too
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const get = (path) => new Promise((ok, fail) => {
    const t0 = Date.now();
    request(`${base()}${path}`, { agent }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => ok({ ms: Date.now() - t0, body, socket: res.socket }));
    }).on('error', fail).end();
  });
  const first = await get(`/trpc/legacy.slow?input=3000`);
  const second = await get(`/trpc/shadow.same?input=${encodeURIComponent('{"id":9}')}`);
  agent.destroy();
  assert.equal(first.body, '{"result":{"data":{"slept":0}}}');
  assert.equal(second.socket, first.socket, 'the same keep-alive connection');
  assert.ok(first.ms < 2000, `the first answer took ${first.ms} ms`);
  assert.ok(second.ms < 2000, `the second answer took ${second.ms} ms`);
  // the shadow call is still on its way (3 s): not counted yet
  assert.equal(await counter('legacy.slow', 'mismatch'), 0);
  assert.equal(await reaches('legacy.slow', 'mismatch', 1), 1);
});

// before the next test, whose shadow calls are still under way when it ends
test('a reload while a shadow call is under way: the old worker finishes and counts it', async () => {
  const before = await counter('legacy.slow', 'mismatch');
  assert.deepEqual(await client().legacy.slow.query(1500), { slept: 0 });
  await nginx.reload();
  assert.equal(await reaches('legacy.slow', 'mismatch', before + 1), before + 1);
  assert.deepEqual(nginx.problems(), []);
});

test('over max= in flight, shadow calls are dropped and counted', async () => {
  const c = client();
  const before = await counter('legacy.slow', 'dropped');
  await Promise.all([1, 2, 3, 4].map(() => c.legacy.slow.query(1500)));
  assert.ok(await counter('legacy.slow', 'dropped') >= before + 2);
});

test('mutations are not shadowed unless allowed', async () => {
  const writes = () => createTRPCClient({ links: [httpLink({ url: legacy.url })] }).writes.query();
  const w0 = await writes();
  assert.deepEqual(await client().shadow.add.mutate({ a: 1 }), { a: 0 });
  await sleep(300);
  assert.equal(await writes(), w0);
  assert.equal(await counter('shadow.add', 'match') + await counter('shadow.add', 'mismatch'), 0);

  // "mutations": sent (the legacy's answer differs: {a: 2})
  assert.deepEqual(await client(httpLink, 'trpc-mut').shadow.add.mutate({ a: 2 }), { a: 0 });
  assert.equal(await reaches('shadow.add', 'mismatch', 1), 1);
  assert.equal(await writes(), w0 + 1);
});

test('a legacy server down: legacy_error, the client unaffected', async () => {
  assert.deepEqual(await client(httpLink, 'trpc-down').legacy.echo.query('x'), { input: 'ours' });
  assert.equal(await reaches('legacy.echo', 'legacy_error', 1), 1);
});
