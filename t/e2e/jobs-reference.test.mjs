// The reference app's background work as make run serves it (conf/jobs.conf,
// conf/procedures.conf, migrations 0006): admin.jobs.list shows the jobs
// the nodes run, admin.jobs.run runs one now and its reminders are written
// once however often it runs, a user.created webhook enqueues the welcome
// in its own transaction and the queue sends it through the mail API's
// adapter (a fake on loopback, with the location nginx.dev.conf.in gives
// it) and writes it once with the API's message id (migration 0008), and a
// dead item is listed and replayed by the admin procedures, its call made
// again with the item's key.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Webhook } from 'svix';
import { Nginx, ROOT, conninfo } from './lib/nginx.mjs';
import { psql } from './lib/pg.mjs';
import { Fault } from './lib/fault.mjs';
import { AZP, ISSUER, keyPair, keysDir, mint, writeJwks } from './lib/clerk.mjs';

const tag = `e2ejobsref${process.pid}`;
const secret = `whsec_${randomBytes(24).toString('base64')}`;
let dir, key, n, admin, mail;

async function until(what, fn, seconds = 60) {
  const end = Date.now() + seconds * 1000;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

before(async () => {
  dir = keysDir();
  chmodSync(dir, 0o755);
  key = await keyPair('jobsref');
  writeJwks(join(dir, 'jwks.json'), key);
  writeFileSync(join(dir, 'secret'), secret);
  psql(`insert into users (clerk_id, email, role) values ('${tag}_admin', 'a@${tag}.test', 'admin')`);
  // the mail API: a message id per idempotency key, as a provider does
  mail = await new Fault().start();
  mail.reset((r) => ({ status: 200, body: JSON.stringify({ id: `msg_${r.headers['idempotency-key']}` }) }));
  n = await new Nginx({
    workers: 2,
    http: `
      backend_pg main "${conninfo()}" max=4 pipeline=8;
      backend_auth_jwks ${join(dir, 'jwks.json')};
      backend_auth_issuer ${ISSUER};
      backend_auth_authorized_parties ${AZP};
      backend_session_zone jobsref:1m;
      include ${ROOT}/conf/procedures.conf;
      backend_jobs_poll 200ms;
      backend_jobs_listen main;
      include ${ROOT}/conf/jobs.conf;`,
    location: `
      location /trpc/ { backend_rpc; }
      location = /webhooks/clerk {
          include ${ROOT}/conf/webhooks.conf;
          backend_webhook_secret ${join(dir, 'secret')};
      }
      location = /_adapters/mailer {
          internal;
          proxy_pass http://127.0.0.1:${mail.port}$backend_adapter_uri;
          proxy_set_header Authorization "Bearer mail_test_e2e";
      }`,
  }).start();
  admin = await mint(key, { sub: `${tag}_admin`, sid: `${tag}_sa` });
});

after(async () => {
  await n?.stop();
  await mail?.stop();
  psql(`delete from app.queue_items where queue = 'welcome'
          and (payload ->> 'userId')::bigint in (select id from users where clerk_id like '${tag}%')`);
  psql(`delete from webhook_events where svix_id like '${tag}%'`);
  psql(`delete from users where clerk_id like '${tag}%'`);
  rmSync(dir, { recursive: true, force: true });
});

const call = async (path, token, body) => {
  const res = await fetch(`${n.url}/${path}`, body === undefined
    ? { headers: { authorization: `Bearer ${token}` } }
    : { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body) });
  return { status: res.status, body: await res.json() };
};

