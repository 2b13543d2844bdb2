// The third Redis command timeout in a row frees the command connection,
// which calls the other pending commands' handlers at once.  One of them
// may end the request that owns the command whose timeout is being
// handled: a streaming batch with invalidating calls whose client is gone,
// a call's line fails to be written, the request is freed.  The
// timed-out command's handler must not run on that freed memory (run it
// under ASan: make test SANITIZE=address SUITES=e2e E2E_FILES=...).
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

async function until(what, fn, ms) {
  const end = Date.now() + ms;
  for (;;) {
    if (await fn()) return;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(20);
  }
}

// POST a jsonl batch, read the head, and vanish without a packet: the
// socket is put in TCP_REPAIR mode (root) before close(), so nginx sees no
// FIN or RST and does not know.  The next line it writes draws a RST (on
// loopback before that write returns), the one after fails: the request
// ends inside the Redis handler that writes it.
const VANISH = `
import socket, sys
port, req = int(sys.argv[1]), sys.stdin.buffer.read()
s = socket.create_connection(("127.0.0.1", port))
s.sendall(req)
head = b""
while b"\\r\\n\\r\\n" not in head:
    d = s.recv(65536)
    if not d:
        break
    head += d
s.setsockopt(socket.IPPROTO_TCP, 19, 1)  # TCP_REPAIR: close() sends nothing
s.close()
sys.stdout.write(head.decode("latin-1").split("\\r\\n")[0])
`;

function streamAndVanish(port, path, headers, body) {
  const req = `POST ${path} HTTP/1.1\r\nHost: x\r\n`
              + Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')
              + `content-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
  const r = spawnSync('python3', ['-c', VANISH, String(port)], { input: req, encoding: 'utf8', timeout: 10000 });
  if (r.status !== 0) throw new Error(`python3: ${r.stderr}`);
  return r.stdout;
}

test('a third timeout that frees the connection never calls a handler on freed memory', async () => {
  const tag = `e2etmo${process.pid}`;
  const dir = keysDir();
  const key = await keyPair('tmo');
  writeJwks(join(dir, 'jwks.json'), key);
  const redis = await new Redis().start();
  const ids = {};
  for (const [n, role] of [['u1', 'mentorado'], ['u2', 'mentorado'], ['u3', 'mentorado'],
                           ['a', 'admin']]) {
    ids[n] = Number(psql(`insert into users (clerk_id, email, role)
                          values ('${tag}_${n}', '${n}@x.test', '${role}') returning id`));
  }
  // heartbeat=10s: the pause must not drop the subscription (and flush the
  // zone) before the batch runs
  const n = new Nginx({
    http: `
      backend_pg main "${conninfo()}" max=4;
      backend_auth_jwks ${join(dir, 'jwks.json')};
      backend_auth_issuer ${ISSUER};
      backend_auth_authorized_parties ${AZP};
      backend_session_zone tmo:1m;
      backend_session_redis 127.0.0.1:${redis.port} timeout=150ms heartbeat=10s;
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
    await until('connected and subscribed', () =>
      /subscribed to/.test(n.errorLog()) && /redis 127\.0\.0\.1:\d+: connected/.test(n.errorLog()), 10000);
    const me = async (t) => {
      const res = await fetch(`${n.url}/me`, { headers: { authorization: `Bearer ${t}` } });
      await res.arrayBuffer();
      return res.status;
    };
    const admin = await mint(key, { sub: `${tag}_a`, sid: `sess_${tag}_a` });
    assert.equal(await me(admin), 200);   // the admin's context is in the zone
    assert.equal(await me(admin), 200);

    // every command held for 6 s: timeouts 1 and 2 are two context reads
    // (a session not cached: MGET, timeout, Postgres), the third is one of
    // the batch's three invalidations; freeing the connection fails the
    // others, whose lines cannot all be written: the request ends there
    assert.equal(redis.cli('CLIENT', 'PAUSE', '6000', 'ALL'), 'OK');
    const started = Date.now();
    for (const s of ['r1', 'r2']) {
      assert.equal(await me(await mint(key, { sub: `${tag}_u1`, sid: `sess_${tag}_${s}` })), 200);
    }
    const head = streamAndVanish(n.port, '/trpc/setRole,setRole,setRole?batch=1', {
      authorization: `Bearer ${admin}`,
      'content-type': 'application/json',
      'trpc-accept': 'application/jsonl',
    }, JSON.stringify({ 0: { userId: ids.u1, role: 'user' }, 1: { userId: ids.u2, role: 'user' },
                      2: { userId: ids.u3, role: 'user' } }));
    assert.match(head, /^HTTP\/1\.1 200/);
    assert.ok(Date.now() - started < 5000, `the batch ran within the pause (${Date.now() - started} ms)`);

    await until('the connection dropped after three timeouts', () =>
      /redis 127\.0\.0\.1:\d+: connection lost: commands time out/.test(n.errorLog()), 6000);
    // Redis answers again (the PING waits for the pause's end), the worker
    // is alive and serves
    await until('Redis back', () => redis.cli('PING') === 'PONG', 10000);
    assert.equal(await me(admin), 200);
    assert.equal(psql(`select string_agg(role, ',' order by id) from users
                       where id in (${ids.u1}, ${ids.u2}, ${ids.u3})`), 'user,user,user');
    assert.deepEqual(n.problems(), []);
  } finally {
    await n.stop();
    await redis.stop();
    psql(`delete from users where clerk_id like '${tag}%'`);
    rmSync(dir, { recursive: true, force: true });
  }
});
