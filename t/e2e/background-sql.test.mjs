// The database side of background work (migrations/0004_background): the
// slot ledger and the queue, driven from concurrent psql sessions the way
// several nginx workers of several nodes will: one claim of a slot wins;
// a run whose lease was taken over rolls its work back in its single
// statement while the new holder commits; one run of a job at a time;
// catch-up none/latest/all max=N; enqueue idempotent and notified at
// commit; SKIP LOCKED batches never hand an item twice; fail, backoff,
// dead, replay.  (That the down restores the schema exactly is checked for
// every migration by tools/migrations.sh roundtrip, suite migrations.)
// Everything runs in a database of its own on the test server.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { PG, ROOT } from './lib/nginx.mjs';
import { psql } from './lib/pg.mjs';

const DB = `bg_e2e_${process.pid}`;
const pg = { ...PG, database: DB };
const q = (sql) => psql(sql, pg);
const sessions = [];

function dbPush(database, args = [], dir = join(ROOT, 'migrations')) {
  const r = spawnSync(join(ROOT, 'tools/db-push.sh'), args, {
    encoding: 'utf8',
    env: {
      ...process.env,
      DATABASE_URL: `postgres://${PG.user}@${PG.host}:${PG.port}/${database}`,
      MIGRATIONS_DIR: dir,
    },
  });
  assert.equal(r.status, 0, r.stderr);
}

