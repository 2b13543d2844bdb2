// Auth context and trust tiers, against tokens minted by the real jose
// package: every way a token can be wrong is 401 on a protected call with
// the reason in the log (never in the response); tiers answer 401/403 as
// the Bun peer does; the context is built once and cached; keys rotate.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFileSync, rmSync } from 'node:fs';
import { Nginx, conninfo } from './lib/nginx.mjs';
import { psql } from './lib/pg.mjs';
import {
  AZP, ISSUER, hs256WithPublicKey, keyPair, keysDir, mint, unsigned, writeJwks,
} from './lib/clerk.mjs';

const tag = `e2eauth${process.pid}`;
const clerk = (n) => `${tag}_${n}`;
let k1, k2, k3, dir, n;
const ids = {};

function http({ extra = '', jwks = 'jwks.json' } = {}) {
  return `
    backend_pg main "${conninfo()}" max=4;
    backend_auth_jwks ${join(dir, jwks)};
    backend_auth_key ${join(dir, 'k3.pem')} kid=pem-key;
    backend_auth_issuer ${ISSUER};
    backend_auth_authorized_parties ${AZP} https://app.example;
    backend_auth_max_token_size 4k;
    backend_session_zone auth_e2e:1m ttl=60s;
    backend_tier mentorado mentorado admin;
    backend_tier admin admin;
    backend_auth_user "select id, email, role from users where clerk_id = $1";
    ${extra}
    backend_procedure health { tier public; data '{"ok":true}'; }
    backend_procedure me { tier protected; data ctx.user; }
    backend_procedure ctx {
        tier public;
        sql "select $1::text as \\"userId\\", $2::text as role, $3::text as clerk,
                    $4::text as sid, $5::text as org, $6::text as \\"orgRole\\",
                    $7::text as reason";
        params ctx.user_id ctx.role ctx.clerk_user_id ctx.session_id
               ctx.org_id ctx.org_role $backend_auth_reason;
        result one;
    }
    backend_procedure m { tier mentorado; data '"m"'; }
    backend_procedure a { tier admin; data '"a"'; }
    backend_procedure boom { tier protected; sql "select 1/0"; result value; }
    backend_procedure setRole {
        type mutation; tier admin;
        sql "update users set role = $2 where id = $1
             returning id, role, clerk_id as \\"clerkId\\"";
        params input.userId input.role; result one;
        invalidate user clerkId;
    }
  `;
}

const location = `location /trpc/ {
    backend_rpc;
    add_header X-Backend-User "$backend_user_id|$backend_role|$backend_session_id" always;
}`;

before(async () => {
  dir = keysDir();
  [k1, k2, k3] = await Promise.all([keyPair('k1'), keyPair('k2'), keyPair('k3')]);
  writeJwks(join(dir, 'jwks.json'), k1);
  writeFileSync(join(dir, 'k3.pem'), k3.pem);
  for (const [n, role] of [['m', 'mentorado'], ['u', 'user'], ['a', 'admin'], ['r', 'mentorado']]) {
    ids[n] = Number(psql(`insert into users (clerk_id, email, role)
                          values ('${clerk(n)}', '${n}@${tag}.test', '${role}')
                          returning id`));
  }
  n = await new Nginx({ http: http(), location, workers: 2 }).start();
});

after(async () => {
  await n?.stop();
  psql(`delete from users where clerk_id like '${tag}%'`);
  rmSync(dir, { recursive: true, force: true });
});

async function get(path, token, headers = {}) {
  const h = { ...headers };
  if (token) h.authorization = `Bearer ${token}`;
  let res;
  try {
    res = await fetch(`${n.url}/${path}`, { headers: h });
  } catch {
    // a reload closes idle keep-alive connections: the client may have
    // reused one in that instant; a client retries on a fresh one
    res = await fetch(`${n.url}/${path}`, { headers: h });
  }
  return { status: res.status, body: await res.json(), headers: res.headers };
}

const as = (who, claims = {}, opts) => mint(opts?.key ?? k1, { sub: clerk(who), sid: `sess_${tag}_${who}`, ...claims }, opts);
const unauthorized = {
  error: {
    message: 'UNAUTHORIZED', code: -32001,
    data: { code: 'UNAUTHORIZED', httpStatus: 401, path: 'me' },
  },
};

test('a valid token gives the context: user row, ids, role, variables', async () => {
  const t = await as('m');
  const me = await get('me', t);
  assert.equal(me.status, 200);
  assert.deepEqual(me.body, { result: { data: { id: ids.m, email: `m@${tag}.test`, role: 'mentorado' } } });
  assert.equal(me.headers.get('x-backend-user'), `${ids.m}|mentorado|sess_${tag}_m`);

  const ctx = await get('ctx', t);
  assert.deepEqual(ctx.body.result.data, {
    userId: String(ids.m), role: 'mentorado', clerk: clerk('m'), sid: `sess_${tag}_m`,
    org: null, orgRole: null, reason: ctx.body.result.data.reason,
  });
});

