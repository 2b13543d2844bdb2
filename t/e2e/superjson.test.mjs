// backend_rpc_transformer superjson against the real superjson package
// and @trpc/client v11 with each link: Dates of timestamp columns arrive
// as Dates, Date, bigint, NaN and undefined inputs arrive as SQL
// parameters, z.date() input schemas (exported by tools/schemas.mjs)
// accept Dates and refuse strings, errors are superjson envelopes, and a
// plain JSON location of the same server is unchanged.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTRPCClient, httpBatchLink, httpBatchStreamLink, httpLink, TRPCClientError } from '@trpc/client';
import superjson from 'superjson';
import { z } from 'zod';
import range from './fixtures/superjson/range.mjs';
import shapes from './fixtures/superjson/shapes.mjs';
import { Nginx, ROOT, conninfo } from './lib/nginx.mjs';
import { psql } from './lib/pg.mjs';

// the fixture's Zod schema, exported as make schemas exports it
const schemas = mkdtempSync(join(tmpdir(), 'superjson-schemas-'));
const exported = spawnSync(process.execPath,
                           ['tools/schemas.mjs', `--out=${schemas}`, 't/e2e/fixtures/superjson/range.mjs',
                            't/e2e/fixtures/superjson/shapes.mjs'],
                           { cwd: ROOT, encoding: 'utf8' });
assert.equal(exported.status, 0, exported.stderr);

const http = `
    backend_pg main "${conninfo()}" max=4 query_timeout=5s;

    backend_procedure health { type query; tier public; data '{"ok":true}'; }

    backend_procedure sj.sessions {
        tier    public;
        sql     "select id, title, at as \\"scheduledAt\\", local,
                        done_at as \\"doneAt\\", at as \\"a.b\\"
                   from (values (1, 'one', '2025-06-02 11:00:00-03'::timestamptz,
                                 '2025-06-02 14:00:00.123456'::timestamp, null::timestamptz),
                                (2, 'two', '2025-06-09 14:00:00.5+00'::timestamptz,
                                 '1999-12-31 23:59:59'::timestamp, 'infinity'::timestamptz))
                        s(id, title, at, local, done_at)
                  where id <= $1 order by id";
        params  input.limit;
    }

    backend_procedure sj.session {
        tier       public;
        sql        "select 1 as id, '2025-06-02 14:00:00+00'::timestamptz as \\"createdAt\\"
                     where $1::int = 1";
        params     input;
        result     one;
        not_found  "session not found";
    }

    backend_procedure sj.arrays {
        tier    public;
        sql     "select array['2025-06-02 14:00:00+00'::timestamptz, null, 'infinity'] as list,
                        array[['2001-01-01 00:00:00'::timestamp], ['2002-02-02 02:02:02.002'::timestamp]] as grid,
                        '{}'::timestamptz[] as empty";
        result  one;
    }

    backend_procedure sj.echoDate {
        tier    public;
        sql     "select $1::timestamptz";
        params  input;
        result  value;
    }

    backend_procedure sj.range {
        tier    public;
        input   ${schemas}/range.json;
        sql     "select $1::timestamptz as \\"from\\", $2::timestamptz as \\"to\\", $3::int as \\"limit\\"";
        params  input.from input.to input.limit;
        result  one;
    }

    backend_procedure sj.shapes {
        type    mutation;
        tier    public;
        input   ${schemas}/shapes.json;
        sql     "select $1::jsonb";
        params  input;
        result  value;
    }

    backend_procedure sj.values {
        type    mutation;
        tier    public;
        sql     "select $1::numeric::text as big, $2::float8::text as f,
                        $3::text is null as missing, $4::jsonb as list";
        params  input.big input.f input.gone input.list;
        result  one;
    }

    backend_procedure sj.user.create {
        type    mutation;
        tier    public;
        sql     "insert into users (clerk_id, email, role) values ($1, $2, 'user')
                 returning clerk_id as \\"clerkId\\", created_at as \\"createdAt\\"";
        params  input.clerkId input.email;
        result  one;
    }

    backend_procedure sj.slow { tier public; sql "select now() - now() = '0'::interval as slept, pg_sleep($1::float8)::text as z"; params input; result one; }
    backend_procedure sj.secret { tier protected; data '"hidden"'; }
`;

