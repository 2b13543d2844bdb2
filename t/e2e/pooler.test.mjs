// Scale-out behind a transaction pooler: two nginx nodes, each with
// backend_pg ... pooler=transaction, through one PgBouncer 1.18
// (pool_mode transaction, ONE server connection, so every client shares
// one server session), to Postgres, plus one Redis.  The reference app
// (conf/procedures.conf, conf/webhooks.conf) works through it; nothing a
// statement sets stays on the server session for the next client, and
// nothing another client left there changes our statements.  A node
// without pooler=transaction fails clearly there: the pooler refuses its
// startup packet, the log says so, calls answer a tRPC 503.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Webhook } from 'svix';
import { Nginx, ROOT, conninfo } from './lib/nginx.mjs';
import { psql } from './lib/pg.mjs';
import { Redis } from './lib/redis.mjs';
import { PgBouncer } from './lib/pgbouncer.mjs';
import { AZP, ISSUER, keyPair, keysDir, mint, writeJwks } from './lib/clerk.mjs';

const tag = `e2epooler${process.pid}`;
const secret = `whsec_${randomBytes(24).toString('base64')}`;
let dir, key, redis, bouncer, A, B, admin;
const ids = {};

function http(node) {
  return `
    backend_pg main "${conninfo(bouncer.pg, `${tag}_${node}`)}" max=4
               pooler=transaction query_timeout=5s;
    backend_pg short "${conninfo(bouncer.pg, `${tag}_${node}_short`)}" max=2
               pooler=transaction query_timeout=1s;
    backend_auth_jwks ${join(dir, 'jwks.json')};
    backend_auth_issuer ${ISSUER};
    backend_auth_authorized_parties ${AZP};
    backend_session_zone pooler${node}:1m ttl=60s;
    backend_session_redis 127.0.0.1:${redis.port} timeout=1s;
    include ${ROOT}/conf/procedures.conf;

    backend_procedure t.settings {
        type query; tier public;
        sql "select current_setting('statement_timeout') as st,
                    current_setting('TimeZone') as tz,
                    current_setting('DateStyle') as ds,
                    current_setting('IntervalStyle') as ist,
                    interval '1 day 02:03:04' as iv,
                    timestamp '2025-06-02 14:00:00' as ts,
                    timestamptz '2025-06-02 14:00:00+00'::text as tstz";
        result one;
    }
    backend_procedure t.slow {
        type query; tier public;
        sql "select pg_sleep(2)::text as slept";
        result one;
    }
    backend_procedure t.short {
        type query; tier public; database short;
        sql "select pg_sleep(3)::text as slept";
        result one;
    }
    backend_procedure t.named {
        type query; tier public;
        sql "select $1::int + 1 as n";
        params input;
        result value;
    }
  `;
}

const location = `
  location /trpc/ { backend_rpc; }
  location = /webhooks/clerk {
      include ${ROOT}/conf/webhooks.conf;
      backend_webhook_secret ${'SECRET'};
  }`;