test('the __session cookie works like the Bearer header', async () => {
  const t = await as('m');
  const r = await get('me', null, { cookie: `theme=dark; __session=${t}; x=1` });
  assert.equal(r.status, 200);
  assert.equal(r.body.result.data.id, ids.m);
});

test('a token seen before is not verified again (token cache)', async () => {
  const t = await as('u');
  const reasons = [];
  for (let i = 0; i < 6; i++) reasons.push((await get('ctx', t)).body.result.data.reason);
  // two workers: each may verify once before the zone has it
  assert.ok(reasons.filter((r) => r === 'ok (cached)').length >= 4, reasons.join(','));
});

test('organization claims: v2 "o" and v1 org_* both', async () => {
  const v2 = await get('ctx', await as('m', { o: { id: 'org_2', rol: 'admin', slg: 'acme' } }));
  assert.equal(v2.body.result.data.org, 'org_2');
  assert.equal(v2.body.result.data.orgRole, 'org:admin');
  const v1 = await get('ctx', await as('m', { v: undefined, org_id: 'org_1', org_role: 'org:member' }));
  assert.equal(v1.body.result.data.org, 'org_1');
  assert.equal(v1.body.result.data.orgRole, 'org:member');
});

test('every kind of bad token is 401 on protected calls, the reason only in the log', async (t) => {
  const now = Math.floor(Date.now() / 1000);
  const good = await as('m');
  const [h, p, s] = good.split('.');
  const other = (await as('a')).split('.')[1];
  const cases = {
    'missing': null,
    'malformed': 'not-a-jwt',
    'two parts': `${h}.${p}`,
    'alg none': unsigned({ sub: clerk('m') }, 'k1'),
    'HS256 keyed with the public key': hs256WithPublicKey(k1, { sub: clerk('m') }),
    'forged payload': `${h}.${other}.${s}`,
    'bad signature': `${h}.${p}.${s.slice(0, -4)}AAAA`,
    'unknown kid': await as('m', {}, { kid: 'nope' }),
    'signed by an unknown key': await as('m', {}, { key: k2, kid: 'k1' }),
    'expired': await as('m', { exp: now - 30 }),
    'not yet valid (nbf)': await as('m', { nbf: now + 60 }),
    'issued in the future': await as('m', { iat: now + 60 }),
    'wrong issuer': await as('m', { iss: 'https://evil.example' }),
    'azp not authorized': await as('m', { azp: 'https://evil.example' }),
    'azp missing': await as('m', { azp: undefined }),
    'no sub': await as('m', { sub: undefined }),
    'no sid': await as('m', { sid: undefined }),
    'pending session': await as('m', { sts: 'pending' }),
    'typ not JWT': await as('m', {}, { typ: 'at+jwt' }),
    'oversized': await as('m', { pad: 'x'.repeat(5000) }),
  };
  for (const [name, token] of Object.entries(cases)) {
    await t.test(name, async () => {
      const r = await get('me', token);
      assert.equal(r.status, 401, name);
      assert.deepEqual(r.body, unauthorized, name);
      // a public procedure still answers, anonymously
      const pub = await get('ctx', token);
      assert.equal(pub.status, 200);
      assert.equal(pub.body.result.data.userId, null);
    });
  }
  const log = n.errorLog();
  for (const reason of ['malformed', 'alg-not-allowed', 'bad-signature', 'unknown-kid', 'expired',
                        'not-yet-valid', 'issued-in-the-future', 'wrong-issuer', 'azp-not-allowed',
                        'azp-missing', 'no-sub', 'no-sid', 'pending-session', 'typ-not-jwt',
                        'oversized']) {
    assert.match(log, new RegExp(`\\[info\\].*token rejected: ${reason}`), reason);
  }
});

test('clock leeway: 5 s by default', async () => {
  const now = Math.floor(Date.now() / 1000);
  assert.equal((await get('me', await as('m', { exp: now - 2 }))).status, 200);
  assert.equal((await get('me', await as('m', { nbf: now + 2 }))).status, 200);
  assert.equal((await get('me', await as('m', { exp: now - 20 }))).status, 401);
});

test('a PEM key (backend_auth_key) verifies tokens of its kid', async () => {
  const r = await get('me', await as('m', {}, { key: k3, kid: 'pem-key' }));
  assert.equal(r.status, 200);
});

