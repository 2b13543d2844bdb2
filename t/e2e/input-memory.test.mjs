// What a large input costs a worker: an input is parsed only for a call
// that passed its procedure, method and tier checks, and its tree is
// bounded by the body's size (1 MB plus 16 bytes per byte of input, see
// NGX_HTTP_BACKEND_JSON_MAX_SIZE). Measured as the growth of the one
// worker's peak RSS (VmHWM), a fresh nginx for each measurement.
import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Nginx, conninfo } from './lib/nginx.mjs';

const MB = 1024 * 1024;

// under ASan (make test SANITIZE=address) redzones and quarantine make RSS
// say little about the tree: the bounds are checked without it only
const SANITIZED = /nginx-asan/.test(process.env.BACKEND_MODULE ?? '');

const http = `
    backend_pg main "${conninfo()}" max=2 query_timeout=10s;

    backend_procedure open.echo { type mutation; tier public; sql "select jsonb_typeof($1::jsonb) as v"; params input; result value; }
    backend_procedure open.count { tier public; sql "select jsonb_array_length($1::jsonb) as v"; params input; result value; }
    backend_procedure open.constant { type mutation; tier public; data '"c"'; }
    backend_procedure closed.echo { type mutation; tier protected; sql "select $1::jsonb as v"; params input; result value; }
`;

let nginx;

afterEach(async () => {
  if (nginx) {
    assert.deepEqual(nginx.problems(), []);
    await nginx.stop();
    nginx = null;
  }
});

async function start() {
  nginx = new Nginx({
    http,
    location: 'location /trpc/ { client_max_body_size 2m; backend_rpc; }',
  });
  await nginx.start();
  // warm up: the worker has run a request and holds its connections
  const res = await fetch(`${nginx.url}/open.constant`, { method: 'POST' });
  assert.equal(res.status, 200);
  return nginx;
}

function worker() {
  const master = nginx.pid();
  const kids = readFileSync(`/proc/${master}/task/${master}/children`, 'utf8').trim().split(/\s+/);
  assert.equal(kids.length, 1, 'one worker');
  return Number(kids[0]);
}

function hwm(pid) {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m[1]) * 1024;
}

// [{},{},...]: the densest tree for its bytes, 1 MB
function emptyObjects(size) {
  return `[${'{},'.repeat(Math.floor((size - 4) / 3))}{}]`;
}

async function measure(path, body, headers = {}) {
  const pid = worker();
  const before = hwm(pid);
  const res = await fetch(`${nginx.url}/${path}`, {
    method: 'POST', body, headers: { 'content-type': 'application/json', ...headers },
  });
  const json = await res.json();
  return { status: res.status, json, growth: hwm(pid) - before };
}

test('an unauthenticated 1 MB [{},...] to a protected procedure: 401, no parse, peak RSS under 4x the body', async () => {
  await start();
  const body = emptyObjects(MB);
  const r = await measure('closed.echo', body);
  console.log(`closed.echo: 401 path, VmHWM grew ${(r.growth / MB).toFixed(1)} MB for a ${(body.length / MB).toFixed(1)} MB body`);
  assert.equal(r.status, 401);
  assert.equal(r.json.error.data.code, 'UNAUTHORIZED');
  assert.ok(SANITIZED || r.growth < 4 * body.length, `VmHWM grew ${r.growth} bytes`);
  // the parser's own report of bad input never appears: nothing was parsed
  const bad = await measure('closed.echo', '{"never":');
  assert.equal(bad.status, 401);
  assert.doesNotMatch(nginx.errorLog(), /bad input/);
});

test('the same to a public procedure: BAD_REQUEST (over the budget), peak RSS under 20x the body', async () => {
  await start();
  const body = emptyObjects(MB);
  const r = await measure('open.echo', body);
  console.log(`open.echo: parse path, VmHWM grew ${(r.growth / MB).toFixed(1)} MB for a ${(body.length / MB).toFixed(1)} MB body`);
  assert.equal(r.status, 400);
  assert.equal(r.json.error.data.code, 'BAD_REQUEST');
  assert.match(r.json.error.message, /^JSON too large/);
  assert.ok(SANITIZED || r.growth < 20 * body.length, `VmHWM grew ${r.growth} bytes`);
});

test('in a batch, one call that passes is enough to parse; the others keep their errors', async () => {
  await start();
  const body = JSON.stringify({ 0: { a: 1 }, 1: { b: 2 } });
  let res = await fetch(`${nginx.url}/closed.echo,open.echo?batch=1`, { method: 'POST', body });
  assert.equal(res.status, 207);
  const [a, b] = await res.json();
  assert.equal(a.error.data.code, 'UNAUTHORIZED');
  assert.deepEqual(b, { result: { data: 'object' } });
  // no call passes: a body that is not JSON is never looked at
  res = await fetch(`${nginx.url}/closed.echo,nope?batch=1`, { method: 'POST', body: '[' });
  assert.equal(res.status, 207);
  assert.deepEqual((await res.json()).map((e) => e.error.data.code), ['UNAUTHORIZED', 'NOT_FOUND']);
  assert.doesNotMatch(nginx.errorLog(), /bad input/);
  // one that passes but reads no input (no params, no schema): no parse either
  res = await fetch(`${nginx.url}/open.constant`, { method: 'POST', body: emptyObjects(MB) });
  assert.deepEqual(await res.json(), { result: { data: 'c' } });
  res = await fetch(`${nginx.url}/open.constant`, { method: 'POST', body: '[' });
  assert.deepEqual(await res.json(), { result: { data: 'c' } });
  assert.doesNotMatch(nginx.errorLog(), /bad input/);
  // one that passes and reads it: the input is parsed, its error reaches that call
  res = await fetch(`${nginx.url}/closed.echo,open.echo?batch=1`, { method: 'POST', body: '[' });
  assert.deepEqual((await res.json()).map((e) => e.error.data.code), ['UNAUTHORIZED', 'BAD_REQUEST']);
  assert.match(nginx.errorLog(), /bad input/);
});

test('dense but reasonable inputs are within the budget', async () => {
  await start();
  for (const input of [
    Array.from({ length: 20000 }, (_, i) => 10000 + i),      // ids
    Array.from({ length: 2000 }, (_, i) => ({
      id: i, name: `User Name ${i}`, email: `user${i}@example.com`, role: 'user',
    })),
    Array.from({ length: 5000 }, (_, i) => ({ id: i, n: 'x' })),
    Array.from({ length: 5000 }, () => ({})),
    Array.from({ length: 2000 }, () => [[[]]]),
  ]) {
    const res = await fetch(`${nginx.url}/open.echo`, { method: 'POST', body: JSON.stringify(input) });
    assert.equal(res.status, 200, JSON.stringify(await res.clone().json()).slice(0, 200));
    assert.deepEqual(await res.json(), { result: { data: 'array' } });
  }
  // the tree is right after the containers moved to exact sizes
  const nested = { a: [1, { b: [], c: {} }, [2, 3]], d: { e: { f: null } }, g: 'h' };
  const res = await fetch(`${nginx.url}/open.echo`, {
    method: 'POST', body: JSON.stringify([nested, nested, [], {}]),
  });
  assert.deepEqual(await res.json(), { result: { data: 'array' } });
  const q = await fetch(`${nginx.url}/open.count?input=${encodeURIComponent(JSON.stringify([nested, {}, [], 1]))}`);
  assert.deepEqual(await q.json(), { result: { data: 4 } });
});
