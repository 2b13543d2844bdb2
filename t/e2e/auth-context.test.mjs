// The auth context's keys and guards: a context is keyed by every value
// the backend_auth_user statement depends on (a session that switches its
// organization gets the other organization's row, in the zone and in
// Redis); a session invalidation moves a generation, so a fill that read
// the database before it is never stored after it (zone and Redis); a
// user lookup that fails for the database's reason is a 503, not a 401.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { rmSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { Nginx, PG, conninfo, freePort } from './lib/nginx.mjs';
import { psql } from './lib/pg.mjs';
import { AZP, ISSUER, keyPair, keysDir, mint, writeJwks } from './lib/clerk.mjs';

const tag = `e2ectx${process.pid}`;
const REDIS_PORT = process.env.TEST_NGINX_REDIS_PORT ?? '6379';
// the advisory lock a test holds to keep a user lookup waiting
const LOCK = 700000 + (process.pid % 100000);
let dir, key;
const ids = {};
const started = [];

function redisCli(...args) {
  const r = spawnSync('redis-cli', ['-p', String(REDIS_PORT), ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`redis-cli: ${r.stderr}`);
  return r.stdout.trim();
}

function http({ pg = conninfo(), user, redis = true, extra = '' }) {
  return `
    backend_pg main "${pg}" max=4 connect_timeout=1s query_timeout=1s;
    backend_auth_jwks ${join(dir, 'jwks.json')};
    backend_auth_issuer ${ISSUER};
    backend_auth_authorized_parties ${AZP};
    backend_session_zone ctx_e2e:1m ttl=60s;
    ${redis ? `backend_session_redis 127.0.0.1:${REDIS_PORT} timeout=1s
                          prefix=${tag}: outage_ttl=60s;` : ''}
    backend_tier admin admin;
    backend_auth_user "${user}";
    backend_procedure health { tier public; data '{"ok":true}'; }
    backend_procedure me { tier protected; data ctx.user; }
    backend_procedure a { tier admin; data '"a"'; }
    ${extra}
  `;
}

async function start(opts, workers = 2) {
  const n = await new Nginx({ http: http(opts), workers }).start();
  started.push(n);
  if (opts.redis !== false) {
    // every worker's command connection and subscription, so that fills
    // read and write Redis and invalidations are heard
    const count = (re) => (n.errorLog().match(re) ?? []).length;
    await until('every worker connected and subscribed', () =>
      count(/redis \S+: connected$/gm) >= workers
      && count(new RegExp(`subscribed to "${tag}:invalidate"`, 'g')) >= workers);
  }
  return n;
}

before(async () => {
  dir = keysDir();
  key = await keyPair('ctx');
  writeJwks(join(dir, 'jwks.json'), key);
  for (const [n, role] of [['org', 'user'], ['race', 'mentorado'], ['down', 'admin']]) {
    ids[n] = Number(psql(`insert into users (clerk_id, email, role)
                          values ('${tag}_${n}', '${n}@${tag}.test', '${role}')
                          returning id`));
  }
});

after(async () => {
  for (const n of started) await n.stop();
  psql(`delete from users where clerk_id like '${tag}%'`);
  const keys = redisCli('--scan', '--pattern', `${tag}:*`).split('\n').filter(Boolean);
  if (keys.length) redisCli('del', ...keys);
  rmSync(dir, { recursive: true, force: true });
});

async function until(what, fn, ms = 15000) {
  const end = Date.now() + ms;
  for (;;) {
    if (await fn()) return;
    if (Date.now() > end) throw new Error(`timed out (${ms} ms) waiting for ${what}`);
    await sleep(50);
  }
}

const token = (who, claims = {}) => mint(key, { sub: `${tag}_${who}`, sid: `sess_${tag}_${who}`, ...claims });

async function get(n, path, t) {
  const res = await fetch(`${n.url}/${path}`, { headers: t ? { authorization: `Bearer ${t}` } : {} });
  return { status: res.status, headers: res.headers, body: await res.json() };
}

test('one session, two organizations: each token gets its own row, in the zone and in Redis', async () => {
  // the row (and the role) depends on $3, the active organization
  const user = `select id, $3::text as org,
                       case when $3 = 'org_${tag}_a' then 'admin' else role end as role
                  from users where clerk_id = $1 and $2::text is not null`;
  const [n1, n2] = [await start({ user }), await start({ user })];
  const ta = await token('org', { o: { id: `org_${tag}_a`, rol: 'admin', slg: 'a' } });
  const tb = await token('org', { o: { id: `org_${tag}_b`, rol: 'member', slg: 'b' } });

  for (let i = 0; i < 3; i++) {
    for (const [t, org, tier] of [[ta, 'a', 200], [tb, 'b', 403]]) {
      const me = await get(n1, 'me', t);
      assert.equal(me.status, 200);
      assert.equal(me.body.result.data.org, `org_${tag}_${org}`, `round ${i}, org ${org}`);
      assert.equal((await get(n1, 'a', t)).status, tier, `round ${i}, admin tier in org ${org}`);
    }
  }

  // one Redis entry per organization, both under the session's id (the
  // writes do not hold up the answers: polled, up to 15 s)
  const ctxKeys = () => redisCli('--scan', '--pattern', `${tag}:ctx:sess_${tag}_org:*`)
    .split('\n').filter(Boolean);
  await until('two Redis entries', () => ctxKeys().length >= 2);
  assert.equal(ctxKeys().length, 2, ctxKeys().join(' '));

  // a second node (empty zone) reads them from Redis: each its own
  for (const [t, org] of [[tb, 'b'], [ta, 'a']]) {
    const me = await get(n2, 'me', t);
    assert.equal(me.body.result.data.org, `org_${tag}_${org}`, `second node, org ${org}`);
  }
  assert.deepEqual([...n1.problems(), ...n2.problems()], []);
});

// psql holding an advisory lock until release() is called
async function holdLock() {
  const p = spawn('psql', ['-X', '-q', '-A', '-t', '-h', PG.host, '-p', String(PG.port), '-U', PG.user,
                           '-d', PG.database], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  p.stdout.on('data', (d) => { out += d; });
  p.stdin.write(`select pg_advisory_lock(${LOCK}); select 'locked';\n`);
  await until('the test holds the lock', () => out.includes('locked'));
  return {
    release: () => new Promise((ok) => {
      p.on('exit', ok);
      p.stdin.end(`select pg_advisory_unlock(${LOCK});\n\\q\n`);
    }),
  };
}

const waitingLookups = () => Number(psql(`select count(*) from pg_stat_activity
                                           where wait_event_type = 'Lock' and wait_event = 'advisory'
                                             and query like '%pg_advisory_xact_lock_shared(${LOCK})%'`));

test('a session invalidated while its context is being filled: the next request reads fresh data', async () => {
  // the lookup takes its snapshot, then waits for the lock the test holds
  const user = `select u.id, u.email, u.role
                  from users u, (select pg_advisory_xact_lock_shared(${LOCK})) l
                 where u.clerk_id = $1`;
  const extra = `
    backend_procedure revoke {
        type mutation; tier public;
        sql "update users set role = $2 where clerk_id = $1 returning $3::text as sid";
        params input.clerk input.role input.sid; result one;
        invalidate session sid;
    }`;
  const [n1, n2] = [await start({ user, extra }), await start({ user, extra })];
  const t = await token('race');

  const lock = await holdLock();
  let released = false;
  try {
    // a fill starts: Redis has nothing, the database is read (role
    // mentorado), and the lookup waits
    const first = get(n1, 'me', t);
    await until('the user lookup waits on the lock', () => waitingLookups() >= 1);

    // meanwhile the role changes and the session is invalidated
    const res = await fetch(`${n1.url}/revoke`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ clerk: `${tag}_race`, role: 'user', sid: `sess_${tag}_race` }),
    });
    assert.equal(res.status, 200, await res.clone().text());

    await lock.release();
    released = true;
    const r1 = await first;
    assert.equal(r1.status, 200);
    assert.equal(r1.body.result.data.role, 'mentorado', 'the fill read before the change');
  } finally {
    if (!released) await lock.release();
  }

  // what that fill read is stored neither in the zone nor in Redis
  for (let i = 0; i < 3; i++) {
    assert.equal((await get(n1, 'me', t)).body.result.data.role, 'user', `node 1, request ${i}`);
  }
  assert.equal((await get(n2, 'me', t)).body.result.data.role, 'user', 'node 2, through Redis');
  assert.deepEqual([...n1.problems(), ...n2.problems()], []);
});

