// The Postgres password out of nginx.conf: libpq's passfile= in the
// connection string, read by libpq itself in the worker at each
// connection.  A private cluster where the role app_pw must give its
// password (scram-sha-256): with the right file the procedures answer as
// app_pw; a wrong password, no file, or a file others may read (which
// libpq ignores, with a warning) are refused by Postgres, and the log says
// why.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFileSync, chmodSync, chownSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Nginx } from './lib/nginx.mjs';
import { Cluster, psql } from './lib/pg.mjs';

const PASSWORD = `pw-${process.pid}-secret`;
let cluster, dir;
const nodes = [];

async function until(what, fn, ms = 20000) {
  const end = Date.now() + ms;
  for (;;) {
    if (await fn()) return;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(50);
  }
}

// the workers' user reads the file: nobody under a root master
function ownedByWorkers(file) {
  if (process.getuid() !== 0) return;
  const uid = Number(spawnSync('id', ['-u', 'nobody'], { encoding: 'utf8' }).stdout);
  const gid = Number(spawnSync('id', ['-g', 'nobody'], { encoding: 'utf8' }).stdout);
  chownSync(file, uid, gid);
}

function passfile(name, password, mode = 0o600) {
  const f = join(dir, name);
  writeFileSync(f, `# host:port:database:user:password\n127.0.0.1:${cluster.port}:postgres:app_pw:${password}\n`);
  chmodSync(f, mode);
  ownedByWorkers(f);
  return f;
}

async function node(extra) {
  const n = new Nginx({
    http: `
    backend_pg main "host=127.0.0.1 port=${cluster.port} dbname=postgres user=app_pw ${extra}" max=1;
    backend_procedure who { tier public; sql "select current_user::text"; result value; }`,
  });
  nodes.push(n);
  return n.start();
}

async function who(n) {
  const res = await fetch(`${n.url}/who`);
  return [res.status, await res.text()];
}

before(async () => {
  cluster = await new Cluster().start();
  dir = mkdtempSync(join(tmpdir(), 'backend-e2e-secrets-'));
  chmodSync(dir, 0o755);
  psql(`create role app_pw login password '${PASSWORD}'`, cluster.pg);
  // the postgres superuser stays trusted (psql above and below)
  const hba = join(cluster.dir, 'pg', 'data', 'pg_hba.conf');
  writeFileSync(hba, `host all app_pw 127.0.0.1/32 scram-sha-256\n${readFileSync(hba, 'utf8')}`);
  appendFileSync(hba, '');
  psql('select pg_reload_conf()', cluster.pg);
  // the rule holds: no password, no connection
  await until('the new pg_hba.conf', () => spawnSync('psql', [
    '-X', '-h', '127.0.0.1', '-p', String(cluster.port), '-U', 'app_pw', '-d', 'postgres', '-w', '-c', 'select 1',
  ], { encoding: 'utf8', env: { ...process.env, PGPASSFILE: '/nonexistent', PGPASSWORD: '' } }).status !== 0);
});

after(async () => {
  for (const n of nodes) await n.stop();
  await cluster?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('passfile= in the connection string: the procedures answer as its role', async () => {
  const n = await node(`passfile=${passfile('pgpass', PASSWORD)}`);
  for (let i = 0; i < 3; i++) {
    assert.deepEqual(await who(n), [200, '{"result":{"data":"app_pw"}}']);
  }
  assert.doesNotMatch(n.errorLog(), new RegExp(PASSWORD));
  assert.deepEqual(n.problems(), []);
});

test('a wrong password in the file, no file, a file others may read: refused, and the log says why', async () => {
  const cases = [
    [`passfile=${passfile('wrong', 'not-the-password')}`, /password authentication failed for user "app_pw"/],
    [`passfile=${join(dir, 'missing')}`, /fe_sendauth: no password supplied/],
    [`passfile=${passfile('open', PASSWORD, 0o644)}`,
     /password file ".*open" has group or world access; permissions should be u=rw \(0600\) or less/],
  ];
  for (const [extra, why] of cases) {
    const n = await node(extra);
    const [status] = await who(n);
    assert.notEqual(status, 200, extra);
    await until(`${why} in the log`, () => why.test(n.errorLog()));
    assert.doesNotMatch(n.errorLog(), new RegExp(PASSWORD));
  }
});
