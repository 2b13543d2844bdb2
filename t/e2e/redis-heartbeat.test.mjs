// A Redis that hangs without closing its sockets (SIGSTOP) is noticed by
// the subscriber within two heartbeats: the subscription is dropped and
// the zone flushed, as when the socket closes.  heartbeat=1s here, so
// the bound is 2 s; the test polls up to three times that.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Nginx, conninfo } from './lib/nginx.mjs';
import { psql } from './lib/pg.mjs';
import { Redis } from './lib/redis.mjs';
import { AZP, ISSUER, keyPair, keysDir, mint, writeJwks } from './lib/clerk.mjs';

const HEARTBEAT = 1000;
const BOUND = 2 * HEARTBEAT;

async function until(what, fn, ms) {
  const end = Date.now() + ms;
  for (;;) {
    if (await fn()) return Date.now();
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(20);
  }
}

test('a hung Redis is noticed by the subscriber within two heartbeats, and the zone flushed', async () => {
  const tag = `e2ehb${process.pid}`;
  const dir = keysDir();
  const key = await keyPair('hb');
  writeJwks(join(dir, 'jwks.json'), key);
  const redis = await new Redis().start();
  const pid = Number(readFileSync(join(redis.dir, 'redis.pid'), 'utf8'));
  const id = Number(psql(`insert into users (clerk_id, email, role)
                          values ('${tag}', 'hb@x.test', 'mentorado') returning id`));
  const n = new Nginx({
    http: `
      backend_pg main "${conninfo()}" max=2;
      backend_auth_jwks ${join(dir, 'jwks.json')};
      backend_auth_issuer ${ISSUER};
      backend_auth_authorized_parties ${AZP};
      backend_session_zone hb:1m ttl=60s;
      backend_session_redis 127.0.0.1:${redis.port} timeout=100ms
                            heartbeat=${HEARTBEAT}ms;
      backend_auth_user "select id, role from users where clerk_id = $1";
      backend_procedure me { tier protected; data ctx.user; }`,
  });
  let stopped = false;
  try {
    await n.start();
    await until('subscribed', () => /subscribed to "ngx_backend:invalidate"/.test(n.errorLog()), 10000);
    const token = await mint(key, { sub: tag, sid: `sess_${tag}` });
    const role = async () => {
      const res = await fetch(`${n.url}/me`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(res.status, 200);
      return (await res.json()).result.data.role;
    };
    assert.equal(await role(), 'mentorado');

    // several heartbeats answered: nothing dropped while Redis is well
    await sleep(3 * HEARTBEAT);
    assert.doesNotMatch(n.errorLog(), /heartbeat/);

    // a change the zone is not told of: it answers from its copy
    psql(`update users set role = 'admin' where id = ${id}`);
    assert.equal(await role(), 'mentorado');

    process.kill(pid, 'SIGSTOP');
    stopped = true;
    const t0 = Date.now();
    const t1 = await until('the subscriber to notice', () =>
      /redis 127\.0\.0\.1:\d+: subscription: connection lost: heartbeat not answered/.test(n.errorLog()),
      3 * BOUND);
    // the zone was flushed: the context comes from Postgres (Redis's read
    // times out) and says what the database says
    assert.equal(await role(), 'admin', `noticed after ${t1 - t0} ms`);

    process.kill(pid, 'SIGCONT');
    stopped = false;
    await until('subscribed again', () => /subscribed to "ngx_backend:invalidate" again/.test(n.errorLog()), 15000);
    // (Redis still has the context written before the change, which was
    // made behind the module's back: only that it answers is checked)
    await role();
    assert.deepEqual(n.problems(), []);
  } finally {
    if (stopped) process.kill(pid, 'SIGCONT');
    await n.stop();
    await redis.stop();
    psql(`delete from users where clerk_id like '${tag}%'`);
    rmSync(dir, { recursive: true, force: true });
  }
});
