// make client-types (tools/client-types.mjs): the generated AppRouter type
// checked by the real TypeScript compiler against clients of the real
// @trpc/client: a good client compiles (tsc --noEmit), a client with a wrong
// input field and one that misuses an output field do not.  For the
// reference app (conf/app-router.ts, which must be current) and for a small
// configuration of its own (tables made here, nested names, every result
// kind, enums, arrays, superjson Dates).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './lib/nginx.mjs';
import { psql } from './lib/pg.mjs';

const DB = process.env.DATABASE_URL;
mkdirSync(join(ROOT, '.build'), { recursive: true });
// inside the checkout, so that @trpc/client and superjson resolve
const dir = mkdtempSync(join(ROOT, '.build', 'client-types-'));

function generate(...args) {
  return spawnSync(process.execPath, ['tools/client-types.mjs', `--db=${DB}`, ...args],
                   { cwd: ROOT, encoding: 'utf8' });
}

// tsc --noEmit on one file, as a web app with a bundler compiles it
function tsc(name, code) {
  writeFileSync(join(dir, name), code);
  writeFileSync(join(dir, `${name}.json`), JSON.stringify({
    compilerOptions: {
      strict: true, noEmit: true, target: 'es2022', module: 'preserve',
      moduleResolution: 'bundler', skipLibCheck: true, lib: ['es2022', 'dom'],
    },
    files: [name],
  }));
  const r = spawnSync(join(ROOT, 'node_modules/.bin/tsc'), ['-p', join(dir, `${name}.json`)],
                      { cwd: dir, encoding: 'utf8' });
  return { status: r.status, out: (r.stdout + r.stderr).trim() };
}

before(() => {
  psql(`drop table if exists e2e_ct_items;
        drop type if exists e2e_ct_kind;
        create type e2e_ct_kind as enum ('book', 'tool');
        create table e2e_ct_items (id bigserial primary key, name text not null,
                                   kind e2e_ct_kind not null, due timestamptz,
                                   tags text[] not null default '{}', price numeric,
                                   extra jsonb)`);
});

after(() => {
  psql('drop table if exists e2e_ct_items; drop type if exists e2e_ct_kind');
  rmSync(dir, { recursive: true, force: true });
});

test('conf/app-router.ts is current; --check fails on a stale file', () => {
  let r = generate('--check', 'conf/procedures.conf');
  assert.equal(r.status, 0, r.stderr);
  const stale = join(dir, 'stale.ts');
  writeFileSync(stale, readFileSync(join(ROOT, 'conf/app-router.ts'), 'utf8').replace('email: string', 'email: number'));
  r = generate('--check', `--out=${stale}`, 'conf/procedures.conf');
  assert.equal(r.status, 1);
  assert.match(r.stderr, /stale\.ts: not current with conf\/procedures\.conf and the database; run `make client-types`/);
});

const ref = "import type { AppRouter, AppRouterSuperjson } from '../../conf/app-router';";

test('reference app: a good client compiles', () => {
  const r = tsc('good.ts', `
import { createTRPCClient, httpBatchLink, httpBatchStreamLink, httpLink } from '@trpc/client';
import superjson from 'superjson';
${ref}

const client = createTRPCClient<AppRouter>({ links: [httpBatchLink({ url: 'http://localhost/trpc' })] });
const sj = createTRPCClient<AppRouterSuperjson>({
  links: [httpBatchStreamLink({ url: 'http://localhost/trpc-sj', transformer: superjson })],
});

export async function main() {
  const ok: true = (await client.health.query()).ok;
  const rows = await client.mentorado.sessions.list.query({ limit: 10, before: '2025-01-01T00:00:00.000Z' });
  const at: string | null = rows[0].scheduledAt;
  const id: number = rows[0].id;
  const note = await client.mentorado.notes.create.mutate({ sessionId: id, notes: 'n' });
  const title: string | null = note.title;
  const me = await client.user.me.query();
  const email: string = me.email;
  const count: number | null = await client.admin.userCount.query();
  const failures = await client.admin.webhooks.failures.query();
  const error: string | null = failures[0].lastError;
  const user = await client.admin.users.setRole.mutate({ userId: 1, role: 'admin' });
  const replay = await client.admin.webhooks.replay.mutate({ svixId: 'msg_1' });
  const dates = await sj.mentorado.sessions.list.query({ limit: 1 });
  const when: number | undefined = dates[0].scheduledAt?.getTime();
  const plain = createTRPCClient<AppRouter>({ links: [httpLink({ url: 'http://localhost/trpc' })] });
  return [ok, at, title, email, count, error, user.clerkId, replay.status, when, plain];
}
`);
  assert.equal(r.status, 0, r.out);
});

