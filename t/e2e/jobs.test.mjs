// Scheduled jobs (backend_schedule) run by real nginx nodes against the
// real ledger (migrations 0004, 0006): two nodes of two workers each run a
// 1 s job with catch_up all, and every slot is in the ledger exactly once,
// without a gap, with one side-effect row each; a node SIGKILLed in the
// middle of a run is taken over by another after the lease and the work
// is done once; a reload during a run never runs it a second time; a
// failing run is retried, then failed with an [error] line.
// No assertion on timing: everything waits for a condition, with a bound.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MODULE, Nginx, conninfo } from './lib/nginx.mjs';
import { psql } from './lib/pg.mjs';

const tag = `e2ejobs${process.pid}`;
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
    location: 'location /trpc/ { backend_rpc; }',
  });
  nodes.push(n);
  return n;
}

// stops a node gracefully (SIGQUIT: running work finishes) and keeps its
// prefix, so that its error log can be read; after() removes it
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

// the master and its workers, as a crash would leave them: gone at once
function kill9(n) {
  const master = n.pid();
  const r = spawnSync('pgrep', ['-P', String(master)], { encoding: 'utf8' });
  for (const pid of [master, ...r.stdout.split('\n').filter(Boolean).map(Number)]) {
    try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
  }
}

const slots = (job) => psql(`select slot, status, attempt from app.job_slots
                              where job = '${job}' order by slot`).split('\n').filter(Boolean);

before(() => {
  psql(`create table ${tag}_side (job text, slot timestamptz, attempt int,
                                  at timestamptz default clock_timestamp())`);
});

after(async () => {
  for (const n of nodes) {
    await halt(n).catch(() => {});
    n.remove();
  }
  psql(`drop table if exists ${tag}_side`);
  psql(`delete from app.job_slots where job like '${tag}%'`);
  psql(`delete from app.jobs where job like '${tag}%'`);
});

test('two nodes x two workers, a 1 s job, catch_up all: every slot once, no gap', async () => {
  const job = `${tag}.tick`;
  const http = `
    backend_jobs_poll 200ms;
    backend_schedule ${job} {
        every     1s;
        sql       "insert into ${tag}_side (job, slot, attempt)
                   values ($1, $2::timestamptz, $3::int) returning 1";
        params    slot.job slot.time slot.attempt;
        catch_up  all max=100;
        timeout   10s;
        lease     5s;
    }`;
  const a = await node(http).start();
  const b = await node(http).start();

  // 12 slots at least, however slow the machine
  await until('12 slots done', () => Number(psql(`select count(*) from app.job_slots
                                                   where job = '${job}' and status = 'done'`)) >= 12,
              120);
  await halt(a);
  await halt(b);

  const rows = slots(job);
  assert.ok(rows.length >= 12, rows.join('\n'));
  for (const r of rows) {
    assert.match(r, /\|done\|1$/, `every slot done at its first attempt:\n${rows.join('\n')}`);
  }
  const gaps = psql(`select count(*) from (select slot - lag(slot) over (order by slot) d
                                             from app.job_slots where job = '${job}') x
                      where d <> interval '1 s'`);
  assert.equal(gaps, '0', `consecutive slots 1 s apart:\n${rows.join('\n')}`);
  assert.equal(psql(`select count(*) from ${tag}_side where job = '${job}'`), String(rows.length),
               'one side-effect row per slot');
  assert.equal(psql(`select count(distinct slot) from ${tag}_side where job = '${job}'`),
               String(rows.length));
  // both nodes ran some (owner is host/pid): more than one process claimed
  assert.ok(Number(psql(`select count(distinct owner) from app.job_slots where job = '${job}'`)) >= 2);
  for (const n of [a, b]) {
    assert.deepEqual(n.problems(), []);
    assert.doesNotMatch(n.errorLog(), /\[error\].*backend (schedule|queue|_jobs)/);
  }
});

