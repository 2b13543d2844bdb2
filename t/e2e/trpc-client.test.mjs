// The real @trpc/client v11 against ngx_backend: httpLink, httpBatchLink
// and httpBatchStreamLink, results and errors.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createTRPCClient, httpBatchLink, httpBatchStreamLink, httpLink, TRPCClientError } from '@trpc/client';
import { Nginx, conninfo } from './lib/nginx.mjs';
import { psql } from './lib/pg.mjs';

const http = `
    backend_pg main "${conninfo()}" max=4 query_timeout=5s;

    backend_procedure health { type query; tier public; data '{"ok":true}'; }

    backend_procedure e2e.sessions {
        tier    public;
        sql     "select id, title, scheduled_at as \\"scheduledAt\\"
                   from (values (1, 'one', '2025-06-02 11:00:00-03'::timestamptz),
                                (2, 'two', '2025-06-09 14:00:00.5+00'::timestamptz))
                        s(id, title, scheduled_at)
                  where id <= $1 order by id";
        params  input.limit;
    }

    backend_procedure e2e.user.create {
        type    mutation;
        tier    public;
        sql     "insert into users (clerk_id, email, role) values ($1, $2, 'user')
                 returning clerk_id as \\"clerkId\\", email";
        params  input.clerkId input.email;
        result  one;
    }

    backend_procedure e2e.user.get {
        tier       public;
        sql        "select clerk_id as \\"clerkId\\", email from users where clerk_id = $1";
        params     input;
        result     one;
        not_found  "user not found";
    }

    backend_procedure e2e.types {
        tier    public;
        sql     "select 9007199254740993::int8 as big, 1.10::numeric as price,
                        '{\\"tags\\": [\\"a\\", \\"b\\"]}'::jsonb as meta,
                        array[1, 2] as list, null::text as nothing";
        result  one;
    }

    backend_procedure e2e.int { tier public; sql "select $1::int as v"; params input; result value; }
    backend_procedure e2e.slow { tier public; sql "select true as slept from pg_sleep($1::float8)"; params input; result value; }
    backend_procedure e2e.secret { tier protected; data '"hidden"'; }
`;

const nginx = new Nginx({ http });

before(async () => {
  psql("delete from users where clerk_id like 'e2e_client_%'");
  await nginx.start();
});

after(async () => {
  assert.deepEqual(nginx.problems(), []);
  await nginx.stop();
  psql("delete from users where clerk_id like 'e2e_client_%'");
});

async function rejects(promise, code, httpStatus, message) {
  await assert.rejects(promise, (err) => {
    assert.ok(err instanceof TRPCClientError, `not a TRPCClientError: ${err}`);
    assert.equal(err.data?.code, code);
    assert.equal(err.data?.httpStatus, httpStatus);
    if (message) {
      assert.equal(err.message, message);
    }
    return true;
  });
}

for (const [name, link] of [['httpLink', httpLink], ['httpBatchLink', httpBatchLink],
                            ['httpBatchStreamLink', httpBatchStreamLink]]) {
  describe(name, () => {
    const client = () => createTRPCClient({ links: [link({ url: nginx.url })] });

    test('a constant query', async () => {
      assert.deepEqual(await client().health.query(), { ok: true });
    });

    test('rows with timestamps as Date.toJSON() writes them', async () => {
      assert.deepEqual(await client().e2e.sessions.query({ limit: 2 }), [
        { id: 1, title: 'one', scheduledAt: '2025-06-02T14:00:00.000Z' },
        { id: 2, title: 'two', scheduledAt: '2025-06-09T14:00:00.500Z' },
      ]);
    });

    test('types: int8, numeric, jsonb, arrays, null', async () => {
      assert.deepEqual(await client().e2e.types.query(), {
        big: 9007199254740992, // JSON.parse rounds it, as it does for a Node server's
        price: '1.10',
        meta: { tags: ['a', 'b'] },
        list: [1, 2],
        nothing: null,
      });
    });

    test('a mutation, then a query of what it wrote; a duplicate is CONFLICT', async () => {
      const id = `e2e_client_${name}`;
      assert.deepEqual(await client().e2e.user.create.mutate({ clerkId: id, email: `${id}@x.test` }),
                       { clerkId: id, email: `${id}@x.test` });
      assert.deepEqual(await client().e2e.user.get.query(id), { clerkId: id, email: `${id}@x.test` });
      await rejects(client().e2e.user.create.mutate({ clerkId: id, email: 'again' }), 'CONFLICT', 409);
    });

    test('result one without a row is NOT_FOUND with the configured message', async () => {
      await rejects(client().e2e.user.get.query('e2e_client_nobody'), 'NOT_FOUND', 404, 'user not found');
    });

    test('an unknown procedure is NOT_FOUND', async () => {
      await rejects(client().no.such.thing.query(), 'NOT_FOUND', 404,
                    'No procedure found on path "no.such.thing"');
    });

    test('a query called as a mutation is METHOD_NOT_SUPPORTED', async () => {
      await rejects(client().health.mutate(), 'METHOD_NOT_SUPPORTED', 405);
    });

    test('a tier other than public is UNAUTHORIZED', async () => {
      await rejects(client().e2e.secret.query(), 'UNAUTHORIZED', 401, 'UNAUTHORIZED');
    });

    test('a value the column type refuses is BAD_REQUEST', async () => {
      await rejects(client().e2e.int.query('seven'), 'BAD_REQUEST', 400);
    });

    test('calls made together each get their own result or error', async () => {
      const c = client();
      const [a, b, cc, d] = await Promise.allSettled([
        c.health.query(),
        c.e2e.int.query(41),
        c.e2e.secret.query(),
        c.e2e.user.get.query('e2e_client_nobody'),
      ]);
      assert.deepEqual(a, { status: 'fulfilled', value: { ok: true } });
      assert.deepEqual(b, { status: 'fulfilled', value: 41 });
      assert.equal(cc.status, 'rejected');
      assert.equal(cc.reason.data.code, 'UNAUTHORIZED');
      assert.equal(d.status, 'rejected');
      assert.equal(d.reason.data.code, 'NOT_FOUND');
    });
  });
}

test('httpBatchLink sends calls made together as one request', async () => {
  let requests = 0;
  const counting = (url, init) => { requests++; return fetch(url, init); };
  const c = createTRPCClient({ links: [httpBatchLink({ url: nginx.url, fetch: counting })] });
  const r = await Promise.all([c.health.query(), c.e2e.int.query(1), c.e2e.int.query(2)]);
  assert.deepEqual(r, [{ ok: true }, 1, 2]);
  assert.equal(requests, 1);
});

test('httpBatchStreamLink delivers a fast call before a slow one of the same batch', async () => {
  let requests = 0;
  const counting = (url, init) => { requests++; return fetch(url, init); };
  const c = createTRPCClient({ links: [httpBatchStreamLink({ url: nginx.url, fetch: counting })] });
  const order = [];
  const slow = c.e2e.slow.query(1).then((v) => { order.push('slow'); return v; });
  const fast = c.e2e.int.query(7).then((v) => { order.push('fast'); return v; });
  const health = c.health.query().then((v) => { order.push('health'); return v; });
  assert.deepEqual(await Promise.all([slow, fast, health]), [true, 7, { ok: true }]);
  assert.equal(requests, 1);
  assert.equal(order[order.length - 1], 'slow');
});