// A psql session of its own (one backend, like a worker's connection):
// run() sends one statement and resolves with its rows and SQLSTATE once
// psql echoes the marker after it; several sessions run at the same time.
class Session {
  constructor(database = DB) {
    this.p = spawn('stdbuf', ['-oL', 'psql', '-X', '-q', '-A', '-t',
                              '-h', PG.host, '-p', String(PG.port), '-U', PG.user,
                              '-d', database], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.p.stdout.setEncoding('utf8');
    this.p.stderr.setEncoding('utf8');
    this.out = '';
    this.n = 0;
    this.waiting = null;
    this.p.stdout.on('data', (d) => { this.out += d; this.check(); });
    this.p.stderr.on('data', () => {});
    sessions.push(this);
  }

  check() {
    if (!this.waiting) return;
    const { mark, ok } = this.waiting;
    const at = this.out.indexOf(`${mark} `);
    if (at < 0) return;
    const end = this.out.indexOf('\n', at);
    if (end < 0) return;
    const [state, ...msg] = this.out.slice(at + mark.length + 1, end).split(' ');
    // a row per line (a NULL is an empty line), the last line ends them
    const rows = this.out.slice(0, at).split('\n').slice(0, -1);
    this.out = this.out.slice(end + 1);
    this.waiting = null;
    ok({ rows, state, error: state === '00000' ? '' : msg.join(' ') });
  }

  run(sql) {
    assert.equal(this.waiting, null, 'one statement at a time per session');
    const mark = `__bg_done_${++this.n}__`;
    return new Promise((ok) => {
      this.waiting = { mark, ok };
      this.p.stdin.write(`${sql};\n\\echo ${mark} :SQLSTATE :LAST_ERROR_MESSAGE\n`);
    });
  }

  // one value of a statement that must succeed
  async value(sql) {
    const r = await this.run(sql);
    assert.equal(r.state, '00000', `${sql}: ${r.error}`);
    return r.rows[0];
  }

  pid() { return this.value('select pg_backend_pid()'); }

  close() {
    this.p.stdin.end();
  }
}

async function until(what, fn, ms = 15000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out (${ms} ms) waiting for ${what}`);
    await sleep(50);
  }
}

// the single statement of a run, as the C module sends it
const run = (work, job, slot, owner, attempt) =>
  `with work as materialized (${work})
   select app.finish_slot('${job}', '${slot}', '${owner}', ${attempt},
                          (select count(*) from work))`;

before(() => {
  psql(`create database ${DB}`);
  dbPush(DB);
  q(`create table bg_work (job text, slot timestamptz, tag text,
                           at timestamptz default clock_timestamp());
     -- the work of a run: its row, then (gated) a wait on the test's lock
     create function bg_work(j text, s timestamptz, tag text, gated boolean)
       returns int language plpgsql as $$
     begin
       insert into bg_work (job, slot, tag) values (j, s, tag);
       if gated then
         perform pg_advisory_lock(4242);
         perform pg_advisory_unlock(4242);
       end if;
       return 1;
     end $$;`);
});

after(() => {
  for (const s of sessions) s.close();
  psql(`drop database if exists ${DB} with (force)`);
});

test('two concurrent claims of a slot: exactly one wins, whatever the order', async () => {
  const a = new Session();
  const b = new Session();
  for (let i = 0; i < 20; i++) {
    const slot = `2026-01-01 00:00:${String(i).padStart(2, '0')}+00`;
    const [ra, rb] = await Promise.all([
      a.run(`select app.claim_slot('claim', '${slot}', 'a:1', '1 min', 3)`),
      b.run(`select app.claim_slot('claim', '${slot}', 'b:1', '1 min', 3)`),
    ]);
    assert.equal(ra.state, '00000', ra.error);
    assert.equal(rb.state, '00000', rb.error);
    const got = [ra.rows[0], rb.rows[0]].sort();
    assert.deepEqual(got, ['', '1'], `slot ${i}: one claim gets attempt 1, the other nothing`);
    const owner = ra.rows[0] === '1' ? 'a:1' : 'b:1';
    assert.equal(q(`select owner || ' ' || status || ' ' || attempt from app.job_slots
                     where job = 'claim' and slot = '${slot}'`), `${owner} running 1`);
    await a.value(`select app.finish_slot('claim', '${slot}', '${owner}', 1)`);
  }
  assert.equal(q(`select count(*) from app.job_slots where job = 'claim' and status = 'done'`), '20');
});

test('a takeover after the lease expired: the first holder\'s single statement rolls its work back, the second commits', async () => {
  const gate = new Session();
  const a = new Session();
  const b = new Session();
  const slot = '2026-01-01 01:00:00+00';
  await gate.value('select pg_advisory_lock(4242)');

  assert.equal(await a.value(`select app.claim_slot('fence', '${slot}', 'a:1', '0.3 s', 5)`), '1');
  const apid = await a.pid();
  // A's work inserts its row, then waits on the gate: A's statement is
  // in the middle of its work when its lease expires and B takes over
  const aRun = a.run(run(`select bg_work('fence', '${slot}', 'A', true)`, 'fence', slot, 'a:1', 1));
  await until('A waiting inside its work', () =>
    q(`select count(*) from pg_stat_activity where pid = ${apid}
        and wait_event = 'advisory'`) === '1');

  const attempt = await until('the lease to expire and B to take the slot over', async () =>
    await b.value(`select app.claim_slot('fence', '${slot}', 'b:1', '1 min', 5)`));
  assert.equal(attempt, '2');
  assert.equal(await b.value(run(`select bg_work('fence', '${slot}', 'B', false)`,
                                 'fence', slot, 'b:1', 2)), 't');

  await gate.value('select pg_advisory_unlock(4242)');
  const ra = await aRun;
  // finish_slot ran after A's work (it is the work's argument): had it run
  // first, it would have found the slot still A's and A would commit
  assert.equal(ra.state, 'BG001', `A's fence fails: ${ra.error}`);
  assert.match(ra.error, /slot fence .* attempt 1 of a:1 is no longer ours/);

  assert.equal(q(`select string_agg(tag, ',') from bg_work where job = 'fence'`), 'B',
               'the work of the run taken over is absent, the second is there once');
  assert.equal(q(`select status || ' ' || owner || ' ' || attempt from app.job_slots
                   where job = 'fence'`), 'done b:1 2');
  // and the work ran before the fence recorded the slot done
  assert.equal(q(`select w.at < s.finished_at from bg_work w join app.job_slots s
                   using (job, slot) where w.job = 'fence'`), 't');
});

