// Adapter calls of queue items ("call" in backend_queue): each item's call
// goes through the adapter (subrequests to its proxy_pass location, from a
// request of the item's own), then the item's SQL runs with the answer.
// Against the fault-injecting fake: an item done once after 503s across
// adapter retries and queue attempts, one idempotency key (queue:id) on
// every attempt; a statement failing after a good call retried with the
// same key; an open breaker failing attempts without calling; a hanging
// API that does not delay a procedure of the same worker; a graceful and
// a fast stop during a call, the item done once by the next node.
// Everything waits for a condition, with a bound; nothing measures time
// but the procedure's latency under a hanging call (a generous bound).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { Nginx, conninfo } from './lib/nginx.mjs';
import { Fault } from './lib/fault.mjs';
import { psql } from './lib/pg.mjs';

const tag = `e2eqcall${process.pid}`;
const nodes = [];
let fake;

async function until(what, fn, seconds = 60) {
  const end = Date.now() + seconds * 1000;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

const adapters = () => `
  backend_adapter ${tag}_mail {
      location /_adapters/mail;
      timeout  1s;
      budget   3s;
      retries  1 on=timeout,error,5xx backoff=20ms max=50ms;
      idempotency header=Idempotency-Key;
  }
  backend_adapter ${tag}_brk {
      location /_adapters/brk;
      timeout  1s;
      budget   2s;
      breaker  failures=2 window=30s open=1500ms probes=1;
      idempotency header=Idempotency-Key;
  }
  backend_adapter ${tag}_slow {
      location /_adapters/slow;
      timeout  2500ms;
      budget   2500ms;
      idempotency header=Idempotency-Key;
  }`;

const locations = (port) => ['mail', 'brk', 'slow'].map((l) => `
  location = /_adapters/${l} {
      internal;
      proxy_pass http://127.0.0.1:${port}/${l}$backend_adapter_uri;
      proxy_set_header X-Request-Id $backend_request_id;
  }`).join('');

// the handler: the answer and its status stored once, unless the flag
// breaks the statement (division by zero, after the call)
const queue = (name, adapter, extra = '') => `
  backend_queue ${tag}.${name} {
      call    ${tag}_${adapter} POST "/v1/emails/{item.payload.to}?n={item.id}" body=item.payload;
      sql     "insert into ${tag}_done (item, answer, status)
               select $1::bigint, $2::jsonb, $3::int
                where 1 / (select case when broken then 0 else 1 end
                             from ${tag}_flag) = 1
               returning 1";
      params  item.id call.result call.status;
      lease         3s;
      backoff       100ms;
      max_attempts  20;
      ${extra}
  }`;

function node(workers = 1) {
  const n = new Nginx({
    workers,
    http: `
      backend_pg main "${conninfo(undefined, tag)}" max=4 query_timeout=10s;
      backend_jobs_poll 100ms;
      ${adapters()}
      ${queue('mail', 'mail')}
      ${queue('brk', 'brk')}
      ${queue('slow', 'slow')}
      backend_procedure ${tag}.ping { tier public; data "{\\"pong\\":true}"; }
      backend_procedure ${tag}.now {
          tier public;
          sql  "select 1 as one";
          result value;
      }`,
    location: `
      location /trpc/ { backend_rpc; }
      ${locations(fake.port)}`,
  });
  nodes.push(n);
  return n;
}

async function halt(n, signal = 'SIGQUIT') {
  const pid = n.pid();
  if (!pid) return;
  try { process.kill(pid, signal); } catch { return; }
  await until(`nginx ${pid} gone`, () => {
    try {
      process.kill(pid, 0);
      return false;
    } catch {
      return true;
    }
  }, 120);
}

const enqueue = (q, payload) => Number(psql(
  `select app.enqueue('${tag}.${q}', '${JSON.stringify(payload)}'::jsonb)`));
const item = (id) => {
  const [status, attempts, error] = psql(
    `select status, attempts, coalesce(error, '') from app.queue_items where id = ${id}`).split('|');
  return { status, attempts: Number(attempts), error };
};
const done = (id) => psql(`select count(*) || '|' || coalesce(max(answer::text), '') || '|'
                                  || coalesce(max(status), 0)
                             from ${tag}_done where item = ${id}`).split('|');
const broken = (b) => psql(`update ${tag}_flag set broken = ${b}`);
const calls = (id) => fake.seen.filter((s) => new URL(s.url, 'http://x').searchParams.get('n') === String(id));

before(async () => {
  fake = await new Fault().start();
  psql(`create table ${tag}_done (item bigint, answer jsonb, status int)`);
  psql(`create table ${tag}_flag (broken boolean)`);
  psql(`insert into ${tag}_flag values (false)`);
});

after(async () => {
  for (const n of nodes) {
    await halt(n).catch(() => {});
    n.remove();
  }
  await fake?.stop();
  psql(`drop table if exists ${tag}_done`);
  psql(`drop table if exists ${tag}_flag`);
  psql(`delete from app.queue_items where queue like '${tag}%'`);
});

function noProblems(n) {
  assert.deepEqual(n.problems(), [], n.errorLog());
}

test('503 twice, across adapter retries and queue attempts: done once, one key, the answer stored', async () => {
  const n = await node().start();
  const byKey = new Map();
  fake.reset((r) => {
    const k = r.headers['idempotency-key'];
    byKey.set(k, (byKey.get(k) ?? 0) + 1);
    return byKey.get(k) <= 2 ? { status: 503, body: '{"error":"busy"}' }
                             : { status: 200, body: `{"id":"em_${k}","to":"${r.url}"}` };
  });
  const id = enqueue('mail', { to: 'ada@example.test', name: 'Ada' });
  await until('item done', () => item(id).status === 'done');

  const [rows, answer, status] = done(id);
  assert.equal(rows, '1');
  assert.equal(status, '200');
  const seen = calls(id);
  // retries 1: the first attempt's call is two 503s, the second attempt's
  // call gets the answer
  assert.equal(seen.length, 3);
  assert.deepEqual(new Set(seen.map((s) => s.headers['idempotency-key'])),
                   new Set([`${tag}.mail:${id}`]));
  assert.deepEqual(seen.map((s) => s.method), ['POST', 'POST', 'POST']);
  assert.deepEqual(seen.map((s) => JSON.parse(s.body)), Array(3).fill({ to: 'ada@example.test', name: 'Ada' }));
  assert.equal(seen[0].url, `/mail/v1/emails/ada%40example.test?n=${id}`);
  assert.match(seen[0].headers['x-request-id'], /^[0-9a-f]{32}$/);
  assert.deepEqual(JSON.parse(answer), { id: `em_${tag}.mail:${id}`, to: seen[0].url });
  assert.equal(item(id).attempts, 2);

  // the failed attempt was logged with the adapter, the queue and the item
  const log = n.errorLog();
  assert.match(log, new RegExp(`\\[warn\\].*backend adapter "${tag}_mail": call failed: 5xx after 2 attempt\\(s\\), background call of queue "${tag}.mail" item ${id} attempt 1`));
  assert.match(log, new RegExp(`\\[warn\\].*backend queue "${tag}.mail": item ${id} attempt 1 failed: external API "${tag}_mail": 5xx after 2 attempt\\(s\\) \\(status 503\\)`));
  noProblems(n);
  await halt(n);
});

test('the call succeeds, the statement fails: retried, the API sees the same key, done once', async () => {
  const n = await node().start();
  fake.reset(() => ({ status: 201, body: '{"queued":true}' }));
  broken(true);
  const id = enqueue('mail', { to: 'bob@example.test' });
  await until('two attempts', () => calls(id).length >= 2 && item(id).attempts >= 2);
  assert.match(item(id).error, /division by zero/);
  assert.equal(done(id)[0], '0');
  broken(false);
  await until('item done', () => item(id).status === 'done');
  assert.deepEqual(done(id), ['1', '{"queued": true}', '201']);
  const keys = new Set(calls(id).map((s) => s.headers['idempotency-key']));
  assert.deepEqual(keys, new Set([`${tag}.mail:${id}`]));
  noProblems(n);
  await halt(n);
});

test('an open breaker fails attempts without calling; done after the API recovers', async () => {
  const n = await node().start();
  fake.reset(() => ({ status: 500, body: '{}' }));
  const id = enqueue('brk', { to: 'eve@example.test' });
  // two failures open the breaker; the attempts after fail fast
  await until('an attempt refused by the breaker', () => /breaker_open/.test(item(id).error));
  const before = calls(id).length;
  assert.equal(before, 2);
  fake.reset(() => ({ status: 200, body: '{"ok":1}' }));
  await until('item done', () => item(id).status === 'done');
  const it = item(id);
  // the attempts refused by the breaker never reached the API
  assert.ok(it.attempts > before + calls(id).length, `${it.attempts} attempts, ${before} + ${calls(id).length} calls`);
  assert.equal(calls(id).length, 1);
  assert.deepEqual(done(id), ['1', '{"ok": 1}', '200']);
  assert.match(n.errorLog(), new RegExp(`backend adapter "${tag}_brk": breaker closed -> open`));
  assert.match(n.errorLog(), new RegExp(`backend adapter "${tag}_brk": call failed: breaker_open after 0 attempt\\(s\\), background call of queue "${tag}.brk" item ${id}`));
  noProblems(n);
  await halt(n);
});

test('a hanging API does not delay a procedure on the same worker; the attempt ends at its timeout', async () => {
  const n = await node(1).start();
  fake.reset((r) => (r.url.startsWith('/slow/') ? { hang: true } : { status: 200, body: '{}' }));
  const id = enqueue('slow', { to: 'hang@example.test' });
  await until('the call in flight', () => calls(id).length === 1);
  for (const p of ['ping', 'now']) {
    const t0 = Date.now();
    const res = await fetch(`${n.url}/${tag}.${p}`);
    assert.equal(res.status, 200);
    await res.text();
    assert.ok(Date.now() - t0 < 1500, `${p} took ${Date.now() - t0} ms`);
  }
  await until('the attempt failed', () => /external API/.test(item(id).error));
  assert.match(item(id).error, /timeout after 1 attempt|budget after 1 attempt/);
  fake.reset(() => ({ status: 200, body: '{"late":true}' }));
  await until('item done', () => item(id).status === 'done');
  assert.equal(done(id)[0], '1');
  noProblems(n);
  await halt(n);
});

for (const signal of ['SIGQUIT', 'SIGTERM']) {
  test(`${signal} during a call: the item is done once, by the next node, with the same key`, async () => {
    const a = await node().start();
    fake.reset(() => ({ hang: true }));
    const id = enqueue('slow', { to: `stop-${signal}@example.test` });
    await until('the call in flight', () => calls(id).length === 1);
    const first = calls(id)[0].headers['idempotency-key'];
    assert.equal(first, `${tag}.slow:${id}`);
    await halt(a, signal);
    // a graceful stop ends the call at its budget and records the attempt
    // failed; a fast one leaves the item to its lease
    fake.reset(() => ({ status: 200, body: '{"sent":true}' }));
    const b = await node().start();
    await until('item done', () => item(id).status === 'done');
    assert.deepEqual(done(id), ['1', '{"sent": true}', '200']);
    // the call that did it, by node b, carried the same key
    assert.deepEqual(calls(id).map((s) => s.headers['idempotency-key']), [first]);
    if (signal === 'SIGQUIT') {
      assert.match(a.errorLog(), new RegExp(`item ${id} attempt 1 failed: external API "${tag}_slow": (timeout|budget)`));
    }
    noProblems(a);
    noProblems(b);
    await halt(b);
  });
}

test('a job\'s call: the slot\'s values, one key per slot on every attempt, the answer stored', async () => {
  const job = `${tag}.digest`;
  psql(`create table ${tag}_slots (slot timestamptz, answer jsonb)`);
  const n = new Nginx({
    http: `
      backend_pg main "${conninfo(undefined, tag)}" max=4 query_timeout=10s;
      backend_jobs_poll 100ms;
      ${adapters()}
      backend_schedule ${job} {
          every     1s;
          call      ${tag}_mail GET "/v1/digest/{slot.job}?at={slot.time}&try={slot.attempt}";
          sql       "insert into ${tag}_slots values ($1::timestamptz, $2::jsonb) returning 1";
          params    slot.time call.result;
          retries   3 backoff=100ms;
          catch_up  latest;
      }`,
    location: locations(fake.port),
  });
  nodes.push(n);
  const byKey = new Map();
  // each slot's first call fails (two 503s: retries 1), the slot's next
  // attempt gets the answer
  fake.reset((r) => {
    const k = r.headers['idempotency-key'];
    byKey.set(k, (byKey.get(k) ?? 0) + 1);
    return byKey.get(k) <= 2 ? { status: 503, body: '{}' } : { status: 200, body: `{"digest":"${k}"}` };
  });
  try {
    await n.start();
    await until('a slot done', () => Number(psql(`select count(*) from ${tag}_slots`)) >= 1);
    const [slot, answer] = psql(`select slot, answer ->> 'digest' from ${tag}_slots order by slot limit 1`).split('|');
    const seen = fake.seen.filter((r) => r.headers['idempotency-key'] === answer);
    assert.equal(seen.length, 3);
    const url = new URL(seen[0].url, 'http://x');
    assert.equal(url.pathname, `/mail/v1/digest/${job}`);
    const at = url.searchParams.get('at');
    assert.equal(new Date(at).getTime(), new Date(slot).getTime());
    // the key: job and slot, what a header may carry
    assert.equal(answer, `${job}:${at.replace(/[^A-Za-z0-9._:-]/g, '_')}`);
    assert.deepEqual(seen.map((r) => new URL(r.url, 'http://x').searchParams.get('try')), ['1', '1', '2']);
    assert.equal(psql(`select status || ':' || attempt from app.job_slots where job = '${job}' and slot = '${slot}'`),
                 'done:2');
    noProblems(n);
  } finally {
    await halt(n);
    psql(`drop table if exists ${tag}_slots`);
    psql(`delete from app.job_slots where job = '${job}'`);
    psql(`delete from app.jobs where job = '${job}'`);
  }
});

const haveValgrind = spawnSync('valgrind', ['--version']).status === 0;
const underAsan = process.env.SANITIZE === 'address';

// the call's own request, pool and connection: freed after an answer,
// after a failure, after an attempt given up at its timeout (its
// subrequest ends later), and by a fast stop with a call in flight
test('under valgrind: calls leak nothing and touch no invalid memory',
     { skip: (!haveValgrind && 'no valgrind') || (underAsan && 'under ASan') }, async () => {
  const n = new Nginx({
    valgrind: true,
    http: `
      backend_pg main "${conninfo(undefined, tag)}" max=2 query_timeout=60s;
      backend_jobs_poll 200ms;
      ${adapters()}
      ${queue('mail', 'mail')}
      ${queue('slow', 'slow')}`,
    location: locations(fake.port),
  });
  const byKey = new Map();
  fake.reset((r) => {
    const k = r.headers['idempotency-key'];
    byKey.set(k, (byKey.get(k) ?? 0) + 1);
    if (r.url.startsWith('/slow/')) return byKey.get(k) === 1 || /term/.test(r.body) ? { hang: true } : { status: 200, body: '{}' };
    return /fail/.test(r.body) && byKey.get(k) <= 2 ? { status: 503, body: '{}' } : { status: 200, body: '{"a":[1,2]}' };
  });
  let log;
  try {
    await n.start();
    const ids = [enqueue('mail', { to: 'ok' }), enqueue('mail', { to: 'fail' }), enqueue('slow', { to: 'gaveup' })];
    await until('the items done', () => ids.every((id) => item(id).status === 'done'), 180);
    const last = enqueue('slow', { to: 'term' });
    await until('the call in flight', () => calls(last).length === 1, 60);
  } finally {
    // a fast stop with the call in flight: exit_process frees it
    n.child?.kill('SIGTERM');
    await n.exited;
    log = n.errorLog();
  }
  const report = n.valgrindReport();
  n.remove();
  assert.match(log, /attempt 1 failed: external API "[^"]+_slow": (timeout|budget)/);
  // every call that ended was freed then: only the one in flight is left
  assert.deepEqual(log.match(/backend adapter "[^"]+": \d+ call\(s\) still in flight at exit/g),
                   [`backend adapter "${tag}_slow": 1 call(s) still in flight at exit`]);
  assert.doesNotMatch(report, /Invalid (read|write|free)|uninitialised|Mismatched/, report);
  const ours = report.split(/\n==\d+== \n/)
    .filter((b) => /definitely lost/.test(b))
    .filter((b) => /ngx_http_backend|libpq|PQ|\?\?\?/.test(b));
  assert.deepEqual(ours, [], ours.join('\n\n'));
});
