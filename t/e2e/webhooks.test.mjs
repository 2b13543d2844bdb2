// Clerk webhooks signed by the real svix package: verified on the raw body
// (tampering, wrong or rotated secrets, stale or future timestamps, missing
// headers), stored before they are acknowledged, applied once under
// concurrent redelivery, retried with backoff to a dead letter, replayed
// once fixed, and applied to the auth context of live sessions.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Webhook } from 'svix';
import { Nginx, ROOT, conninfo } from './lib/nginx.mjs';
import { Cluster, psql } from './lib/pg.mjs';
import { AZP, ISSUER, keyPair, keysDir, mint, writeJwks } from './lib/clerk.mjs';

const tag = `e2ewh${process.pid}`;
const secret = () => `whsec_${randomBytes(24).toString('base64')}`;
const [oldSecret, newSecret, otherSecret] = [secret(), secret(), secret()];
let dir, key, n;

function http(pg = undefined) {
  return `
    backend_pg main "${conninfo(pg)}" max=4 pipeline=4 connect_timeout=1s;
    backend_auth_jwks ${join(dir, 'jwks.json')};
    backend_auth_issuer ${ISSUER};
    backend_auth_authorized_parties ${AZP};
    backend_session_zone wh_e2e:1m;
    backend_tier admin admin;
    backend_auth_user "select id, email, role from users where clerk_id = $1
                         and not exists (select 1 from revoked_sessions
                                          where session_id = $2)";
    backend_webhook_retry "select svix_id, status, clerk_user
                             from app.retry_clerk_webhooks($1, $2, $3)"
                          interval=200ms max_attempts=3 backoff=100ms;
    backend_procedure me { tier protected; data ctx.user; }
    backend_procedure a { tier admin; data '"a"'; }
    backend_procedure replay {
        type mutation; tier admin;
        sql "select svix_id, status, clerk_user as \\"clerkUser\\"
               from app.replay_clerk_webhook($1)";
        params input; result one; invalidate user clerkUser;
    }`;
}

const location = () => `
    location /trpc/ { backend_rpc; }
    location = /webhooks/clerk {
        include ${ROOT}/conf/webhooks.conf;
        backend_webhook_secret ${join(dir, 'secret-old')} ${join(dir, 'secret-new')};
    }`;

before(async () => {
  dir = keysDir();
  chmodSync(dir, 0o755);
  key = await keyPair('wh');
  writeJwks(join(dir, 'jwks.json'), key);
  writeFileSync(join(dir, 'secret-old'), `${oldSecret}\n`);
  writeFileSync(join(dir, 'secret-new'), `${newSecret}\n`);
  psql(`insert into users (clerk_id, email, role) values ('${tag}_boss', 'b@${tag}.test', 'admin')`);
  n = await new Nginx({ http: http(), location: location(), workers: 2 }).start();
});

after(async () => {
  await n?.stop();
  psql(`delete from webhook_events where svix_id like '${tag}%'`);
  psql(`delete from revoked_sessions where session_id like '${tag}%'`);
  psql(`delete from users where clerk_id like '${tag}%'`);
  psql('drop trigger if exists e2e_wh_fail on users; drop function if exists e2e_wh_fail()');
  psql('drop trigger if exists e2e_wh_raise on webhook_events; drop function if exists e2e_wh_raise()');
  rmSync(dir, { recursive: true, force: true });
});

let seq = 0;
const msgId = () => `${tag}_msg_${++seq}`;

function userEvent(type, id, { role = 'user', email = `${id}@${tag}.test`, updatedAt = Date.now() } = {}) {
  return {
    type, object: 'event',
    data: {
      id, object: 'user', primary_email_address_id: 'idn_1',
      email_addresses: [{ id: 'idn_1', email_address: email }],
      public_metadata: { role }, updated_at: updatedAt,
    },
  };
}

async function deliver(event, { id = msgId(), secret = oldSecret, ts = new Date(), body, headers, node = n } = {}) {
  const payload = body ?? JSON.stringify(event);
  const signature = new Webhook(secret).sign(id, ts, payload);
  const h = headers ?? {
    'svix-id': id,
    'svix-timestamp': String(Math.floor(ts.getTime() / 1000)),
    'svix-signature': signature,
  };
  const res = await fetch(`http://127.0.0.1:${node.port}/webhooks/clerk`, {
    method: 'POST', headers: { 'content-type': 'application/json', ...h }, body: payload,
  });
  return { id, status: res.status, body: await res.json() };
}