test('reference app: a wrong input field does not compile', () => {
  const r = tsc('bad-input.ts', `
import { createTRPCClient, httpBatchLink } from '@trpc/client';
${ref}
const client = createTRPCClient<AppRouter>({ links: [httpBatchLink({ url: 'http://localhost/trpc' })] });
export const rows = client.mentorado.sessions.list.query({ limit: 10, bogus: true });
`);
  assert.notEqual(r.status, 0);
  assert.match(r.out, /bad-input\.ts\(5,[0-9]+\): error TS2353: .*'bogus'/);
  assert.doesNotMatch(r.out, /bad-input\.ts\((?!5,)/, 'only that line');
});

test('reference app: misusing an output field does not compile', () => {
  const r = tsc('bad-output.ts', `
import { createTRPCClient, httpBatchLink } from '@trpc/client';
${ref}
const client = createTRPCClient<AppRouter>({ links: [httpBatchLink({ url: 'http://localhost/trpc' })] });
export async function main() {
  const rows = await client.mentorado.sessions.list.query({ limit: 10 });
  return rows[0].scheduledAt.getTime();   // a string on a JSON location, and nullable
}
`);
  assert.notEqual(r.status, 0);
  assert.match(r.out, /bad-output\.ts\(7,[0-9]+\): error TS/);
});

test('reference app: AppRouterSuperjson needs the transformer on the link', () => {
  const r = tsc('bad-transformer.ts', `
import { createTRPCClient, httpLink } from '@trpc/client';
${ref}
export const c = createTRPCClient<AppRouterSuperjson>({ links: [httpLink({ url: 'http://localhost/trpc-sj' })] });
`);
  assert.notEqual(r.status, 0);
  assert.match(r.out, /transformer/);
});

test("a configuration of one's own: every result kind, enums, arrays, params, nesting, includes", () => {
  writeFileSync(join(dir, 'since.json'), JSON.stringify({
    type: 'object',
    properties: { since: { type: 'string', format: 'date-time', 'x-superjson': 'Date' },
                  kinds: { type: 'array', items: { enum: ['book', 'tool'] } } },
    required: ['since'],
  }));
  mkdirSync(join(dir, 'more'), { recursive: true });
  writeFileSync(join(dir, 'more', 'ping.conf'),
                `backend_procedure shop.ping { type query; tier public; data '{"pong":[1,"a",null]}'; }\n`);
  writeFileSync(join(dir, 'shop.conf'), `
# a small shop, not the reference app; a file of it included by a wildcard
include more/*.conf;

backend_procedure shop.items.list {
    tier    public;
    sql     "select id, name, kind, due, tags, price, extra, due as \\"dueAgain\\",
                    array[due] as dues
               from e2e_ct_items order by id limit $1";
    params  input.limit;
}

backend_procedure shop.items.get {
    tier       public;
    sql        "select id, name, kind from e2e_ct_items where id = $1";
    params     input;
    result     one;
}

backend_procedure shop.items.add {
    type    mutation;
    tier    public;
    sql     "insert into e2e_ct_items (name, kind, due) values ($1, $2, $3) returning id";
    params  input.item.name input.item.kind input.due;
    result  value;
}

backend_procedure shop.items.since {
    tier    public;
    input   since.json;
    sql     "select count(*) from e2e_ct_items where due >= $1";
    params  input.since;
    result  value;
}

backend_procedure shop.items.clear { type mutation; tier public; sql "delete from e2e_ct_items where id < 0"; result none; }
`);
  const out = join(dir, 'shop-router.ts');
  const g = generate(`--out=${out}`, join(dir, 'shop.conf'));
  assert.equal(g.status, 0, g.stderr);
  const types = readFileSync(out, 'utf8');
  assert.match(types, /kind: "book" \| "tool";/);
  assert.match(types, /tags: Array<string \| null>;/);
  assert.match(types, /price: string \| null;/);

  const good = tsc('shop-good.ts', `
import { createTRPCClient, httpBatchLink, httpLink } from '@trpc/client';
import superjson from 'superjson';
import type { AppRouter, AppRouterSuperjson, JsonValue } from './shop-router';

const c = createTRPCClient<AppRouter>({ links: [httpBatchLink({ url: 'http://localhost/trpc' })] });
const s = createTRPCClient<AppRouterSuperjson>({ links: [httpLink({ url: 'http://localhost/sj', transformer: superjson })] });

export async function main() {
  const pong: [1, 'a', null] = (await c.shop.ping.query()).pong;
  const items = await c.shop.items.list.query({ limit: 5 });
  const kind: 'book' | 'tool' = items[0].kind;
  const due: string | null = items[0].due;
  const extra: JsonValue | null = items[0].extra;
  const one = await c.shop.items.get.query(3);
  const added: number | null = await c.shop.items.add.mutate({ item: { name: 'n', kind: 'tool' }, due: null });
  const cleared: void = await c.shop.items.clear.mutate();
  const dueDate: Date | null = (await s.shop.items.list.query({ limit: 1 }))[0].dueAgain;
  const dues: Array<Date | null> | null = (await s.shop.items.list.query({ limit: 1 }))[0].dues;
  const dueTexts: Array<string | null> | null = items[0].dues;
  const n: number | null = await s.shop.items.since.query({ since: new Date(), kinds: ['book'] });
  await s.shop.items.add.mutate({ item: { name: 'n' }, due: new Date() });
  return [pong, kind, due, extra, one.name, added, cleared, dueDate, n, dues, dueTexts];
}
`);
  assert.equal(good.status, 0, good.out);

  const badInput = tsc('shop-bad-input.ts', `
import { createTRPCClient, httpLink } from '@trpc/client';
import type { AppRouter } from './shop-router';
const c = createTRPCClient<AppRouter>({ links: [httpLink({ url: 'http://localhost/trpc' })] });
export const x = c.shop.items.add.mutate({ item: { name: 'n', kind: 'food' } });
`);
  assert.notEqual(badInput.status, 0);
  assert.match(badInput.out, /shop-bad-input\.ts\(5,[0-9]+\): error TS2322: Type '"food"'/);

  const badOutput = tsc('shop-bad-output.ts', `
import { createTRPCClient, httpLink } from '@trpc/client';
import type { AppRouter } from './shop-router';
const c = createTRPCClient<AppRouter>({ links: [httpLink({ url: 'http://localhost/trpc' })] });
export async function main() {
  const item = await c.shop.items.get.query(1);
  const n: number = item.name;
  return n;
}
`);
  assert.notEqual(badOutput.status, 0);
  assert.match(badOutput.out, /shop-bad-output\.ts\(7,[0-9]+\): error TS2322: Type 'string' is not assignable to type 'number'/);

  // a Date where the JSON location only takes strings
  const badDate = tsc('shop-bad-date.ts', `
import { createTRPCClient, httpLink } from '@trpc/client';
import type { AppRouter } from './shop-router';
const c = createTRPCClient<AppRouter>({ links: [httpLink({ url: 'http://localhost/trpc' })] });
export const n = c.shop.items.since.query({ since: new Date() });
`);
  assert.notEqual(badDate.status, 0);
  assert.match(badDate.out, /shop-bad-date\.ts\(5,[0-9]+\): error TS2322/);
});

test('make client-types without DATABASE_URL: a throwaway Postgres, migrated, gives the committed file', () => {
  const out = join(dir, 'throwaway.ts');
  const env = { ...process.env };
  delete env.DATABASE_URL;
  const r = spawnSync('tools/client-types.sh', [`--out=${out}`, 'conf/procedures.conf'],
                      { cwd: ROOT, encoding: 'utf8', env, timeout: 120000 });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(readFileSync(out, 'utf8'), readFileSync(join(ROOT, 'conf/app-router.ts'), 'utf8'));
});

test('a statement that does not prepare names its file and line', () => {
  writeFileSync(join(dir, 'broken.conf'), `
backend_procedure a.b {
    tier  public;
    sql   "select nope from nowhere";
}
`);
  const r = generate(`--out=${join(dir, 'broken.ts')}`, join(dir, 'broken.conf'));
  assert.equal(r.status, 1);
  assert.match(r.stderr, /broken\.conf:2: the statement does not prepare on .*: ERROR: {2}relation "nowhere" does not exist/);
});
