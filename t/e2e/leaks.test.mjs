// The auth path under valgrind's memcheck: one nginx process (master off)
// serves valid, cached, invalid and unknown-user tokens, context fills from
// Postgres and Redis, an invalidation and a Redis outage, then quits; no
// invalid access and nothing definitely lost may be reported.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { rmSync } from 'node:fs';
import { Nginx, conninfo } from './lib/nginx.mjs';
import { psql } from './lib/pg.mjs';
import { Redis } from './lib/redis.mjs';
import { AZP, ISSUER, keyPair, keysDir, mint, unsigned, writeJwks } from './lib/clerk.mjs';

const haveValgrind = spawnSync('valgrind', ['--version']).status === 0;
// valgrind and ASan do not mix: under make test SANITIZE=address, ASan
// itself checks memory, and these tests are skipped
const underAsan = process.env.SANITIZE === 'address';

test('the auth path leaks nothing and touches no invalid memory', { skip: (!haveValgrind && 'no valgrind') || (underAsan && 'under ASan') }, async () => {
  const tag = `e2eleak${process.pid}`;
  const dir = keysDir();
  const key = await keyPair('leak');
  writeJwks(join(dir, 'jwks.json'), key);
  const redis = await new Redis().start();
  const ids = {};
  for (const [n, role] of [['m', 'mentorado'], ['a', 'admin']]) {
    ids[n] = Number(psql(`insert into users (clerk_id, email, role)
                          values ('${tag}_${n}', '${n}@x.test', '${role}') returning id`));
  }
  const n = new Nginx({
    valgrind: true,
    http: `
      backend_pg main "${conninfo()}" max=2;
      backend_auth_jwks ${join(dir, 'jwks.json')};
      backend_auth_issuer ${ISSUER};
      backend_auth_authorized_parties ${AZP};
      backend_session_zone leaks:1m;
      backend_session_redis 127.0.0.1:${redis.port} timeout=500ms;
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
  try {
    await n.start();
    const get = async (t, path = 'me') => {
      const res = await fetch(`${n.url}/${path}`, { headers: t ? { authorization: `Bearer ${t}` } : {} });
      await res.arrayBuffer();
      return res.status;
    };
    const m = await mint(key, { sub: `${tag}_m`, sid: `sess_${tag}_m` });
    const a = await mint(key, { sub: `${tag}_a`, sid: `sess_${tag}_a` });
    assert.equal(await get(m), 200);                       // verify, pg fill
    assert.equal(await get(m), 200);                       // token + context cached
    assert.equal(await get(await mint(key, { sub: `${tag}_m`, sid: `sess_${tag}_m2` })), 200);
    assert.equal(await get(unsigned({ sub: `${tag}_m` }, 'leak')), 401);
    assert.equal(await get(`${m.slice(0, -6)}AAAAAA`), 401);
    assert.equal(await get(await mint(key, { sub: `${tag}_none`, sid: `sess_${tag}_none` })), 401);
    const res = await fetch(`${n.url}/setRole`, {
      method: 'POST', headers: { authorization: `Bearer ${a}`, 'content-type': 'application/json' },
      body: JSON.stringify({ userId: ids.m, role: 'admin' }),
    });
    assert.equal(res.status, 200);
    assert.equal(await get(m), 200);                       // refilled after the invalidation
    redis.ctl('stop');
    assert.equal(await get(await mint(key, { sub: `${tag}_m`, sid: `sess_${tag}_m3` })), 200);
    await Promise.all(Array.from({ length: 20 }, () => get(m)));
  } finally {
    await n.stop();
    await redis.stop();
    psql(`delete from users where clerk_id like '${tag}%'`);
    rmSync(dir, { recursive: true, force: true });
  }
  const report = n.valgrindReport();
  n.remove();
  assert.doesNotMatch(report, /Invalid (read|write|free)|uninitialised|Mismatched/, report);
  // nginx itself leaks its environment copy in single-process mode: only
  // losses with our code (or the libraries it drives) on the stack count
  const ours = report.split(/\n==\d+== \n/)
    .filter((b) => /definitely lost/.test(b))
    .filter((b) => /ngx_http_backend|hiredis|redis|libpq|PQ|libcrypto|EVP_|yajl|\?\?\?/.test(b));
  assert.deepEqual(ours, [], ours.join('\n\n'));
  assert.match(report, /ngx_set_environment|^$/, 'the report is memcheck\'s');
});
