// An invalidation made while Redis is unreachable (its data kept: a
// password set and every client killed) is never lost: the node that made
// it keeps it pending in its session zone, refuses what Redis holds for
// that user, and hands it to Redis (INCR, then PUBLISH) once Redis is back;
// every node that comes back from an outage moves Redis's epoch before it
// trusts anything there, so a second node that never saw the change does
// not serve the pre-outage context either, whichever node reconnects first.
// An overflowing pending list moves the epoch and flushes every zone.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { rmSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { Nginx, conninfo } from './lib/nginx.mjs';
import { psql } from './lib/pg.mjs';
import { Redis } from './lib/redis.mjs';
import { AZP, ISSUER, keyPair, keysDir, mint, writeJwks } from './lib/clerk.mjs';

const tag = `e2eoutage${process.pid}`;
const PASSWORD = `pw${process.pid}`;
let dir, key, redis, A, B;
let password = '';
const ids = {};

function http() {
  return `
    backend_pg main "${conninfo()}" max=4;
    backend_auth_jwks ${join(dir, 'jwks.json')};
    backend_auth_issuer ${ISSUER};
    backend_auth_authorized_parties ${AZP};
    backend_session_zone outage:1m ttl=60s;
    backend_session_redis 127.0.0.1:${redis.port} timeout=200ms
                          connect_timeout=300ms outage_ttl=1s pending=1;
    backend_tier mentorado mentorado admin;
    backend_tier admin admin;
    backend_auth_user "select id, email, role from users where clerk_id = $1";
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

// redis-cli, with the password while one is set
function cli(...args) {
  const auth = password ? ['--no-auth-warning', '-a', password] : [];
  const r = spawnSync('redis-cli', ['-p', String(redis.port), ...auth, ...args], { encoding: 'utf8' });
  return r.stdout.trim();
}

before(async () => {
  dir = keysDir();
  key = await keyPair('outage');
  writeJwks(join(dir, 'jwks.json'), key);
  redis = await new Redis().start();
  for (const [n, role] of [['x', 'mentorado'], ['y', 'mentorado'], ['admin', 'admin']]) {
    ids[n] = Number(psql(`insert into users (clerk_id, email, role)
                          values ('${tag}_${n}', '${n}@${tag}.test', '${role}')
                          returning id`));
  }
  A = await new Nginx({ http: http(), workers: 2 }).start();
  B = await new Nginx({ http: http(), workers: 2 }).start();
  await until('both nodes connected and subscribed', () =>
    [A, B].every((n) => count(n, /subscribed to "ngx_backend:invalidate"/g) >= 2
                        && count(n, /redis 127\.0\.0\.1:\d+: connected/g) >= 2));
});

after(async () => {
  await A?.stop();
  await B?.stop();
  await redis?.stop();
  psql(`delete from users where clerk_id like '${tag}%'`);
  rmSync(dir, { recursive: true, force: true });
});

function count(node, re) {
  return (node.errorLog().match(re) ?? []).length;
}

async function until(what, fn, ms = 15000) {
  const end = Date.now() + ms;
  for (;;) {
    if (await fn()) return;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(50);
  }
}

const token = (who) => mint(key, { sub: `${tag}_${who}`, sid: `sess_${tag}_${who}` });

async function status(node, who) {
  const res = await fetch(`${node.url}/m`, { headers: { authorization: `Bearer ${await token(who)}` } });
  await res.arrayBuffer();
  return res.status;
}

async function setRole(node, who, r) {
  const res = await fetch(`${node.url}/setRole`, {
    method: 'POST',
    headers: { authorization: `Bearer ${await token('admin')}`, 'content-type': 'application/json' },
    body: JSON.stringify({ userId: ids[who], role: r }),
  });
  assert.equal(res.status, 200, await res.text());
}

// Redis keeps its data but refuses every node: a password, every client
// (commands and subscriptions) killed; the nodes fail AUTH until it goes
async function cutRedis() {
  const lost = [A, B].map((n) => count(n, /redis 127\.0\.0\.1:\d+: connection lost/g));
  assert.equal(cli('CONFIG', 'SET', 'requirepass', PASSWORD), 'OK');
  password = PASSWORD;
  cli('CLIENT', 'KILL', 'TYPE', 'normal');
  cli('CLIENT', 'KILL', 'TYPE', 'pubsub');
  // both links of both workers of each node
  await until('both nodes to lose Redis', () =>
    [A, B].every((n, i) => count(n, /redis 127\.0\.0\.1:\d+: (subscription: )?connection lost/g) >= lost[i] + 4));
}

async function restoreRedis() {
  const again = [A, B].map((n) => count(n, /redis 127\.0\.0\.1:\d+: connected again/g));
  assert.equal(cli('CONFIG', 'SET', 'requirepass', ''), 'OK');
  password = '';
  return () => [A, B].every((n, i) => count(n, /redis 127\.0\.0\.1:\d+: connected again/g) >= again[i] + 2);
}

const gen = (who) => Number(cli('GET', `ngx_backend:gen:${tag}_${who}`) || 0);

test('a role changed on node A while Redis is unreachable: 403 on both nodes once it is back', async () => {
  // both nodes have user x's context, and Redis has it under its generation
  for (let i = 0; i < 3; i++) {
    assert.equal(await status(A, 'x'), 200);
    assert.equal(await status(B, 'x'), 200);
  }
  assert.notEqual(cli('--scan', '--pattern', `ngx_backend:ctx:sess_${tag}_x*`), '');
  const g = gen('x');

  await cutRedis();

  await setRole(A, 'x', 'user');
  assert.match(A.errorLog(), /redis is unreachable, the invalidation of "[^"]*_x" is pending/);
  assert.equal(await status(A, 'x'), 403, 'A, at once');
  // B is not asked during the outage: it never saw the change

  const back = await restoreRedis();

  // From the moment Redis takes clients again, every answer is 403, on
  // both nodes, while they reconnect and A hands Redis its invalidation
  // (polled for up to 15 s: reconnect backoff is at most 5 s)
  let polls = 0;
  await until('both nodes reconnected and A\'s invalidation in Redis', async () => {
    polls++;
    assert.equal(await status(B, 'x'), 403, `B, poll ${polls}`);
    assert.equal(await status(A, 'x'), 403, `A, poll ${polls}`);
    return back() && gen('x') > g;
  });
  assert.match(A.errorLog(), /redis took the pending invalidation of "u:[^"]*_x"/);
  assert.match(B.errorLog(), /redis epoch moved to \d+: after an outage/);

  for (let i = 0; i < 4; i++) {
    assert.equal(await status(B, 'x'), 403, 'B, after');
    assert.equal(await status(A, 'x'), 403, 'A, after');
  }
  assert.deepEqual([...A.problems(), ...B.problems()], []);
});

test('more invalidations than pending= while Redis is unreachable: the epoch moves, every zone flushes', async () => {
  for (let i = 0; i < 2; i++) {
    assert.equal(await status(A, 'y'), 200);
    assert.equal(await status(B, 'y'), 200);
    assert.equal(await status(B, 'x'), 403);
  }

  await cutRedis();

  // pending=1: x's is kept, y's is dropped (the overflow)
  await setRole(A, 'x', 'mentorado');
  await setRole(A, 'y', 'user');
  assert.match(A.errorLog(), /1 invalidations are pending already, the one of "[^"]*_y" is dropped/);
  assert.equal(await status(A, 'x'), 200);
  assert.equal(await status(A, 'y'), 403);

  const back = await restoreRedis();
  let polls = 0;
  await until('both nodes reconnected and the overflow covered', async () => {
    polls++;
    assert.equal(await status(B, 'y'), 403, `B, y, poll ${polls}`);
    assert.equal(await status(A, 'y'), 403, `A, y, poll ${polls}`);
    return back() && /redis epoch moved to \d+: invalidations were dropped/.test(A.errorLog());
  });

  for (let i = 0; i < 4; i++) {
    assert.equal(await status(B, 'y'), 403, 'B, y, after');
    assert.equal(await status(B, 'x'), 200, 'B, x, after');
    assert.equal(await status(A, 'x'), 200, 'A, x, after');
  }
  assert.deepEqual([...A.problems(), ...B.problems()], []);
});
