// A call and a statement in one procedure: call, then sql with fields of
// the answer (params answer.a.b).  The statement runs once, after the
// call's answer, never for a failed call; a POST call carries the
// client's idempotency key (key=input.field), so that the client sending
// the procedure again (the statement failed, the answer was lost) makes
// the API see the same key, and an API that deduplicates by key creates
// once.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Nginx, conninfo } from './lib/nginx.mjs';
import { psql } from './lib/pg.mjs';
import { Fault } from './lib/fault.mjs';

const T = `adapter_e2e_${process.pid}`;
let n, fake, dir;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'adapter-sql-'));
  writeFileSync(join(dir, 'sync.json'), JSON.stringify({
    type: 'object', properties: { id: { type: 'string', pattern: '^u[0-9]+$' } }, required: ['id'],
  }));
  writeFileSync(join(dir, 'charge.json'), JSON.stringify({
    type: 'object',
    properties: { requestId: { type: 'string', minLength: 8 },
                  amount: { type: 'integer', minimum: 1 } },
    required: ['requestId', 'amount'],
  }));
  psql(`create table ${T}_users (id text primary key, name text not null);
        create table ${T}_charges (request_id text primary key, charge_id text not null,
                                   amount int not null check (amount < 1000))`);
  fake = await new Fault().start();
  n = await new Nginx({
    workers: 2,
    http: `
      backend_pg main "${conninfo()}" max=2;
      backend_adapter api {
          location /_adapters/api;
          timeout  500ms;
          budget   3s;
          retries  2 on=5xx backoff=20ms;
          idempotency header=Idempotency-Key;
      }
      backend_procedure users.sync {
          type   mutation;
          tier   public;
          input  ${join(dir, 'sync.json')};
          call   api GET "/users/{input.id}";
          sql    "insert into ${T}_users (id, name) values ($1, $2)
                  on conflict (id) do update set name = excluded.name
                  returning id, name";
          params answer.id answer.profile.name;
          result one;
      }
      backend_procedure charges.create {
          type   mutation;
          tier   public;
          input  ${join(dir, 'charge.json')};
          call   api POST "/charges" body=input key=input.requestId;
          sql    "insert into ${T}_charges (request_id, charge_id, amount)
                  values ($1, $2, $3)
                  on conflict (request_id) do update set charge_id = excluded.charge_id
                  returning charge_id as \\"chargeId\\", amount";
          params input.requestId answer.id answer.amount;
          result one;
      }`,
    location: `
      location /trpc/ { backend_rpc; }
      location = /_adapters/api {
          internal;
          proxy_pass http://127.0.0.1:${fake.port}$backend_adapter_uri;
      }`,
  }).start();
});

after(async () => {
  await n?.stop();
  await fake?.stop();
  psql(`drop table if exists ${T}_users; drop table if exists ${T}_charges`);
  rmSync(dir, { recursive: true, force: true });
});

async function mutate(path, input) {
  const res = await fetch(`${n.url}/${path}`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(input),
  });
  return { status: res.status, body: await res.json() };
}

// a payment API that creates one charge per idempotency key
function payments({ failFirst = 0 } = {}) {
  const charges = new Map();
  let calls = 0;
  fake.reset((r) => {
    if (calls++ < failFirst) return { status: 503, body: '{}' };
    const key = r.headers['idempotency-key'];
    if (!charges.has(key)) charges.set(key, `ch_${charges.size + 1}`);
    return { status: 200, body: JSON.stringify({ id: charges.get(key), amount: JSON.parse(r.body).amount }) };
  });
  return charges;
}

test('call, then the statement with fields of the answer', async () => {
  fake.reset((r) => ({ status: 200, body: JSON.stringify({ id: r.url.split('/').pop(), profile: { name: 'Ada' } }) }));
  const r = await mutate('users.sync', { id: 'u1' });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.deepEqual(r.body.result.data, { id: 'u1', name: 'Ada' });
  assert.equal(psql(`select name from ${T}_users where id = 'u1'`), 'Ada');
});

test('a failed call runs no statement', async () => {
  fake.reset(() => ({ status: 500, body: '{}' }));
  const r = await mutate('users.sync', { id: 'u2' });
  assert.equal(r.status, 503, JSON.stringify(r.body));
  assert.equal(fake.seen.length, 3);
  assert.equal(psql(`select count(*) from ${T}_users where id = 'u2'`), '0');
});

test('retries inside the call keep the client\'s key; the statement runs once', async () => {
  const charges = payments({ failFirst: 1 });
  const r = await mutate('charges.create', { requestId: 'req-00000001', amount: 5 });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.deepEqual(r.body.result.data, { chargeId: 'ch_1', amount: 5 });
  assert.equal(fake.seen.length, 2);
  assert.deepEqual(fake.seen.map((s) => s.headers['idempotency-key']), ['req-00000001', 'req-00000001']);
  assert.equal(charges.size, 1);
  assert.equal(psql(`select count(*) from ${T}_charges where request_id = 'req-00000001'`), '1');
});

test('the statement fails after the call: the client sends it again, the API sees the same key and creates once', async () => {
  const charges = payments();
  // amount 2000 breaks the table's check: the call is made, the statement fails
  let r = await mutate('charges.create', { requestId: 'req-00000002', amount: 2000 });
  assert.equal(r.status, 400, JSON.stringify(r.body));
  assert.equal(psql(`select count(*) from ${T}_charges where request_id = 'req-00000002'`), '0');
  // the client tries again (as it would after a lost answer)
  r = await mutate('charges.create', { requestId: 'req-00000002', amount: 2000 });
  assert.equal(r.status, 400);
  assert.deepEqual(fake.seen.map((s) => s.headers['idempotency-key']), ['req-00000002', 'req-00000002']);
  assert.equal(charges.size, 1, 'one charge at the API for one key');
});

test('a key that cannot be a header value is refused before any call', async () => {
  fake.reset();
  const r = await mutate('charges.create', { requestId: 'bad key\r\nx: y', amount: 1 });
  assert.equal(r.status, 400);
  assert.match(r.body.error.message, /idempotency key of the call must be 1 to 255/);
  assert.equal(fake.seen.length, 0);
  assert.deepEqual(n.problems(), []);
});
