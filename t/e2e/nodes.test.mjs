// Two nodes (two nginx instances, each with its own session zone), one
// Postgres, one Redis: a role changed through node A is seen by node B on
// its next request; with Redis stopped both keep answering, correctly
// within outage_ttl; once Redis is back they converge again.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { Nginx, ROOT, conninfo } from './lib/nginx.mjs';
import { psql } from './lib/pg.mjs';
import { Redis } from './lib/redis.mjs';
import { AZP, ISSUER, keyPair, keysDir, mint, writeJwks } from './lib/clerk.mjs';

const tag = `e2enodes${process.pid}`;
let dir, key, redis, A, B;
const ids = {};

function http() {
  return `
    backend_pg main "${conninfo()}" max=4;
    backend_auth_jwks ${join(dir, 'jwks.json')};
    backend_auth_issuer ${ISSUER};
    backend_auth_authorized_parties ${AZP};
    backend_session_zone nodes:1m ttl=60s;
    backend_session_redis 127.0.0.1:${redis.port} timeout=100ms
                          connect_timeout=200ms outage_ttl=1s;
    backend_tier mentorado mentorado admin;
    backend_tier admin admin;
    backend_auth_user "select id, email, role from users where clerk_id = $1";
    backend_procedure me { tier protected; data ctx.user; }
    backend_procedure m { tier mentorado; data '"m"'; }
    backend_procedure setRole {
        type mutation; tier admin;
        sql "update users set role = $2 where id = $1
             returning id, role, clerk_id as \\"clerkId\\"";
        params input.userId input.role; result one;
        invalidate user clerkId;
    }
  `;
}

before(async () => {
  dir = keysDir();
  key = await keyPair('nodes');
  writeJwks(join(dir, 'jwks.json'), key);
  redis = await new Redis().start();
  for (const [n, role] of [['x', 'mentorado'], ['y', 'mentorado'], ['admin', 'admin']]) {
    ids[n] = Number(psql(`insert into users (clerk_id, email, role)
                          values ('${tag}_${n}', '${n}@${tag}.test', '${role}')
                          returning id`));
  }
  A = await new Nginx({ http: http(), workers: 2 }).start();
  B = await new Nginx({ http: http(), workers: 2 }).start();
  await until('both nodes subscribed', () =>
    [A, B].every((n) => (n.errorLog().match(/subscribed to "ngx_backend:invalidate"/g) ?? []).length >= 2));
});

after(async () => {
  await A?.stop();
  await B?.stop();
  await redis?.stop();
  psql(`delete from users where clerk_id like '${tag}%'`);
  rmSync(dir, { recursive: true, force: true });
});

