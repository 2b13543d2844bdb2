// The session zone and the invalidations on their way to Redis, at their
// limits: a zone far too small for its sessions evicts the least recently
// used and never fails a request; invalidation commands still waiting for
// Redis when a worker exits are freed, whoever made them (a request, one
// gone, the webhook retries): memcheck finds nothing lost and no handler
// called on freed memory.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { rmSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { Nginx, conninfo } from './lib/nginx.mjs';
import { psql } from './lib/pg.mjs';
import { Redis } from './lib/redis.mjs';
import { AZP, ISSUER, keyPair, keysDir, mint, writeJwks } from './lib/clerk.mjs';

const haveValgrind = spawnSync('valgrind', ['--version']).status === 0;
// valgrind and ASan do not mix: under make test SANITIZE=address, ASan
// itself checks memory, and these tests are skipped
const underAsan = process.env.SANITIZE === 'address';

async function until(what, fn, ms) {
  const end = Date.now() + ms;
  for (;;) {
    if (await fn()) return;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(50);
  }
}

test('a full zone evicts the least recently used sessions, no request fails', async () => {
  const tag = `e2ezone${process.pid}`;
  const dir = keysDir();
  const key = await keyPair('zone');
  writeJwks(join(dir, 'jwks.json'), key);
  const id = Number(psql(`insert into users (clerk_id, email, role)
                          values ('${tag}', 'z@x.test', 'mentorado') returning id`));
  // 32k, the smallest zone: some 60 sessions (token and context) fit
  const n = new Nginx({
    http: `
      backend_pg main "${conninfo()}" max=2;
      backend_auth_jwks ${join(dir, 'jwks.json')};
      backend_auth_issuer ${ISSUER};
      backend_auth_authorized_parties ${AZP};
      backend_session_zone tiny:32k ttl=60s;
      backend_auth_user "select id, role from users where clerk_id = $1";
      backend_procedure me { tier protected; data ctx.user; }`,
  });
  try {
    await n.start();
    const SESSIONS = 400;
    const tokens = [];
    for (let i = 0; i < SESSIONS; i++) {
      tokens.push(await mint(key, { sub: tag, sid: `sess_${tag}_${i}` }));
    }
    const role = async (t) => {
      const res = await fetch(`${n.url}/me`, { headers: { authorization: `Bearer ${t}` } });
      assert.equal(res.status, 200, await res.clone().text());
      return (await res.json()).result.data.role;
    };
    for (const t of tokens) {
      assert.equal(await role(t), 'mentorado');
    }
    // the database changes behind the zone's back: what the zone still
    // holds answers the old role, what it evicted is read again
    psql(`update users set role = 'admin' where id = ${id}`);
    assert.equal(await role(tokens[SESSIONS - 1]), 'mentorado', 'the last session is still cached');
    assert.equal(await role(tokens[0]), 'admin', 'the first session was evicted');
    // and again, every session once more: all answered
    for (const t of tokens) {
      await role(t);
    }
    assert.deepEqual(n.problems(), []);
    // (the start-up probe's 403 for / is nginx's own)
    const errors = n.errorLog().split('\n').filter((l) => /\[error\]|no memory/.test(l) && !/index\.html/.test(l));
    assert.deepEqual(errors, []);
  } finally {
    await n.stop();
    psql(`delete from users where clerk_id like '${tag}%'`);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('invalidations waiting for Redis at worker exit are freed', { skip: (!haveValgrind && 'no valgrind') || (underAsan && 'under ASan') }, async () => {
  const tag = `e2eexit${process.pid}`;
  const dir = keysDir();
  const key = await keyPair('exit');
  writeJwks(join(dir, 'jwks.json'), key);
  const redis = await new Redis().start();
  const ids = {};
  for (const [u, role] of [['m', 'mentorado'], ['a', 'admin']]) {
    ids[u] = Number(psql(`insert into users (clerk_id, email, role)
                          values ('${tag}_${u}', '${u}@x.test', '${role}') returning id`));
  }
  // timeout=20s: the commands are still waiting when the worker exits
  // master and worker under memcheck: worker 0 runs the webhook retries
  const n = new Nginx({
    valgrind: 'workers',
    http: `
      backend_pg main "${conninfo()}" max=2;
      backend_auth_jwks ${join(dir, 'jwks.json')};
      backend_auth_issuer ${ISSUER};
      backend_auth_authorized_parties ${AZP};
      backend_session_zone exit:1m;
      backend_session_redis 127.0.0.1:${redis.port} timeout=20s;
      backend_webhook_retry "select 'w' as svix_id, 'applied' as status,
                                    '${tag}_w' as clerk_user, $1::int + $2::int + $3::int as n"
                            interval=300ms;
      backend_tier admin admin;
      backend_auth_user "select id, role from users where clerk_id = $1";
      backend_procedure me { tier protected; data ctx.user; }
      backend_procedure setRole {
          type mutation; tier admin;
          sql "update users set role = $2 where id = $1
               returning id, role, clerk_id as \\"clerkId\\"";
          params input.userId input.role; result one;
          invalidate user clerkId;
      }`,
  });
  let paused = false;
  try {
    await n.start();
    await until('connected', () => /redis 127\.0\.0\.1:\d+: connected/.test(n.errorLog()), 30000);
    const a = await mint(key, { sub: `${tag}_a`, sid: `sess_${tag}_a` });
    const me = await fetch(`${n.url}/me`, { headers: { authorization: `Bearer ${a}` } });
    assert.equal(me.status, 200);
    await me.arrayBuffer();

    assert.equal(redis.cli('CLIENT', 'PAUSE', '30000', 'ALL'), 'OK');
    paused = true;
    const call = (role) => fetch(`${n.url}/setRole`, {
      method: 'POST', headers: { authorization: `Bearer ${a}`, 'content-type': 'application/json' },
      body: JSON.stringify({ userId: ids.m, role }),
    }).then((r) => r.arrayBuffer(), () => null);
    // one request that waits for its invalidation, one that went away, and
    // the webhook retries' (every 300 ms, waited for by nobody)
    const waiting = call('user');
    await until('the first change committed', () => psql(`select role from users where id = ${ids.m}`) === 'user', 30000);
    const ac = new AbortController();
    const gone = fetch(`${n.url}/setRole`, {
      method: 'POST', signal: ac.signal,
      headers: { authorization: `Bearer ${a}`, 'content-type': 'application/json' },
      body: JSON.stringify({ userId: ids.m, role: 'mentorado' }),
    }).catch(() => null);
    await until('the second change committed', () => psql(`select role from users where id = ${ids.m}`) === 'mentorado', 30000);
    ac.abort();
    await gone;
    await sleep(500);   // the abort reaches the worker (nothing to poll for)
    const retried = (n.errorLog().match(/retried 1 event/g) ?? []).length;
    await until('a webhook retry while Redis is paused', () =>
      (n.errorLog().match(/retried 1 event/g) ?? []).length > retried, 30000);

    // fast shutdown: exit_process runs with the commands still in hiredis
    n.child.kill('SIGTERM');
    await n.exited;   // (stop() then keeps the logs for the report)
    await waiting;
  } finally {
    if (paused) redis.cli('CLIENT', 'UNPAUSE');
    await n.stop();
    await redis.stop();
    psql(`delete from users where clerk_id like '${tag}%'`);
    rmSync(dir, { recursive: true, force: true });
  }
  const report = n.valgrindReport();
  n.remove();
  assert.doesNotMatch(report, /Invalid (read|write|free)|uninitialised|Mismatched/, report);
  const ours = report.split(/\n==\d+== \n/)
    .filter((b) => /definitely lost/.test(b))
    .filter((b) => /ngx_http_backend|hiredis|redis/.test(b));
  assert.deepEqual(ours, [], ours.join('\n\n'));
});
