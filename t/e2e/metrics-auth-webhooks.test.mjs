// The Auth, JWKS and Webhooks families of docs/metrics.md, scraped from
// backend_metrics: tokens minted by the real jose package, each outcome
// counted exactly once per request; the verified-token cache and where the
// context came from; tier denials by tier; the JWKS keys, the time of the
// last good fetch and the failed ones; deliveries signed by the real svix
// package, each answer under exactly one outcome; retry rounds, dead
// letters, and the backlog of backend_webhook_backlog_sql.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Webhook } from 'svix';
import { Nginx, ROOT, conninfo, freePort } from './lib/nginx.mjs';
import { psql } from './lib/pg.mjs';
import { Redis } from './lib/redis.mjs';
import { AZP, ISSUER, keyPair, keysDir, mint, writeJwks } from './lib/clerk.mjs';

const tag = `e2emetauth${process.pid}`;
const whsec = `whsec_${randomBytes(24).toString('base64')}`;
const otherSecret = `whsec_${randomBytes(24).toString('base64')}`;
let dir, key, impostor, stranger, n, down, accessLog;

// the families of the three tables, as docs/metrics.md names them
const FAMILIES = {
  backend_auth_tokens_total: 'counter',
  backend_auth_token_cache_total: 'counter',
  backend_auth_context_total: 'counter',
  backend_auth_context_failures_total: 'counter',
  backend_auth_denials_total: 'counter',
  backend_invalidations_sent_total: 'counter',
  backend_invalidations_received_total: 'counter',
  backend_invalidations_pending: 'gauge',
  backend_jwks_keys: 'gauge',
  backend_jwks_last_refresh_timestamp_seconds: 'gauge',
  backend_jwks_refresh_failures_total: 'counter',
  backend_webhook_deliveries_total: 'counter',
  backend_webhook_retry_rounds_total: 'counter',
  backend_webhook_dead_letters_total: 'counter',
  backend_webhook_backlog: 'gauge',
  backend_webhook_backlog_oldest_seconds: 'gauge',
};

// invalidations through a private Redis, between two nodes A and B
const PASSWORD = `pw${process.pid}`;
let redis, A, B;
let password = '';

// the text exposition format: "# TYPE name type", "name{labels} value"
function parse(text) {
  const types = new Map();
  const samples = new Map();
  for (const line of text.split('\n')) {
    let m;
    if ((m = /^# TYPE (\S+) (\S+)$/.exec(line))) {
      types.set(m[1], m[2]);
    } else if ((m = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (\S+)$/.exec(line))) {
      assert.ok(!samples.has(m[1]), `one sample per series: ${m[1]}`);
      samples.set(m[1], Number(m[2]));
    } else {
      assert.ok(line === '' || line.startsWith('# HELP '), `a line of the format: ${line}`);
    }
  }
  return { types, samples };
}

async function scrape(node = n) {
  const res = await fetch(`http://127.0.0.1:${node.port}/metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
  return parse(await res.text());
}

// a sample, 0 when the series is not exposed (a counter still at 0)
const get = (s, name, labels) => s.samples.get(labels ? `${name}{${labels}}` : name) ?? 0;

// the counters that moved between two scrapes, as "name{labels}": delta
function moved(a, b, prefix) {
  const d = {};
  for (const [k, v] of b.samples) {
    if (k.startsWith(prefix) && v !== (a.samples.get(k) ?? 0)) d[k] = v - (a.samples.get(k) ?? 0);
  }
  return d;
}

async function until(what, fn, ms = 20000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}\n${n.errorLog()}`);
    await sleep(100);
  }
}

async function call(proc, token) {
  const headers = token === undefined ? {} : { authorization: `Bearer ${token}` };
  const res = await fetch(`${n.url}/${proc}`, { headers });
  await res.arrayBuffer();
  return res.status;
}

const backlogSql = `select count(*) as due,
                           coalesce(extract(epoch from now() - min(received_at)), 0)::bigint
                             as oldest_seconds
                      from webhook_events
                     where status = 'failed' and next_attempt_at <= now()
                       and svix_id like '${tag}%'`;

