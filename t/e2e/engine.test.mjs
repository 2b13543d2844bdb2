// The Postgres engine under load and failure: it never blocks the worker,
// queues to a bound then answers 503, survives the database going away and
// comes back by itself, leaks no connection, and reloads gracefully.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Nginx, conninfo } from './lib/nginx.mjs';
import { Cluster, poolConnections } from './lib/pg.mjs';

const procs = `
    backend_procedure health { tier public; data '{"ok":true}'; }
    backend_procedure fast { tier public; sql "select 1 as one"; result value; }
    backend_procedure nap { tier public; sql "select true as slept from pg_sleep($1::float8)"; params input; result value; }
`;

// one nginx per test, stopped with it; its pool has an application_name
// of its own, so its connections can be counted
let instances = 0;

async function nginx(t, { pool, pg, ...opts }) {
  const app = `e2e_engine_${process.pid}_${++instances}`;
  const n = new Nginx({
    ...opts,
    http: `backend_pg main "${conninfo(pg, app)}" ${pool};${procs}`,
  });
  n.app = app;
  t.after(() => n.stop());
  return n.start();
}

async function call(n, path, { timeout = 10000, signal } = {}) {
  const res = await fetch(`${n.url}/${path}`, { signal: signal ?? AbortSignal.timeout(timeout) });
  return { status: res.status, body: await res.json() };
}

async function until(what, fn, ms = 10000) {
  const end = Date.now() + ms;
  for (;;) {
    if (await fn()) return;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}


test('a slow statement does not delay other requests of the same worker', async (t) => {
  const n = await nginx(t, { pool: 'max=4' });
  const settled = [];
  const slow = call(n, 'nap?input=2').then((r) => { settled.push('slow'); return r; });
  await sleep(100);
  const health = await call(n, 'health');
  settled.push('health');
  const fast = await call(n, 'fast');
  settled.push('fast');
  assert.deepEqual(settled, ['health', 'fast'], 'both answered while pg_sleep(2) ran');
  assert.deepEqual(health.body, { result: { data: { ok: true } } });
  assert.deepEqual(fast.body, { result: { data: 1 } });
  assert.equal((await slow).status, 200);
  assert.deepEqual(n.problems(), []);
});

// the same with backend_pg pipeline=: several statements in flight on a
// connection, all failed together when it goes
for (const pipe of ['', ' pipeline=4']) {
  const tag = pipe ? ' (pipeline=4)' : '';

  test('a pool of 2 under 200 concurrent calls queues, then answers 503; no leaks' + tag, async (t) => {
    const n = await nginx(t, { pool: 'max=2 queue=20 queue_timeout=1s' + pipe });
    let peak = 0;
    const watching = (async () => {
      for (let i = 0; i < 40; i++) {
        peak = Math.max(peak, poolConnections(n.app));
        await sleep(50);
      }
    })();
    const results = await Promise.all(Array.from({ length: 200 }, () => call(n, 'nap?input=0.3')));
    await watching;

    const counts = {};
    for (const r of results) {
      counts[r.status] = (counts[r.status] ?? 0) + 1;
      if (r.status === 503) {
        assert.equal(r.body.error.data.code, 'SERVICE_UNAVAILABLE');
        assert.equal(r.body.error.code, -32603);
      }
    }
    assert.deepEqual(Object.keys(counts).sort(), ['200', '503'], JSON.stringify(counts));
    assert.ok(counts[200] >= 2, JSON.stringify(counts));
    assert.ok(peak <= 2, `at most 2 connections, saw ${peak}`);
    assert.ok(poolConnections(n.app) <= 2);

    await n.stop();
    await until('the pool to close its connections', () => poolConnections(n.app) === 0);
  });

  test('Postgres going away mid-load gives 503 envelopes, and service comes back by itself' + tag, async (t) => {
    const cluster = await new Cluster().start();
    try {
      const n = await nginx(t, { pg: cluster.pg, pool: 'max=4 connect_timeout=2s' + pipe, workers: 2 });
      assert.equal((await call(n, 'fast')).status, 200);

      const statuses = {};
      let stop = false;
      const loader = async () => {
        while (!stop) {
          const r = await call(n, 'fast', { timeout: 5000 });
          statuses[r.status] = (statuses[r.status] ?? 0) + 1;
          if (r.status !== 200) {
            assert.equal(r.status, 503, JSON.stringify(r.body));
            assert.equal(r.body.error.data.code, 'SERVICE_UNAVAILABLE');
          }
        }
      };
      const loaders = Array.from({ length: 8 }, loader);

      await sleep(500);
      cluster.kill();
      await sleep(1500);
      cluster.ctl('start');
      await until('a 200 after Postgres is back',
                  async () => (await call(n, 'fast')).status === 200, 20000);
      stop = true;
      await Promise.all(loaders);

      assert.ok(statuses[200] > 0 && statuses[503] > 0, JSON.stringify(statuses));
      assert.deepEqual(Object.keys(statuses).sort(), ['200', '503']);
      assert.deepEqual(n.problems(), [], 'no worker crashed');
    } finally {
      await cluster.stop();
    }
  });

  test('a client that goes away does not cost a connection' + tag, async (t) => {
    const n = await nginx(t, { pool: 'max=1 queue=4' + pipe });
    await assert.rejects(call(n, 'nap?input=1', { signal: AbortSignal.timeout(200) }));
    // the statement runs to its end on the one connection, then it is free
    assert.deepEqual((await call(n, 'fast')).body, { result: { data: 1 } });
    assert.equal(poolConnections(n.app), 1);
    assert.deepEqual(n.problems(), []);
  });

  test('a reload lets a statement in flight finish, then the old connections go' + tag, async (t) => {
    const n = await nginx(t, { pool: 'max=2' + pipe });
    const inflight = call(n, 'nap?input=1.5');
    await sleep(300);
    await n.reload();
    await sleep(300);
    assert.deepEqual((await call(n, 'fast')).body, { result: { data: 1 } });
    const r = await inflight;
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, { result: { data: true } });
    // the old worker exits once its statement is done, closing its connection
    await until('the old worker\'s connections to close', () => poolConnections(n.app) === 1);
    assert.deepEqual(n.problems(), []);
  });
}