test('one run of a job at a time: another slot waits for the live lease, takes over an expired one', async () => {
  const a = new Session();
  const b = new Session();
  const s1 = '2026-01-01 02:00:00+00';
  const s2 = '2026-01-01 02:05:00+00';
  const s3 = '2026-01-01 02:10:00+00';

  // concurrent claims of two slots of the job: one of them runs
  const [r1, r2] = await Promise.all([
    a.run(`select app.claim_slot('one', '${s1}', 'a:1', '1 min', 3)`),
    b.run(`select app.claim_slot('one', '${s2}', 'b:1', '1 min', 3)`),
  ]);
  assert.deepEqual([r1.rows[0], r2.rows[0]].sort(), ['', '1']);
  const [first, firstOwner, other, otherOwner] =
    r1.rows[0] === '1' ? [s1, 'a:1', s2, 'b:1'] : [s2, 'b:1', s1, 'a:1'];
  assert.equal(q(`select app.claim_slot('one', '${other}', '${otherOwner}', '1 min', 3)`), '',
               'refused while the first runs with a live lease');
  await a.value(`select app.finish_slot('one', '${first}', '${firstOwner}', 1)`);
  assert.equal(q(`select app.claim_slot('one', '${other}', '${otherOwner}', '0.2 s', 3)`), '1',
               'taken once the first is done');

  // its holder dies: after the lease the next slot runs, and the dead
  // run's late fence fails (its slot is set to retry)
  await until('the lease to expire', () =>
    q(`select lease_until < now() from app.job_slots where job = 'one' and slot = '${other}'`) === 't');
  assert.equal(q(`select app.claim_slot('one', '${s3}', 'c:1', '1 min', 3)`), '1');
  assert.equal(q(`select status || ' ' || error from app.job_slots where job = 'one' and slot = '${other}'`),
               `retry lease of ${otherOwner} expired`);
  const late = await b.run(`select app.finish_slot('one', '${other}', '${otherOwner}', 1)`);
  assert.equal(late.state, 'BG001');
  assert.equal(q(`select count(*) from app.job_slots where job = 'one' and status = 'running'`), '1');

  // the unique index holds even for a write that skips the functions
  const direct = await a.run(`insert into app.job_slots (job, slot, status)
                              values ('one', '2026-01-01 03:00+00', 'running')`);
  assert.equal(direct.state, '23505');
});

test('4 sessions ticking a 0.2 s job (some runs slower than that) with catch_up all for 3 s: every slot once, no gap, never two runs at once', async () => {
  q(`create function bg_tick(j text, s timestamptz) returns int language plpgsql as $$
     begin
       -- the job checks for itself that no other run of it is going
       if not pg_try_advisory_xact_lock(hashtext(j)) then
         raise exception 'two runs of % at once', j;
       end if;
       insert into bg_work (job, slot, tag) values (j, s, 'tick');
       -- every 4th run outlasts the period: slots queue up behind it
       perform pg_sleep(case when (extract(epoch from s) * 5)::bigint % 4 = 0
                             then 0.5 else 0.01 end);
       return 1;
     end $$`);
  const end = Date.now() + 3000;
  let runs = 0;
  const node = async (owner) => {
    const s = new Session();
    while (Date.now() < end) {
      const r = await s.run(`select slot, attempt from app.claim_next_slot(
                               'tick', '0.2 s', 'epoch', 'all', 1000, '${owner}', '1 min', 3)`);
      assert.equal(r.state, '00000', r.error);
      if (r.rows.length === 0) {
        await sleep(20);
        continue;
      }
      const [slot, attempt] = r.rows[0].split('|');
      const done = await s.run(run(`select bg_tick('tick', '${slot}')`, 'tick', slot, owner, attempt));
      assert.equal(done.state, '00000', done.error);
      runs++;
    }
  };
  await Promise.all(['n1:1', 'n1:2', 'n2:1', 'n2:2'].map(node));

  const [n, span, statuses] = q(`select count(*), round(extract(epoch from max(slot) - min(slot)) / 0.2) + 1,
                                        string_agg(distinct status, ',')
                                   from app.job_slots where job = 'tick'`).split('|');
  assert.ok(runs >= 3, `the job ran (${runs} runs)`);
  assert.equal(statuses, 'done');
  assert.equal(n, span, 'no gap between the first slot and the last');
  assert.equal(String(runs), n, 'each run one slot');
  assert.equal(q(`select count(*) || ' ' || count(distinct slot) from bg_work where job = 'tick'`),
               `${n} ${n}`, 'the work of every slot once');
});