test('a node SIGKILLed in the middle of a run: another takes it over after the lease, once', async () => {
  const job = `${tag}.slow`;
  const http = `
    backend_jobs_poll 200ms;
    backend_schedule ${job} {
        every     1h;
        sql       "insert into ${tag}_side (job, slot, attempt)
                   select $1, $2::timestamptz, $3::int from pg_sleep(4)
                   returning 1";
        params    slot.job slot.time slot.attempt;
        timeout   20s;
        lease     1s;
    }`;
  const a = await node(http, 1).start();
  await until('the run of node A', () => psql(`select count(*) from app.job_slots
                                                where job = '${job}' and status = 'running'`) === '1');
  const ownerA = psql(`select owner from app.job_slots where job = '${job}'`);
  kill9(a);

  const b = await node(http, 1).start();
  await until('the slot done', () => psql(`select status from app.job_slots where job = '${job}'`) === 'done',
              120);
  // node A's statement, still running in its backend, has ended too
  await until('node A\'s statement gone', () => psql(`select count(*) from pg_stat_activity
      where query like '%pg_sleep(4)%' and state = 'active' and pid <> pg_backend_pid()`) === '0', 60);
  await halt(b);

  const [row] = slots(job);
  assert.match(row, /\|done\|2$/, 'done by the second attempt');
  assert.notEqual(psql(`select owner from app.job_slots where job = '${job}'`), ownerA);
  assert.equal(psql(`select count(*) || ':' || min(attempt) from ${tag}_side where job = '${job}'`), '1:2',
               'the work of attempt 2 only: attempt 1 was rolled back by its fence');
  assert.match(b.errorLog(), /done \(attempt 2\)/, b.prefix);
  assert.deepEqual(b.problems(), []);
});

test('nginx -s reload during a run: the run finishes once, nothing runs it again', async () => {
  const job = `${tag}.reload`;
  const http = `
    backend_jobs_poll 200ms;
    backend_schedule ${job} {
        every     1h;
        sql       "insert into ${tag}_side (job, slot, attempt)
                   select $1, $2::timestamptz, $3::int from pg_sleep(3)
                   returning 1";
        params    slot.job slot.time slot.attempt;
        lease     2s;
    }`;
  const a = await node(http, 2).start();
  await until('the run', () => psql(`select count(*) from app.job_slots
                                      where job = '${job}' and status = 'running'`) === '1');
  await a.reload();
  await until('the slot done', () => psql(`select status from app.job_slots where job = '${job}'`) === 'done',
              60).catch((e) => {
    // what CI needs to tell why: the ledger's row and the node's log
    throw new Error(`${e.message}\n${psql(`select status, attempt, owner, error
                                             from app.job_slots where job = '${job}'`)}\n${a.errorLog()}`);
  });
  // the new workers tick for a while: the slot stays done, nothing else runs
  await sleep(3000);
  await halt(a);
  assert.deepEqual(slots(job).map((r) => r.replace(/^[^|]*\|/, '')), ['done|1']);
  assert.equal(psql(`select count(*) from ${tag}_side where job = '${job}'`), '1');
  assert.deepEqual(a.problems(), []);
});

test('a failing run is retried with backoff, then failed with an [error] line', async () => {
  const job = `${tag}.fails`;
  const a = await node(`
    backend_jobs_poll 100ms;
    backend_schedule ${job} {
        every    1h;
        sql      "select 1 / ($1::int - $1::int)";
        params   slot.attempt;
        retries  2 backoff=100ms;
    }`, 1).start();
  await until('the slot failed', () => psql(`select status from app.job_slots where job = '${job}'`) === 'failed',
              60);
  await halt(a);
  const [row] = slots(job);
  assert.match(row, /\|failed\|3$/, 'three attempts: the first and two retries');
  assert.match(psql(`select error from app.job_slots where job = '${job}'`), /division by zero/);
  assert.match(a.errorLog(), /\[error\].*backend schedule ".*\.fails": slot .* failed after attempt 3: division by zero/);
});

test('configuration errors name the file and line', () => {
  const bad = [
    ['backend_schedule x { sql "select 1"; }', /has no "every"/],
    ['backend_schedule x { every 1s; sql "select $1"; }', /uses 1 parameter\(s\), params names 0/],
    ['backend_schedule x { every 1s; sql "select 1"; catch_up some; }', /invalid value "some" in "catch_up"/],
    ['backend_schedule x { every 1s; sql "select 1"; params item.id; }', /unknown param "item.id"/],
    ['backend_queue x { sql "select 1"; every 1s; }', /unknown directive "every" in backend_queue/],
    ['backend_schedule x { every 1s; sql "select 1"; overlap sometimes; }', /invalid value "sometimes" in "overlap"/],
    ['backend_schedule x { every 1s; sql "select 1"; retries 3 backoff=soon; }', /invalid value "backoff=soon" in "retries"/],
    ['backend_schedule x { every 1s; sql "select 1"; } backend_schedule x { every 2s; sql "select 1"; }',
     /duplicate backend_schedule "x", first defined in/],
    ['backend_schedule x { every 1s; sql "select 1"; database other; }', /needs a database: no backend_pg "other"/],
    ['backend_jobs_listen nowhere; backend_queue q { sql "select 1"; }', /backend_jobs_listen in .* names no backend_pg "nowhere"/],
  ];
  for (const [conf, re] of bad) {
    const out = checkConf(`backend_pg main "${conninfo()}";\n${conf}`);
    assert.match(out, re, conf);
    assert.match(out, /nginx\.conf:\d+/, `${conf}: names the file and line`);
  }
});

