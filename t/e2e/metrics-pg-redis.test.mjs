// The Postgres and Redis families of /metrics where processes come and go
// (docs/metrics.md): Postgres connections terminated by the server, idle
// and busy, are counted lost and leave the gauges; a burst over a pool
// and its queue leaves every statement counted once and the gauges at
// what the pool holds, in both modes; a Redis stopped turns
// backend_redis_up to 0 for both roles, and back to 1 when it returns,
// each worker's reconnect counted.  Two workers, so that the sums and
// the min gauge are over both.  Every wait polls up to a stated bound.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Nginx, conninfo } from './lib/nginx.mjs';
import { psql } from './lib/pg.mjs';
import { Redis } from './lib/redis.mjs';
import { AZP, ISSUER, keyPair, keysDir, mint, writeJwks } from './lib/clerk.mjs';

const LOCATIONS = 'location /trpc/ { backend_rpc; } location = /metrics { backend_metrics; }';

async function until(what, fn, ms = 15000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(25);
  }
}

async function scrapeText(n) {
  const res = await fetch(`http://127.0.0.1:${n.port}/metrics`);
  assert.equal(res.status, 200);
  return res.text();
}

// { 'name{labels}': value } of one scrape
async function scrape(n) {
  const m = {};
  for (const line of (await scrapeText(n)).split('\n')) {
    const s = /^(\S+) (\S+)$/.exec(line);
    if (s && !line.startsWith('#')) m[s[1]] = Number(s[2]);
  }
  return m;
}

const value = (m, key) => m[key] ?? 0;

test('Postgres connections terminated by the server: lost, and gone from the gauges', async (t) => {
  const app = `e2emetrics${process.pid}`;
  const db = 'database="main"';
  const n = new Nginx({
    workers: 2,
    location: LOCATIONS,
    http: `
      backend_metrics_zone metrics 1m;
      backend_pg main "${conninfo(undefined, app)}" max=2;
      backend_procedure t.one { tier public; sql "select $1::int + 1 as v"; params input; result value; }
      backend_procedure t.hold { type mutation; tier public; sql "select pg_sleep(30)"; result none; }`,
  });
  await n.start();
  t.after(() => n.stop());

  const terminate = (where = '') => Number(psql(
    `select count(pg_terminate_backend(pid)) from pg_stat_activity
      where application_name = '${app}' ${where}`));

  // calls at once, so that the pools open more than one connection
  await Promise.all([1, 2, 3, 4].map(async (i) => {
    const res = await fetch(`${n.url}/t.one?input=${i}`);
    assert.equal(res.status, 200);
  }));
  // settled: a connection opened for a call another one took may still
  // be connecting
  const calls = await until('the connections idle', async () => {
    const m = await scrape(n);
    return m[`backend_pg_connections{${db},state="idle"}`] >= 1
           && m[`backend_pg_connections{${db},state="connecting"}`] === 0
           && m[`backend_pg_connections{${db},state="busy"}`] === 0 && m;
  });
  const idle = calls[`backend_pg_connections{${db},state="idle"}`];
  assert.equal(value(calls, `backend_pg_connections_lost_total{${db}}`), 0);
  // one queue wait per statement, whatever worker ran it
  assert.equal(calls[`backend_pg_queue_wait_seconds_count{${db}}`],
               calls[`backend_pg_statements_total{${db},outcome="OK"}`]);

  // idle connections, terminated: each worker notices its own, and the
  // sum over the workers is what the server had
  assert.equal(terminate(), idle);
  const after = await until('the idle connections counted lost', async () => {
    const m = await scrape(n);
    return value(m, `backend_pg_connections_lost_total{${db}}`) === idle && m;
  });
  // on a failure, the log says what each worker did with its connections
  // (CI's ASan run once saw one connecting here)
  const why = () => `the gauges after the loss: ${JSON.stringify(Object.fromEntries(
    Object.entries(after).filter(([k]) => k.startsWith('backend_pg_connections'))))}\n${n.errorLog()}`;
  assert.equal(after[`backend_pg_connections{${db},state="idle"}`], 0, why());
  assert.equal(after[`backend_pg_connections{${db},state="busy"}`], 0, why());
  assert.equal(after[`backend_pg_connections{${db},state="connecting"}`], 0, why());

  // a busy one: a mutation held by the server, then terminated
  const held = fetch(`${n.url}/t.hold`, { method: 'POST' });
  const busy = await until('a busy connection', async () => {
    const m = await scrape(n);
    return m[`backend_pg_connections{${db},state="busy"}`] === 1 && m;
  });
  assert.equal(busy[`backend_pg_pipeline_depth{${db}}`], 1);
  await until('the statement running on the server', () => Number(psql(
    `select count(*) from pg_stat_activity where application_name = '${app}'
        and query like '%pg_sleep%' and state = 'active'`)) === 1);
  assert.equal(terminate("and query like '%pg_sleep%'"), 1);
  assert.equal((await held).status, 503);

  const end = await scrape(n);
  assert.equal(end[`backend_pg_connections_lost_total{${db}}`], idle + 1);
  assert.equal(end[`backend_pg_statements_total{${db},outcome="unavailable"}`], 1);
  assert.equal(value(end, `backend_pg_connections{${db},state="busy"}`), 0);
  assert.equal(end[`backend_pg_pipeline_depth{${db}}`], 0);
  const statements = Object.entries(end)
    .filter(([k]) => k.startsWith(`backend_pg_statements_total{${db},`))
    .reduce((sum, [, v]) => sum + v, 0);
  assert.equal(end[`backend_pg_queue_wait_seconds_count{${db}}`], statements);
  assert.equal(end[`backend_pg_statement_duration_seconds_count{${db}}`], statements);

  // the pool opens again
  assert.equal((await fetch(`${n.url}/t.one?input=1`)).status, 200);
  const again = await scrape(n);
  assert.ok(again[`backend_pg_connections{${db},state="idle"}`] >= 1);

  // the exposition is what Prometheus reads, if promtool is here
  const promtool = spawnSync('promtool', ['check', 'metrics'],
                             { input: await scrapeText(n), encoding: 'utf8' });
  if (promtool.error?.code === 'ENOENT') {
    t.diagnostic('promtool not installed: its check skipped');
  } else {
    assert.equal(promtool.status, 0, `promtool check metrics: ${promtool.stdout}${promtool.stderr}`);
  }
  assert.deepEqual(n.problems(), []);
});

