// CORS and CSRF of backend_rpc locations (issue 11, item 25): preflights
// answered by the tRPC location for allowed origins only, CORS headers on
// every answer to an allowed origin (errors included), nothing allowed by
// default; a state-changing call authenticated by the __session cookie
// alone is refused (403 FORBIDDEN) from a foreign origin, allowed from the
// same origin, an allowed origin, with a Bearer token, or as JSON.
// Requests are sent with node:http so that Origin and Sec-Fetch-Site are
// exactly what a browser would send; a real @trpc/client does a call too.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { join } from 'node:path';
import { rmSync } from 'node:fs';
import { createTRPCClient, httpLink } from '@trpc/client';
import { Nginx, conninfo } from './lib/nginx.mjs';
import { psql } from './lib/pg.mjs';
import { ISSUER, AZP, keyPair, keysDir, mint, writeJwks } from './lib/clerk.mjs';

const tag = `e2ecors${process.pid}`;
const APP = 'http://app.example';
const EVIL = 'http://evil.example';
let key, dir, n, token, userId;

const http = () => `
    backend_pg main "${conninfo()}" max=2;
    backend_auth_jwks ${join(dir, 'jwks.json')};
    backend_auth_issuer ${ISSUER};
    backend_auth_authorized_parties ${AZP};
    backend_auth_user "select id, email, role from users where clerk_id = $1";
    backend_procedure who { tier protected; sql "select $1::text"; params ctx.user_id; result value; }
    backend_procedure touch {
        type mutation; tier protected;
        sql "update users set email = email where id = $1::bigint returning id";
        params ctx.user_id; result value;
    }
`;

const location = `
    location /trpc/ {
        backend_rpc;
        backend_cors_origins ${APP} https://other.example;
        backend_cors_credentials on;
        backend_cors_max_age 1h;
    }
    location /plain/ { backend_rpc; }
    location /nocsrf/ { backend_rpc; backend_csrf off; }
`;