test('fail, retry when due, renew, fenced; failed after the last attempt; skip', async () => {
  const slot = '2026-01-01 04:00:00+00';
  assert.equal(q(`select app.claim_slot('retry', '${slot}', 'a:1', '1 min', 2)`), '1');
  assert.match(q(`select app.renew_slot('retry', '${slot}', 'a:1', 1, '2 min') - now()`), /^00:02:00$/);
  assert.throws(() => q(`select app.renew_slot('retry', '${slot}', 'a:1', 2, '2 min')`), /no longer ours/);
  assert.equal(q(`select app.fail_slot('retry', '${slot}', 'a:1', 1, 'boom', '0.3 s')`), 'retry');
  assert.equal(q(`select app.claim_slot('retry', '${slot}', 'b:1', '1 min', 2)`), '', 'not due yet');
  const attempt = await until('the retry to be due', () =>
    q(`select app.claim_slot('retry', '${slot}', 'b:1', '1 min', 2)`));
  assert.equal(attempt, '2');
  assert.throws(() => q(`select app.fail_slot('retry', '${slot}', 'a:1', 1, 'late', '1 s')`),
                /no longer ours/);
  assert.equal(q(`select app.fail_slot('retry', '${slot}', 'b:1', 2, 'boom again', null)`), 'failed');
  assert.equal(q(`select app.claim_slot('retry', '${slot}', 'c:1', '1 min', 5)`), '');
  assert.equal(q(`select status || ' ' || attempt || ' ' || error from app.job_slots
                   where job = 'retry'`), 'failed 2 boom again');

  assert.equal(q(`select app.skip_slot('retry', '2026-01-01 04:05+00', 'a run was going')`), 't');
  assert.equal(q(`select app.skip_slot('retry', '2026-01-01 04:05+00', 'again')`), 'f');
  assert.equal(q(`select app.claim_slot('retry', '2026-01-01 04:05+00', 'a:1', '1 min', 3)`), '');
});

test('due slots: aligned to the period on the database clock; catch-up none, latest, all max=N', () => {
  // an hourly job whose current slot began 30 minutes ago, and whose last
  // recorded run was 5 slots before it (all nodes were down since)
  const t0 = q(`select now()`);
  const anchor = `'${t0}'::timestamptz - interval '30 min'`;
  const seed = (job) => q(`insert into app.job_slots (job, slot, status)
                            values ('${job}', ${anchor} - interval '5 h', 'done')`);
  const due = (job, policy, max = 1, grace = 'null') =>
    q(`select string_agg(round(extract(epoch from ${anchor} - slot) / 3600) || ' ' || reason, ',' order by slot)
         from app.due_slots('${job}', '1 hour', ${anchor}, '${policy}', ${max}, ${grace})`);
  const missed = (job) =>
    q(`select string_agg(round(extract(epoch from ${anchor} - slot) / 3600)::text, ',' order by slot)
         from app.job_slots where job = '${job}' and status = 'missed'`);

  seed('cu_latest');
  assert.equal(due('cu_latest', 'latest'), '0 new', 'the latest slot runs');
  assert.equal(missed('cu_latest'), '4,3,2,1');
  assert.equal(due('cu_latest', 'latest'), '0 new', 'again until it is claimed; nothing more missed');
  assert.equal(missed('cu_latest'), '4,3,2,1');

  seed('cu_all');
  assert.equal(due('cu_all', 'all', 3), '2 new,1 new,0 new', 'the 3 latest, oldest first');
  assert.equal(missed('cu_all'), '4,3');

  seed('cu_all_many');
  assert.equal(due('cu_all_many', 'all', 10), '4 new,3 new,2 new,1 new,0 new');
  assert.equal(missed('cu_all_many'), '');

  seed('cu_none');
  assert.equal(due('cu_none', 'none'), '', '30 min late is past the grace (1 min for an hourly job)');
  assert.equal(missed('cu_none'), '4,3,2,1,0');

  seed('cu_none_grace');
  assert.equal(due('cu_none_grace', 'none', 1, "'45 min'"), '0 new', 'within a grace of 45 min');
  assert.equal(missed('cu_none_grace'), '4,3,2,1');

  // a job never recorded starts at its current slot, missing nothing
  assert.equal(due('cu_new', 'all', 10), '0 new');
  assert.equal(missed('cu_new'), '');

  // a retry due and a run whose lease expired are due too
  q(`insert into app.job_slots (job, slot, status, attempt, next_attempt_at)
     values ('cu_latest', ${anchor} - interval '6 h', 'retry', 1, now())`);
  assert.equal(due('cu_latest', 'latest'), '6 retry,0 new');

  // aligned: a 5 min period on the default anchor (the epoch) lands on
  // :00, :05, ...; a 1 s period on whole seconds; both at most now()
  assert.equal(q(`select extract(epoch from slot)::numeric % 300 = 0 and slot <= now()
                         and slot > now() - interval '5 min'
                    from app.due_slots('cu_5m', '5 min', p_catch_up => 'latest')`), 't');
  assert.equal(q(`select extract(epoch from slot)::numeric % 1 = 0
                    from app.due_slots('cu_1s', '1 s')`), 't');
  // the time zone of the session never moves a slot
  assert.equal(q(`set timezone = 'America/Sao_Paulo';
                  select app.slot_at('1 day', 'epoch', '2026-03-10 12:00+00')
                       = '2026-03-10 00:00+00'`), 't');
  assert.throws(() => q(`select * from app.due_slots('x', '0 s')`), /invalid period/);
  assert.throws(() => q(`select * from app.due_slots('x', '1 s', 'epoch', 'some')`), /catch_up must be/);
});