for (const mode of ['', ' pipeline=4']) {
  test(`a burst over the pool and its queue: every statement counted once, the gauges back to what the pool holds${mode}`, async (t) => {
    const app = `e2emburst${process.pid}${mode ? 'p' : ''}`;
    const db = 'database="main"';
    const n = new Nginx({
      workers: 2,
      location: LOCATIONS,
      http: `
        backend_metrics_zone metrics 1m;
        backend_pg main "${conninfo(undefined, app)}" max=2 queue=10${mode};
        backend_procedure t.nap { tier public; sql "select pg_sleep(0.2)"; result none; }`,
    });
    await n.start();
    t.after(() => n.stop());

    const statuses = await Promise.all(Array.from({ length: 120 }, async () =>
      (await fetch(`${n.url}/t.nap`)).status));
    const ok = statuses.filter((s) => s === 200).length;
    const unavailable = statuses.filter((s) => s === 503).length;
    assert.equal(ok + unavailable, 120, `statuses: ${statuses}`);
    assert.ok(unavailable > 0, 'the queue overflowed');

    const m = await until('the pool settled', async () => {
      const s = await scrape(n);
      return value(s, `backend_pg_connections{${db},state="connecting"}`) === 0
             && value(s, `backend_pg_connections{${db},state="busy"}`) === 0 && s;
    });
    assert.equal(m[`backend_pg_statements_total{${db},outcome="OK"}`], ok);
    assert.equal(m[`backend_pg_statements_total{${db},outcome="unavailable"}`], unavailable);
    assert.equal(m[`backend_pg_queue_wait_seconds_count{${db}}`], 120);
    assert.equal(m[`backend_pg_statement_duration_seconds_count{${db}}`], ok);
    assert.equal(m[`backend_pg_queue_length{${db}}`], 0);
    assert.equal(m[`backend_pg_pipeline_depth{${db}}`], 0);
    assert.equal(m[`backend_pg_connections{${db},state="idle"}`], Number(psql(
      `select count(*) from pg_stat_activity where application_name = '${app}'`)));
    assert.deepEqual(n.problems(), []);
  });
}

