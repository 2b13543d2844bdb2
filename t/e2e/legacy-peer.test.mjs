// The legacy server is ../shared/bench/peer-bun: the Bun + Hono + tRPC 11 +
// Drizzle + Clerk stack this project replaces, as a team would run it.
// Here only health and user.me are declared; the peer keeps
// mentorado.sessions.list, mentorado.notes.create and admin.userCount, and
// backend_rpc_legacy sends those to it.  The real @trpc/client gets the
// same results through nginx as from the peer directly, with httpLink,
// httpBatchLink and httpBatchStreamLink, for native, legacy and mixed
// batches; with the peer down, its calls get BAD_GATEWAY envelopes and the
// native calls of the same batch still succeed.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createTRPCClient, httpBatchLink, httpBatchStreamLink, httpLink, TRPCClientError } from '@trpc/client';
import { Nginx, PG, ROOT, conninfo, freePort } from './lib/nginx.mjs';
import { psql } from './lib/pg.mjs';
import { AZP, ISSUER, keyPair, keysDir, mint, writeJwks } from './lib/clerk.mjs';

const BENCH = resolve(process.env.BENCH_DIR ?? join(ROOT, '../shared/bench'));
const tag = `e2epeer${process.pid}`;
let dir, key, peer, peerPort, nginx, tokens = {}, ids = {}, sessionId;