test('the user lookup fails for the database: 503 SERVICE_UNAVAILABLE, never 401', async (t) => {
  const user = 'select id, email, role from users where clerk_id = $1';
  const tok = await token('down');
  const unavailable = (path) => ({
    error: {
      message: 'Could not resolve the user: database unavailable, retry', code: -32603,
      data: { code: 'SERVICE_UNAVAILABLE', httpStatus: 503, path },
    },
  });

  const check = async (n) => {
    for (const path of ['me', 'a']) {
      const r = await get(n, path, tok);
      assert.equal(r.status, 503, path);
      assert.deepEqual(r.body, unavailable(path));
      assert.equal(r.headers.get('retry-after'), '1');
    }
    // public procedures keep working; a bad token is still 401
    assert.deepEqual((await get(n, 'health', tok)).body, { result: { data: { ok: true } } });
    const bad = await get(n, 'me', `${tok.slice(0, -4)}AAAA`);
    assert.equal(bad.status, 401);
    assert.equal(bad.body.error.data.code, 'UNAUTHORIZED');
  };

  await t.test('database unreachable (a closed port)', async () => {
    const closed = conninfo({ ...PG, port: String(await freePort()) });
    const n = await start({ pg: closed, user, redis: false });
    await check(n);
    assert.match(n.errorLog(), /user lookup failed.*database unavailable.*answer 503/);
  });

  await t.test('the lookup times out (statement_timeout, 57014)', async () => {
    const slow = 'select id, email, role from users, pg_sleep(3) where clerk_id = $1';
    const n = await start({ user: slow, redis: false }, 1);
    await check(n);
  });

  await t.test('a broken statement is a 500, not a 401 either', async () => {
    const n = await start({ user: 'select id, role from no_such_table where clerk_id = $1', redis: false }, 1);
    const r = await get(n, 'me', tok);
    assert.equal(r.status, 500);
    assert.equal(r.body.error.data.code, 'INTERNAL_SERVER_ERROR');
    assert.equal((await get(n, 'health', tok)).status, 200);
  });

  await t.test('the database back: the same token is served', async () => {
    const n = await start({ user, redis: false }, 1);
    const r = await get(n, 'me', tok);
    assert.equal(r.status, 200);
    assert.equal(r.body.result.data.id, ids.down);
  });
});