const nginx = new Nginx({
  http,
  location: `
        location /trpc/ { backend_rpc; }
        location /sj/ { backend_rpc; backend_rpc_transformer superjson; backend_rpc_max_batch 4;
                        client_max_body_size 4k; }
        location /big/ { backend_rpc; backend_rpc_transformer superjson; client_max_body_size 2m; }`,
});

let base;

before(async () => {
  psql("delete from users where clerk_id like 'e2e_sj_%'");
  await nginx.start();
  base = `http://127.0.0.1:${nginx.port}`;
});

after(async () => {
  assert.deepEqual(nginx.problems(), []);
  await nginx.stop();
  psql("delete from users where clerk_id like 'e2e_sj_%'");
  rmSync(schemas, { recursive: true, force: true });
});

async function rejects(promise, code, httpStatus, message) {
  await assert.rejects(promise, (err) => {
    assert.ok(err instanceof TRPCClientError, `not a TRPCClientError: ${err}`);
    assert.equal(err.data?.code, code, err.message);
    assert.equal(err.data?.httpStatus, httpStatus);
    if (message) {
      assert.equal(err.message, message);
    }
    return true;
  });
}

const links = [['httpLink', httpLink], ['httpBatchLink', httpBatchLink],
               ['httpBatchStreamLink', httpBatchStreamLink]];