function http(pg) {
  return `
    backend_metrics_zone metrics 4m;
    backend_pg main "${pg}" max=4 connect_timeout=1s;
    backend_auth_jwks_url /_jwks refresh=1h min_refresh=1s;
    backend_auth_issuer ${ISSUER};
    backend_auth_authorized_parties ${AZP};
    backend_session_zone metauth:1m;
    backend_tier admin admin;
    backend_auth_user "select id, email, role from users where clerk_id = $1";
    # the retries of this test's own rows only: the ${tag}_kill ones die
    backend_webhook_retry "update webhook_events set status = 'dead',
                                  attempts = attempts + 1
                            where svix_id like '${tag}_kill%'
                              and status = 'failed' and $1::int > 0
                              and attempts < $2::int and $3::int > 0
                           returning svix_id, status, null::text as clerk_user"
                          interval=200ms;
    backend_webhook_backlog_sql "${backlogSql.replace(/\n\s*/g, ' ')}";
    backend_procedure me { tier protected; data ctx.user; }
    backend_procedure a { tier admin; data '"a"'; }
    log_format source '$backend_context_source';`;
}

function location(issuerPort, name) {
  return `
    location /trpc/ { backend_rpc; access_log ${join(dir, `access-${name}.log`)} source; }
    location = /metrics { backend_metrics; }
    location = /_jwks {
        internal;
        proxy_pass http://127.0.0.1:${issuerPort}/jwks.json;
    }
    location = /webhooks/clerk {
        include ${ROOT}/conf/webhooks.conf;
        backend_webhook_secret ${join(dir, 'whsec')};
    }`;
}

before(async () => {
  dir = keysDir();
  chmodSync(dir, 0o755);  // the workers (user nobody) serve the JWKS
  [key, impostor, stranger] = await Promise.all([keyPair('m1'), keyPair('m1'), keyPair('zz')]);
  writeJwks(join(dir, 'jwks.json'), key);
  writeFileSync(join(dir, 'whsec'), `${whsec}\n`);
  psql(`insert into users (clerk_id, email, role) values ('${tag}_u', 'u@${tag}.test', 'user')`);
  const issuerPort = await freePort();
  const issuer = `
    server {
        listen 127.0.0.1:${issuerPort};
        location = /jwks.json { alias ${join(dir, 'jwks.json')}; }
    }`;
  n = await new Nginx({ http: http(conninfo()) + issuer, location: location(issuerPort, 'n') }).start();
  accessLog = join(dir, 'access-n.log');
  // the same, with a database nobody answers for
  const nowhere = await freePort();
  down = await new Nginx({
    http: http(`host=127.0.0.1 port=${nowhere} dbname=x user=x`),
    location: location(issuerPort, 'down'),
  }).start();
});

after(async () => {
  await n?.stop();
  await down?.stop();
  psql(`delete from webhook_events where svix_id like '${tag}%'`);
  psql(`delete from users where clerk_id like '${tag}%'`);
  rmSync(dir, { recursive: true, force: true });
});

test('every family is declared before its first sample; the JWKS gauges start at 0', async () => {
  const s = await scrape();
  for (const [name, type] of Object.entries(FAMILIES)) {
    assert.equal(s.types.get(name), type, name);
  }
  assert.deepEqual(moved({ samples: new Map() }, s, 'backend_auth_'), {}, 'no token seen yet');
  assert.equal(s.samples.get('backend_jwks_keys'), 0, 'no keys before the first token');
  assert.equal(s.samples.get('backend_jwks_last_refresh_timestamp_seconds'), 0);
  assert.equal(s.samples.get('backend_webhook_backlog'), 0, 'the backlog is always exposed');
});

