// The reference application as make run serves it (conf/procedures.conf,
// conf/webhooks.conf, the migrations): its admin procedures for roles and
// webhook failures, end to end with signed tokens and deliveries.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Webhook } from 'svix';
import { createTRPCClient, httpBatchLink } from '@trpc/client';
import superjson from 'superjson';
import { Nginx, ROOT, conninfo } from './lib/nginx.mjs';
import { psql } from './lib/pg.mjs';
import { AZP, ISSUER, keyPair, keysDir, mint, writeJwks } from './lib/clerk.mjs';

const tag = `e2eref${process.pid}`;
const secret = `whsec_${randomBytes(24).toString('base64')}`;
let dir, key, n, admin;

before(async () => {
  dir = keysDir();
  chmodSync(dir, 0o755);
  key = await keyPair('ref');
  writeJwks(join(dir, 'jwks.json'), key);
  writeFileSync(join(dir, 'secret'), secret);
  psql(`insert into users (clerk_id, email, role) values
          ('${tag}_admin', 'a@${tag}.test', 'admin'),
          ('${tag}_m', 'm@${tag}.test', 'mentorado')`);
  n = await new Nginx({
    workers: 2,
    http: `
      backend_pg main "${conninfo()}" max=2 pipeline=8;
      backend_auth_jwks ${join(dir, 'jwks.json')};
      backend_auth_issuer ${ISSUER};
      backend_auth_authorized_parties ${AZP};
      backend_session_zone ref:1m;
      include ${ROOT}/conf/procedures.conf;`,
    location: `
      location /trpc/ { backend_rpc; }
      location /trpc-sj/ { backend_rpc; backend_rpc_transformer superjson; }
      location = /webhooks/clerk {
          include ${ROOT}/conf/webhooks.conf;
          backend_webhook_secret ${join(dir, 'secret')};
      }`,
  }).start();
  admin = await mint(key, { sub: `${tag}_admin`, sid: `${tag}_sa` });
});

after(async () => {
  await n?.stop();
  psql(`delete from webhook_events where svix_id like '${tag}%'`);
  psql(`delete from users where clerk_id like '${tag}%'`);
  psql(`delete from roles where name = '${tag}coach'`);
  rmSync(dir, { recursive: true, force: true });
});

const call = async (path, token, body) => {
  const res = await fetch(`${n.url}/${path}`, body === undefined
    ? { headers: { authorization: `Bearer ${token}` } }
    : { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body) });
  return { status: res.status, body: await res.json() };
};

test('admin.users.setRole changes the tier at once; only admins may call it', async () => {
  const m = await mint(key, { sub: `${tag}_m`, sid: `${tag}_sm` });
  const id = Number(psql(`select id from users where clerk_id = '${tag}_m'`));
  const list = `mentorado.sessions.list?input=${encodeURIComponent('{"limit":1}')}`;
  assert.equal((await call(list, m)).status, 200);
  assert.equal((await call('admin.users.setRole', m, { userId: id, role: 'user' })).status, 403);
  const r = await call('admin.users.setRole', admin, { userId: id, role: 'user' });
  assert.deepEqual(r.body.result.data, { id, email: `m@${tag}.test`, role: 'user', clerkId: `${tag}_m` });
  assert.equal((await call(list, m)).status, 403);
  // a role that does not exist is refused with what was refused
  const boss = await call('admin.users.setRole', admin, { userId: id, role: 'boss' });
  assert.equal(boss.status, 400);
  assert.equal(boss.body.error.message,
               'role "boss" does not exist (roles: admin, mentorado, user)');
  assert.equal((await call('admin.users.setRole', admin, { userId: 999999999, role: 'user' })).status, 404);
});