for (const [name, link] of links) {
  describe(name, () => {
    const client = () => createTRPCClient({
      links: [link({ url: `${base}/sj`, transformer: superjson })],
    });

    test('a constant query', async () => {
      assert.deepEqual(await client().health.query(), { ok: true });
    });

    test('timestamp and timestamptz columns are Dates; null and infinity are null', async () => {
      const rows = await client().sj.sessions.query({ limit: 2 });
      assert.deepEqual(rows, [
        { id: 1, title: 'one', scheduledAt: new Date('2025-06-02T14:00:00.000Z'),
          local: new Date('2025-06-02T14:00:00.123Z'), doneAt: null,
          'a.b': new Date('2025-06-02T14:00:00.000Z') },
        { id: 2, title: 'two', scheduledAt: new Date('2025-06-09T14:00:00.500Z'),
          local: new Date('1999-12-31T23:59:59.000Z'), doneAt: null,
          'a.b': new Date('2025-06-09T14:00:00.500Z') },
      ]);
      assert.ok(rows[0].scheduledAt instanceof Date);
    });

    test('result one and result value: a row with a Date, a Date as the value', async () => {
      assert.deepEqual(await client().sj.session.query(1),
                       { id: 1, createdAt: new Date('2025-06-02T14:00:00.000Z') });
      const d = new Date('2031-01-02T03:04:05.678Z');
      const back = await client().sj.echoDate.query(d);
      assert.ok(back instanceof Date);
      assert.equal(back.toISOString(), d.toISOString());
      assert.equal(await client().sj.echoDate.query(null), null);
      for (const iso of ['-000001-06-01T00:00:00.000Z', '+010000-01-01T00:00:00.000Z']) {
        assert.equal((await client().sj.echoDate.query(new Date(iso))).toISOString(), iso);
      }
    });

    test('arrays of timestamps: their elements are Dates, nested ones too', async () => {
      const r = await client().sj.arrays.query();
      assert.deepEqual(r, {
        list: [new Date('2025-06-02T14:00:00.000Z'), null, null],
        grid: [[new Date('2001-01-01T00:00:00.000Z')], [new Date('2002-02-02T02:02:02.002Z')]],
        empty: [],
      });
      assert.ok(r.grid[1][0] instanceof Date);
    });

    test('z.date() input: Dates accepted, undefined is missing, a default applied', async () => {
      const from = new Date('2024-02-29T12:00:00.000Z');
      assert.deepEqual(await client().sj.range.query({ from, to: undefined }),
                       { from, to: null, limit: 10 });
      const to = new Date('+010000-01-01T00:00:00.000Z');
      assert.deepEqual(await client().sj.range.query({ from, to, limit: 3 }), { from, to, limit: 3 });
    });

    test('z.date() input: a string is refused as Zod refuses it', async () => {
      await assert.rejects(client().sj.range.query({ from: '2024-02-29T12:00:00.000Z' }), (err) => {
        assert.equal(err.data?.code, 'BAD_REQUEST');
        assert.deepEqual(err.data.zodError.fieldErrors, { from: ['Invalid input: expected date, received string'] });
        return true;
      });
      await assert.rejects(client().sj.range.query({ from: new Date(0), limit: new Date(0) }), (err) => {
        assert.deepEqual(err.data.zodError.fieldErrors, { limit: ['Invalid input: expected number, received Date'] });
        return true;
      });
    });

    test('bigint, NaN and undefined inputs reach SQL', async () => {
      assert.deepEqual(await client().sj.values.mutate({ big: 123456789012345678901234567890n, f: NaN,
                                                         gone: undefined, list: [1, undefined, 3] }),
                       { big: '123456789012345678901234567890', f: 'NaN', missing: true, list: [1, null, 3] });
      assert.deepEqual(await client().sj.values.mutate({ big: -5n, f: -Infinity }),
                       { big: '-5', f: '-Infinity', missing: true, list: null });
    });

    test('a mutation returning a Date; a duplicate is CONFLICT', async () => {
      const id = `e2e_sj_${name}`;
      const row = await client().sj.user.create.mutate({ clerkId: id, email: `${id}@x.test` });
      assert.equal(row.clerkId, id);
      assert.ok(row.createdAt instanceof Date && Math.abs(row.createdAt - Date.now()) < 600000);
      await rejects(client().sj.user.create.mutate({ clerkId: id, email: 'again' }), 'CONFLICT', 409);
    });

    test('errors: NOT_FOUND with its message, UNAUTHORIZED, an unknown procedure, a wrong method', async () => {
      await rejects(client().sj.session.query(2), 'NOT_FOUND', 404, 'session not found');
      await rejects(client().sj.secret.query(), 'UNAUTHORIZED', 401, 'UNAUTHORIZED');
      await rejects(client().no.such.thing.query(), 'NOT_FOUND', 404, 'No procedure found on path "no.such.thing"');
      await rejects(client().health.mutate(), 'METHOD_NOT_SUPPORTED', 405);
    });

    test('calls made together each get their own result or error', async () => {
      const c = client();
      const d = new Date('2020-01-01T00:00:00.001Z');
      const [a, b, cc] = await Promise.allSettled([
        c.sj.echoDate.query(d), c.sj.secret.query(), c.sj.sessions.query({ limit: 1 })]);
      assert.deepEqual(a, { status: 'fulfilled', value: d });
      assert.equal(b.reason.data.code, 'UNAUTHORIZED');
      assert.ok(cc.value[0].scheduledAt instanceof Date);
    });
  });
}

test('httpBatchStreamLink: a fast call with Dates before a slow one, each line superjson', async () => {
  const lines = [];
  const recording = async (url, init) => {
    const res = await fetch(url, init);
    const [a, b] = res.body.tee();
    (async () => {
      const text = await new Response(a).text();
      lines.push(...text.split('\n').filter(Boolean));
    })();
    return new Response(b, res);
  };
  const c = createTRPCClient({
    links: [httpBatchStreamLink({ url: `${base}/sj`, transformer: superjson, fetch: recording })],
  });
  const order = [];
  const slow = c.sj.slow.query(1).then((v) => { order.push('slow'); return v; });
  const rows = c.sj.sessions.query({ limit: 2 }).then((v) => { order.push('rows'); return v; });
  const d = new Date('2001-02-03T04:05:06.007Z');
  const [s, r, e] = await Promise.all([slow, rows, c.sj.echoDate.query(d)]);
  assert.deepEqual(s, { slept: true, z: '' });
  assert.ok(r[1].scheduledAt instanceof Date);
  assert.deepEqual(e, d);
  assert.equal(order.at(-1), 'slow');
  await new Promise((ok) => setImmediate(ok));
  for (const line of lines) {
    assert.ok('json' in JSON.parse(line), line);
  }
});

