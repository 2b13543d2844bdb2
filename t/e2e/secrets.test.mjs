// The Postgres password out of nginx.conf, over TLS checked as a managed
// Postgres needs (docs/deployment.md, "Neon"): libpq's passfile= in the
// connection string, read by libpq itself in the worker at each
// connection, and sslmode=verify-full with sslrootcert=.  A private
// cluster with TLS (a CA and a certificate for "localhost" made now) where
// the role app_pw must come over TLS and give its password
// (scram-sha-256): with the right file and CA the procedures answer as
// app_pw; a wrong password, no file, a file others may read (which libpq
// ignores, with a warning), no sslrootcert= (libpq looks in the workers'
// home) or a host name the certificate does not name are refused, and the
// log says why.
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

function sh(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stdout}${r.stderr}`);
}

// a CA, and the server's certificate for localhost only
function makeCerts() {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  sh('openssl', ['req', '-x509', ...ec, '-keyout', join(dir, 'ca.key'), '-out', join(dir, 'ca.crt'),
                 '-days', '2', '-subj', '/CN=secrets test CA',
                 '-addext', 'basicConstraints=critical,CA:TRUE',
                 '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  sh('openssl', ['req', ...ec, '-keyout', join(dir, 'server.key'), '-out', join(dir, 'server.csr'),
                 '-subj', '/CN=localhost']);
  writeFileSync(join(dir, 'server.ext'), 'subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n');
  sh('openssl', ['x509', '-req', '-in', join(dir, 'server.csr'), '-CA', join(dir, 'ca.crt'),
                 '-CAkey', join(dir, 'ca.key'), '-CAcreateserial', '-days', '2',
                 '-extfile', join(dir, 'server.ext'), '-out', join(dir, 'server.crt')]);
  chmodSync(join(dir, 'ca.crt'), 0o644);
  chmodSync(join(dir, 'server.key'), 0o600);
  if (process.getuid() === 0) {
    const uid = Number(spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout);
    const gid = Number(spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout);
    chownSync(join(dir, 'server.key'), uid, gid);
  }
}

// the host as the connection string names it (host=localhost)
function passfile(name, password, mode = 0o600) {
  const f = join(dir, name);
  writeFileSync(f, `# host:port:database:user:password\nlocalhost:${cluster.port}:postgres:app_pw:${password}\n`);
  chmodSync(f, mode);
  ownedByWorkers(f);
  return f;
}

// host=localhost: resolved when the configuration loads, kept for the
// certificate check
async function node(extra, { host = 'localhost', tls = `sslmode=verify-full sslrootcert=${join(dir, 'ca.crt')}` } = {}) {
  const n = new Nginx({
    http: `
    backend_pg main "host=${host} port=${cluster.port} dbname=postgres user=app_pw ${tls} ${extra}" max=1;
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
  makeCerts();
  psql(`create role app_pw login password '${PASSWORD}'`, cluster.pg);
  // app_pw over TLS with its password, or not at all; the postgres
  // superuser stays trusted (psql above and below)
  const data = join(cluster.dir, 'pg', 'data');
  const hba = join(data, 'pg_hba.conf');
  writeFileSync(hba, 'hostssl all app_pw 127.0.0.1/32 scram-sha-256\n'
                     + 'host all app_pw 127.0.0.1/32 reject\n'
                     + readFileSync(hba, 'utf8'));
  appendFileSync(join(data, 'postgresql.conf'), `
ssl = on
ssl_cert_file = '${join(dir, 'server.crt')}'
ssl_key_file = '${join(dir, 'server.key')}'
`);
  psql('select pg_reload_conf()', cluster.pg);
  await until('TLS on', () => psql('show ssl', cluster.pg) === 'on');
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

test('passfile= and verify-full with sslrootcert=: the procedures answer as the role, over TLS', async () => {
  const n = await node(`passfile=${passfile('pgpass', PASSWORD)} application_name=e2e_secrets`);
  for (let i = 0; i < 3; i++) {
    assert.deepEqual(await who(n), [200, '{"result":{"data":"app_pw"}}']);
  }
  assert.equal(psql(`select bool_and(s.ssl) from pg_stat_ssl s join pg_stat_activity a using (pid)
                      where a.application_name = 'e2e_secrets'`, cluster.pg), 't');
  assert.doesNotMatch(n.errorLog(), new RegExp(PASSWORD));
  assert.deepEqual(n.problems(), []);
});

test('verify-full: no sslrootcert= (the workers\' home has none), a host the certificate does not name', async () => {
  const file = passfile('pgpass-tls', PASSWORD);
  const cases = [
    [node(`passfile=${file}`, { tls: 'sslmode=verify-full' }),
     /root certificate file ".*\.postgresql\/root\.crt" does not exist/],
    // the same server by its address: the certificate names localhost only
    [node(`passfile=${file}`, { host: '127.0.0.1' }),
     /server certificate for "localhost"( \(and \d+ other names?\))? does not match host name "127\.0\.0\.1"/],
  ];
  for (const [start, why] of cases) {
    const n = await start;
    const [status] = await who(n);
    assert.notEqual(status, 200, String(why));
    await until(`${why} in the log`, () => why.test(n.errorLog()));
  }
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