test('admin.jobs.list shows the jobs; admin.jobs.run runs one now, its reminders written once', async () => {
  const list = await until('the jobs listed', async () => {
    const r = await call('admin.jobs.list', admin);
    const jobs = r.body.result?.data ?? [];
    return ['background.retention', 'sessions.remind', 'webhooks.retention']
      .every((j) => jobs.some((x) => x.job === j)) && jobs;
  });
  const remind = list.find((j) => j.job === 'sessions.remind');
  assert.equal(remind.everySeconds, 300);
  assert.equal(remind.catchUp, 'latest');
  assert.ok(new Date(remind.nextSlot) > new Date(Date.now() - 60000));

  // a session in 30 minutes, not reminded yet
  const uid = psql(`insert into users (clerk_id, email) values ('${tag}_u', 'u@${tag}.test') returning id`);
  const sid = psql(`insert into mentorado_sessions (user_id, title, scheduled_at)
                    values (${uid}, '${tag}', now() + interval '30 minutes') returning id`);

  for (let i = 0; i < 2; i++) {
    const r = await call('admin.jobs.run', admin, { job: 'sessions.remind' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const { slot } = r.body.result.data;
    await until('the manual slot done', () => psql(`select status from app.job_slots
        where job = 'sessions.remind' and slot = '${slot}'`) === 'done');
    // one reminder for the session, however many runs
    assert.equal(psql(`select count(*) from notifications where session_id = ${sid}`), '1');
  }
  // the same slot again writes nothing: (session, slot) is its key
  const slot = psql(`select slot from notifications where session_id = ${sid}`);
  assert.equal(psql(`select count(*) from app.remind_sessions('${slot}')`), '0');

  // retention: applied events older than 30 days go, failed ones stay
  psql(`insert into webhook_events (svix_id, type, payload, received_at, status) values
          ('${tag}_old', 'user.updated', '{}', now() - interval '31 days', 'applied'),
          ('${tag}_new', 'user.updated', '{}', now() - interval '1 day', 'applied'),
          ('${tag}_failed', 'user.updated', '{}', now() - interval '31 days', 'failed')`);
  const ret = await call('admin.jobs.run', admin, { job: 'webhooks.retention' });
  assert.equal(ret.status, 200, JSON.stringify(ret.body));
  await until('the retention run done', () => psql(`select status from app.job_slots
      where job = 'webhooks.retention' and slot = '${ret.body.result.data.slot}'`) === 'done');
  assert.equal(psql(`select string_agg(svix_id, ',' order by svix_id) from webhook_events
                      where svix_id like '${tag}%'`), `${tag}_failed,${tag}_new`);

  const missing = await call('admin.jobs.run', admin, { job: 'no.such.job' });
  assert.equal(missing.status, 404);
  assert.equal(missing.body.error.data.code, 'NOT_FOUND');
  assert.equal((await call('admin.jobs.run', admin, { job: '' })).status, 400);
});

test('user.created enqueues the welcome with the user; it is written once; a dead item is listed and replayed', async () => {
  const id = `${tag}_created`;
  const clerk = `${tag}_new`;
  const body = JSON.stringify({ type: 'user.created',
    data: { id: clerk, primary_email_address_id: 'e1',
            email_addresses: [{ id: 'e1', email_address: `new@${tag}.test` }],
            public_metadata: {}, updated_at: Date.now() } });
  for (let i = 0; i < 2; i++) {
    // the second delivery is Svix's retry of the same message
    const ts = new Date();
    const res = await fetch(`http://127.0.0.1:${n.port}/webhooks/clerk`, {
      method: 'POST',
      headers: { 'svix-id': id, 'svix-timestamp': String(Math.floor(ts / 1000)),
                 'svix-signature': new Webhook(secret).sign(id, ts, body) },
      body,
    });
    assert.equal(res.status, 200);
  }
  const uid = psql(`select id from users where clerk_id = '${clerk}'`);
  await until('the welcome', () => psql(`select count(*) from notifications
                                          where kind = 'welcome' and user_id = ${uid}`) === '1');
  assert.equal(psql(`select count(*) || ':' || min(status) from app.queue_items
                      where queue = 'welcome' and payload ->> 'userId' = '${uid}'`), '1:done');
  const itemId = psql(`select id from app.queue_items
                        where queue = 'welcome' and payload ->> 'userId' = '${uid}'`);
  // the email went through the adapter once, with the item's key, and the
  // notification keeps the API's message id
  const sent = mail.seen.filter((r) => r.headers['idempotency-key'] === `welcome:${itemId}`);
  assert.equal(sent.length, 1);
  assert.equal(sent[0].method, 'POST');
  assert.equal(sent[0].url, '/v1/emails');
  assert.equal(sent[0].headers.authorization, 'Bearer mail_test_e2e');
  assert.deepEqual(JSON.parse(sent[0].body), { userId: Number(uid), to: `new@${tag}.test`, template: 'welcome' });
  assert.equal(psql(`select external_id from notifications where kind = 'welcome' and user_id = ${uid}`),
               `msg_welcome:${itemId}`);

  // as if its handler had failed every attempt
  const item = psql(`update app.queue_items set status = 'dead', attempts = 5, error = 'smtp down'
                      where queue = 'welcome' and payload ->> 'userId' = '${uid}' returning id`);
  psql(`delete from notifications where kind = 'welcome' and user_id = ${uid}`);

  const dead = (await call('admin.queue.dead', admin)).body.result.data;
  const d = dead.find((x) => x.id === Number(item));
  assert.deepEqual([d.queue, d.payload, d.attempts, d.error], ['welcome', { userId: Number(uid), to: `new@${tag}.test`, template: 'welcome' }, 5, 'smtp down']);

  const r = await call('admin.queue.replay', admin, { id: Number(item) });
  assert.deepEqual(r.body.result.data, { id: Number(item), queue: 'welcome', status: 'pending' });
  await until('the replayed welcome', () => psql(`select count(*) from notifications
                                                   where kind = 'welcome' and user_id = ${uid}`) === '1');
  await until('the item done', () => psql(`select status from app.queue_items where id = ${item}`) === 'done');
  // the replay called the API again with the same key: a provider answers
  // it with the message it sent, and sends nothing twice
  assert.deepEqual(mail.seen.filter((r) => r.headers['idempotency-key'] === `welcome:${item}`).length, 2);
  assert.equal((await call('admin.queue.replay', admin, { id: Number(item) })).status, 404);
  assert.deepEqual(n.problems(), []);
});