test('Redis stopped: up goes 0 for both roles, back to 1 when it returns, each reconnect counted', async (t) => {
  const tag = `e2emr${process.pid}`;
  const dir = keysDir();
  const key = await keyPair('mr');
  writeJwks(join(dir, 'jwks.json'), key);
  const redis = await new Redis().start();
  const pid = () => Number(readFileSync(join(redis.dir, 'redis.pid'), 'utf8'));
  psql(`insert into users (clerk_id, email, role) values ('${tag}', 'mr@x.test', 'mentorado')`);
  const n = new Nginx({
    workers: 2,
    location: LOCATIONS,
    http: `
      backend_metrics_zone metrics 1m;
      backend_pg main "${conninfo()}" max=2;
      backend_auth_jwks ${join(dir, 'jwks.json')};
      backend_auth_issuer ${ISSUER};
      backend_auth_authorized_parties ${AZP};
      backend_session_zone mr:1m ttl=60s;
      backend_session_redis 127.0.0.1:${redis.port} timeout=200ms heartbeat=1s;
      backend_auth_user "select id, role from users where clerk_id = $1";
      backend_procedure me { tier protected; data ctx.user; }`,
  });
  let stopped = false;
  t.after(async () => {
    if (stopped) process.kill(pid(), 'SIGCONT');
    await n.stop();
    await redis.stop();
    psql(`delete from users where clerk_id like '${tag}%'`);
    rmSync(dir, { recursive: true, force: true });
  });
  await n.start();

  const up = (m, role) => m[`backend_redis_up{role="${role}"}`];
  const reconnects = (m, role) => value(m, `backend_redis_reconnects_total{role="${role}"}`);
  const me = async (sid) => {
    const token = await mint(key, { sub: tag, sid: `sess_${tag}_${sid}` });
    const res = await fetch(`${n.url}/me`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.status, 200);
  };

  const first = await until('both roles up in both workers', async () => {
    const m = await scrape(n);
    return up(m, 'commands') === 1 && up(m, 'subscription') === 1 && m;
  });
  assert.equal(reconnects(first, 'commands'), 0);
  assert.equal(reconnects(first, 'subscription'), 0);

  // a context looked up in Redis first: commands answered, timed
  await me('a');
  const looked = await scrape(n);
  assert.ok(looked['backend_redis_command_duration_seconds_count'] >= 1);
  assert.equal(value(looked, 'backend_redis_timeouts_total'), 0);

  // a message on the channel reaches each worker's subscription
  redis.cli('PUBLISH', 'ngx_backend:invalidate', `u:${tag}_nobody`);
  await until('the message counted by both workers', async () =>
    value(await scrape(n), 'backend_redis_messages_total') === 2);

  // stopped: both roles down, in whichever worker notices first
  redis.ctl('stop');
  await until('both roles down', async () => {
    const m = await scrape(n);
    return up(m, 'commands') === 0 && up(m, 'subscription') === 0;
  });
  const down = await scrape(n);
  assert.equal(reconnects(down, 'commands'), 0);
  assert.equal(reconnects(down, 'subscription'), 0);

  // back on the same port: up again, one reconnect per worker and role
  // (a worker that had not yet noticed the stop reconnects a little later)
  redis.ctl('start');
  const back = await until('both roles up again, reconnected in both workers', async () => {
    const m = await scrape(n);
    return up(m, 'commands') === 1 && up(m, 'subscription') === 1
           && reconnects(m, 'commands') === 2 && reconnects(m, 'subscription') === 2 && m;
  }, 30000);
  assert.equal(reconnects(back, 'commands'), 2);
  assert.equal(reconnects(back, 'subscription'), 2);

  // a Redis that does not answer: the lookup's command times out
  process.kill(pid(), 'SIGSTOP');
  stopped = true;
  await me('b');
  process.kill(pid(), 'SIGCONT');
  stopped = false;
  assert.ok(value(await scrape(n), 'backend_redis_timeouts_total') >= 1);
  assert.deepEqual(n.problems(), []);
});