function send(method, path, headers = {}, body) {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: n.port, method, path, headers }, (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { data += c; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: data }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const host = () => `127.0.0.1:${n.port}`;
const cookie = () => ({ cookie: `theme=dark; __session=${token}` });
const bearer = () => ({ authorization: `Bearer ${token}` });
const mutate = (path, headers) => send('POST', path, { 'content-type': 'text/plain', ...headers }, '{}');

before(async () => {
  dir = keysDir();
  key = await keyPair('k1');
  writeJwks(join(dir, 'jwks.json'), key);
  userId = Number(psql(`insert into users (clerk_id, email, role)
                        values ('${tag}', 'c@${tag}.test', 'user') returning id`));
  token = await mint(key, { sub: tag, sid: `sess_${tag}` });
  n = await new Nginx({ http: http(), location }).start();
});

after(async () => {
  await n?.stop();
  psql(`delete from users where clerk_id = '${tag}'`);
  rmSync(dir, { recursive: true, force: true });
});

test('a preflight from an allowed origin is answered by the tRPC location', async () => {
  const r = await send('OPTIONS', '/trpc/touch', {
    origin: APP,
    'access-control-request-method': 'POST',
    'access-control-request-headers': 'content-type,trpc-accept,authorization',
  });
  assert.equal(r.status, 204);
  assert.equal(r.headers['access-control-allow-origin'], APP);
  assert.equal(r.headers['access-control-allow-credentials'], 'true');
  assert.match(r.headers['access-control-allow-methods'], /\bPOST\b/);
  for (const h of ['trpc-accept', 'authorization', 'content-type']) {
    assert.match(r.headers['access-control-allow-headers'], new RegExp(`\\b${h}\\b`));
  }
  assert.equal(r.headers['access-control-max-age'], '3600');
  assert.match(String(r.headers.vary), /Origin/);
  assert.equal(r.body, '');
});

test('a preflight from another origin, or where nothing is configured, allows nothing', async () => {
  for (const [path, origin] of [['/trpc/touch', EVIL], ['/plain/touch', APP]]) {
    const r = await send('OPTIONS', path, {
      origin, 'access-control-request-method': 'POST',
      'access-control-request-headers': 'content-type',
    });
    assert.equal(r.status, 204, path);
    assert.equal(r.headers['access-control-allow-origin'], undefined, path);
    assert.equal(r.headers['access-control-allow-methods'], undefined, path);
    assert.equal(r.headers['access-control-allow-credentials'], undefined, path);
  }
  assert.match(n.errorLog(), /preflight from an origin not allowed: "http:\/\/evil\.example"/);
});

test('answers to an allowed origin carry CORS headers, errors too; others none', async () => {
  const ok = await send('GET', '/trpc/who', { origin: APP, ...bearer() });
  assert.equal(ok.status, 200);
  assert.deepEqual(JSON.parse(ok.body), { result: { data: String(userId) } });
  assert.equal(ok.headers['access-control-allow-origin'], APP);
  assert.equal(ok.headers['access-control-allow-credentials'], 'true');
  assert.match(ok.headers['access-control-expose-headers'], /X-Request-Id/i);

  const err = await send('GET', '/trpc/nope', { origin: 'https://other.example' });
  assert.equal(err.status, 404);
  assert.equal(JSON.parse(err.body).error.data.code, 'NOT_FOUND');
  assert.equal(err.headers['access-control-allow-origin'], 'https://other.example');

  const evil = await send('GET', '/trpc/who', { origin: EVIL, ...bearer() });
  assert.equal(evil.status, 200);
  assert.equal(evil.headers['access-control-allow-origin'], undefined);

  const plain = await send('GET', '/plain/who', { origin: APP, ...bearer() });
  assert.equal(plain.headers['access-control-allow-origin'], undefined);
});

test('CSRF: a mutation authenticated by the cookie alone from a foreign origin is refused', async () => {
  for (const headers of [
    { origin: EVIL, 'sec-fetch-site': 'cross-site' },
    { origin: EVIL },
    { origin: 'null' },
    { 'sec-fetch-site': 'same-site' },
    {},
  ]) {
    const r = await mutate('/trpc/touch', { ...cookie(), ...headers });
    assert.equal(r.status, 403, JSON.stringify(headers));
    const e = JSON.parse(r.body).error;
    assert.equal(e.data.code, 'FORBIDDEN');
    assert.equal(e.data.httpStatus, 403);
    assert.match(e.message, /Cross-site request refused/);
  }
  // the same origin without CSRF protection: the location's own choice
  assert.equal((await mutate('/nocsrf/touch', { ...cookie(), origin: EVIL })).status, 200);
  assert.match(n.errorLog(), /cross-site request with the session cookie refused, origin: "http:\/\/evil\.example"/);
});

test('CSRF: same origin, an allowed origin, a Bearer token, or a header a form cannot send pass', async () => {
  const cases = [
    [{ ...cookie(), origin: `http://${host()}` }, 'Origin is the host'],
    [{ ...cookie(), 'sec-fetch-site': 'same-origin' }, 'Sec-Fetch-Site same-origin'],
    [{ ...cookie(), 'sec-fetch-site': 'none' }, 'Sec-Fetch-Site none'],
    [{ ...cookie(), origin: APP, 'sec-fetch-site': 'cross-site' }, 'allowed origin'],
    [{ ...bearer(), origin: EVIL, 'sec-fetch-site': 'cross-site' }, 'Bearer'],
    [{ ...cookie(), origin: EVIL, 'content-type': 'application/json; charset=utf-8' }, 'JSON'],
    [{ ...cookie(), origin: EVIL, 'x-trpc-source': 'web' }, 'x-trpc-source'],
    [{ ...cookie(), origin: EVIL, 'trpc-accept': 'application/jsonl' }, 'trpc-accept',
     '/trpc/touch?batch=1'],
  ];
  for (const [headers, what, path = '/trpc/touch'] of cases) {
    const r = await mutate(path, headers);
    assert.equal(r.status, 200, `${what}: ${r.body}`);
  }
  // queries are not state-changing: a cookie GET from anywhere is answered
  assert.equal((await send('GET', '/trpc/who', { ...cookie(), origin: EVIL })).status, 200);
});

test('a real @trpc/client mutation with the cookie from an allowed origin', async () => {
  const client = createTRPCClient({
    links: [httpLink({ url: n.url, headers: () => ({ ...cookie(), origin: APP }) })],
  });
  assert.equal(await client.touch.mutate(), userId);
  assert.deepEqual(n.problems(), []);
});