// nginx -t of an http block, its messages
function checkConf(http) {
  const dir = mkdtempSync(join(tmpdir(), 'backend-e2e-jobs-conf-'));
  mkdirSync(join(dir, 'logs'));
  writeFileSync(join(dir, 'nginx.conf'), `
load_module ${MODULE};
error_log ${dir}/logs/error.log;
pid ${dir}/logs/nginx.pid;
events { }
http {
${http}
}
`);
  const r = spawnSync(process.env.TEST_NGINX_BINARY ?? '/usr/sbin/nginx', ['-t', '-p', dir, '-e', join(dir, 'logs/error.log'),
                                          '-c', join(dir, 'nginx.conf')], { encoding: 'utf8' });
  rmSync(dir, { recursive: true, force: true });
  return r.stderr;
}

test('all nodes down over several slots: none, latest and all max=3 do what they say', async () => {
  // the nodes "were down": each job's last slot was 6 periods ago
  const jobs = { none: `${tag}.cu_none`, latest: `${tag}.cu_latest`, all: `${tag}.cu_all` };
  const seed = psql(`select app.slot_at('2 s', 'epoch', now()) - interval '12 s'`);
  for (const job of Object.values(jobs)) {
    psql(`insert into app.job_slots (job, slot, status, finished_at)
          values ('${job}', '${seed}', 'done', now())`);
  }
  const block = (job, policy) => `
    backend_schedule ${job} {
        every     2s;
        sql       "insert into ${tag}_side (job, slot, attempt)
                   values ($1, $2::timestamptz, $3::int) returning 1";
        params    slot.job slot.time slot.attempt;
        catch_up  ${policy};
    }`;
  const a = await node(`
    backend_jobs_poll 200ms;
    ${block(jobs.none, 'none')}
    ${block(jobs.latest, 'latest')}
    ${block(jobs.all, 'all max=3')}`, 1).start();

  // the first tick of each job recorded its missed slots; its kept ones ran
  for (const job of Object.values(jobs)) {
    await until(`${job} caught up`, () => psql(`select count(*) from app.job_slots
        where job = '${job}' and status = 'done' and slot > '${seed}'`) >= '1'
      && psql(`select count(*) from app.job_slots where job = '${job}' and status = 'running'`) === '0');
  }
  await until('the 3 slots of catch_up all', () => Number(psql(`select count(*) from app.job_slots
      where job = '${jobs.all}' and status = 'done' and slot > '${seed}'`)) >= 3);
  await halt(a);

  // the window: after the seed, up to the slot current at the first tick
  // (the tick that recorded the missed slots, at its now())
  const window = (job) => {
    const [tick, cur] = psql(`select min(finished_at), app.slot_at('2 s', 'epoch', min(finished_at))
                                from app.job_slots where job = '${job}' and status = 'missed'`).split('|');
    const n = Number(psql(`select extract(epoch from '${cur}'::timestamptz - '${seed}') / 2`));
    const late = psql(`select '${tick}'::timestamptz - '${cur}' <= interval '1 s'`) === 't';
    const statuses = psql(`select string_agg(status, ',' order by slot) from app.job_slots
                            where job = '${job}' and slot > '${seed}' and slot <= '${cur}'`);
    return { n, late, statuses };
  };
  const times = (s, k) => Array(k).fill(s);

  const none = window(jobs.none);
  assert.ok(none.n >= 6, JSON.stringify(none));
  // none: the current slot only if at most a tenth of the period (1 s) late
  assert.equal(none.statuses,
               [...times('missed', none.n - (none.late ? 1 : 0)), ...times('done', none.late ? 1 : 0)].join(','));

  const latest = window(jobs.latest);
  assert.equal(latest.statuses, [...times('missed', latest.n - 1), 'done'].join(','));

  const all = window(jobs.all);
  assert.equal(all.statuses, [...times('missed', all.n - 3), ...times('done', 3)].join(','));

  // every slot of each job recorded once, 2 s apart, the work once per done slot
  for (const job of Object.values(jobs)) {
    assert.equal(psql(`select count(*) from (select slot - lag(slot) over (order by slot) d
                                               from app.job_slots where job = '${job}') x
                        where d <> interval '2 s'`), '0', job);
    assert.equal(psql(`select count(*) from ${tag}_side where job = '${job}'`),
                 psql(`select count(*) from app.job_slots where job = '${job}' and status = 'done'
                          and slot > '${seed}'`), job);
  }
  assert.match(a.errorLog(), new RegExp(`"${jobs.all.replace('.', '\\.')}": ${all.n - 3} slot\\(s\\) recorded as missed \\(catch_up all\\)`));
});