const stored = (id) => psql(`select status from webhook_events where svix_id = '${id}'`);

test('a verified event is stored, applied and acknowledged', async () => {
  const r = await deliver(userEvent('user.created', `${tag}_u1`, { role: 'mentorado' }));
  assert.equal(r.status, 200);
  assert.deepEqual(r.body, { status: 'applied' });
  assert.equal(stored(r.id), 'applied');
  assert.equal(psql(`select role || ' ' || email from users where clerk_id = '${tag}_u1'`),
               `mentorado ${tag}_u1@${tag}.test`);
});

test('forgeries are rejected and never stored', async () => {
  const ev = userEvent('user.created', `${tag}_evil`, { role: 'admin' });
  const now = new Date();
  const good = JSON.stringify(ev);
  const cases = [
    ['tampered body', 401, (id) => {
      const signature = new Webhook(oldSecret).sign(id, now, good);
      return { body: good.replace('"admin"', '"user"'), headers: {
        'svix-id': id, 'svix-timestamp': String(Math.floor(now / 1000)), 'svix-signature': signature } };
    }],
    ['wrong secret', 401, () => ({ secret: otherSecret })],
    ['timestamp 10 minutes old', 400, () => ({ ts: new Date(Date.now() - 600_000) })],
    ['timestamp 10 minutes ahead', 400, () => ({ ts: new Date(Date.now() + 600_000) })],
    ['no headers', 400, () => ({ headers: {} })],
    ['no signature', 400, (id) => ({ headers: { 'svix-id': id, 'svix-timestamp': String(Math.floor(now / 1000)) } })],
  ];
  for (const [name, want, opts] of cases) {
    const id = msgId();
    const r = await deliver(ev, { id, ...opts(id) });
    assert.equal(r.status, want, name);
    assert.ok(r.body.error, name);
    assert.equal(stored(id), '', `${name}: not stored`);
  }
  assert.equal(psql(`select count(*) from users where clerk_id = '${tag}_evil'`), '0');
});

test('a rotated secret: the new one is accepted, webhook-* headers too', async () => {
  assert.equal((await deliver(userEvent('user.created', `${tag}_u2`), { secret: newSecret })).status, 200);
  const id = msgId();
  const ts = new Date();
  const body = JSON.stringify(userEvent('user.created', `${tag}_u3`));
  const r = await deliver(null, { id, body, headers: {
    'webhook-id': id, 'webhook-timestamp': String(Math.floor(ts / 1000)),
    'webhook-signature': `v1,bm90IGl0 ${new Webhook(newSecret).sign(id, ts, body)}`,
  } });
  assert.equal(r.status, 200);
});

test('50 concurrent deliveries of one message: applied exactly once', async () => {
  const id = msgId();
  const ev = userEvent('user.created', `${tag}_once`);
  const results = await Promise.all(Array.from({ length: 50 }, () => deliver(ev, { id })));
  assert.deepEqual(new Set(results.map((r) => r.status)), new Set([200]));
  const statuses = results.map((r) => r.body.status).sort();
  assert.equal(statuses.filter((s) => s === 'applied').length, 1, statuses.join());
  assert.equal(statuses.filter((s) => s === 'duplicate').length, 49);
  assert.equal(psql(`select count(*) from webhook_events where svix_id = '${id}'`), '1');
});

test('an older update never overwrites a newer one; unknown types are stored as ignored', async () => {
  const id = `${tag}_order`;
  const t = Date.now();
  await deliver(userEvent('user.created', id, { role: 'user', updatedAt: t }));
  await deliver(userEvent('user.updated', id, { role: 'admin', updatedAt: t + 2000 }));
  await deliver(userEvent('user.updated', id, { role: 'mentorado', updatedAt: t + 1000 }));
  assert.equal(psql(`select role from users where clerk_id = '${id}'`), 'admin');
  const r = await deliver({ type: 'organization.created', data: { id: 'org_1' } });
  assert.deepEqual(r.body, { status: 'ignored' });
  assert.equal(stored(r.id), 'ignored');
});