async function until(what, fn, ms = 10000) {
  const end = Date.now() + ms;
  for (;;) {
    if (await fn()) return;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

const token = (who) => mint(key, { sub: `${tag}_${who}`, sid: `sess_${tag}_${who}` });

async function role(node, who) {
  const res = await fetch(`${node.url}/me`, { headers: { authorization: `Bearer ${await token(who)}` } });
  assert.equal(res.status, 200);
  return (await res.json()).result.data.role;
}

async function setRole(node, who, r) {
  const res = await fetch(`${node.url}/setRole`, {
    method: 'POST',
    headers: { authorization: `Bearer ${await token('admin')}`, 'content-type': 'application/json' },
    body: JSON.stringify({ userId: ids[who], role: r }),
  });
  assert.equal(res.status, 200, await res.text());
}

test('a role changed through node A is seen by node B on its next request', async () => {
  // both nodes have the context cached (and Redis has it)
  for (let i = 0; i < 3; i++) {
    assert.equal(await role(A, 'x'), 'mentorado');
    assert.equal(await role(B, 'x'), 'mentorado');
  }
  await setRole(A, 'x', 'user');
  assert.equal(await role(B, 'x'), 'user', 'B, first request after the change');
  assert.equal(await role(A, 'x'), 'user');

  const res = await fetch(`${B.url}/m`, { headers: { authorization: `Bearer ${await token('x')}` } });
  assert.equal(res.status, 403);

  await setRole(B, 'x', 'mentorado');
  assert.equal(await role(A, 'x'), 'mentorado', 'and the other way round');
});

test('a role changed in SQL, outside nginx: tools/invalidate.sh drops it on every node at once', async () => {
  for (let i = 0; i < 2; i++) {
    assert.equal(await role(A, 'y'), 'mentorado');
    assert.equal(await role(B, 'y'), 'mentorado');
  }
  psql(`update users set role = 'user' where id = ${ids.y}`);
  // cached (ttl=60s): the module cannot see a change made in SQL
  assert.equal(await role(A, 'y'), 'mentorado');
  assert.equal(await role(B, 'y'), 'mentorado');

  const r = spawnSync(join(ROOT, 'tools/invalidate.sh'), ['user', `${tag}_y`],
                      { encoding: 'utf8', env: { ...process.env, REDIS_PORT: String(redis.port) } });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /published to 4 subscriber\(s\)/);   // 2 nodes x 2 workers

  // the subscribers drop their zones as the message arrives: poll briefly
  await until('both nodes answering the new role', async () =>
    (await role(A, 'y')) === 'user' && (await role(B, 'y')) === 'user', 5000);

  psql(`update users set role = 'mentorado' where id = ${ids.y}`);
  assert.equal(spawnSync(join(ROOT, 'tools/invalidate.sh'), ['user', `${tag}_y`],
    { env: { ...process.env, REDIS_PORT: String(redis.port) } }).status, 0);
  await until('both nodes back to mentorado', async () =>
    (await role(A, 'y')) === 'mentorado' && (await role(B, 'y')) === 'mentorado', 5000);
});

test('Redis slow: its commands time out and Postgres answers', async () => {
  // CLIENT PAUSE holds every client's commands for 2 s; timeout=100ms
  assert.equal(redis.cli('CLIENT', 'PAUSE', '2000', 'ALL'), 'OK');
  const started = Date.now();
  const r = await fetch(`${A.url}/me`, {
    headers: { authorization: `Bearer ${await mint(key, { sub: `${tag}_x`, sid: `sess_${tag}_slow` })}` },
  });
  assert.equal(r.status, 200);
  assert.equal((await r.json()).result.data.role, 'mentorado');
  assert.ok(Date.now() - started < 1500, `answered in ${Date.now() - started} ms, before Redis woke`);
  await sleep(2000);
  assert.match(A.errorLog(), /redis read failed: timeout, using postgres/);
});

test('Redis stopped: both nodes keep answering, and converge within outage_ttl', async () => {
  assert.equal(await role(A, 'y'), 'mentorado');
  assert.equal(await role(B, 'y'), 'mentorado');

  redis.ctl('stop');
  await until('both nodes to notice', () =>
    [A, B].every((n) => /redis 127\.0\.0\.1:\d+: subscription: /.test(n.errorLog())));

  // every request answered, from the zone or Postgres, no client-visible error
  for (let i = 0; i < 20; i++) {
    assert.equal(await role(i % 2 ? A : B, 'y'), 'mentorado');
  }

  // a change through A while the channel is down: A sees it at once, B
  // once what it cached during the outage expires (outage_ttl=1s)
  await setRole(A, 'y', 'user');
  assert.equal(await role(A, 'y'), 'user');
  await sleep(1200);
  assert.equal(await role(B, 'y'), 'user');
  assert.deepEqual([...A.problems(), ...B.problems()], []);
});

test('Redis back: the nodes reconnect, resubscribe, and converge at once again', async () => {
  redis.ctl('start');
  await until('both nodes resubscribed', () =>
    [A, B].every((n) => (n.errorLog().match(/subscribed to "ngx_backend:invalidate"/g) ?? []).length >= 4),
    15000);
  await until('commands connected', () =>
    [A, B].every((n) => /\[warn\].*redis 127\.0\.0\.1:\d+: connected/.test(n.errorLog())), 15000);

  for (let i = 0; i < 3; i++) {
    assert.equal(await role(A, 'y'), 'user');
    assert.equal(await role(B, 'y'), 'user');
  }
  await setRole(B, 'y', 'mentorado');
  assert.equal(await role(A, 'y'), 'mentorado', 'A, first request after the change');
  assert.equal(await role(B, 'y'), 'mentorado');
  assert.deepEqual([...A.problems(), ...B.problems()], []);
});
