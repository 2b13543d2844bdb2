// Background work, measured (docs/performance.md, "Background work"):
// how fast two nodes drain a queue of trivial items, how soon NOTIFY
// starts an item after its commit on an idle node, how late slots start.
// It asserts nothing: it prints figures.  Run it where the e2e tests run
// (a throwaway Postgres with the migrations, TEST_NGINX_PG_* set):
//
//   make test SUITES=e2e E2E_FILES=tools/bench-jobs.mjs
//
// BENCH_ITEMS (default 20000) items to drain.
import { setTimeout as sleep } from 'node:timers/promises';
import { Nginx, conninfo } from '../t/e2e/lib/nginx.mjs';
import { psql } from '../t/e2e/lib/pg.mjs';

const N = Number(process.env.BENCH_ITEMS ?? 20000);
const tag = `bench${process.pid}`;

async function until(fn, seconds) {
  const end = Date.now() + seconds * 1000;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error('timed out');
    await sleep(50);
  }
}

const pct = (xs, p) => xs.sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))];
const ms = (x) => `${x.toFixed(1)} ms`;

async function drain() {
  const q = `${tag}.drain`;
  const http = `
    backend_pg main "${conninfo(undefined, tag)}" max=8;
    backend_jobs_poll 200ms;
    backend_jobs_limit 64;
    backend_jobs_listen main;
    backend_queue ${q} {
        sql          "select $1::bigint";
        params       item.id;
        concurrency  32;
        batch        32;
    }`;
  const nodes = [await new Nginx({ workers: 2, http }).start(), await new Nginx({ workers: 2, http }).start()];
  await sleep(500);
  psql(`select app.enqueue('${q}', '{}') from generate_series(1, ${N})`);
  await until(() => psql(`select count(*) from app.queue_items
                            where queue = '${q}' and status <> 'done'`) === '0', 600);
  const [secs] = psql(`select extract(epoch from max(done_at) - min(created_at))
                         from app.queue_items where queue = '${q}'`).split('|').map(Number);
  for (const n of nodes) await n.stop();
  psql(`delete from app.queue_items where queue = '${q}'`);
  console.log(`drain: ${N} trivial items, 2 nodes x 2 workers, concurrency 32, batch 32: `
              + `${secs.toFixed(2)} s, ${Math.round(N / secs)} items/s`);
}

async function wake() {
  const q = `${tag}.wake`;
  const n = await new Nginx({ workers: 1, http: `
    backend_pg main "${conninfo(undefined, tag)}" max=4;
    backend_jobs_poll 60s;
    backend_jobs_listen main;
    backend_queue ${q} {
        sql     "select $1::bigint";
        params  item.id;
    }` }).start();
  await until(() => /backend_jobs_listen: listening/.test(n.errorLog()), 30);
  const d = [];
  for (let i = 0; i < 200; i++) {
    // created_at is the enqueueing transaction's start: one statement, so
    // its commit too, within the statement's own few microseconds
    const id = psql(`select app.enqueue('${q}', '{}')`);
    await until(() => psql(`select status from app.queue_items where id = ${id}`) === 'done', 30);
    d.push(Number(psql(`select extract(epoch from done_at - created_at) * 1000
                          from app.queue_items where id = ${id}`)));
  }
  await n.stop();
  psql(`delete from app.queue_items where queue = '${q}'`);
  console.log(`wake: 200 items one at a time on an idle node (poll 60 s), commit to done: `
              + `p50 ${ms(pct(d, 0.5))}, p99 ${ms(pct(d, 0.99))}, max ${ms(pct(d, 1))}`);
}

async function slots() {
  const job = `${tag}.tick`;
  const http = `
    backend_pg main "${conninfo(undefined, tag)}" max=4;
    backend_schedule ${job} {
        every  1s;
        sql    "select 1";
    }`;
  const nodes = [await new Nginx({ workers: 2, http }).start(), await new Nginx({ workers: 2, http }).start()];
  await sleep(30000);
  for (const n of nodes) await n.stop();
  const lag = psql(`select extract(epoch from started_at - slot) * 1000 from app.job_slots
                     where job = '${job}' and status = 'done' order by slot offset 1`)
    .split('\n').filter(Boolean).map(Number);
  psql(`delete from app.job_slots where job = '${job}'`);
  psql(`delete from app.jobs where job = '${job}'`);
  console.log(`slots: a 1 s job on 2 nodes x 2 workers for 30 s (backend_jobs_poll 1s), `
              + `slot time to claim: p50 ${ms(pct(lag, 0.5))}, p99 ${ms(pct(lag, 0.99))} over ${lag.length} slots`);
}

await wake();
await drain();
await slots();