test('tiers: 401 without a user, 403 with the wrong role, as the peer answers', async () => {
  const [m, u, a] = await Promise.all([as('m'), as('u'), as('a')]);
  assert.deepEqual((await get('m', m)).body, { result: { data: 'm' } });
  assert.deepEqual((await get('m', a)).body, { result: { data: 'm' } });
  assert.deepEqual((await get('a', a)).body, { result: { data: 'a' } });

  const forbidden = (path, tier) => ({
    error: {
      message: `${tier} tier required`, code: -32003,
      data: { code: 'FORBIDDEN', httpStatus: 403, path },
    },
  });
  const r1 = await get('m', u);
  assert.equal(r1.status, 403);
  assert.deepEqual(r1.body, forbidden('m', 'mentorado'));
  assert.deepEqual((await get('a', m)).body, forbidden('a', 'admin'));
  assert.equal((await get('m', null)).status, 401);
  assert.equal((await get('me', u)).status, 200, 'protected: any user');

  // a batch with mixed outcomes: 207, one context for every call
  const b = await get(`health,m,a,me?batch=1&input=${encodeURIComponent('{}')}`, m);
  assert.equal(b.status, 207);
  assert.deepEqual(b.body.map((c) => c.result ? 'ok' : c.error.data.code),
                   ['ok', 'ok', 'FORBIDDEN', 'ok']);
});

test('a Clerk user with no app row is UNAUTHORIZED', async () => {
  const r = await get('me', await mint(k1, { sub: `${tag}_nobody`, sid: `sess_${tag}_nobody` }));
  assert.equal(r.status, 401);
  const c = await get('ctx', await mint(k1, { sub: `${tag}_nobody`, sid: `sess_${tag}_nobody` }));
  assert.equal(c.body.result.data.clerk, `${tag}_nobody`);
  assert.equal(c.body.result.data.userId, null);
});

test('the context is cached per session; setRole invalidates it at once', async () => {
  const r = await as('r');
  const admin = await as('a');
  assert.equal((await get('m', r)).status, 200);

  // behind the backend's back: the cache keeps serving what it resolved
  psql(`update users set role = 'user' where id = ${ids.r}`);
  assert.equal((await get('m', r)).status, 200, 'still cached');

  // through the procedure that declares "invalidate user": seen at once
  const res = await fetch(`${n.url}/setRole`, {
    method: 'POST', headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
    body: JSON.stringify({ userId: ids.r, role: 'user' }),
  });
  assert.equal(res.status, 200);
  assert.deepEqual((await res.json()).result.data, { id: ids.r, role: 'user', clerkId: clerk('r') });
  for (let i = 0; i < 4; i++) {
    assert.equal((await get('m', r)).status, 403, `request ${i} after setRole`);
  }
});

test('every error line of a request names its request id and actor', async () => {
  const r = await get('boom', await as('m'), { 'x-request-id': `req-${tag}` });
  assert.equal(r.status, 500);
  const line = n.errorLog().split('\n').find((l) => l.includes(`req-${tag}`) && l.includes('[error]'))
    ?? n.errorLog().split('\n').find((l) => l.includes(`req-${tag}`));
  assert.ok(line, 'a log line for the request');
  assert.match(line, new RegExp(`request_id: "req-${tag}", trace_id: "[0-9a-f]{32}", actor: user:${ids.m}`));
});

test('key rotation: a new kid after a reload, the old one gone after the next', async () => {
  const t1 = await as('m');
  const t2 = await as('m', {}, { key: k2 });
  assert.equal((await get('me', t1)).status, 200, 'k1 verified, and cached');
  assert.equal((await get('me', t2)).status, 401, 'k2 unknown yet');

  writeJwks(join(dir, 'jwks.json'), k1, k2);
  await n.reload();
  await waitFor(async () => (await get('me', t2)).status === 200, 'k2 accepted');
  assert.equal((await get('me', await as('m'))).status, 200, 'k1 still accepted');

  writeJwks(join(dir, 'jwks.json'), k2);
  await n.reload();
  // refused once the old workers are gone, also the token verified before
  await waitFor(async () => (await get('me', t1)).status === 401, 'k1 refused');
  // a kept-alive connection may still reach an old worker for a moment
  await waitFor(async () => (await get('me', await as('m'))).status === 401,
    'a new k1 token refused');
  assert.equal((await get('me', t2)).status, 200);
  assert.deepEqual(n.problems(), []);
});

async function waitFor(fn, what, ms = 10000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await fn()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out: ${what}`);
}

test('configuration errors name the problem', async () => {
  const bad = async (extra, re) => {
    const m = new Nginx({ http: http({ extra }) });
    await assert.rejects(m.start(), re);
    await m.stop();
  };
  await bad('backend_procedure x { tier staff; data "1"; }', /unknown tier "staff"/);
  await bad('backend_tier admin root;', /duplicate tier "admin"/);
  await bad(`backend_auth_jwks ${join(dir, 'k3.pem')};`, /invalid JWKS/);
  await bad('backend_auth_no_user maybe;', /invalid value "maybe"/);
});