async function until(what, fn, ms = 15000) {
  const end = Date.now() + ms;
  for (;;) {
    if (await fn()) return;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

before(async () => {
  dir = keysDir();
  chmodSync(dir, 0o755);
  key = await keyPair('pooler');
  writeJwks(join(dir, 'jwks.json'), key);
  writeFileSync(join(dir, 'secret'), secret);
  redis = await new Redis().start();
  bouncer = await new PgBouncer({ poolSize: 1 }).start();
  for (const [n, role] of [['m', 'mentorado'], ['admin', 'admin']]) {
    ids[n] = Number(psql(`insert into users (clerk_id, email, role)
                          values ('${tag}_${n}', '${n}@${tag}.test', '${role}')
                          returning id`));
  }
  const loc = location.replace('SECRET', join(dir, 'secret'));
  A = await new Nginx({ http: http('a'), location: loc, workers: 2 }).start();
  B = await new Nginx({ http: http('b'), location: loc, workers: 2 }).start();
  await until('both nodes subscribed', () =>
    [A, B].every((n) => (n.errorLog().match(/subscribed to "ngx_backend:invalidate"/g) ?? []).length >= 2));
  admin = await mint(key, { sub: `${tag}_admin`, sid: `${tag}_sa` });
});

after(async () => {
  await A?.stop();
  await B?.stop();
  await bouncer?.stop();
  await redis?.stop();
  psql(`delete from webhook_events where svix_id like '${tag}%'`);
  psql(`delete from users where clerk_id like '${tag}%'`);
  rmSync(dir, { recursive: true, force: true });
});

async function call(node, path, token, body) {
  const headers = token ? { authorization: `Bearer ${token}` } : {};
  const res = await fetch(`${node.url}/${path}`, body === undefined
    ? { headers }
    : { method: 'POST', headers: { ...headers, 'content-type': 'application/json' },
        body: JSON.stringify(body) });
  return { status: res.status, body: await res.json() };
}

const token = (who, sid = who) => mint(key, { sub: `${tag}_${who}`, sid: `${tag}_s${sid}` });

async function role(node, who) {
  const r = await call(node, 'user.me', await token(who));
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.result.data.role;
}

test('the reference app through the pooler: procedures, cache invalidation across nodes', async () => {
  for (let i = 0; i < 3; i++) {
    assert.equal(await role(A, 'm'), 'mentorado');
    assert.equal(await role(B, 'm'), 'mentorado');
  }
  const m = await token('m');
  const list = `mentorado.sessions.list?input=${encodeURIComponent('{"limit":1}')}`;
  assert.equal((await call(B, list, m)).status, 200);

  const r = await call(A, 'admin.users.setRole', admin, { userId: ids.m, role: 'user' });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.deepEqual(r.body.result.data,
                   { id: ids.m, email: `m@${tag}.test`, role: 'user', clerkId: `${tag}_m` });
  assert.equal(await role(B, 'm'), 'user', 'B, first request after the change through A');
  assert.equal((await call(B, list, m)).status, 403);
  assert.equal((await call(A, 'admin.users.setRole', admin, { userId: 999999999, role: 'user' })).status, 404);

  // every call of both nodes went through the one server connection
  const servers = bouncer.show('servers').split('\n').filter(Boolean);
  assert.ok(servers.length <= 1, `server connections: ${servers.join(' / ')}`);
  const clients = bouncer.show('clients').split('\n').filter((l) => l.includes(tag));
  assert.ok(clients.length >= 2, `clients of the pooler: ${clients.length}`);
});

test('the webhook endpoint through the pooler: stored and applied once, the cache follows', async () => {
  assert.equal(await role(A, 'm'), 'user');
  const id = `${tag}_msg`;
  const body = JSON.stringify({ type: 'user.updated',
    data: { id: `${tag}_m`, public_metadata: { role: 'mentorado' }, updated_at: Date.now() } });
  const ts = new Date();
  const deliver = () => fetch(`http://127.0.0.1:${B.port}/webhooks/clerk`, {
    method: 'POST',
    headers: { 'svix-id': id, 'svix-timestamp': String(Math.floor(ts / 1000)),
               'svix-signature': new Webhook(secret).sign(id, ts, body) },
    body,
  });
  const res = await deliver();
  assert.equal(res.status, 200);
  assert.equal((await res.json()).status, 'applied');
  assert.equal(psql(`select role from users where clerk_id = '${tag}_m'`), 'mentorado');
  assert.equal(await role(A, 'm'), 'mentorado', 'A, after the webhook applied on B');

  // Svix delivers again: acknowledged, not applied twice
  assert.equal((await deliver()).status, 200);
  assert.equal(psql(`select count(*) from webhook_events where svix_id = '${id}'`), '1');
});

test('a concurrent burst on both nodes through one server connection', async () => {
  const calls = [];
  for (let i = 0; i < 60; i++) {
    calls.push(call(i % 2 ? A : B, `t.named?input=${i}`));
  }
  const results = await Promise.all(calls);
  results.forEach((r, i) => {
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.result.data, i + 1);
  });
});

test('settings are the statement\'s own, whatever another client left on the server session', async () => {
  // another client of the pooler sets session state; with one server
  // connection it stays there for the next client (PgBouncer resets only
  // what it tracks: TimeZone, DateStyle, client_encoding...)
  bouncer.psql(`set statement_timeout = '1500ms'; set IntervalStyle = 'iso_8601';
                set TimeZone = 'Asia/Tokyo'; set DateStyle = 'SQL, DMY'`);
  assert.equal(bouncer.psql('show statement_timeout'), '1500ms', 'the pooler leaks session state');
  assert.equal(bouncer.psql('show IntervalStyle'), 'iso_8601');

  for (const node of [A, B]) {
    const r = await call(node, 't.settings');
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual(r.body.result.data, {
      st: '5s', tz: 'UTC', ds: 'ISO, MDY', ist: 'postgres', iv: '1 day 02:03:04',
      ts: '2025-06-02T14:00:00.000Z', tstz: '2025-06-02 14:00:00+00',
    });
    // 2 s: past what the session says (1.5 s), within query_timeout=5s
    const slow = await call(node, 't.slow');
    assert.equal(slow.status, 200, JSON.stringify(slow.body));
  }

  // and ours ended with each transaction: the session is as it was left
  assert.equal(bouncer.psql('show statement_timeout'), '1500ms');
  assert.equal(bouncer.psql('show IntervalStyle'), 'iso_8601');
  bouncer.psql('reset all');
});

test('query_timeout of one backend_pg does not apply to another sharing the server session', async () => {
  // short (query_timeout=1s) times out by the server's statement_timeout
  // (SQLSTATE 57014, the connection kept), on the one server session...
  const short = await call(A, 't.short');
  assert.equal(short.status, 504, JSON.stringify(short.body));
  assert.equal(short.body.error.data.code, 'GATEWAY_TIMEOUT');
  // not the engine's own timer (query_timeout + 1 s, dropping the connection)
  assert.doesNotMatch(A.errorLog(), /no answer within/);
  assert.equal(bouncer.psql('show statement_timeout'), '0', 'the session keeps nothing of short');

  // ...and main (query_timeout=5s) runs 2 s statements on that session
  // right after, on both nodes: a session-level statement_timeout of 1 s
  // would have ended them
  for (const node of [A, B, A]) {
    const r = await call(node, 't.slow');
    assert.equal(r.status, 200, JSON.stringify(r.body));
  }
  assert.equal(bouncer.psql('show statement_timeout'), '0');
  assert.deepEqual([...A.problems(), ...B.problems()], []);
});

test('PgBouncer restarted: both nodes answer every call on new connections', async () => {
  for (const node of [A, B]) {
    assert.equal((await call(node, 't.named?input=1')).status, 200);
  }
  bouncer.restart();
  // a connection it closed is noticed idle, or at its use: a query runs
  // again on a new one; none is answered with an error
  for (let i = 0; i < 20; i++) {
    const r = await call(i % 2 ? A : B, `t.named?input=${i}`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.result.data, i + 1);
  }
  const r = await call(B, 'admin.users.setRole', admin, { userId: ids.m, role: 'mentorado' });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  // the connections of before were closed under both nodes
  for (const node of [A, B]) {
    assert.match(node.errorLog(), /backend_pg "main": (idle connection closed by server|connection lost)/);
  }
  assert.deepEqual([...A.problems(), ...B.problems()], []);
});

test('without pooler=transaction, PgBouncer refuses the startup packet: logged, a tRPC 503', async () => {
  const C = await new Nginx({
    http: `backend_pg main "${conninfo(bouncer.pg, `${tag}_c`)}" max=2;
           backend_procedure t.one { type query; tier public; sql "select 1 as one"; result one; }`,
  }).start();
  try {
    const r = await call(C, 't.one');
    assert.equal(r.status, 503, JSON.stringify(r.body));
    assert.equal(r.body.error.data.code, 'SERVICE_UNAVAILABLE');
    assert.match(C.errorLog(),
      /\[error\] .*backend_pg "main": could not connect to 127\.0\.0\.1:\d+: .*unsupported startup parameter: options \(a transaction pooler\? see pooler=transaction\)/);
    assert.deepEqual(C.problems(), []);
  } finally {
    await C.stop();
  }
});