test('a batch over backend_rpc_max_batch: the whole-request error is a superjson envelope', async () => {
  const c = createTRPCClient({ links: [httpBatchLink({ url: `${base}/sj`, transformer: superjson })] });
  const r = await Promise.allSettled([1, 2, 3, 4, 5].map(() => c.health.query()));
  for (const x of r) {
    assert.equal(x.status, 'rejected');
    assert.equal(x.reason.message, 'Batch call exceeds maximum size');
    assert.equal(x.reason.data?.code, 'BAD_REQUEST');
  }
});

test('a body over client_max_body_size: PAYLOAD_TOO_LARGE as a superjson envelope', async () => {
  const c = createTRPCClient({ links: [httpLink({ url: `${base}/sj`, transformer: superjson })] });
  await rejects(c.sj.values.mutate({ big: 1n, f: 1, list: 'x'.repeat(8192) }), 'PAYLOAD_TOO_LARGE', 413);
});

test('envelopes by hand: what superjson would not send is BAD_REQUEST, never a 500', async () => {
  const get = async (input) => {
    const res = await fetch(`${base}/sj/sj.echoDate?input=${encodeURIComponent(JSON.stringify(input))}`);
    return { status: res.status, body: await res.json() };
  };
  const message = (r) => r.body.error.json.message;

  let r = await get({ json: [['a', 1]], meta: { values: ['map'], v: 1 } });
  assert.equal(r.status, 400);
  assert.equal(message(r), 'Invalid superjson input: unsupported type "map" at ""');

  r = await get({ json: 'tomorrow', meta: { values: ['Date'], v: 1 } });
  assert.equal(r.status, 400);
  assert.equal(message(r), 'Invalid superjson input: not a toISOString() Date: "Date" at ""');

  r = await get({ json: { a: 1 }, meta: { values: { 'a.b.c': ['Date'] }, v: 1 } });
  assert.equal(message(r), 'Invalid superjson input: no value at at "a.b.c"');

  r = await get({ json: { a: 'x' }, meta: { values: { 'a\\x': ['Date'] }, v: 1 } });
  assert.equal(message(r), 'Invalid superjson input: invalid path "a\\x" at ""');

  r = await get({ json: 5, meta: { values: [['class', 'Foo']] } });
  assert.equal(message(r), 'Invalid superjson input: unsupported type "class" at ""');

  r = await get({ json: 5, meta: 'x' });
  assert.deepEqual(r, { status: 400, body: r.body });
  assert.match(message(r), /Invalid input/);

  // not an envelope: undefined, as superjson.deserialize() makes it
  r = await get('2020-01-01');
  assert.deepEqual(r, { status: 200, body: { result: { data: { json: null } } } });

  // superjson 1 wrote no "v"
  r = await get({ json: '2020-01-01T00:00:00.000Z', meta: { values: ['Date'] } });
  assert.deepEqual(r, { status: 200, body: { result: { data: {
    json: '2020-01-01T00:00:00.000Z', meta: { values: ['Date'], v: 1 } } } } });
});

