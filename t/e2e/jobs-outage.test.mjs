// Background work across a Postgres outage (a private cluster, stopped and
// started again): slots due while it was down and items that became due
// while it was down run once when it is back; the ledger has every slot
// once, without a gap (catch_up all), and each piece of work is there once.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Nginx, ROOT, conninfo } from './lib/nginx.mjs';
import { Cluster, psql } from './lib/pg.mjs';

const cleanup = [];

after(async () => {
  for (const f of cleanup.reverse()) {
    await f();
  }
});

async function until(what, fn, seconds = 60) {
  const end = Date.now() + seconds * 1000;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

test('Postgres down at slot time and while items are due: the work runs once when it is back', async () => {
  const cluster = await new Cluster().start();
  cleanup.push(() => cluster.stop());
  const pg = cluster.pg;
  const r = spawnSync(join(ROOT, 'tools/db-push.sh'), [], {
    encoding: 'utf8',
    env: { ...process.env, DATABASE_URL: `postgres://${pg.user}@${pg.host}:${pg.port}/${pg.database}` },
  });
  assert.equal(r.status, 0, r.stderr);
  const q = (sql) => psql(sql, pg);
  q('create table side (job text, slot timestamptz, item bigint)');

  const n = await new Nginx({
    workers: 2,
    http: `
      backend_pg main "${conninfo(pg, 'outage')}" max=4 connect_timeout=1s query_timeout=10s;
      backend_jobs_poll 200ms;
      backend_jobs_listen main;
      backend_schedule tick {
          every     1s;
          sql       "insert into side (job, slot) values ($1, $2::timestamptz) returning 1";
          params    slot.job slot.time;
          catch_up  all max=100;
          lease     3s;
      }
      backend_queue later {
          sql     "insert into side (job, item) values ('later', $1::bigint) returning 1";
          params  item.id;
          lease   3s;
      }`,
  }).start();
  cleanup.push(() => n.stop());

  await until('3 slots done', () => Number(q(`select count(*) from app.job_slots
                                              where job = 'tick' and status = 'done'`)) >= 3);
  // items that become due in 2 s, when the database is down
  q(`select app.enqueue('later', jsonb_build_object('i', i), null, interval '2 s')
       from generate_series(1, 20) i`);
  const before = q(`select max(slot) from app.job_slots where job = 'tick'`);

  cluster.ctl('stop');
  await until('the claims failing', () => /backend schedule "tick": claim failed/.test(n.errorLog()));
  // down over several slots and past the items' due time
  await sleep(4000);
  cluster.ctl('start');

  await until('the slots of the outage done', () => Number(q(`select count(*) from app.job_slots
      where job = 'tick' and status = 'done' and slot > '${before}'::timestamptz + interval '5 s'`)) >= 1, 120);
  await until('the 20 items done', () => q(`select count(*) from app.queue_items
                                              where queue = 'later' and status = 'done'`) === '20', 120);
  await until('nothing running', () => q(`select count(*) from app.job_slots
                                           where job = 'tick' and status <> 'done'`) === '0');
  // the worker whose claim failed says so when its next claim works; the
  // other worker may have done the outage's work first, while this one's
  // reconnection backoff (up to 5 s) ran
  await until('the failed claimer claiming again',
              () => /backend schedule "tick": claiming again/.test(n.errorLog()), 30);
  assert.deepEqual(n.problems(), []);
  await n.stop();

  assert.equal(q(`select count(*) from (select slot - lag(slot) over (order by slot) d
                                          from app.job_slots where job = 'tick') x
                   where d <> interval '1 s'`), '0', 'every slot of the outage recorded, no gap');
  assert.equal(q(`select count(*) from app.job_slots where job = 'tick' and status <> 'done'`), '0');
  assert.equal(q(`select count(*) from side where job = 'tick'`),
               q(`select count(*) from app.job_slots where job = 'tick'`), 'one run per slot');
  assert.equal(q(`select count(distinct slot) from side where job = 'tick'`),
               q(`select count(*) from app.job_slots where job = 'tick'`));
  assert.equal(q(`select count(*) || ':' || count(distinct item) from side where job = 'later'`), '20:20',
               'each item once');
});
