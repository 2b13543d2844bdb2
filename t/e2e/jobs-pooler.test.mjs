// Background work behind a transaction pooler (PgBouncer, pool_mode
// transaction, backend_pg ... pooler=transaction), the topology of
// docs/deployment.md: two nodes run a 1 s job and a queue through the
// pooler; LISTEN goes to the direct endpoint (backend_jobs_listen with a
// conninfo of its own) and wakes the queue, and with no listener at all
// polling does the work.  Every slot once without a gap, every item once.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Nginx, PG, conninfo } from './lib/nginx.mjs';
import { psql } from './lib/pg.mjs';
import { PgBouncer } from './lib/pgbouncer.mjs';

const tag = `e2ejobspool${process.pid}`;
let bouncer;
const nodes = [];

async function until(what, fn, seconds = 120) {
  const end = Date.now() + seconds * 1000;
  for (;;) {
    if (await fn()) return;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

before(async () => {
  bouncer = await new PgBouncer({ poolSize: 2 }).start();
  psql(`create table ${tag} (what text, slot timestamptz, item bigint)`);
});

after(async () => {
  for (const n of nodes) await n.stop().catch(() => {});
  await bouncer?.stop();
  psql(`drop table if exists ${tag}`);
  psql(`delete from app.queue_items where queue like '${tag}%'`);
  psql(`delete from app.job_slots where job like '${tag}%'`);
  psql(`delete from app.jobs where job like '${tag}%'`);
});

const conf = (name, listen, poll) => `
  backend_pg main "${conninfo(bouncer.pg, tag)}" max=2 pooler=transaction query_timeout=10s;
  backend_jobs_poll ${poll};
  ${listen}
  backend_schedule ${name}.tick {
      every     1s;
      sql       "insert into ${tag} (what, slot) values ($1, $2::timestamptz) returning 1";
      params    slot.job slot.time;
      catch_up  all max=100;
  }
  backend_queue ${name}.q {
      sql       "insert into ${tag} (what, item) values ($1, $2::bigint) returning 1";
      params    item.queue item.id;
      concurrency  4;
  }`;

async function check(name, items) {
  const job = `${name}.tick`;
  const q = `${name}.q`;
  await until('6 slots done', () => Number(psql(`select count(*) from app.job_slots
                                                  where job = '${job}' and status = 'done'`)) >= 6);
  await until(`${items} items done`, () => psql(`select count(*) from app.queue_items
                                                  where queue = '${q}' and status = 'done'`) === String(items));
  for (const n of nodes.splice(0)) {
    assert.deepEqual(n.problems(), []);
    assert.doesNotMatch(n.errorLog(), /claim failed|\[error\].*backend (schedule|queue)/);
    await n.stop();
  }
  assert.equal(psql(`select count(*) from app.job_slots where job = '${job}' and status <> 'done'`), '0');
  assert.equal(psql(`select count(*) from (select slot - lag(slot) over (order by slot) d
                                             from app.job_slots where job = '${job}') x
                      where d <> interval '1 s'`), '0', 'every slot once, no gap');
  assert.equal(psql(`select count(*) from ${tag} where what = '${job}'`),
               psql(`select count(*) from app.job_slots where job = '${job}'`));
  assert.equal(psql(`select count(*) || ':' || count(distinct item) from ${tag} where what = '${q}'`),
               `${items}:${items}`, 'each item once');
}

test('through the pooler, LISTEN on the direct endpoint wakes the queue', async () => {
  const name = `${tag}.notify`;
  // the queue's poll is a minute away: only NOTIFY gets its items started
  const listen = `backend_jobs_listen "host=${PG.host} port=${PG.port} dbname=${PG.database}
                                       user=${PG.user} application_name=${tag}_listen";`;
  for (let i = 0; i < 2; i++) {
    nodes.push(await new Nginx({ workers: 2, http: conf(name, listen, '60s') }).start());
  }
  await until('the listeners', () => nodes.every((n) => /backend_jobs_listen: listening/.test(n.errorLog())));
  for (let i = 0; i < 10; i++) {
    psql(`select app.enqueue('${name}.q', '{}')`);
  }
  // the job ticks at most once a period (1 s) whatever the poll
  await check(name, 10);
});

test('through the pooler without a listener: polling does it', async () => {
  const name = `${tag}.poll`;
  for (let i = 0; i < 2; i++) {
    nodes.push(await new Nginx({ workers: 2, http: conf(name, '', '300ms') }).start());
  }
  psql(`select app.enqueue('${name}.q', '{}') from generate_series(1, 50)`);
  await check(name, 50);
});