test('a job slower than its period: never two runs at once, on two nodes of two workers', async () => {
  const job = `${tag}.slower`;
  // the job itself checks: it must get the job's advisory lock, or fail
  const http = `
    backend_jobs_poll 100ms;
    backend_schedule ${job} {
        every     1s;
        sql       "insert into ${tag}_side (job, slot, attempt)
                   select $1, $2::timestamptz,
                          $3::int / pg_try_advisory_xact_lock(4242, hashtext($1))::int
                     from pg_sleep(1.5)
                   returning 1";
        params    slot.job slot.time slot.attempt;
        catch_up  all max=100;
        lease     5s;
    }`;
  const a = await node(http).start();
  const b = await node(http).start();
  await until('4 slow runs done', () => Number(psql(`select count(*) from app.job_slots
                                                      where job = '${job}' and status = 'done'`)) >= 4, 120);
  await halt(a);
  await halt(b);
  const rows = slots(job);
  assert.deepEqual(rows.filter((r) => !/\|done\|1$/.test(r)), [], 'every slot done at its first attempt');
  assert.equal(psql(`select count(*) from app.job_slots where job = '${job}' and error is not null`), '0');
  assert.equal(psql(`select count(*) from ${tag}_side where job = '${job}'`), String(rows.length));
  // one after the other: no run started before the previous one finished
  assert.equal(psql(`select count(*) from (select started_at, lag(finished_at) over (order by slot) prev
                                             from app.job_slots where job = '${job}') x
                      where started_at < prev`), '0');
});