test('each token outcome, the token cache, the context source and the tier denials, exactly', async () => {
  const t0 = Math.floor(Date.now() / 1000);
  const claims = { sub: `${tag}_u`, sid: `sess_${tag}` };
  const now = Math.floor(Date.now() / 1000);
  const a = await scrape();

  const valid = await mint(key, claims);
  assert.equal(await call('me', valid), 200, 'valid: the JWKS is fetched, the context read');
  assert.equal(await call('me', valid), 200, 'valid again: from the caches');
  assert.equal(await call('a', valid), 403, 'valid, but not an admin');

  const rejected = [
    ['expired', await mint(key, { ...claims, exp: now - 60 })],
    ['not_yet_valid', await mint(key, { ...claims, nbf: now + 600 })],
    ['wrong_issuer', await mint(key, { ...claims, iss: 'https://clerk.evil.test' })],
    ['wrong_azp', await mint(key, { ...claims, azp: 'https://evil.test' })],
    ['bad_signature', await mint(impostor, claims)],
    ['unknown_kid', await mint(stranger, claims)],
    ['malformed', 'not.a.jwt'],
    ['malformed', 'garbage'],
  ];
  for (const [outcome, token] of rejected) {
    assert.equal(await call('me', token), 401, outcome);
  }
  assert.equal(await call('me'), 401, 'anonymous');

  // $backend_context_source in the access log: where each context came from
  const sources = await until('the access log of the 12 requests', () => {
    const lines = existsSync(accessLog) ? readFileSync(accessLog, 'utf8').split('\n').filter(Boolean) : [];
    return lines.length >= 12 ? lines : null;
  });
  assert.deepEqual(sources, ['database', 'zone', 'zone', ...Array(9).fill('none')]);

  const b = await scrape();
  assert.deepEqual(moved(a, b, 'backend_auth_'), {
    'backend_auth_tokens_total{outcome="valid"}': 3,
    'backend_auth_tokens_total{outcome="expired"}': 1,
    'backend_auth_tokens_total{outcome="not_yet_valid"}': 1,
    'backend_auth_tokens_total{outcome="wrong_issuer"}': 1,
    'backend_auth_tokens_total{outcome="wrong_azp"}': 1,
    'backend_auth_tokens_total{outcome="bad_signature"}': 1,
    'backend_auth_tokens_total{outcome="unknown_kid"}': 1,
    'backend_auth_tokens_total{outcome="malformed"}': 2,
    // every token but the valid one seen again went through an RSA check
    'backend_auth_token_cache_total{outcome="hit"}': 2,
    'backend_auth_token_cache_total{outcome="miss"}': 9,
    'backend_auth_context_total{source="database"}': 1,
    'backend_auth_context_total{source="zone"}': 2,
    // 8 rejected tokens and one request without any; one non-admin
    'backend_auth_denials_total{tier="protected"}': 9,
    'backend_auth_denials_total{tier="admin"}': 1,
  }, n.errorLog());

  // one key, fetched twice (the first token, then the unknown kid)
  assert.equal(get(b, 'backend_jwks_keys'), 1);
  const ts = get(b, 'backend_jwks_last_refresh_timestamp_seconds');
  assert.ok(ts >= t0 && ts <= Math.ceil(Date.now() / 1000), `${ts} in [${t0}, now]`);
  assert.equal(get(b, 'backend_jwks_refresh_failures_total'), 0);
});

test('a failed JWKS fetch is counted, the keys stay', async () => {
  const a = await scrape();
  renameSync(join(dir, 'jwks.json'), join(dir, 'jwks.json.away'));
  try {
    await sleep(1100);  // past min_refresh: an unknown kid may fetch again
    assert.equal(await call('me', await mint(stranger, { sub: `${tag}_u`, sid: `sess_${tag}` })), 401);
  } finally {
    renameSync(join(dir, 'jwks.json.away'), join(dir, 'jwks.json'));
  }
  const b = await scrape();
  assert.equal(get(b, 'backend_jwks_refresh_failures_total') - get(a, 'backend_jwks_refresh_failures_total'), 1,
               n.errorLog());
  assert.equal(get(b, 'backend_auth_tokens_total', 'outcome="unknown_kid"')
               - get(a, 'backend_auth_tokens_total', 'outcome="unknown_kid"'), 1);
  assert.equal(get(b, 'backend_jwks_keys'), 1, 'the keys known stay');
  assert.equal(get(b, 'backend_jwks_last_refresh_timestamp_seconds'),
               get(a, 'backend_jwks_last_refresh_timestamp_seconds'), 'no new refresh');
  assert.equal(await call('me', await mint(key, { sub: `${tag}_u`, sid: `sess_${tag}` })), 200);
});

let seq = 0;
const msgId = () => `${tag}_msg_${++seq}`;

