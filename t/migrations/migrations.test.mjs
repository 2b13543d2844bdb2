// The checks of tools/migrations.sh and db-push's refusals, on the fixture
// migrations of this directory (each a directory of NNNN_name.up.sql and
// .down.sql files; migrations/README.md has the rules).  Each rule has a
// fixture that breaks it, and "annotated" breaks none thanks to its
// annotations.
//
// Postgres: MIGRATIONS_PG_URL (tools/test.sh passes its throwaway
// cluster's); without it, a cluster of our own from tools/pg.sh.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, chmodSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const FIXTURES = join(ROOT, 't', 'migrations');
const TOOL = join(ROOT, 'tools', 'migrations.sh');
const DB_PUSH = join(ROOT, 'tools', 'db-push.sh');

let pgUrl = process.env.MIGRATIONS_PG_URL;
let ownDir;

function run(cmd, args, env = {}) {
  const r = spawnSync(cmd, args, {
    encoding: 'utf8', cwd: ROOT, timeout: 120000,
    env: { ...process.env, MIGRATIONS_PG_URL: pgUrl, ...env },
  });
  assert.equal(r.error, undefined, `${cmd}: ${r.error}`);
  return r;
}

before(() => {
  if (pgUrl) return;
  ownDir = mkdtempSync('/tmp/backend-migrations-test.');
  chmodSync(ownDir, 0o755);
  const port = run(join(ROOT, 'tools', 'free-port.sh'), []).stdout.trim();
  const r = run(join(ROOT, 'tools', 'pg.sh'), ['start', join(ownDir, 'pg'), port],
                { PG_EPHEMERAL: '1' });
  assert.equal(r.status, 0, r.stderr);
  pgUrl = `postgres://postgres@127.0.0.1:${port}/postgres`;
});

after(() => {
  if (!ownDir) return;
  run(join(ROOT, 'tools', 'pg.sh'), ['stop', join(ownDir, 'pg')]);
  rmSync(ownDir, { recursive: true, force: true });
});

const lint = (fixture) => run(TOOL, ['lint', join(FIXTURES, fixture)]);
const roundtrip = (fixture) => run(TOOL, ['roundtrip', join(FIXTURES, fixture)]);

// the finding lines of a run (the summary line ends with its count)
function findings(r) {
  return r.stderr.split('\n').filter((l) => /^t\/migrations\/[^ ]+: /.test(l));
}

function assertFindings(r, expected) {
  assert.equal(r.status, 1, `lint must fail:\n${r.stdout}${r.stderr}`);
  const got = findings(r);
  for (const re of expected) {
    assert.ok(got.some((l) => re.test(l)), `no finding ${re} in:\n${r.stderr}`);
  }
  assert.equal(got.length, expected.length, `other findings:\n${r.stderr}`);
  assert.match(r.stderr, new RegExp(`: ${expected.length} finding\\(s\\)`));
}

test('lint: a 1:1 extension table without a reason', () => {
  assertFindings(lint('one-to-one'), [
    /^t\/migrations\/one-to-one\/0002_profiles\.up\.sql: one-to-one: user_profiles has its primary key as a foreign key to the primary key of users/,
  ]);
});

test('lint: a foreign key whose column leads no index (second in one, alone in a partial one)', () => {
  assertFindings(lint('fk-unindexed'), [
    /^t\/migrations\/fk-unindexed\/0002_orders\.up\.sql: fk-index: foreign key orders_user_id_fkey of orders \(user_id\) to users has no index: CREATE INDEX ON orders \(user_id\)/,
  ]);
});

test('lint: a column dropped without @drop', () => {
  assertFindings(lint('drop-column'), [
    /^t\/migrations\/drop-column\/0002_no_nickname\.up\.sql: drop: column users\.nickname is dropped without "-- @drop users\.nickname: REASON"/,
  ]);
});

test('lint: a table dropped without @drop (lower case, IF EXISTS)', () => {
  assertFindings(lint('drop-table'), [
    /^t\/migrations\/drop-table\/0002_no_legacy\.up\.sql: drop: table legacy_logins is dropped without "-- @drop legacy_logins: REASON"/,
  ]);
});