test('a demoted admin loses the tier on the next request of the same session', async () => {
  const t = await mint(key, { sub: `${tag}_boss`, sid: `${tag}_sess_boss` });
  const call = async () => (await fetch(`${n.url}/a`, { headers: { authorization: `Bearer ${t}` } })).status;
  assert.equal(await call(), 200);
  assert.equal(await call(), 200);   // cached
  const r = await deliver(userEvent('user.updated', `${tag}_boss`, { role: 'user' }));
  assert.equal(r.status, 200);
  assert.equal(await call(), 403);
});

test('a revoked session is signed out on its next request', async () => {
  await deliver(userEvent('user.created', `${tag}_s`));
  const t = await mint(key, { sub: `${tag}_s`, sid: `${tag}_sess_s` });
  const call = async () => (await fetch(`${n.url}/me`, { headers: { authorization: `Bearer ${t}` } })).status;
  assert.equal(await call(), 200);
  const r = await deliver({ type: 'session.revoked', data: { id: `${tag}_sess_s`, user_id: `${tag}_s` } });
  assert.deepEqual(r.body, { status: 'applied' });
  assert.equal(await call(), 401);
});

test('a failing apply is retried with backoff, dead-lettered, then replayed once fixed', async () => {
  psql(`create function e2e_wh_fail() returns trigger language plpgsql as $$
        begin raise exception 'simulated failure'; end $$;
        create trigger e2e_wh_fail before insert on users for each row
          when (new.clerk_id = '${tag}_flaky') execute function e2e_wh_fail()`);
  const r = await deliver(userEvent('user.created', `${tag}_flaky`));
  assert.equal(r.status, 200, 'stored, so acknowledged');
  assert.deepEqual(r.body, { status: 'failed' });

  const end = Date.now() + 15000;
  while (Date.now() < end && stored(r.id) !== 'dead') await sleep(100);
  assert.equal(psql(`select status || ' ' || attempts || ' ' || last_error
                       from webhook_events where svix_id = '${r.id}'`),
               'dead 3 simulated failure');
  assert.match(n.errorLog(), new RegExp(`"${r.id}" dead-lettered`));

  psql('drop trigger e2e_wh_fail on users; drop function e2e_wh_fail()');
  const admin = await mint(key, { sub: `${tag}_admin`, sid: `${tag}_sess_admin` });
  psql(`insert into users (clerk_id, email, role) values ('${tag}_admin', 'adm@${tag}.test', 'admin')`);
  const replay = async () => fetch(`${n.url}/replay`, {
    method: 'POST', headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
    body: JSON.stringify(r.id),
  });
  const res = await replay();
  assert.equal(res.status, 200);
  assert.equal((await res.json()).result.data.status, 'applied');
  assert.equal(psql(`select count(*) from users where clerk_id = '${tag}_flaky'`), '1');
  assert.equal((await replay()).status, 404, 'applied events are not replayed again');
});

test('an event Postgres can never store (\\u0000, 22P05): dead-lettered once with its raw body, 2xx', async () => {
  // valid JSON, signed, but jsonb has no NUL: every delivery would fail alike
  const body = JSON.stringify(userEvent('user.created', `${tag}_nul`)).replace('"object":"user"', '"object":"us\\u0000er"');
  assert.match(body, /\\u0000/);
  const id = msgId();
  const r = await deliver(null, { id, body });
  assert.deepEqual([r.status, r.body], [200, { status: 'dead' }]);
  assert.equal(psql(`select status || ' ' || (payload is null) || ' ' || attempts
                       from webhook_events where svix_id = '${id}'`), 'dead true 1');
  assert.equal(psql(`select convert_from(raw_body, 'UTF8') from webhook_events where svix_id = '${id}'`), body);
  assert.match(psql(`select last_error from webhook_events where svix_id = '${id}'`),
               /^22P05: unsupported Unicode escape sequence/);
  assert.match(n.errorLog(), new RegExp(`\\[error\\].*"${id}" dead-lettered, answered 200 \\(user.created, SQLSTATE 22P05: .*, request_id: "[0-9a-f]{32}", trace_id: "[0-9a-f]{32}", svix_id: "${id}", actor: -`));
  assert.equal(psql(`select count(*) from users where clerk_id = '${tag}_nul'`), '0');

  // Svix's next try (it would come only if the 200 were lost): one row still
  assert.deepEqual((await deliver(null, { id, body })).body, { status: 'duplicate' });
  assert.equal(psql(`select count(*) from webhook_events where svix_id = '${id}'`), '1');

  // listed for a person; replay leaves it dead (nothing to apply yet)
  const admin = await mint(key, { sub: `${tag}_boss2`, sid: `${tag}_sess_boss2` });
  psql(`insert into users (clerk_id, email, role) values ('${tag}_boss2', 'b2@${tag}.test', 'admin')`);
  const res = await fetch(`${n.url}/replay`, {
    method: 'POST', headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
    body: JSON.stringify(id),
  });
  assert.equal(res.status, 200);
  assert.deepEqual((await res.json()).result.data, { svix_id: id, status: 'dead', clerkUser: null });
  assert.equal(psql(`select status from webhook_events where svix_id = '${id}'`), 'dead');
});