function userEvent(type, id, role = 'user') {
  return {
    type, object: 'event',
    data: {
      id, object: 'user', primary_email_address_id: 'idn_1',
      email_addresses: [{ id: 'idn_1', email_address: `${id}@${tag}.test` }],
      public_metadata: { role }, updated_at: Date.now(),
    },
  };
}

async function deliver(event, { id = msgId(), secret = whsec, ts = new Date(), body, headers, method = 'POST',
                                node = n } = {}) {
  const payload = body ?? JSON.stringify(event);
  const h = headers ?? {
    'svix-id': id,
    'svix-timestamp': String(Math.floor(ts.getTime() / 1000)),
    'svix-signature': new Webhook(secret).sign(id, ts, payload),
  };
  const res = await fetch(`http://127.0.0.1:${node.port}/webhooks/clerk`, {
    method, headers: { 'content-type': 'application/json', ...h },
    body: method === 'POST' ? payload : undefined,
  });
  return { id, status: res.status, body: await res.json() };
}

test('every answer of the webhook endpoint under exactly one outcome', async () => {
  const a = await scrape();
  const applied = await deliver(userEvent('user.created', `${tag}_w1`));
  assert.deepEqual([applied.status, applied.body], [200, { status: 'applied' }]);
  const dup = await deliver(userEvent('user.created', `${tag}_w1`), { id: applied.id });
  assert.deepEqual([dup.status, dup.body], [200, { status: 'duplicate' }]);
  assert.deepEqual((await deliver({ type: 'email.created', data: {} })).body, { status: 'ignored' });
  // a role the app refuses: stored, for the retries
  assert.deepEqual((await deliver(userEvent('user.created', `${tag}_w2`, 'bogus'))).body, { status: 'failed' });
  // jsonb refuses \u0000: dead-lettered, raw
  const nul = JSON.stringify(userEvent('user.created', `${tag}_w3`)).replace('"object":"user"', '"object":"us\\u0000er"');
  assert.deepEqual((await deliver(null, { body: nul })).body, { status: 'dead' });

  assert.equal((await deliver(userEvent('user.created', `${tag}_x`), { secret: otherSecret })).status, 401);
  assert.equal((await deliver(userEvent('user.created', `${tag}_x`), { headers: {} })).status, 400);
  assert.equal((await deliver(userEvent('user.created', `${tag}_x`),
                              { ts: new Date(Date.now() - 600_000) })).status, 400);
  assert.equal((await deliver(null, { body: '[1, 2]' })).status, 400, 'signed, not an event');
  assert.equal((await deliver(null, { method: 'GET' })).status, 405);

  const b = await scrape();
  assert.deepEqual(moved(a, b, 'backend_webhook_deliveries_total'), {
    'backend_webhook_deliveries_total{outcome="applied"}': 1,
    'backend_webhook_deliveries_total{outcome="duplicate"}': 1,
    'backend_webhook_deliveries_total{outcome="ignored"}': 1,
    'backend_webhook_deliveries_total{outcome="failed"}': 1,
    'backend_webhook_deliveries_total{outcome="dead"}': 1,
    'backend_webhook_deliveries_total{outcome="rejected_signature"}': 2,
    'backend_webhook_deliveries_total{outcome="rejected_timestamp"}': 1,
    'backend_webhook_deliveries_total{outcome="rejected_request"}': 2,
  }, n.errorLog());

  // the database does not answer: 503, not stored
  const d0 = await scrape(down);
  assert.equal((await deliver(userEvent('user.created', `${tag}_w4`), { node: down })).status, 503);
  const d1 = await scrape(down);
  assert.deepEqual(moved(d0, d1, 'backend_webhook_deliveries_total'), {
    'backend_webhook_deliveries_total{outcome="unavailable"}': 1,
  }, down.errorLog());
});

