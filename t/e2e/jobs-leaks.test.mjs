// Background work under valgrind's memcheck: one nginx process (master
// off) runs a job's slots, a queue's items (payloads copied, a failing
// handler's retries, a lease renewed), the LISTEN connection and its loss,
// then quits; no invalid access and nothing definitely lost may be
// reported.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { Nginx, conninfo } from './lib/nginx.mjs';
import { psql } from './lib/pg.mjs';

const haveValgrind = spawnSync('valgrind', ['--version']).status === 0;
// valgrind and ASan do not mix: ASan checks memory itself
const underAsan = process.env.SANITIZE === 'address';

async function until(what, fn, seconds = 120) {
  const end = Date.now() + seconds * 1000;
  for (;;) {
    if (await fn()) return;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

test('jobs, queues and the listener leak nothing and touch no invalid memory',
     { skip: (!haveValgrind && 'no valgrind') || (underAsan && 'under ASan') }, async () => {
  const tag = `e2ejobsleak${process.pid}`;
  psql(`create table ${tag} (what text, n int)`);
  const n = new Nginx({
    valgrind: true,
    http: `
      backend_pg main "${conninfo(undefined, tag)}" max=2 query_timeout=60s;
      backend_jobs_poll 200ms;
      backend_jobs_listen main;
      backend_schedule ${tag}.tick {
          every     1s;
          sql       "insert into ${tag} values ($1, 0) returning 1";
          params    slot.job;
          catch_up  all max=10;
      }
      backend_queue ${tag}.q {
          sql       "insert into ${tag}
                     select $1, ($2::jsonb ->> 'n')::int
                       from pg_sleep(($2::jsonb ->> 'sleep')::float8)
                      where 1 / (($2::jsonb ->> 'n')::int - 13) is not null
                     returning 1";
          params    item.queue item.payload;
          lease     2s;
          retries   1 backoff=100ms;
          timeout   30s;
      }`,
  });
  try {
    await n.start();
    await until('2 slots', () => Number(psql(`select count(*) from ${tag} where what like '%.tick'`)) >= 2);
    // a payload of 64 KiB (the copy grows), a slow item (its lease
    // renewed), an item that fails twice and ends dead
    psql(`select app.enqueue('${tag}.q', jsonb_build_object('n', 1, 'sleep', 0, 'pad', repeat('x', 65536)))`);
    psql(`select app.enqueue('${tag}.q', jsonb_build_object('n', 2, 'sleep', 1.5))`);
    psql(`select app.enqueue('${tag}.q', jsonb_build_object('n', 13, 'sleep', 0))`);
    await until('the items ended', () => psql(`select count(*) from app.queue_items
        where queue = '${tag}.q' and status in ('done', 'dead')`) === '3');
    // the listener's connection lost, then back
    psql(`select pg_terminate_backend(pid) from pg_stat_activity
           where application_name = '${tag}' and query = 'LISTEN backend_queue'`);
    await until('the listener again', () => (n.errorLog().match(/backend_jobs_listen: listening/g) ?? []).length >= 2);
  } finally {
    await n.stop();
    psql(`drop table if exists ${tag}`);
    psql(`delete from app.queue_items where queue like '${tag}%'`);
    psql(`delete from app.job_slots where job like '${tag}%'`);
    psql(`delete from app.jobs where job like '${tag}%'`);
  }
  const report = n.valgrindReport();
  const log = n.errorLog();
  n.remove();
  assert.match(log, /item \d+ dead after attempt 2/);
  // the listener's loss on one line of the log, the server's goodbye in
  // the log too, not on stderr
  assert.match(log, /\[warn\] .*backend_jobs_listen: connection lost: [^\n]*, polling meanwhile\n/);
  assert.doesNotMatch(log, /^(FATAL|\tThis probably)/m);
  assert.doesNotMatch(report, /Invalid (read|write|free)|uninitialised|Mismatched/, report);
  // nginx itself leaks its environment copy in single-process mode: only
  // losses with our code (or the libraries it drives) on the stack count
  const ours = report.split(/\n==\d+== \n/)
    .filter((b) => /definitely lost/.test(b))
    .filter((b) => /ngx_http_backend|libpq|PQ|\?\?\?/.test(b));
  assert.deepEqual(ours, [], ours.join('\n\n'));
});