test('SQL errors by class: 40001 stays 503 and is applied once it passes; a raised 22023 is dead-lettered', async () => {
  const [transient, permanent] = [`${tag}_40001`, `${tag}_22023`];
  psql(`create function e2e_wh_raise() returns trigger language plpgsql as $$
        begin
          if new.svix_id = '${transient}' then
            raise exception 'simulated conflict' using errcode = '40001';
          end if;
          if new.svix_id = '${permanent}' and new.status <> 'dead' then
            raise exception 'simulated bad value' using errcode = '22023';
          end if;
          return new;
        end $$;
        create trigger e2e_wh_raise before insert on webhook_events
          for each row execute function e2e_wh_raise()`);
  try {
    const ev = userEvent('user.created', `${tag}_cls`);
    for (let i = 0; i < 2; i++) {
      const r = await deliver(ev, { id: transient });
      assert.deepEqual([r.status, r.body], [503, { error: 'not stored, retry later' }]);
    }
    assert.equal(stored(transient), '', 'not stored, not dead-lettered');
    assert.match(n.errorLog(), new RegExp(`"${transient}" not stored \\(SQLSTATE 40001\\), answered 503`));

    const p = await deliver(userEvent('user.created', `${tag}_cls2`), { id: permanent });
    assert.deepEqual([p.status, p.body], [200, { status: 'dead' }]);
    assert.equal(psql(`select status || ' ' || last_error from webhook_events where svix_id = '${permanent}'`),
                 'dead 22023: simulated bad value');
  } finally {
    psql('drop trigger e2e_wh_raise on webhook_events; drop function e2e_wh_raise()');
  }
  const r = await deliver(userEvent('user.created', `${tag}_cls`), { id: transient });
  assert.deepEqual([r.status, r.body], [200, { status: 'applied' }]);
  assert.equal(psql(`select count(*) from users where clerk_id = '${tag}_cls'`), '1');
});

test('Postgres down: 503 and nothing lost; redelivered after it returns, applied once', async () => {
  const cluster = await new Cluster().start();
  let m;
  try {
    psql('create database app', cluster.pg);
    const pg = { ...cluster.pg, database: 'app' };
    const r0 = spawnSync(join(ROOT, 'tools/db-push.sh'), [], {
      encoding: 'utf8',
      env: { ...process.env, DATABASE_URL: `postgres://postgres@127.0.0.1:${cluster.port}/app` },
    });
    assert.equal(r0.status, 0, r0.stderr);
    m = await new Nginx({ http: http(pg), location: location() }).start();

    cluster.ctl('stop');
    const events = [1, 2, 3].map((i) => ({ id: msgId(), ev: userEvent('user.created', `${tag}_down${i}`) }));
    for (const { id, ev } of events) {
      const r = await deliver(ev, { id, node: m });
      assert.equal(r.status, 503, JSON.stringify(r.body));
    }

    cluster.ctl('start');
    for (const { id, ev } of events) {
      let r;
      const end = Date.now() + 15000;
      do {
        r = await deliver(ev, { id, node: m });
        if (r.status === 503) await sleep(200);
      } while (r.status === 503 && Date.now() < end);
      assert.deepEqual([r.status, r.body], [200, { status: 'applied' }]);
      assert.deepEqual((await deliver(ev, { id, node: m })).body, { status: 'duplicate' });
    }
    assert.equal(psql(`select count(*) from users where clerk_id like '${tag}_down%'`, pg), '3');
    assert.equal(psql(`select count(*) from webhook_events where status = 'dead'`, pg), '0',
                 'an outage is not a dead letter');
    assert.deepEqual(m.problems(), []);
  } finally {
    await m?.stop();
    await cluster.stop();
  }
});