test('retry rounds, dead letters from the retries, and the backlog of due failed events', async () => {
  const a = await scrape();
  // due for a while, the oldest received two minutes ago; one that dies
  psql(`insert into webhook_events (svix_id, type, payload, status, attempts,
                                    next_attempt_at, received_at)
        values ('${tag}_bl1', 'user.created', '{}', 'failed', 1, now() - interval '1 minute',
                now() - interval '120 seconds'),
               ('${tag}_bl2', 'user.created', '{}', 'failed', 1, now() - interval '1 minute', now()),
               ('${tag}_bl3', 'user.created', '{}', 'failed', 1, now() + interval '1 hour', now()),
               ('${tag}_kill1', 'user.created', '{}', 'failed', 1, null, now())`);
  // the failed delivery of the test before is due within its backoff
  // (1 s at most 1.5 times), so two or three events are due
  await until('the failed delivery due', () =>
    psql(`select count(*) from webhook_events where svix_id like '${tag}%'
            and status = 'failed' and next_attempt_at <= now()`) === '3');

  const b = await until('the backlog of three', async () => {
    const s = await scrape();
    return get(s, 'backend_webhook_backlog') === 3 ? s : null;
  });
  const oldest = get(b, 'backend_webhook_backlog_oldest_seconds');
  assert.ok(oldest >= 120 && oldest < 240, `oldest ${oldest}`);

  const c = await until('the kill row dead-lettered by a retry', async () => {
    const s = await scrape();
    return get(s, 'backend_webhook_dead_letters_total') - get(a, 'backend_webhook_dead_letters_total') === 1
      ? s : null;
  });
  assert.equal(psql(`select status from webhook_events where svix_id = '${tag}_kill1'`), 'dead');
  const rounds = get(c, 'backend_webhook_retry_rounds_total') - get(a, 'backend_webhook_retry_rounds_total');
  assert.ok(rounds >= 1, `${rounds} rounds`);
  await until('more rounds', async () =>
    get(await scrape(), 'backend_webhook_retry_rounds_total') > get(c, 'backend_webhook_retry_rounds_total'));

  // applied elsewhere: the backlog goes down with it
  psql(`update webhook_events set status = 'applied' where svix_id like '${tag}%' and status = 'failed'`);
  await until('an empty backlog', async () => {
    const s = await scrape();
    return get(s, 'backend_webhook_backlog') === 0 && get(s, 'backend_webhook_backlog_oldest_seconds') === 0;
  });
  assert.deepEqual(n.problems(), []);
  assert.deepEqual(down.problems(), []);
});

test('a context lookup the database fails is counted by source', async () => {
  const a = await scrape(down);
  const res = await fetch(`${down.url}/me`, {
    headers: { authorization: `Bearer ${await mint(key, { sub: `${tag}_u`, sid: `sess_${tag}` })}` },
  });
  await res.arrayBuffer();
  assert.equal(res.status, 503);
  assert.deepEqual(moved(a, await scrape(down), 'backend_auth_context'), {
    'backend_auth_context_failures_total{source="database"}': 1,
  }, down.errorLog());
});

function redisHttp() {
  return `
    backend_metrics_zone metrics 4m;
    backend_pg main "${conninfo()}" max=4;
    backend_auth_jwks ${join(dir, 'jwks.json')};
    backend_auth_issuer ${ISSUER};
    backend_auth_authorized_parties ${AZP};
    backend_session_zone metinv:1m ttl=60s;
    backend_session_redis 127.0.0.1:${redis.port} timeout=500ms
                          connect_timeout=500ms prefix=${tag}:;
    backend_auth_user "select id, email, role from users where clerk_id = $1";
    backend_procedure me { tier protected; data ctx.user; }
    backend_procedure drop {
        type mutation; tier public;
        sql "select $1::text as \\"clerkId\\"";
        params input.id; result one;
        invalidate user clerkId;
    }`;
}

function cli(...args) {
  const auth = password ? ['--no-auth-warning', '-a', password] : [];
  return spawnSync('redis-cli', ['-p', String(redis.port), ...auth, ...args], { encoding: 'utf8' }).stdout.trim();
}

const count = (node, re) => (node.errorLog().match(re) ?? []).length;

async function drop(node, who) {
  const res = await fetch(`${node.url}/drop`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id: who }),
  });
  assert.equal(res.status, 200, await res.text());
}