test('lint: annotations without reasons, misspelt or misplaced; downs missing or contradicting', () => {
  assertFindings(lint('annotations-bad'), [
    /0001_users\.up\.sql:1: irreversible: no reason/,
    /0001_users\.down\.sql: irreversible: 0001_users\.up\.sql says it is irreversible, yet has a down/,
    /0002_flags\.up\.sql:2: annotation: unknown "@one_to_one"/,
    /0002_flags\.up\.sql: files: no 0002_flags\.down\.sql/,
    /0003_late\.up\.sql:2: irreversible: "-- @irreversible" must be in the comments the file starts with/,
    /0004_reasonless\.up\.sql:1: drop: no reason for users\.flags/,
  ]);
});

test('lint: the same rules met with their annotations, and an index added by a later migration', () => {
  const r = lint('annotated');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /migrations lint: t\/migrations\/annotated: 4 migration\(s\) ok/);
  assert.equal(r.stderr, '', 'no warnings: every annotation matches what its migration does');
});

test('roundtrip: a down that leaves an index behind', () => {
  const r = roundtrip('down-incomplete');
  assert.equal(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stderr, /roundtrip: 0002_email_idx\.down\.sql does not restore the schema before 0002_email_idx\.up\.sql/);
  assert.match(r.stderr, /^ {4}\+CREATE INDEX users_email_idx ON public\.users USING btree \(email\);$/m);
});

test('roundtrip: a down that restores the schema but not what the up needs to run again', () => {
  const r = roundtrip('reup-fails');
  assert.equal(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stderr, /roundtrip: 0002_seed\.up\.sql does not apply again after its down/);
  assert.match(r.stderr, /duplicate key value violates unique constraint "users_pkey"/);
});

test('roundtrip: across an irreversible migration, the older ones from a fresh database', () => {
  const r = roundtrip('annotated');
  assert.equal(r.status, 0, r.stdout + r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.deepEqual(lines.slice(0, -1), [
    'ok    0004_orders_user_idx: down restores the schema before it, up again the one after it',
    'ok    0003_cleanup: irreversible (drops legacy_logins and users.nickname; a down could recreate them, not their data), down refused',
    'ok    0002_profiles: down restores the schema before it, up again the one after it',
    'ok    0001_users: down restores the schema before it, up again the one after it',
    'ok    up again to 0004_orders_user_idx: the full schema',
  ]);
  assert.match(lines.at(-1), /^migrations roundtrip: t\/migrations\/annotated: 4 migration\(s\) ok/);
});

test('db-push: --up N applies N; --down refuses to cross an irreversible migration and reverts nothing', (t) => {
  const db = `mig_dbpush_${process.pid}`;
  const url = `${pgUrl.replace(/\/[^/]*$/, '')}/${db}`;
  const psql = (sql, dburl = pgUrl) => {
    const r = run('psql', ['-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-d', dburl, '-c', sql]);
    assert.equal(r.status, 0, r.stderr);
    return r.stdout.trim();
  };
  const push = (...args) => run(DB_PUSH, args, {
    DATABASE_URL: url, MIGRATIONS_DIR: join(FIXTURES, 'annotated'),
  });
  const applied = () => psql('select string_agg(version, \' \' order by version) from schema_migrations', url);

  psql(`drop database if exists ${db} with (force)`);
  psql(`create database ${db}`);
  t.after(() => psql(`drop database if exists ${db} with (force)`));

  let r = push('--up', '2');
  assert.equal(r.status, 0, r.stderr);
  assert.equal(applied(), '0001 0002');
  r = push();
  assert.equal(r.status, 0, r.stderr);
  assert.equal(applied(), '0001 0002 0003 0004');

  r = push('--down', '2');
  assert.notEqual(r.status, 0, r.stdout);
  assert.match(r.stderr, /refusing --down 2: 0003_cleanup is irreversible: drops legacy_logins and users\.nickname; a down could recreate them, not their data/);
  assert.match(r.stderr, /nothing was reverted/);
  assert.equal(applied(), '0001 0002 0003 0004', '0004 must not be reverted either');
  assert.equal(psql(`select count(*) from pg_indexes where indexname = 'orders_user_id_idx'`, url), '1');

  r = push('--down', '1');
  assert.equal(r.status, 0, r.stderr);
  assert.equal(applied(), '0001 0002 0003');
  r = push('--down', '1');
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /0003_cleanup is irreversible/);
  assert.equal(applied(), '0001 0002 0003');
});