test('enqueue: idempotent on its dedupe key, notified to a listener at commit only', async () => {
  const listener = new Session();
  await listener.value('listen backend_queue');
  const lines = [];
  const heard = async (what) => {
    lines.push(...(await listener.run('select 1')).rows);
    return lines.some((l) => l.includes(what));
  };

  const a = new Session();
  await a.value(`begin`);
  await a.value(`select app.enqueue('mail_rb', '{"n":1}', 'rolled-back')`);
  await a.value(`rollback`);
  const id = q(`select app.enqueue('mail', '{"to":"x"}', 'welcome:1')`);
  await until('the listener to hear of the committed item', () =>
    heard('"backend_queue" with payload "mail" received'));
  assert.ok(!lines.some((l) => l.includes('mail_rb')), 'nothing of the rolled-back item');
  assert.equal(q(`select count(*) from app.queue_items where queue = 'mail_rb'`), '0');
  assert.equal(q(`select app.enqueue('mail', '{"to":"y"}', 'welcome:1')`), id, 'the same item');
  assert.equal(q(`select count(*) || ' ' || min(payload->>'to') from app.queue_items
                   where queue = 'mail'`), '1 x', 'once, and the rolled-back one never');
  // without a key every call is an item; the same key in another queue too
  assert.notEqual(q(`select app.enqueue('mail', '{}')`), q(`select app.enqueue('mail', '{}')`));
  assert.notEqual(q(`select app.enqueue('other', '{}', 'welcome:1')`), id);
});

test('4 sessions claiming 1,000 items in batches of 25: each item handed out once', async () => {
  q(`select app.enqueue('bulk', jsonb_build_object('i', i)) from generate_series(1, 1000) i`);
  const got = [];
  const worker = async (name) => {
    const s = new Session();
    for (;;) {
      const r = await s.run(`select id || ':' || attempt
                               from app.claim_items('bulk', '${name}', 25, '5 min')`);
      assert.equal(r.state, '00000', r.error);
      if (r.rows.length === 0) return;
      const items = r.rows.map((l) => l.split(':').map(Number));
      got.push(...items.map(([id]) => id));
      const done = await s.value(`select count(app.finish_item(id, '${name}', a))
                                    from unnest(array[${items.map(([id]) => id)}]::bigint[],
                                                array[${items.map(([, a]) => a)}]::int[]) x(id, a)`);
      assert.equal(done, String(items.length));
    }
  };
  await Promise.all(['w:1', 'w:2', 'w:3', 'w:4'].map(worker));
  assert.equal(got.length, 1000, 'no item handed out twice');
  assert.equal(new Set(got).size, 1000);
  assert.equal(q(`select count(*) || ' ' || max(attempts) from app.queue_items
                   where queue = 'bulk' and status = 'done'`), '1000 1');
});