test('invalidations sent, received by every node, pending while Redis is away; contexts from Redis', async (t) => {
  redis = await new Redis().start();
  t.after(async () => {
    await A?.stop();
    await B?.stop();
    await redis?.stop();
  });
  const loc = 'location /trpc/ { backend_rpc; } location = /metrics { backend_metrics; }';
  [A, B] = [await new Nginx({ http: redisHttp(), location: loc }).start(),
            await new Nginx({ http: redisHttp(), location: loc }).start()];
  await until('both nodes connected and subscribed', () =>
    [A, B].every((node) => count(node, new RegExp(`subscribed to "${tag}:invalidate"`, 'g')) >= 1
                           && count(node, /redis 127\.0\.0\.1:\d+: connected$/gm) >= 1));
  const s0 = await Promise.all([scrape(A), scrape(B)]);
  assert.equal(get(s0[0], 'backend_invalidations_pending'), 0, 'exposed at 0 with Redis');

  // A reads the database and writes Redis; B, its zone empty, reads Redis
  const t1 = await mint(key, { sub: `${tag}_u`, sid: `sess_${tag}_r` });
  assert.equal((await fetch(`${A.url}/me`, { headers: { authorization: `Bearer ${t1}` } })).status, 200);
  await until('the context in Redis', () => cli('--scan', '--pattern', `${tag}:ctx:*`) !== '');
  assert.equal((await fetch(`${B.url}/me`, { headers: { authorization: `Bearer ${t1}` } })).status, 200);

  await drop(A, `${tag}_u`);
  const s1 = await until('both nodes heard it', async () => {
    const s = await Promise.all([scrape(A), scrape(B)]);
    return s.every((x, i) => get(x, 'backend_invalidations_received_total')
                             - get(s0[i], 'backend_invalidations_received_total') === 1) ? s : null;
  });
  const movedA = { ...moved(s0[0], s1[0], 'backend_auth_'), ...moved(s0[0], s1[0], 'backend_invalidations_') };
  assert.deepEqual(movedA, {
    'backend_auth_tokens_total{outcome="valid"}': 1,
    'backend_auth_token_cache_total{outcome="miss"}': 1,
    'backend_auth_context_total{source="database"}': 1,
    'backend_invalidations_sent_total': 1,
    'backend_invalidations_received_total': 1,
  }, A.errorLog());
  assert.deepEqual(moved(s0[1], s1[1], 'backend_auth_context'), {
    'backend_auth_context_total{source="redis"}': 1,
  }, B.errorLog());
  assert.equal(get(s1[1], 'backend_invalidations_sent_total'), 0, 'B sent nothing');

  // Redis refuses every client (its data kept): A's next one is pending
  const lost = count(A, /connection lost/g);
  assert.equal(cli('CONFIG', 'SET', 'requirepass', PASSWORD), 'OK');
  password = PASSWORD;
  cli('CLIENT', 'KILL', 'TYPE', 'normal');
  cli('CLIENT', 'KILL', 'TYPE', 'pubsub');
  await until('A to lose Redis', () => count(A, /connection lost/g) >= lost + 2);
  await drop(A, `${tag}_u`);
  await drop(A, `${tag}_v`);
  assert.equal(get(await scrape(A), 'backend_invalidations_pending'), 2, A.errorLog());

  // back: both are handed to Redis, and the gauge follows
  assert.equal(cli('CONFIG', 'SET', 'requirepass', ''), 'OK');
  password = '';
  const s2 = await until('the pending ones sent', async () => {
    const s = await scrape(A);
    return get(s, 'backend_invalidations_pending') === 0
           && get(s, 'backend_invalidations_sent_total') === 3 ? s : null;
  });
  assert.equal(get(s2, 'backend_invalidations_sent_total'), 3);

  // Redis does not answer in time (timeout=500ms): the database is asked
  await until('B back, its epoch moved', async () =>
    count(B, /connected again/g) >= 1 && /redis epoch moved to \d+: after an outage/.test(B.errorLog()));
  const b0 = await scrape(B);
  assert.equal(cli('CLIENT', 'PAUSE', '2000'), 'OK');
  const t2 = await mint(key, { sub: `${tag}_u`, sid: `sess_${tag}_p` });
  assert.equal((await fetch(`${B.url}/me`, { headers: { authorization: `Bearer ${t2}` } })).status, 200);
  assert.deepEqual(moved(b0, await scrape(B), 'backend_auth_context'), {
    'backend_auth_context_failures_total{source="redis"}': 1,
    'backend_auth_context_total{source="database"}': 1,
  }, B.errorLog());
  assert.deepEqual([...A.problems(), ...B.problems()], []);
});