test('a flood of annotations on one object is refused, not walked member by member', async () => {
  // 30,000 members and an annotation for each: ~10^9 key comparisons
  // walked naively; refused past a budget instead
  const json = {};
  const values = {};
  for (let i = 0; i < 30000; i++) {
    json[`k${i}`] = '1';
    values[`k${i}`] = ['bigint'];
  }
  const t0 = Date.now();
  const res = await fetch(`${base}/big/sj.values`, {
    method: 'POST', body: JSON.stringify({ json, meta: { values, v: 1 } }) });
  const body = await res.json();
  assert.equal(res.status, 400);
  assert.match(body.error.json.message, /^Invalid superjson input: too many annotations at "k\d+"$/);
  console.log(`# 30,000 annotations refused in ${Date.now() - t0} ms`);
});

test('z.date() and the other superjson values: the same decisions and issues as zod', async () => {
  // what a tRPC app with this Zod schema and superjson would answer
  const d = new Date('2024-02-29T12:00:00.000Z');
  const inputs = [
    { from: d }, { from: d, to: d, limit: 3 }, { from: '2024-02-29T12:00:00.000Z' }, { from: 5 },
    { from: null }, {}, { from: d, to: 'x' }, { from: d, limit: 0 }, { from: d, limit: 5n },
    { from: d, limit: NaN }, { from: d, limit: Infinity }, { from: d, to: undefined, extra: 1 },
    { from: d, to: null }, [d], d, undefined,
  ];
  const c = createTRPCClient({ links: [httpLink({ url: `${base}/sj`, transformer: superjson })] });
  for (const input of inputs) {
    const want = range.safeParse(input);
    const got = await c.sj.range.query(input).then((data) => ({ data }), (error) => ({ error }));
    const what = superjson.stringify(input);
    if (want.success) {
      assert.ok(got.data, `${what}: ${got.error?.message}`);
      assert.deepEqual(got.data, { from: want.data.from, to: want.data.to ?? null, limit: want.data.limit }, what);
    } else {
      assert.equal(got.error?.data?.code, 'BAD_REQUEST', what);
      assert.deepEqual(got.error.data.zodError, z.flattenError(want.error), what);
    }
  }
});

test('Dates in unions, arrays, nullable: the same decisions and issues as zod', async () => {
  const d = new Date('2024-02-29T12:00:00.000Z');
  const inputs = [
    { when: d }, { when: 'ab' }, { when: 'a' }, { when: 5 }, { when: null }, { when: d, list: [d, d] },
    { when: d, list: [d, d, d] }, { when: d, list: [d, 'x', 1] }, { when: d, maybe: null },
    { when: d, maybe: 'x' }, { when: d, n: d }, { when: d, s: d }, { when: d, n: 7n, s: NaN },
    { when: d, tags: [d, 'a', 1n] }, { when: [d] }, { when: d, n: -Infinity },
  ];
  const c = createTRPCClient({ links: [httpLink({ url: `${base}/sj`, transformer: superjson })] });
  for (const input of inputs) {
    const want = shapes.safeParse(input);
    const got = await c.sj.shapes.mutate(input).then((data) => ({ data }), (error) => ({ error }));
    const what = superjson.stringify(input);
    if (want.success) {
      assert.ok(got.data !== undefined, `${what}: ${got.error?.message}`);
    } else {
      assert.equal(got.error?.data?.code, 'BAD_REQUEST', `${what}: ${got.error?.message}`);
      assert.deepEqual(got.error.data.zodError, z.flattenError(want.error), what);
      assert.deepEqual(JSON.parse(got.error.message), JSON.parse(want.error.message), what);
    }
  }
});

test('a plain JSON location of the same server: Dates are strings, envelopes are plain', async () => {
  const c = createTRPCClient({ links: [httpLink({ url: `${base}/trpc` })] });
  const rows = await c.sj.sessions.query({ limit: 1 });
  assert.equal(rows[0].scheduledAt, '2025-06-02T14:00:00.000Z');
  await rejects(c.sj.session.query(2), 'NOT_FOUND', 404, 'session not found');
  await assert.rejects(c.sj.range.query({ from: '2024-02-29T12:00:00.000Z' }), (err) => {
    assert.deepEqual(err.data.zodError.fieldErrors, { from: ['Invalid input: expected date, received string'] });
    return true;
  });
});
