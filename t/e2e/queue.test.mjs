// Durable queues (backend_queue) run by real nginx nodes against the real
// queue (migrations 0004, 0006): items enqueued by concurrent mutations on
// two nodes, some of them rolled back, are processed exactly when their
// mutation committed, each once; a handler failing its first two attempts
// succeeds on the third; an item that always fails ends dead and is
// replayed; a node SIGKILLed in the middle of an item is taken over after
// the lease, the work done once; LISTEN wakes a worker whose poll is a
// minute away, and wakes it again after its connection was killed.
// No assertion on timing: everything waits for a condition, with a bound.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createTRPCClient, httpLink } from '@trpc/client';
import { setTimeout as sleep } from 'node:timers/promises';
import { Nginx, conninfo } from './lib/nginx.mjs';
import { psql } from './lib/pg.mjs';

const tag = `e2equeue${process.pid}`;
const nodes = [];

async function until(what, fn, seconds = 60) {
  const end = Date.now() + seconds * 1000;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

function node(http, workers = 2) {
  const n = new Nginx({
    workers,
    http: `
      backend_pg main "${conninfo(undefined, tag)}" max=4 query_timeout=30s;
      ${http}`,
  });
  nodes.push(n);
  return n;
}

async function halt(n) {
  const pid = n.pid();
  if (!pid) return;
  try { process.kill(pid, 'SIGQUIT'); } catch { return; }
  await until(`nginx ${pid} gone`, () => {
    try {
      process.kill(pid, 0);
      return false;
    } catch {
      return true;
    }
  }, 120);
}

function kill9(n) {
  const master = n.pid();
  const r = spawnSync('pgrep', ['-P', String(master)], { encoding: 'utf8' });
  for (const pid of [master, ...r.stdout.split('\n').filter(Boolean).map(Number)]) {
    try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
  }
}

const count = (sql) => Number(psql(sql));

before(() => {
  psql(`create table ${tag}_done (queue text, item bigint, n int, attempt int)`);
  psql(`create table ${tag}_flag (broken boolean)`);
});

after(async () => {
  for (const n of nodes) {
    await halt(n).catch(() => {});
    n.remove();
  }
  psql(`drop table if exists ${tag}_done`);
  psql(`drop table if exists ${tag}_flag`);
  psql(`delete from app.queue_items where queue like '${tag}%'`);
});

// the handler every queue here uses, unless it says otherwise: a row per
// attempt that committed
const handler = (q, extra = '') => `
  sql     "insert into ${tag}_done (queue, item, n, attempt)
           select $1, $2::bigint, ($3::jsonb ->> 'n')::int, $4::int
           ${extra}
           returning 1";
  params  item.queue item.id item.payload item.attempt;`;

test('mutations on two nodes, some rolled back: exactly the committed items are processed, once', async () => {
  const q = `${tag}.outbox`;
  // the mutation enqueues, then fails for every fifth n: its statement,
  // the enqueue with it, rolls back
  const http = `
    backend_jobs_poll 300ms;
    backend_jobs_listen main;
    backend_procedure enq {
        type    mutation;
        tier    public;
        sql     "select app.enqueue('${q}', jsonb_build_object('n', $1::int),
                                    'n' || $1) as id
                  where 1 / ($1::int % 5) is not null";
        params  input;
        result  value;
    }
    backend_queue ${q} {
        ${handler(q)}
        concurrency  8;
        batch        8;
        lease        10s;
    }`;
  const a = await node(http).start();
  const b = await node(http).start();
  const clients = [a, b].map((n) => createTRPCClient({ links: [httpLink({ url: n.url })] }));

  const N = 1000;
  let next = 1;
  const results = new Map();
  // 16 callers at a time, alternating nodes
  await Promise.all(Array.from({ length: 16 }, async (_, w) => {
    for (let n = next++; n <= N; n = next++) {
      try {
        await clients[(n + w) % 2].enq.mutate(n);
        results.set(n, 'ok');
      } catch (e) {
        results.set(n, e.data?.code ?? e.message);
      }
    }
  }));
  const committed = [...results].filter(([, r]) => r === 'ok').map(([n]) => n).sort((x, y) => x - y);
  assert.equal(committed.length, N - N / 5, JSON.stringify([...results].filter(([n]) => n % 5 !== 0 && results.get(n) !== 'ok')));
  assert.ok([...results].every(([n, r]) => (n % 5 === 0) === (r !== 'ok')));

  await until('every committed item done', () => count(`select count(*) from app.queue_items
      where queue = '${q}' and status = 'done'`) === committed.length, 120);
  // a moment for anything wrong (a second run) to show
  await sleep(1000);
  await halt(a);
  await halt(b);

  assert.equal(count(`select count(*) from app.queue_items where queue = '${q}'`), committed.length,
               'nothing enqueued by a rolled back mutation');
  assert.equal(psql(`select string_agg(n::text, ',' order by n) from ${tag}_done where queue = '${q}'`),
               committed.join(','), 'each committed item processed once');
  assert.equal(count(`select count(*) from app.queue_items where queue = '${q}' and attempts <> 1`), 0);
  for (const n of [a, b]) {
    assert.deepEqual(n.problems(), []);
    assert.doesNotMatch(n.errorLog(), /\[error\].*backend (schedule|queue|_jobs)/);
  }
});

test('a handler failing its first two attempts succeeds on the third', async () => {
  const q = `${tag}.flaky`;
  const a = await node(`
    backend_jobs_poll 100ms;
    backend_queue ${q} {
        ${handler(q, 'where 1 / (case when $4::int < 3 then 0 else 1 end) = 1')}
        retries  4 backoff=100ms;
    }`).start();
  psql(`select app.enqueue('${q}', jsonb_build_object('n', n)) from generate_series(1, 5) n`);
  await until('5 items done', () => count(`select count(*) from app.queue_items
                                            where queue = '${q}' and status = 'done'`) === 5);
  await halt(a);
  assert.equal(psql(`select string_agg(attempts::text, ',') from app.queue_items where queue = '${q}'`),
               '3,3,3,3,3');
  assert.equal(psql(`select string_agg(n || ':' || attempt, ',' order by n) from ${tag}_done where queue = '${q}'`),
               '1:3,2:3,3:3,4:3,5:3', 'the work of the third attempts only, once each');
  assert.match(a.errorLog(), /\[warn\].*backend queue ".*\.flaky": item \d+ attempt 1 failed: division by zero/);
  assert.doesNotMatch(a.errorLog(), /\[error\].*backend queue/);
});

test('an item failing always ends dead, with an [error] line, and is replayed', async () => {
  const q = `${tag}.dead`;
  psql(`insert into ${tag}_flag values (true)`);
  const a = await node(`
    backend_jobs_poll 100ms;
    backend_queue ${q} {
        ${handler(q, `where (select 1 / (broken::int - 1) from ${tag}_flag) is null`)}
        max_attempts  2;
        backoff       100ms;
    }`, 1).start();
  const id = psql(`select app.enqueue('${q}', '{"n": 7}', 'seven')`);
  await until('the item dead', () => psql(`select status from app.queue_items where id = ${id}`) === 'dead');
  assert.equal(psql(`select attempts from app.queue_items where id = ${id}`), '2');
  assert.match(psql(`select error from app.queue_items where id = ${id}`), /division by zero/);
  await until('the [error] line', () => /\[error\].*backend queue ".*\.dead": item \d+ dead after attempt 2: division by zero/
    .test(a.errorLog()));

  // fixed; replayed as the admin procedure does
  psql(`delete from ${tag}_flag`);
  assert.equal(psql(`select app.replay_item(${id})`), 't');
  await until('the replayed item done', () => psql(`select status from app.queue_items where id = ${id}`) === 'done');
  await halt(a);
  assert.equal(psql(`select n || ':' || attempt from ${tag}_done where queue = '${q}'`), '7:3');
  assert.deepEqual(a.problems(), []);
});

test('a node SIGKILLed in the middle of an item: another takes it over after the lease, once', async () => {
  const q = `${tag}.slow`;
  const http = `
    backend_jobs_poll 200ms;
    backend_queue ${q} {
        ${handler(q, 'from pg_sleep(4)')}
        lease    1s;
        timeout  20s;
    }`;
  const a = await node(http, 1).start();
  const id = psql(`select app.enqueue('${q}', '{"n": 1}')`);
  await until('node A on it', () => psql(`select status from app.queue_items where id = ${id}`) === 'running');
  const ownerA = psql(`select owner from app.queue_items where id = ${id}`);
  kill9(a);

  const b = await node(http, 1).start();
  await until('the item done', () => psql(`select status from app.queue_items where id = ${id}`) === 'done', 120);
  await until('node A\'s statement gone', () => psql(`select count(*) from pg_stat_activity
      where query like '%pg_sleep(4)%' and state = 'active' and pid <> pg_backend_pid()`) === '0');
  await halt(b);
  assert.equal(psql(`select attempts from app.queue_items where id = ${id}`), '2');
  assert.notEqual(psql(`select owner from app.queue_items where id = ${id}`), ownerA);
  assert.equal(psql(`select count(*) || ':' || min(attempt) from ${tag}_done where queue = '${q}'`), '1:2',
               'the work of attempt 2 only: attempt 1 was rolled back by its fence');
  assert.deepEqual(b.problems(), []);
});

test('NOTIFY wakes a worker whose next poll is a minute away, again after its connection was killed', async () => {
  const q = `${tag}.wake`;
  const a = await node(`
    backend_jobs_poll 60s;
    backend_jobs_listen main;
    backend_queue ${q} {
        ${handler(q)}
    }`, 1).start();
  const listening = () => (a.errorLog().match(/backend_jobs_listen: listening/g) ?? []).length;
  await until('the listener', () => listening() >= 1);

  const delays = [];
  for (let i = 1; i <= 5; i++) {
    const id = psql(`select app.enqueue('${q}', jsonb_build_object('n', ${i}))`);
    await until(`item ${i} done (by NOTIFY, the poll is 60 s away)`,
                () => psql(`select status from app.queue_items where id = ${id}`) === 'done', 30);
    delays.push(Number(psql(`select extract(epoch from done_at - created_at) * 1000
                               from app.queue_items where id = ${id}`)));
  }
  // measured, reported, not asserted (a noisy machine)
  console.log(`commit to done, ms: ${delays.map((d) => d.toFixed(1)).join(' ')}`);

  // the listener's connection killed: it connects again and listens
  psql(`select pg_terminate_backend(pid) from pg_stat_activity
         where application_name = '${tag}' and query = 'LISTEN backend_queue'`);
  await until('the listener again', () => listening() >= 2);
  const id = psql(`select app.enqueue('${q}', '{"n": 6}')`);
  await until('the item done after the reconnect', () => psql(`select status from app.queue_items
                                                                where id = ${id}`) === 'done', 30);
  await halt(a);
  assert.match(a.errorLog(), /backend_jobs_listen: connection lost/);
  assert.equal(psql(`select string_agg(n::text, ',' order by n) from ${tag}_done where queue = '${q}'`),
               '1,2,3,4,5,6');
  assert.deepEqual(a.problems(), []);
});

test('backend_jobs_limit holds for the node, and what a killed worker held is given back', async () => {
  const q = `${tag}.limited`;
  psql(`create table ${tag}_spans (item bigint, started timestamptz, ended timestamptz)`);
  const a = await node(`
    backend_jobs_poll 100ms;
    backend_jobs_limit 3;
    backend_queue ${q} {
        sql          "insert into ${tag}_spans
                      select $1::bigint, statement_timestamp(), clock_timestamp()
                        from pg_sleep(0.5)
                      returning 1";
        params       item.id;
        concurrency  8;
        lease        3s;
    }`).start();
  psql(`select app.enqueue('${q}', '{}') from generate_series(1, 24)`);
  await until('24 items done', () => count(`select count(*) from app.queue_items
                                             where queue = '${q}' and status = 'done'`) === 24, 120);
  // the most items of the node running at one moment: at an item's start
  const most = () => count(`select coalesce(max(n), 0) from (
      select (select count(*) from ${tag}_spans o
               where o.started <= s.started and o.ended > s.started) n
        from ${tag}_spans s) x`);
  assert.ok(most() <= 3, `at most 3 at once in the node (2 workers x concurrency 8): ${most()}`);
  assert.ok(most() >= 2, 'in parallel all the same');

  // a worker killed while it holds items: the new worker gets its share
  psql(`delete from ${tag}_spans`);
  psql(`select app.enqueue('${q}', '{}') from generate_series(1, 12)`);
  await until('items running', () => count(`select count(*) from app.queue_items
                                             where queue = '${q}' and status = 'running'`) >= 1);
  const owner = psql(`select owner from app.queue_items where queue = '${q}' and status = 'running' limit 1`);
  process.kill(Number(owner.split('/').pop()), 'SIGKILL');
  await until('the 12 items done', () => count(`select count(*) from app.queue_items
                                                 where queue = '${q}' and status = 'done'`) === 36, 120);
  // (no bound on the spans now: the killed worker's statements went on in
  // their backends, which no node counts)
  await halt(a);
  assert.match(a.errorLog(), /backend_jobs_limit: \d+ run\(s\) of the gone process \d+ given back/);
  psql(`drop table ${tag}_spans`);
});

test('backend_jobs_listen as a conninfo string whose first host is down: it listens on the next one', async () => {
  const q = `${tag}.hosts`;
  const { host, port, database, user } = (await import('./lib/nginx.mjs')).PG;
  const a = await node(`
    backend_jobs_poll 60s;
    backend_jobs_listen "host=${host},${host} port=1,${port} dbname=${database} user=${user}
                         application_name=${tag}_listen";
    backend_queue ${q} {
        ${handler(q)}
    }`, 1).start();
  await until('the listener', () => /backend_jobs_listen: listening/.test(a.errorLog()));
  assert.equal(count(`select count(*) from pg_stat_activity where application_name = '${tag}_listen'
                                                           and query = 'LISTEN backend_queue'`), 1);
  const id = psql(`select app.enqueue('${q}', '{"n": 1}')`);
  await until('the item done, by NOTIFY', () => psql(`select status from app.queue_items
                                                        where id = ${id}`) === 'done', 30);
  await halt(a);
  assert.deepEqual(a.problems(), []);
});

test('nginx -s reload during an item: the old worker finishes it, nothing runs it again', async () => {
  const q = `${tag}.reload`;
  const a = await node(`
    backend_jobs_poll 100ms;
    backend_queue ${q} {
        ${handler(q, 'from pg_sleep(3)')}
        lease  2s;
    }`).start();
  const id = psql(`select app.enqueue('${q}', '{"n": 1}')`);
  await until('the item running', () => psql(`select status from app.queue_items where id = ${id}`) === 'running');
  await a.reload();
  await until('the item done', () => psql(`select status from app.queue_items where id = ${id}`) === 'done');
  await halt(a);
  assert.equal(psql(`select attempts from app.queue_items where id = ${id}`), '1');
  assert.equal(psql(`select count(*) || ':' || min(attempt) from ${tag}_done where queue = '${q}'`), '1:1');
  assert.deepEqual(a.problems(), []);
});
