// The reference app's adapter to Clerk's Backend API (conf/procedures.conf:
// adapter "clerk", procedure admin.clerk.user), pointed at a fake Clerk on
// loopback, with the location nginx.dev.conf.in gives it; and make run's
// own configuration, whose return-based fake answers through nginx -t and
// a real call.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Nginx, ROOT, conninfo } from './lib/nginx.mjs';
import { psql } from './lib/pg.mjs';
import { Fault } from './lib/fault.mjs';
import { AZP, ISSUER, keyPair, keysDir, mint, writeJwks } from './lib/clerk.mjs';

const tag = `e2eclerk${process.pid}`;
let dir, key, n, fake, admin, admin2, member;

before(async () => {
  dir = keysDir();
  chmodSync(dir, 0o755);
  key = await keyPair('clerk');
  writeJwks(join(dir, 'jwks.json'), key);
  psql(`insert into users (clerk_id, email, role) values
          ('${tag}_admin', 'a@${tag}.test', 'admin'),
          ('${tag}_admin2', 'b@${tag}.test', 'admin'),
          ('${tag}_m', 'm@${tag}.test', 'mentorado')`);
  fake = await new Fault().start();
  n = await new Nginx({
    workers: 2,
    http: `
      backend_pg main "${conninfo()}" max=2;
      backend_auth_jwks ${join(dir, 'jwks.json')};
      backend_auth_issuer ${ISSUER};
      backend_auth_authorized_parties ${AZP};
      backend_session_zone clerk_e2e:1m;
      include ${ROOT}/conf/procedures.conf;
      # a call that depends on the caller's context: its last good answer
      # is the caller's own
      backend_procedure test.clerk.byRole { tier admin; call clerk GET "/v1/users?role={ctx.role}"; }`,
    location: `
      location /trpc/ { backend_rpc; }
      location = /_adapters/clerk {
          internal;
          proxy_pass http://127.0.0.1:${fake.port}$backend_adapter_uri;
          proxy_set_header Authorization "Bearer sk_test_e2e";
          proxy_set_header X-Request-Id $backend_request_id;
      }`,
  }).start();
  admin = await mint(key, { sub: `${tag}_admin`, sid: `${tag}_sa` });
  admin2 = await mint(key, { sub: `${tag}_admin2`, sid: `${tag}_sb` });
  member = await mint(key, { sub: `${tag}_m`, sid: `${tag}_sm` });
});

after(async () => {
  await n?.stop();
  await fake?.stop();
  psql(`delete from users where clerk_id like '${tag}%'`);
  rmSync(dir, { recursive: true, force: true });
});

async function user(token, userId) {
  const input = encodeURIComponent(JSON.stringify({ userId }));
  const res = await fetch(`${n.url}/admin.clerk.user?input=${input}`,
                          { headers: { authorization: `Bearer ${token}`, 'x-request-id': `${tag}-rid` } });
  return { status: res.status, headers: res.headers, body: await res.json() };
}

const CLERK_USER = { object: 'user', id: 'user_2abc', first_name: 'Ada',
                     email_addresses: [{ email_address: 'ada@example.test' }] };

test('an admin gets the Clerk user; the API gets the secret key and the request id, not the caller\'s token', async () => {
  fake.reset((r) => (r.url === '/v1/users/user_2abc'
    ? { status: 200, body: JSON.stringify(CLERK_USER) }
    : { status: 404, body: '{"errors":[{"code":"resource_not_found"}]}' }));
  const r = await user(admin, 'user_2abc');
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.deepEqual(r.body.result.data, CLERK_USER);
  assert.equal(fake.seen.length, 1);
  assert.equal(fake.seen[0].headers.authorization, 'Bearer sk_test_e2e');
  assert.equal(fake.seen[0].headers['x-request-id'], `${tag}-rid`);

  const missing = await user(admin, 'user_nobody');
  assert.equal(missing.status, 404);
  assert.equal(missing.body.error.data.code, 'NOT_FOUND');
});

test('only admins, and only a Clerk user id: refused before any call', async () => {
  fake.reset();
  assert.equal((await user(member, 'user_2abc')).status, 403);
  const bad = await user(admin, '../sessions');
  assert.equal(bad.status, 400);
  assert.equal(bad.body.error.data.code, 'BAD_REQUEST');
  assert.equal(fake.seen.length, 0);
});

test('Clerk failing: retried, then the last good answer, marked degraded', async () => {
  fake.reset(() => ({ status: 503, body: '{}' }));
  const r = await user(admin, 'user_2abc');
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.deepEqual(r.body.result.data, CLERK_USER);
  assert.equal(r.body.result.degraded.reason, '5xx');
  assert.match(r.headers.get('backend-degraded'), /^stale; age=\d+$/);
  assert.equal(fake.seen.length, 3);
  assert.deepEqual(n.problems(), []);
});

test('a call that depends on the context: one caller never gets another\'s last good answer', async () => {
  const byRole = async (token) => {
    const res = await fetch(`${n.url}/test.clerk.byRole`, { headers: { authorization: `Bearer ${token}` } });
    return { status: res.status, body: await res.json() };
  };
  fake.reset(() => ({ status: 200, body: '[{"id":"user_a"}]' }));
  assert.equal((await byRole(admin)).status, 200);
  assert.equal(fake.seen[0].url, '/v1/users?role=admin');
  fake.reset(() => ({ status: 503, body: '{}' }));
  // the same target for both admins, but the answer stored was the first's
  const other = await byRole(admin2);
  assert.equal(other.status, 503, JSON.stringify(other.body));
  const same = await byRole(admin);
  assert.equal(same.status, 200, JSON.stringify(same.body));
  // 5xx, or breaker_open once the failures of these tests have opened it
  assert.match(same.body.result.degraded.reason, /^(5xx|breaker_open)$/);
});