test('admin.webhooks.failures lists a failed delivery; replay applies it once fixed', async () => {
  const id = `${tag}_msg`;
  const body = JSON.stringify({ type: 'user.updated',
    data: { id: `${tag}_m`, public_metadata: { role: 'coach' }, updated_at: Date.now() } });
  const ts = new Date();
  const res = await fetch(`http://127.0.0.1:${n.port}/webhooks/clerk`, {
    method: 'POST',
    headers: { 'svix-id': id, 'svix-timestamp': String(Math.floor(ts / 1000)),
               'svix-signature': new Webhook(secret).sign(id, ts, body) },
    body,
  });
  assert.deepEqual(await res.json(), { status: 'failed' });

  const failures = (await call('admin.webhooks.failures', admin)).body.result.data;
  const f = failures.find((e) => e.svixId === id);
  assert.equal(f.status, 'failed');
  assert.match(f.lastError, /unknown role "coach"/);

  // "fixed": the stored payload corrected by an operator, then replayed
  psql(`update webhook_events set payload = jsonb_set(payload, '{data,public_metadata,role}', '"admin"')
         where svix_id = '${id}'`);
  const r = await call('admin.webhooks.replay', admin, { svixId: id });
  assert.equal(r.body.result.data.status, 'applied');
  assert.equal(psql(`select role from users where clerk_id = '${tag}_m'`), 'admin');
  assert.equal((await call('admin.webhooks.replay', admin, { svixId: id })).status, 404);
});

test('a new role is one INSERT into roles: setRole and the Clerk webhook take it, no other change', async () => {
  const role = `${tag}coach`;
  const id = Number(psql(`select id from users where clerk_id = '${tag}_m'`));
  const before = await call('admin.users.setRole', admin, { userId: id, role });
  assert.equal(before.status, 400);
  assert.match(before.body.error.message, new RegExp(`role "${role}" does not exist`));

  // what its migration would do
  psql(`insert into roles (name, description) values ('${role}', 'e2e')`);

  const r = await call('admin.users.setRole', admin, { userId: id, role });
  assert.equal(r.status, 200);
  assert.equal(r.body.result.data.role, role);

  const sid = `${tag}_coach_msg`;
  const body = JSON.stringify({ type: 'user.updated',
    data: { id: `${tag}_c`, email_addresses: [], public_metadata: { role },
            updated_at: Date.now() } });
  const ts = new Date();
  const res = await fetch(`http://127.0.0.1:${n.port}/webhooks/clerk`, {
    method: 'POST',
    headers: { 'svix-id': sid, 'svix-timestamp': String(Math.floor(ts / 1000)),
               'svix-signature': new Webhook(secret).sign(sid, ts, body) },
    body,
  });
  assert.deepEqual(await res.json(), { status: 'applied' });
  assert.equal(psql(`select role from users where clerk_id = '${tag}_c'`), role);

  psql(`update users set role = 'user' where role = '${role}'`);
});

test('the superjson location (/trpc-sj/ of make run): the same procedures, Dates as Dates', async () => {
  // a mentorado again, whatever the tests above made of the user; a
  // session of its own, so no context of theirs is cached
  psql(`update users set role = 'mentorado' where clerk_id = '${tag}_m'`);
  const mentorado = await mint(key, { sub: `${tag}_m`, sid: `${tag}_sm` });
  const client = (token, path) => createTRPCClient({
    links: [httpBatchLink({ url: `${n.url.replace(/\/trpc$/, '')}/${path}`, headers: { authorization: `Bearer ${token}` },
                            ...(path === 'trpc-sj' ? { transformer: superjson } : {}) })],
  });
  psql(`insert into mentorado_sessions (user_id, title, scheduled_at)
          select id, '${tag} session', '2030-01-02 03:04:05.678+00' from users where clerk_id = '${tag}_m'`);
  const [sj] = await client(mentorado, 'trpc-sj').mentorado.sessions.list.query({ limit: 1 });
  const [plain] = await client(mentorado, 'trpc').mentorado.sessions.list.query({ limit: 1 });
  assert.ok(sj.scheduledAt instanceof Date);
  assert.equal(sj.scheduledAt.toISOString(), '2030-01-02T03:04:05.678Z');
  assert.equal(plain.scheduledAt, '2030-01-02T03:04:05.678Z');
  assert.ok(sj.createdAt instanceof Date);
  assert.deepEqual({ ...sj, scheduledAt: plain.scheduledAt, createdAt: plain.createdAt }, plain);
  const [before] = await client(mentorado, 'trpc-sj').mentorado.sessions.list.query({
    limit: 1, before: '2030-01-02T03:04:05.679Z' });
  assert.equal(before.id, sj.id);
  const me = await client(admin, 'trpc-sj').user.me.query();
  assert.equal(me.email, `a@${tag}.test`);
});
