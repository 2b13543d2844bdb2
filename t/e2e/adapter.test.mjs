// External APIs behind adapters (backend_adapter, "call"): every exchange
// a subrequest through proxy_pass to a fault-injecting fake on loopback;
// budgets, retries, idempotency keys, safe interpolation, failure
// classification, the breaker, the rate limit and degraded answers, with
// two workers sharing the node's state.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { Nginx, freePort } from './lib/nginx.mjs';
import { Fault } from './lib/fault.mjs';

let n, fake, closed, spread;

const proxy = (name, port, extra = '') => `
      location = /_adapters/${name} {
          internal;
          proxy_pass http://127.0.0.1:${port}$backend_adapter_uri;
          ${extra}
      }`;

before(async () => {
  fake = await new Fault().start();
  closed = await freePort();  // nothing listens there
  // a port whose connections the kernel spreads over both workers
  // (reuseport: by a hash of the client's address and port)
  spread = await freePort();
  n = await new Nginx({
    workers: 2,
    http: `
      backend_metrics_zone metrics_e2e 1m;
      backend_adapter_zone adapters_e2e:1m;
      backend_adapter fake {
          location /_adapters/fake;
          timeout  500ms;
          budget   2500ms;
          retries  2 on=timeout,error,500,502,503,504,429 backoff=50ms max=200ms jitter=full;
          idempotency header=Idempotency-Key;
      }
      backend_adapter nokey {
          location /_adapters/nokey;
          timeout  500ms;
          budget   2s;
          retries  2 on=5xx backoff=50ms;
      }
      backend_adapter refused {
          location /_adapters/refused;
          timeout  500ms;
          budget   2s;
          retries  2 backoff=50ms;
      }
      backend_adapter brk {
          location /_adapters/brk;
          timeout  400ms;
          budget   1s;
          breaker  failures=3 window=30s open=1500ms probes=1;
          degraded stale=10m;
      }
      backend_adapter slowq {
          location /_adapters/slowq;
          timeout  400ms;
          budget   1s;
          retries  3 backoff=50ms max=100ms;
          idempotency header=Idempotency-Key;
          degraded stale=10m;
      }
      backend_adapter lim {
          location /_adapters/lim;
          timeout  2s;
          budget   3s;
          rate     10r/s burst=5;
      }
      backend_procedure fake.get { tier public; call fake GET "/v1/users/{input.userId}?q={input.q}"; result json; }
      backend_procedure fake.post { type mutation; tier public; call fake POST "/v1/things" body=input; }
      backend_procedure nokey.post { type mutation; tier public; call nokey POST "/v1/things" body=input; }
      backend_procedure refused.get { tier public; call refused GET "/x"; }
      backend_procedure brk.get { tier public; call brk GET "/b/{input.id}"; }
      backend_procedure brk.post { type mutation; tier public; call brk POST "/b" body=input; }
      backend_procedure slowq.get { tier public; call slowq GET "/s/{input.id}"; }
      backend_procedure slowq.put { type mutation; tier public; call slowq PUT "/s/{input.id}" body=input; }
      backend_procedure lim.get { tier public; call lim GET "/l"; }
      backend_procedure ping { tier public; data "{\\"pong\\":true}"; }
      server {
          listen 127.0.0.1:${spread} reuseport;
          location /trpc/ { backend_rpc; }
          ${proxy('brk', fake.port)}
          ${proxy('lim', fake.port, 'proxy_set_header X-Worker $pid;')}
      }`,
    location: `
      location /trpc/ { backend_rpc; }
      location /sj/ { backend_rpc; backend_rpc_transformer superjson; }
      ${proxy('fake', fake.port, 'proxy_set_header Accept "application/vnd.test+json";')}
      ${proxy('nokey', fake.port)}
      ${proxy('refused', closed)}
      ${proxy('brk', fake.port)}
      ${proxy('slowq', fake.port)}
      ${proxy('lim', fake.port, 'proxy_set_header X-Worker $pid;')}
      location = /metrics { backend_metrics; }`,
  }).start();
});

after(async () => {
  await n?.stop();
  await fake?.stop();
});

async function query(path, input) {
  const t0 = Date.now();
  const q = input === undefined ? '' : `?input=${encodeURIComponent(JSON.stringify(input))}`;
  const res = await fetch(`${n.url}/${path}${q}`);
  return { status: res.status, headers: res.headers, body: JSON.parse(await res.text()),
           ms: Date.now() - t0 };
}