async function startPeer() {
  peer = spawn(join(BENCH, 'peer-bun/start.sh'), [], {
    env: {
      ...process.env,
      PORT: String(peerPort), WORKERS: '1', PG_POOL: '2',
      DATABASE_URL: `postgres://${PG.user}@${PG.host}:${PG.port}/${PG.database}`,
      CLERK_JWT_KEY_FILE: join(dir, 'public.pem'), CLERK_AUTHORIZED_PARTIES: AZP,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
    detached: true,
  });
  let stderr = '';
  peer.stderr.on('data', (d) => { stderr += d; });
  for (let i = 0; i < 300; i++) {
    try {
      if ((await fetch(`http://127.0.0.1:${peerPort}/trpc/health`)).ok) return;
    } catch { /* not yet */ }
    if (peer.exitCode !== null) break;
    await sleep(100);
  }
  throw new Error(`the Bun peer did not start: ${stderr}`);
}

async function stopPeer() {
  if (!peer || peer.exitCode !== null) return;
  const gone = new Promise((ok) => peer.once('exit', ok));
  process.kill(-peer.pid, 'SIGTERM');   // start.sh's bun and its workers
  await Promise.race([gone, sleep(5000)]);
}

before(async () => {
  assert.ok(existsSync(join(BENCH, 'peer-bun/start.sh')), `no peer in ${BENCH}`);
  dir = keysDir();
  key = await keyPair('peer');
  writeJwks(join(dir, 'jwks.json'), key);
  writeFileSync(join(dir, 'public.pem'), key.pem);

  for (const [who, role] of [['m', 'mentorado'], ['admin', 'admin']]) {
    ids[who] = Number(psql(`insert into users (clerk_id, email, role)
                            values ('${tag}_${who}', '${who}@${tag}.test', '${role}') returning id`));
    tokens[who] = await mint(key, { sub: `${tag}_${who}`, sid: `sess_${tag}_${who}` });
  }
  sessionId = Number(psql(`insert into mentorado_sessions (user_id, title, scheduled_at, notes)
                           values (${ids.m}, 'first', '2025-01-06 14:00+00', 'n1'),
                                  (${ids.m}, 'second', '2025-01-13 14:00+00', null)
                           returning id`).split('\n')[0]);

  peerPort = await freePort();
  await startPeer();

  nginx = await new Nginx({
    workers: 2,
    http: `
      backend_pg main "${conninfo()}" max=2;
      backend_auth_jwks ${join(dir, 'jwks.json')};
      backend_auth_issuer ${ISSUER};
      backend_auth_authorized_parties ${AZP};
      backend_session_zone peer:1m;
      backend_auth_user "select id, email, role from users where clerk_id = $1";
      backend_procedure health { type query; tier public; data '{"ok":true}'; }
      backend_procedure user.me { type query; tier protected; data ctx.user; }`,
    location: `
      location /trpc/ { backend_rpc; backend_rpc_legacy /_legacy/; }
      location /_legacy/ {
          internal;
          proxy_pass http://127.0.0.1:${peerPort}/trpc/;
          proxy_read_timeout 5s;
          subrequest_output_buffer_size 64k;
      }`,
  }).start();
});

after(async () => {
  await nginx?.stop();
  await stopPeer();
  psql(`delete from users where clerk_id like '${tag}%'`);
  rmSync(dir, { recursive: true, force: true });
});

const links = {
  httpLink: (url, token) => httpLink({ url, headers: { authorization: `Bearer ${token}` } }),
  httpBatchLink: (url, token) => httpBatchLink({ url, headers: { authorization: `Bearer ${token}` } }),
  httpBatchStreamLink: (url, token) => httpBatchStreamLink({ url, headers: { authorization: `Bearer ${token}` } }),
};

const client = (base, link, token) => createTRPCClient({ links: [links[link](`${base}/trpc`, token)] });

// a call's result, or its error's code and status, whatever side answered
async function outcome(p) {
  try {
    return { data: await p };
  } catch (e) {
    assert.ok(e instanceof TRPCClientError, String(e));
    return { code: e.data?.code, httpStatus: e.data?.httpStatus };
  }
}

// the calls of one tick: one batch for the batch links
const calls = (c) => [
  c.health.query(),                                                   // native
  c.user.me.query(),                                                  // native
  c.mentorado.sessions.list.query({ limit: 5 }),                      // legacy
  c.mentorado.sessions.list.query({ limit: 0 }),                      // legacy, refused by the peer's zod
  c.admin.userCount.query(),                                          // legacy, the peer's tier check
];

for (const link of Object.keys(links)) {
  test(`${link}: native, legacy and mixed calls answer through nginx as from the peer`, async () => {
    const viaNginx = client(nginx.url.replace(/\/trpc$/, ''), link, tokens.m);
    const direct = client(`http://127.0.0.1:${peerPort}`, link, tokens.m);

    const [a, b] = await Promise.all([Promise.all(calls(viaNginx).map(outcome)),
                                      Promise.all(calls(direct).map(outcome))]);
    assert.deepEqual(a, b);
    assert.deepEqual(a[0], { data: { ok: true } });
    assert.equal(a[2].data.length, 2);
    assert.equal(a[3].code, 'BAD_REQUEST');
    assert.equal(a[4].code, 'FORBIDDEN');

    // legacy only, and a mutation through it
    const note = `note ${link}`;
    const [x, y] = [
      await outcome(viaNginx.mentorado.notes.create.mutate({ sessionId, notes: note })),
      await outcome(direct.mentorado.notes.create.mutate({ sessionId: 2147483000, notes: note })),
    ];
    assert.equal(x.data.notes, note);
    assert.equal(y.code, 'NOT_FOUND');
    assert.equal(psql(`select notes from mentorado_sessions where id = ${sessionId}`), note);

    // the admin's count, through nginx and direct
    const adminViaNginx = client(nginx.url.replace(/\/trpc$/, ''), link, tokens.admin);
    const adminDirect = client(`http://127.0.0.1:${peerPort}`, link, tokens.admin);
    assert.deepEqual(await outcome(adminViaNginx.admin.userCount.query()),
                     await outcome(adminDirect.admin.userCount.query()));
  });
}

test('the peer down: its calls get BAD_GATEWAY, the native calls of the same batch succeed', async () => {
  await stopPeer();
  for (const link of Object.keys(links)) {
    const c = client(nginx.url.replace(/\/trpc$/, ''), link, tokens.m);
    const r = await Promise.all([c.health.query(), c.user.me.query(),
                                 c.mentorado.sessions.list.query({ limit: 5 })].map(outcome));
    assert.deepEqual(r[0], { data: { ok: true } }, link);
    assert.equal(r[1].data.role, 'mentorado', link);
    assert.deepEqual(r[2], { code: 'BAD_GATEWAY', httpStatus: 502 }, link);
  }
});