test('the metrics of a job: runs by outcome, duration, lag, last success', async () => {
  const job = `${tag}.metered`;
  const a = await node(`
    backend_metrics_zone metrics 1m;
    backend_jobs_poll 100ms;
    backend_schedule ${job} {
        every   1s;
        sql     "select 1";
    }`, 1);
  a.location = `location /trpc/ { backend_rpc; } location = /metrics { backend_metrics; }`;
  await a.start();
  await until('a run', () => Number(psql(`select count(*) from app.job_slots
                                           where job = '${job}' and status = 'done'`)) >= 2);
  const scrape = await (await fetch(`http://127.0.0.1:${a.port}/metrics`)).text();
  await halt(a);
  const value = (re) => Number((scrape.match(re) ?? [])[1]);
  const l = `schedule="${job}"`;
  assert.ok(value(new RegExp(`^backend_jobs_runs_total\\{${l},outcome="done"\\} (\\d+)`, 'm')) >= 2, scrape);
  assert.ok(value(new RegExp(`^backend_jobs_run_duration_seconds_count\\{${l}\\} (\\d+)`, 'm')) >= 2);
  assert.ok(value(new RegExp(`^backend_jobs_lag_seconds_count\\{${l}\\} (\\d+)`, 'm')) >= 2);
  const last = value(new RegExp(`^backend_jobs_last_success_timestamp_seconds\\{${l}\\} (\\d+)`, 'm'));
  assert.ok(Math.abs(last - Date.now() / 1000) < 600, `last success ${last}`);
  assert.match(scrape, /^# TYPE backend_jobs_missed_slots_total counter$/m);
});

test('overlap skip: the slots due while a run is going are recorded skipped, not run', async () => {
  const job = `${tag}.skips`;
  const a = await node(`
    backend_jobs_poll 100ms;
    backend_schedule ${job} {
        every     1s;
        sql       "insert into ${tag}_side (job, slot, attempt)
                   select $1, $2::timestamptz, $3::int from pg_sleep(2.2)
                   returning 1";
        params    slot.job slot.time slot.attempt;
        catch_up  all max=100;
        overlap   skip;
        lease     5s;
    }`).start();
  await until('3 runs done', () => Number(psql(`select count(*) from app.job_slots
                                                 where job = '${job}' and status = 'done'`)) >= 3, 120);
  await halt(a);
  const rows = slots(job);
  assert.deepEqual(rows.filter((r) => !/\|(done|skipped)\|/.test(r)), [], rows.join('\n'));
  assert.ok(rows.filter((r) => /\|skipped\|/.test(r)).length >= 2, rows.join('\n'));
  assert.equal(psql(`select count(*) from (select slot - lag(slot) over (order by slot) d
                                             from app.job_slots where job = '${job}') x
                      where d <> interval '1 s'`), '0', 'every slot recorded, done or skipped');
  assert.equal(psql(`select count(*) from ${tag}_side where job = '${job}'`),
               psql(`select count(*) from app.job_slots where job = '${job}' and status = 'done'`));
  assert.equal(psql(`select count(*) from (select started_at, lag(finished_at) over (order by slot) prev
                                             from app.job_slots where job = '${job}' and status = 'done') x
                      where started_at < prev`), '0', 'never two runs at once');
  assert.match(a.errorLog(), /slot\(s\) recorded as skipped, a run was still going/);
});

// libfaketime and ASan's runtime, both preloaded, deadlock at start-up
const ASAN = /asan/.test(`${process.env.LD_PRELOAD ?? ''} ${process.env.BACKEND_MODULE ?? ''}`);

test('nodes whose clocks differ by minutes agree on slots: time is the database\'s',
     { skip: ASAN && 'libfaketime cannot be preloaded with ASan' }, async () => {
  const job = `${tag}.skew`;
  const http = `
    backend_jobs_poll 200ms;
    backend_schedule ${job} {
        every     1s;
        sql       "insert into ${tag}_side (job, slot, attempt)
                   values ($1, $2::timestamptz, $3::int) returning 1";
        params    slot.job slot.time slot.attempt;
        catch_up  all max=100;
    }`;
  // node A 7 minutes ahead, node B 3 minutes behind (libfaketime; the
  // monotonic clock of nginx's timers left alone)
  const skewed = async (offset) => {
    const saved = { ...process.env };
    process.env.LD_PRELOAD = [process.env.LD_PRELOAD, '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1']
      .filter(Boolean).join(':');
    process.env.FAKETIME = offset;
    process.env.FAKETIME_DONT_FAKE_MONOTONIC = '1';
    try {
      return await node(http).start();
    } finally {
      for (const k of ['LD_PRELOAD', 'FAKETIME', 'FAKETIME_DONT_FAKE_MONOTONIC']) {
        if (saved[k] === undefined) delete process.env[k]; else process.env[k] = saved[k];
      }
    }
  };
  const a = await skewed('+7m');
  const b = await skewed('-3m');
  await until('10 slots done', () => Number(psql(`select count(*) from app.job_slots
                                                   where job = '${job}' and status = 'done'`)) >= 10, 120);
  await halt(a);
  await halt(b);

  // the skew was real: each node's log is stamped with its own clock
  const stamp = (n) => {
    const [, y, m, d, t] = n.errorLog().match(/^(\d{4})\/(\d\d)\/(\d\d) (\d\d:\d\d:\d\d)/m);
    return Date.parse(`${y}-${m}-${d}T${t}Z`);
  };
  const started = Date.parse(psql(`select to_char(min(started_at) at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
                                     from app.job_slots where job = '${job}'`));
  assert.ok(stamp(a) - started > 5 * 60000, 'node A runs 7 minutes ahead');
  assert.ok(started - stamp(b) > 2 * 60000, 'node B runs 3 minutes behind');

  const rows = slots(job);
  assert.deepEqual(rows.filter((r) => !/\|done\|1$/.test(r)), [], rows.join('\n'));
  assert.equal(psql(`select count(*) from (select slot - lag(slot) over (order by slot) d
                                             from app.job_slots where job = '${job}') x
                      where d <> interval '1 s'`), '0', 'every slot once, no gap');
  assert.equal(psql(`select count(*) from app.job_slots where job = '${job}' and slot > started_at`), '0',
               'no slot claimed before its time (the database\'s)');
  assert.equal(psql(`select count(*) from ${tag}_side where job = '${job}'`), String(rows.length));
  const owners = psql(`select count(distinct split_part(owner, '/', 2)) from app.job_slots where job = '${job}'`);
  assert.ok(Number(owners) >= 2, 'workers of both nodes ran slots');
});