// a new connection per call, to the reuseport listener: both workers serve
function fresh(path, input) {
  const q = input === undefined ? '' : `?input=${encodeURIComponent(JSON.stringify(input))}`;
  return new Promise((ok, fail) => {
    const req = request({ host: '127.0.0.1', port: spread, path: `/trpc/${path}${q}`, agent: false },
                        (res) => {
                          let body = '';
                          res.on('data', (c) => { body += c; });
                          res.on('end', () => ok({ status: res.statusCode, body: JSON.parse(body) }));
                        });
    req.on('error', fail);
    req.end();
  });
}

const pids = (re) => new Set(n.errorLog().split('\n').filter((l) => re.test(l))
  .map((l) => l.match(/\] (\d+)#/)[1]));

async function mutate(path, input) {
  const t0 = Date.now();
  const res = await fetch(`${n.url}/${path}`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(input),
  });
  return { status: res.status, headers: res.headers, body: JSON.parse(await res.text()),
           ms: Date.now() - t0 };
}

test('the answer comes through as JSON; values are percent-encoded and cannot change the path', async () => {
  fake.reset(() => ({ status: 200, body: '{"id":"user_1","name":"Ada"}' }));
  let r = await query('fake.get', { userId: 'user_1', q: 'a b&c=d' });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.deepEqual(r.body, { result: { data: { id: 'user_1', name: 'Ada' } } });
  assert.equal(fake.seen.length, 1);
  assert.equal(fake.seen[0].url, '/v1/users/user_1?q=a%20b%26c%3Dd');
  // the client's headers do not reach the API; the location's replace
  // the adapter's of the same name
  assert.equal(fake.seen[0].headers.cookie, undefined);
  assert.equal(fake.seen[0].headers.accept, 'application/vnd.test+json');
  assert.match(fake.seen[0].headers['idempotency-key'], /^[0-9a-f]{32}$/);

  fake.reset();
  r = await query('fake.get', { userId: '../../admin@evil.example/x?y#z', q: 'http://h/' });
  assert.equal(r.status, 200);
  assert.equal(fake.seen.length, 1);
  assert.equal(fake.seen[0].url,
               '/v1/users/..%2F..%2Fadmin%40evil.example%2Fx%3Fy%23z?q=http%3A%2F%2Fh%2F');

  for (const userId of ['..', '.', '', null, { a: 1 }]) {
    fake.reset();
    r = await query('fake.get', { userId, q: 'x' });
    assert.equal(r.status, 400, `${JSON.stringify(userId)}: ${JSON.stringify(r.body)}`);
    assert.equal(r.body.error.data.code, 'BAD_REQUEST');
    assert.equal(fake.seen.length, 0);
  }
});

test('5xx: retried as configured, one idempotency key on every attempt, then 503', async () => {
  fake.reset(() => ({ status: 500, body: '{}' }));
  const r = await mutate('fake.post', { a: 1 });
  assert.equal(r.status, 503, JSON.stringify(r.body));
  assert.equal(r.body.error.data.reason, '5xx');
  assert.equal(r.body.error.data.attempts, 3);
  assert.equal(fake.seen.length, 3);
  const keys = new Set(fake.seen.map((s) => s.headers['idempotency-key']));
  assert.equal(keys.size, 1);
  assert.match([...keys][0], /^[0-9a-f]{32}$/);
  assert.deepEqual(fake.seen.map((s) => s.body), Array(3).fill('{"a":1}'));

  // another call, another key
  fake.reset();
  await mutate('fake.post', { a: 2 });
  assert.notEqual(fake.seen[0].headers['idempotency-key'], [...keys][0]);
});

test('a mutation without an idempotency key is never retried', async () => {
  fake.reset(() => ({ status: 503, body: '{}' }));
  const r = await mutate('nokey.post', { a: 1 });
  assert.equal(r.status, 503);
  assert.equal(fake.seen.length, 1);
  assert.equal(fake.seen[0].headers['idempotency-key'], undefined);
});

test('a hanging API: each attempt ends at its timeout, the call within its budget, other procedures are not delayed', async () => {
  fake.reset(() => ({ hang: true }));
  const call = query('fake.get', { userId: 'u', q: 'x' });
  // meanwhile, on the same workers
  const pings = [];
  for (let i = 0; i < 5; i++) {
    await sleep(150);
    const t0 = Date.now();
    const p = await query('ping');
    assert.equal(p.status, 200);
    pings.push(Date.now() - t0);
  }
  const r = await call;
  assert.equal(r.status, 504, JSON.stringify(r.body));
  assert.equal(r.body.error.data.code, 'GATEWAY_TIMEOUT');
  assert.ok(r.ms < 2500 + 1500, `${r.ms} ms`);
  assert.ok(fake.seen.length >= 2 && fake.seen.length <= 3, `${fake.seen.length} attempts`);
  assert.ok(Math.max(...pings) < 1000, `pings ${pings}`);
});

test('a slow body is cut at the attempt timeout', async () => {
  fake.reset(() => ({ status: 200, body: '{"a":"' + 'x'.repeat(100) + '"}', slow: 50 }));
  const r = await query('fake.get', { userId: 'u', q: 'x' });
  assert.equal(r.status, 504, JSON.stringify(r.body));
  assert.ok(r.ms < 2500 + 1500, `${r.ms} ms`);
});

test('connection refused: retried, then 503 error', async () => {
  const r = await query('refused.get');
  assert.equal(r.status, 503, JSON.stringify(r.body));
  assert.equal(r.body.error.data.reason, 'error');
  assert.equal(r.body.error.data.attempts, 3);
});

test('429 with a Retry-After that fits the budget is honoured', async () => {
  let i = 0;
  fake.reset(() => (i++ === 0 ? { status: 429, headers: { 'retry-after': '1' }, body: '{}' }
                              : { status: 200, body: '[1]' }));
  const r = await query('fake.get', { userId: 'u', q: 'x' });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.deepEqual(r.body.result.data, [1]);
  assert.equal(fake.seen.length, 2);
  assert.ok(fake.seen[1].at - fake.seen[0].at >= 950, `${fake.seen[1].at - fake.seen[0].at} ms`);
});

test('429 with a Retry-After past the budget answers at once with it', async () => {
  fake.reset(() => ({ status: 429, headers: { 'retry-after': '30' }, body: '{}' }));
  const r = await query('fake.get', { userId: 'u', q: 'x' });
  assert.equal(r.status, 429, JSON.stringify(r.body));
  assert.equal(r.body.error.data.code, 'TOO_MANY_REQUESTS');
  assert.equal(r.body.error.data.retryAfter, 30);
  assert.equal(r.headers.get('retry-after'), '30');
  assert.equal(fake.seen.length, 1);
  assert.ok(r.ms < 2000, `${r.ms} ms`);
});

test('other 4xx and a malformed answer are not retried', async () => {
  fake.reset(() => ({ status: 404, body: '{"errors":[]}' }));
  let r = await query('fake.get', { userId: 'u', q: 'x' });
  assert.equal(r.status, 404);
  assert.equal(r.body.error.data.code, 'NOT_FOUND');
  assert.equal(r.body.error.data.upstreamStatus, 404);
  assert.equal(fake.seen.length, 1);

  fake.reset(() => ({ status: 200, body: '{"truncated":' }));
  r = await query('fake.get', { userId: 'u', q: 'x' });
  assert.equal(r.status, 500);
  assert.equal(r.body.error.data.reason, 'malformed');
  assert.equal(fake.seen.length, 1);
});

test('the breaker opens, fails fast without calling, serves stale queries, probes and closes', async () => {
  fake.reset(() => ({ status: 200, body: '{"v":"good"}' }));
  let r = await query('brk.get', { id: 'a' });
  assert.equal(r.status, 200);

  fake.reset(() => ({ status: 500, body: '{}' }));
  for (let i = 0; i < 3; i++) {
    r = await query('brk.get', { id: 'b' });  // nothing stored for b
    assert.equal(r.status, 503);
    assert.equal(r.body.error.data.reason, '5xx');
  }
  assert.equal(fake.seen.length, 3);

  // open: no call reaches the API, on either worker
  fake.reset();
  for (let i = 0; i < 6; i++) {
    r = await query('brk.get', { id: 'b' });
    assert.equal(r.status, 503, JSON.stringify(r.body));
    assert.equal(r.body.error.data.reason, 'breaker_open');
    assert.ok(Number(r.headers.get('retry-after')) >= 1);
  }
  // from both workers: the state is the node's
  for (let i = 0; i < 20; i++) {
    const f = await fresh('brk.get', { id: 'b' });
    assert.equal(f.body.error.data.reason, 'breaker_open', JSON.stringify(f.body));
  }
  assert.equal(pids(/backend adapter "brk": call failed: breaker_open/).size, 2,
               'refusals logged by both workers');
  r = await query('brk.get', { id: 'a' });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.deepEqual(r.body.result.data, { v: 'good' });
  assert.equal(r.body.result.degraded.reason, 'breaker_open');
  assert.equal(r.body.result.degraded.adapter, 'brk');
  assert.match(r.headers.get('backend-degraded'), /^stale; age=\d+$/);
  // with superjson, the data as superjson wraps it
  const sj = await fetch(`http://127.0.0.1:${n.port}/sj/brk.get?input=${encodeURIComponent(JSON.stringify({ json: { id: 'a' } }))}`);
  const sjBody = await sj.json();
  assert.equal(sj.status, 200, JSON.stringify(sjBody));
  assert.deepEqual(sjBody.result.data, { json: { v: 'good' } });
  assert.equal(sjBody.result.degraded.reason, 'breaker_open');
  r = await mutate('brk.post', { id: 'a' });
  assert.equal(r.status, 503);
  assert.equal(r.body.error.data.reason, 'breaker_open');
  assert.equal(fake.seen.length, 0);

  // after open=: one probe goes; its success closes the breaker
  fake.reset(() => ({ status: 200, body: '{"v":"new"}' }));
  await sleep(1600);
  r = await query('brk.get', { id: 'a' });
  assert.equal(r.status, 200);
  assert.deepEqual(r.body.result.data, { v: 'new' });
  assert.equal(r.body.result.degraded, undefined);
  assert.equal(fake.seen.length, 1);
  for (let i = 0; i < 4; i++) assert.equal((await query('brk.get', { id: 'c' })).status, 200);
  assert.equal(fake.seen.length, 5);
  assert.match(n.errorLog(), /backend adapter "brk": breaker closed -> open/);
  assert.match(n.errorLog(), /breaker half-open -> closed/);
});

test('the budget spent: a query gets its last good answer, marked degraded; a mutation an error', async () => {
  fake.reset(() => ({ status: 200, body: '{"v":1}' }));
  assert.equal((await query('slowq.get', { id: 'x' })).status, 200);
  fake.reset(() => ({ hang: true }));
  let r = await query('slowq.get', { id: 'x' });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.deepEqual(r.body.result.data, { v: 1 });
  assert.equal(r.body.result.degraded.reason, 'budget');
  assert.ok(r.ms < 1000 + 1500, `${r.ms} ms`);
  assert.ok(fake.seen.length >= 2, `${fake.seen.length} attempts`);
  // another value of the input is another call: nothing stored for it
  r = await query('slowq.get', { id: 'y' });
  assert.equal(r.status, 504);
  assert.equal(r.body.error.data.reason, 'budget');
  // a mutation never gets a stale answer, even for the same target
  fake.reset();
  r = await mutate('slowq.put', { id: 'x' });
  assert.equal(r.status, 504, JSON.stringify(r.body));
  assert.equal(r.headers.get('backend-degraded'), null);
  const keys = new Set(fake.seen.map((s) => s.headers['idempotency-key']));
  assert.equal(keys.size, 1);
});

test('metrics: calls by outcome, attempts, degraded answers, the breaker on every worker; log lines with the request id', async () => {
  const text = await (await fetch(`http://127.0.0.1:${n.port}/metrics`)).text();
  const value = (re) => Number((text.match(re) ?? [])[1]);
  assert.equal(value(/\nbackend_adapter_calls_total\{adapter="brk",outcome="breaker_open"\} (\d+)/), 27, text);
  assert.equal(value(/\nbackend_adapter_calls_total\{adapter="brk",outcome="degraded"\} (\d+)/), 2);
  assert.equal(value(/\nbackend_adapter_degraded_total\{adapter="brk",reason="breaker_open"\} (\d+)/), 2);
  assert.equal(value(/\nbackend_adapter_degraded_total\{adapter="slowq",reason="budget"\} (\d+)/), 1);
  assert.equal(value(/\nbackend_adapter_attempts_total\{adapter="fake",result="5xx"\} (\d+)/), 6);
  assert.equal(value(/\nbackend_adapter_breaker_transitions_total\{adapter="brk",to="open"\} (\d+)/), 1);
  assert.equal(value(/\nbackend_adapter_breaker_transitions_total\{adapter="brk",to="closed"\} (\d+)/), 1);
  assert.equal(value(/\nbackend_adapter_breaker_state\{adapter="brk"\} (\d+)/), 0);
  assert.ok(value(/\nbackend_adapter_duration_seconds_count\{adapter="fake"\} (\d+)/) >= 10);
  const line = n.errorLog().split('\n').find((l) => /backend adapter "fake": attempt \d+ failed: 5xx/.test(l));
  assert.match(line ?? '', /request_id: "[0-9a-f]{32}"/, line);
});

test('a client gone during a hanging call: the exchange is dropped, the worker serves on', async () => {
  fake.reset(() => ({ hang: true }));
  const before = fake.sockets.size;
  const ac = new AbortController();
  const q = `?input=${encodeURIComponent(JSON.stringify({ userId: 'u', q: 'x' }))}`;
  const gone = fetch(`${n.url}/fake.get${q}`, { signal: ac.signal }).catch((e) => e.name);
  const end = Date.now() + 5000;
  while (fake.seen.length === 0 && Date.now() < end) await sleep(20);
  assert.equal(fake.seen.length, 1);
  ac.abort();
  assert.equal(await gone, 'AbortError');
  // nginx notices the client at the attempt's end at the latest, and
  // closes its side of the exchange; no retry follows
  while (fake.sockets.size > before && Date.now() < end) await sleep(50);
  assert.ok(fake.sockets.size <= before, `${fake.sockets.size} sockets open`);
  await sleep(700);
  assert.equal(fake.seen.length, 1);
  assert.equal((await query('ping')).status, 200);
  assert.deepEqual(n.problems(), []);
});

test('a streamed batch (JSON Lines): an adapter call settles its promise later', async () => {
  fake.reset(() => ({ status: 200, body: '{"late":true}', delay: 300 }));
  const input = encodeURIComponent(JSON.stringify({ 0: { userId: 'u', q: 'x' } }));
  const res = await fetch(`${n.url}/fake.get,ping?batch=1&input=${input}`,
                          { headers: { 'trpc-accept': 'application/jsonl' } });
  assert.equal(res.status, 200);
  const lines = (await res.text()).trim().split('\n').map((l) => JSON.parse(l));
  assert.ok(lines.length >= 2, JSON.stringify(lines));
  const text = JSON.stringify(lines);
  assert.match(text, /"late":true/);
  assert.match(text, /"pong":true/);
});

test('a reload keeps the breakers: an open one stays open', async () => {
  fake.reset(() => ({ status: 500, body: '{}' }));
  for (let i = 0; i < 3; i++) await query('brk.get', { id: 'r' });
  let r = await query('brk.get', { id: 'r' });
  assert.equal(r.body.error.data.reason, 'breaker_open', JSON.stringify(r.body));
  await n.reload();
  // the new workers answer once the old ones are gone
  const end = Date.now() + 5000;
  fake.reset();
  do {
    await sleep(100);
    // an old worker closes its idle keep-alive connections as it shuts
    // down: a request sent on one as it goes is retried, as clients do
    r = await query('brk.get', { id: 'r' }).catch(() => query('brk.get', { id: 'r' }));
  } while (Date.now() < end && !/reconfiguring|gracefully shutting/.test(n.errorLog()));
  assert.equal(r.body.error.data.reason, 'breaker_open', JSON.stringify(r.body));
  assert.equal(fake.seen.length, 0);
  await sleep(1600);  // then it probes as before
  fake.reset(() => ({ status: 200, body: '{}' }));
  assert.equal((await query('brk.get', { id: 'r' })).status, 200);
});

test('2 workers, 200 concurrent calls: the API never sees more than rate + burst in a second', async () => {
  fake.reset(() => ({ status: 200, body: '{}', delay: 20 }));
  const t0 = Date.now();
  const statuses = [];
  // 200 calls on their own connections, spread over both workers and
  // about 2 s, many in flight at once
  await Promise.all(Array.from({ length: 200 }, async (_, i) => {
    await sleep(i * 10);
    statuses.push((await fresh('lim.get')).status);
  }));
  const times = fake.seen.map((s) => s.at).sort((a, b) => a - b);
  let worst = 0;
  for (let i = 0; i < times.length; i++) {
    let j = i;
    while (j < times.length && times[j] - times[i] < 1000) j++;
    worst = Math.max(worst, j - i);
  }
  assert.ok(worst <= 15, `${worst} calls in one second`);
  assert.ok(times.length >= 15, `${times.length} calls went through in ${Date.now() - t0} ms`);
  // each worker alone could have sent 15 a second: the bucket is shared
  const workers = new Set(fake.seen.map((s) => s.headers['x-worker']));
  assert.equal(workers.size, 2, `calls from workers ${[...workers]}`);
  assert.equal(statuses.filter((s) => s === 200).length, times.length);
  assert.ok(statuses.every((s) => s === 200 || s === 429), `${new Set(statuses)}`);
  assert.deepEqual(n.problems(), []);
});
