// Keys from a JWKS URL (backend_auth_jwks_url): fetched without blocking
// as a subrequest through a location that proxies to the issuer, shared
// by the workers in the session zone, refreshed on an unknown kid (rate
// limited) and on a period; a failed fetch keeps the keys known.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { chmodSync, rmSync, renameSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { Nginx, conninfo, freePort } from './lib/nginx.mjs';
import { psql } from './lib/pg.mjs';
import { AZP, ISSUER, keyPair, keysDir, mint, writeJwks } from './lib/clerk.mjs';

const tag = `e2ejwks${process.pid}`;
let dir, k1, k2, k3, k4, n;

before(async () => {
  dir = keysDir();
  chmodSync(dir, 0o755);  // the workers (user nobody) serve the file
  [k1, k2, k3, k4] = await Promise.all(['j1', 'j2', 'j3', 'j4'].map(keyPair));
  writeJwks(join(dir, 'jwks.json'), k1);
  psql(`insert into users (clerk_id, email, role) values ('${tag}', 'u@${tag}.test', 'mentorado')`);
  const issuerPort = await freePort();
  n = await new Nginx({
    workers: 2,
    http: `
      backend_pg main "${conninfo()}" max=2;
      backend_auth_jwks_url /_jwks refresh=3s min_refresh=2s;
      backend_auth_issuer ${ISSUER};
      backend_auth_authorized_parties ${AZP};
      backend_session_zone jwks_e2e:1m;
      backend_auth_user "select id, role from users where clerk_id = $1";
      backend_procedure me { tier protected; data ctx.user; }
      log_format issuer 'issuer got traceparent=$http_traceparent';
      server {
          listen 127.0.0.1:${issuerPort};
          access_log logs/error.log issuer;
          location = /.well-known/jwks.json { alias ${join(dir, 'jwks.json')}; }
      }`,
    location: `
      location /trpc/ { backend_rpc; }
      location = /_jwks {
          internal;
          proxy_set_header traceparent $backend_traceparent;
          proxy_pass http://127.0.0.1:${issuerPort}/.well-known/jwks.json;
      }`,
  }).start();
});

after(async () => {
  await n?.stop();
  psql(`delete from users where clerk_id = '${tag}'`);
  rmSync(dir, { recursive: true, force: true });
});

const token = (key) => mint(key, { sub: tag, sid: `sess_${tag}` });

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';

async function status(key, t) {
  const res = await fetch(`${n.url}/me`, { headers: {
    authorization: `Bearer ${t ?? await token(key)}`,
    traceparent: `00-${TRACE}-00f067aa0ba902b7-01`,
  } });
  await res.arrayBuffer();
  return res.status;
}

const fetches = () => (n.errorLog().match(/fetching JWKS from "\/_jwks"/g) ?? []).length;

test('the first token waits for the first fetch, concurrent ones too', async () => {
  const statuses = await Promise.all(Array.from({ length: 8 }, () => status(k1)));
  assert.deepEqual(statuses, Array(8).fill(200),
                   `${statuses} after ${fetches()} fetch(es):\n${n.errorLog()}`);
  assert.equal(fetches(), 1, n.errorLog());
  assert.match(n.errorLog(), /JWKS from "\/_jwks": 1 key\(s\)/);
  // the call out carries the trace on, with the request's span as parent
  const sent = n.errorLog().match(/issuer got traceparent=(\S*)/);
  assert.ok(sent, n.errorLog());
  assert.match(sent[1], new RegExp(`^00-${TRACE}-(?!00f067aa0ba902b7)[0-9a-f]{16}-01$`));
});

test('a new kid at the issuer is fetched on first sight, without a reload', async () => {
  writeJwks(join(dir, 'jwks.json'), k1, k2);
  await sleep(2100);  // past min_refresh
  assert.equal(await status(k2), 200);
  assert.equal(await status(k1), 200);
});

test('a flood of unknown kids costs one fetch per min_refresh', async () => {
  const before = fetches();
  const statuses = await Promise.all(Array.from({ length: 30 }, () => status(k3)));
  assert.deepEqual(new Set(statuses), new Set([401]));
  assert.ok(fetches() - before <= 1, `${fetches() - before} fetches`);
});

test('a key removed at the issuer is refused after the next refresh, cached tokens too', async () => {
  const t1 = await token(k1);
  assert.equal(await status(k1, t1), 200);
  writeJwks(join(dir, 'jwks.json'), k2, k4);
  // refresh=3s: one request triggers the refresh in the background
  const end = Date.now() + 10000;
  while (Date.now() < end && await status(k1, t1) === 200) await sleep(200);
  assert.equal(await status(k1, t1), 401);
  assert.equal(await status(k4), 200);
});

test('a failed fetch keeps the keys known', async () => {
  renameSync(join(dir, 'jwks.json'), join(dir, 'gone.json'));
  await sleep(3100);
  for (let i = 0; i < 5; i++) assert.equal(await status(k2), 200);
  await sleep(500);
  assert.match(n.errorLog(), /JWKS fetch from "\/_jwks" failed \(status 404\)/);
  assert.equal(await status(k2), 200);
  renameSync(join(dir, 'gone.json'), join(dir, 'jwks.json'));
  assert.deepEqual(n.problems(), []);
});