test('an item: fail, retried after a jittered backoff, dead after max_attempts, replayed; fenced', async () => {
  const id = q(`select app.enqueue('flaky', '{}')`);
  const claim = (owner) => q(`select id || ':' || attempt from app.claim_items('flaky', '${owner}', 10, '1 min')`);

  assert.equal(q(`select count(*) from app.claim_items('flaky', 'a:1', 0, '1 min')`), '0');
  assert.equal(q(`select count(*) from app.claim_items('flaky', 'a:1', null, '1 min')`), '0');
  assert.equal(claim('a:1'), `${id}:1`);
  assert.equal(claim('b:1'), '', 'claimed: not handed out again');
  assert.equal(q(`select app.fail_item(${id}, 'a:1', 1, 'boom 1', 3, '0.5 s')`), 'pending');
  const wait = Number(q(`select extract(epoch from run_after - now()) from app.queue_items where id = ${id}`));
  assert.ok(wait > 0.2 && wait <= 0.75, `first backoff 0.5 s +-50%: ${wait}`);
  assert.equal(claim('b:1'), '', 'not before its backoff');
  assert.equal(await until('the retry', () => claim('b:1')), `${id}:2`);
  assert.throws(() => q(`select app.finish_item(${id}, 'a:1', 1)`), /item \d+ attempt 1 of a:1 is no longer ours/);
  assert.equal(q(`select app.fail_item(${id}, 'b:1', 2, 'boom 2', 3, '0.1 s')`), 'pending');
  assert.equal(await until('the retry', () => claim('c:1')), `${id}:3`);
  assert.equal(q(`select app.fail_item(${id}, 'c:1', 3, 'boom 3', 3, '0.1 s')`), 'dead');
  await sleep(300);
  assert.equal(claim('d:1'), '', 'dead items are never claimed');
  assert.equal(q(`select status || ' ' || attempts || ' ' || error from app.queue_items where id = ${id}`),
               'dead 3 boom 3');

  assert.equal(q(`select app.replay_item(${id})`), 't');
  assert.equal(q(`select app.replay_item(${id})`), 'f', 'only a dead item is replayed');
  assert.equal(claim('d:1'), `${id}:4`);
  assert.equal(q(`select app.finish_item(${id}, 'd:1', 4)`), 't');
  assert.equal(q(`select status || ' ' || attempts from app.queue_items where id = ${id}`), 'done 4');

  // the backoff doubles, capped, with +-50% jitter
  assert.equal(q(`select bool_and(b between interval '2 s' and interval '6 s')
                    from (select app.background_backoff(3, '1 s') b from generate_series(1, 200)) x`), 't');
  assert.equal(q(`select bool_and(b <= interval '90 s') and bool_or(b > interval '60 s')
                    from (select app.background_backoff(30, '1 s', '1 min') b
                            from generate_series(1, 200)) x`), 't');
});

test('an item whose holder died: taken over after its lease, the late fence rolls back; dead at max_attempts', async () => {
  q(`create table bg_item_work (id bigint, tag text)`);
  const id = q(`select app.enqueue('lease', '{}')`);
  const claim = (owner, max = 'null') =>
    q(`select id || ':' || attempt from app.claim_items('lease', '${owner}', 1, '0.2 s', ${max})`);
  assert.equal(claim('a:1'), `${id}:1`);
  assert.equal(await until('the lease to expire', () => claim('b:1')), `${id}:2`);
  const item = (tag, owner, attempt) =>
    `with work as materialized (insert into bg_item_work values (${id}, '${tag}') returning 1)
     select app.finish_item(${id}, '${owner}', ${attempt}, (select count(*) from work))`;
  assert.throws(() => q(item('A', 'a:1', 1)), /no longer ours/);
  assert.equal(q(item('B', 'b:1', 2)), 't');
  assert.equal(q(`select string_agg(tag, ',') from bg_item_work`), 'B');

  const id2 = q(`select app.enqueue('lease', '{}')`);
  assert.equal(claim('a:1', 2), `${id2}:1`);
  assert.equal(await until('the lease to expire', () => claim('b:1', 2)), `${id2}:2`);
  await until('the second lease to expire', () =>
    q(`select lease_until < now() from app.queue_items where id = ${id2}`) === 't');
  assert.equal(claim('c:1', 2), '', 'two attempts lost their lease: dead, not handed out');
  assert.equal(q(`select status || ' ' || attempts || ' ' || error from app.queue_items where id = ${id2}`),
               'dead 2 lease of b:1 expired');
});

test('pruning keeps what is still needed', () => {
  q(`update app.queue_items set done_at = now() - interval '2 days' where queue = 'bulk'`);
  q(`update app.job_slots set finished_at = now() - interval '2 days' where job = 'claim'`);
  const n = Number(q(`select app.prune_background('1 day')`));
  assert.equal(n, 1000 + 19);
  assert.equal(q(`select count(*) from app.job_slots where job = 'claim'`), '1', 'the latest slot of the job stays');
  assert.equal(q(`select count(*) from app.queue_items where status = 'dead'`), '1');
});
