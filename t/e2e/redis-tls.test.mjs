// Managed Redis: TLS only and an ACL user.  Redis here listens on a TLS
// port alone (port 0), with a certificate of a CA made for the test, the
// default user off and a user "app"; each node reaches it through its own
// nginx stream server (proxy_ssl, the certificate verified against that CA
// and the name redis.test), with backend_session_redis user=app and
// password= a file.  Over that hop the session cache and the invalidations
// work across two nodes; a wrong password is an [error] line naming the
// user, and the procedures keep answering from the zone and Postgres; a
// certificate that does not match the name never carries a command.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Nginx, ROOT, conninfo, freePort } from './lib/nginx.mjs';
import { psql } from './lib/pg.mjs';
import { AZP, ISSUER, keyPair, keysDir, mint, writeJwks } from './lib/clerk.mjs';

const STREAM_MODULE = process.env.TEST_NGINX_STREAM_MODULE
  ?? '/usr/lib/nginx/modules/ngx_stream_module.so';
const tag = `e2etls${process.pid}`;
const SECRET = `app-secret-${process.pid}`;
let dir, keys, key, tlsPort, A, B;
const ids = {};
const extra = [];

function sh(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...opts });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stdout}${r.stderr}`);
  return r.stdout;
}

// a CA and Redis's certificate for redis.test and 127.0.0.1, made now
function makeCerts() {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  sh('openssl', ['req', '-x509', ...ec, '-keyout', join(dir, 'ca.key'), '-out', join(dir, 'ca.crt'),
                 '-days', '2', '-subj', `/CN=${tag} test CA`,
                 '-addext', 'basicConstraints=critical,CA:TRUE',
                 '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  sh('openssl', ['req', ...ec, '-keyout', join(dir, 'redis.key'), '-out', join(dir, 'redis.csr'),
                 '-subj', '/CN=redis.test']);
  writeFileSync(join(dir, 'redis.ext'), 'subjectAltName=DNS:redis.test,IP:127.0.0.1\n'
                                        + 'extendedKeyUsage=serverAuth\n');
  sh('openssl', ['x509', '-req', '-in', join(dir, 'redis.csr'), '-CA', join(dir, 'ca.crt'),
                 '-CAkey', join(dir, 'ca.key'), '-CAcreateserial', '-days', '2',
                 '-extfile', join(dir, 'redis.ext'), '-out', join(dir, 'redis.crt')]);
}

// redis-cli over TLS as app, straight to Redis (not through a hop)
function cli(...args) {
  return sh('redis-cli', ['--tls', '--cacert', join(dir, 'ca.crt'), '-h', '127.0.0.1',
                          '-p', String(tlsPort), '--user', 'app', '--pass', SECRET,
                          '--no-auth-warning', ...args]).trim();
}

async function startRedis() {
  tlsPort = await freePort();
  // its keys and its channel only (Redis 7 gives a new user no channel:
  // acl-pubsub-default), as docs/directives.md advises
  writeFileSync(join(dir, 'redis.conf'), `
port 0
tls-port ${tlsPort}
bind 127.0.0.1
tls-cert-file ${join(dir, 'redis.crt')}
tls-key-file ${join(dir, 'redis.key')}
tls-ca-cert-file ${join(dir, 'ca.crt')}
tls-auth-clients no
daemonize yes
dir ${dir}
pidfile ${join(dir, 'redis.pid')}
logfile ${join(dir, 'redis.log')}
save ""
appendonly no
user default off
user app on >${SECRET} ~ngx_backend:* &ngx_backend:invalidate +@all
`);
  sh('redis-server', [join(dir, 'redis.conf')]);
  await until('Redis to answer over TLS', () => {
    try { return cli('PING') === 'PONG'; } catch { return false; }
  });
}

// passwordFile: the file backend_session_redis reads; name: the name the
// hop checks Redis's certificate against
async function node({ passwordFile = join(dir, 'redis-password'), name = 'redis.test', main = '',
                      timeout = '1s' } = {}) {
  const hop = await freePort();
  const n = new Nginx({
    main: `
load_module ${STREAM_MODULE};
${main}
stream {
    server {
        listen 127.0.0.1:${hop};
        proxy_pass 127.0.0.1:${tlsPort};
        proxy_connect_timeout 2s;
        proxy_ssl on;
        proxy_ssl_verify on;
        proxy_ssl_trusted_certificate ${join(dir, 'ca.crt')};
        proxy_ssl_name ${name};
        proxy_ssl_server_name on;
        proxy_ssl_session_reuse on;
    }
}`,
    http: `
    backend_pg main "${conninfo()}" max=4;
    backend_auth_jwks ${join(keys, 'jwks.json')};
    backend_auth_issuer ${ISSUER};
    backend_auth_authorized_parties ${AZP};
    backend_session_zone tls:1m ttl=60s;
    backend_session_redis 127.0.0.1:${hop} user=app password=${passwordFile}
                          timeout=${timeout} connect_timeout=2s;
    backend_tier mentorado mentorado admin;
    backend_tier admin admin;
    backend_auth_user "select id, email, role from users where clerk_id = $1";
    backend_procedure m { tier mentorado; data '"m"'; }
    backend_procedure setRole {
        type mutation; tier admin;
        sql "update users set role = $2 where id = $1
             returning id, role, clerk_id as \\"clerkId\\"";
        params input.userId input.role; result one;
        invalidate user clerkId;
    }`,
  });
  n.hop = hop;
  return n.start();
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'backend-e2e-redis-tls-'));
  makeCerts();
  // as a secret manager writes it: a final newline
  writeFileSync(join(dir, 'redis-password'), `${SECRET}\n`, { mode: 0o600 });
  await startRedis();
  keys = keysDir();
  key = await keyPair('tls');
  writeJwks(join(keys, 'jwks.json'), key);
  for (const [n, role] of [['x', 'mentorado'], ['y', 'mentorado'], ['admin', 'admin']]) {
    ids[n] = Number(psql(`insert into users (clerk_id, email, role)
                          values ('${tag}_${n}', '${n}@${tag}.test', '${role}')
                          returning id`));
  }
  A = await node();
  B = await node();
  await until('both nodes connected and subscribed over their hops', () =>
    [A, B].every((n) => new RegExp(`redis 127\\.0\\.0\\.1:${n.hop}: connected`).test(n.errorLog())
                        && /subscribed to "ngx_backend:invalidate"/.test(n.errorLog())));
});

after(async () => {
  for (const n of [A, B, ...extra]) await n?.stop();
  spawnSync(join(ROOT, 'tools/redis.sh'), ['stop', dir], { encoding: 'utf8' });
  psql(`delete from users where clerk_id like '${tag}%'`);
  rmSync(dir, { recursive: true, force: true });
  rmSync(keys, { recursive: true, force: true });
});

async function until(what, fn, ms = 20000) {
  const end = Date.now() + ms;
  for (;;) {
    if (await fn()) return;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(50);
  }
}

const token = (who) => mint(key, { sub: `${tag}_${who}`, sid: `sess_${tag}_${who}` });

async function status(n, who) {
  const res = await fetch(`${n.url}/m`, { headers: { authorization: `Bearer ${await token(who)}` } });
  const body = await res.text();
  return [res.status, body];
}

// Redis's count of refused AUTHs (ACL LOG folds alike entries into one)
function authFailures() {
  const l = cli('ACL', 'LOG', '128').split('\n');
  let sum = 0;
  for (let i = 0; i + 1 < l.length; i++) if (l[i] === 'count') sum += Number(l[i + 1]);
  return sum;
}

// (the start-up probe's 403 for / is nginx's own)
const errors = (n) => n.errorLog().split('\n').filter((l) => /\[error\]/.test(l) && !/index\.html/.test(l));

test('over the TLS hop as an ACL user: contexts in Redis, an invalidation on A reaches B', async () => {
  // plain text to Redis's port is not Redis: only TLS is served
  const plain = spawnSync('redis-cli', ['-p', String(tlsPort), '--user', 'app', '--pass', SECRET,
                                        '--no-auth-warning', 'PING'], { encoding: 'utf8', timeout: 10000 });
  assert.notEqual(plain.stdout.trim(), 'PONG');

  // the nodes' connections (commands and subscription of each) are app's
  const clients = cli('CLIENT', 'LIST').split('\n').filter((l) => / user=app /.test(l)
                                                                  && !/ cmd=client/.test(l));
  assert.ok(clients.length >= 4, clients.join('\n'));

  for (let i = 0; i < 3; i++) {
    for (const n of [A, B]) assert.deepEqual(await status(n, 'x'), [200, '{"result":{"data":"m"}}']);
  }
  assert.notEqual(cli('--scan', '--pattern', `ngx_backend:ctx:sess_${tag}_x*`), '', 'a context in Redis');
  const gen = () => Number(cli('GET', `ngx_backend:gen:${tag}_x`) || 0);
  const g = gen();

  const res = await fetch(`${A.url}/setRole`, {
    method: 'POST',
    headers: { authorization: `Bearer ${await token('admin')}`, 'content-type': 'application/json' },
    body: JSON.stringify({ userId: ids.x, role: 'user' }),
  });
  assert.equal(res.status, 200, await res.text());
  assert.equal(gen(), g + 1, 'the INCR went through the hop before the call answered');
  assert.equal((await status(A, 'x'))[0], 403);
  // B holds x's context in its zone for 60 s: only the message published
  // through A's hop and received through B's can make it 403
  await until('B to drop x\'s context', async () => (await status(B, 'x'))[0] === 403, 10000);
  assert.equal((await status(B, 'x'))[0], 403);

  assert.deepEqual([...A.problems(), ...B.problems()], []);
  assert.deepEqual([...errors(A), ...errors(B)], []);
});

test('a wrong password: an [error] line naming the user, procedures answer without Redis', async () => {
  writeFileSync(join(dir, 'wrong-password'), 'not-the-secret\n', { mode: 0o600 });
  const C = await node({ passwordFile: join(dir, 'wrong-password') });
  extra.push(C);
  const refused = new RegExp(`\\[error\\] .*redis 127\\.0\\.0\\.1:${C.hop}: (subscription: )?cannot connect: `
                             + 'AUTH as "app" refused: WRONGPASS invalid username-password pair');
  await until('the refusal in the error log', () => refused.test(C.errorLog()));

  // degraded, as with Redis down: the zone and Postgres answer
  for (let i = 0; i < 3; i++) {
    assert.deepEqual(await status(C, 'y'), [200, '{"result":{"data":"m"}}']);
  }
  assert.equal((await status(C, 'x'))[0], 403);

  // past a few backoff rounds (100 ms doubling): still one line per
  // connection (commands, subscription), not one per attempt
  await until('a few reconnection attempts', () => authFailures() >= 6);
  const lines = C.errorLog().split('\n').filter((l) => refused.test(l));
  assert.ok(lines.length >= 1 && lines.length <= 2, lines.join('\n'));
  assert.doesNotMatch(C.errorLog(), /not-the-secret/);
  assert.deepEqual(C.problems(), []);
});

test('a certificate that does not match the hop\'s name: no connection', async () => {
  const D = await node({ name: 'other.test' });
  extra.push(D);
  await until('the hop to refuse the certificate', () =>
    /upstream SSL certificate does not match "other\.test"/.test(D.errorLog()));
  await until('the backend to see its connection closed', () =>
    new RegExp(`redis 127\\.0\\.0\\.1:${D.hop}: cannot connect`).test(D.errorLog()));
  assert.doesNotMatch(D.errorLog(), new RegExp(`redis 127\\.0\\.0\\.1:${D.hop}: connected`));
  assert.deepEqual((await status(D, 'y'))[0], 200);
});

function alive(pid) {
  try {
    process.kill(pid, 0);
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

test('a graceful stop with Redis up: the worker closes its Redis connections, the hop holds nothing', async () => {
  const E = await node();
  extra.push(E);
  await until('E connected and subscribed', () =>
    new RegExp(`redis 127\\.0\\.0\\.1:${E.hop}: connected`).test(E.errorLog())
    && /subscribed to "ngx_backend:invalidate"/.test(E.errorLog()));
  const pid = E.pid();
  E.run(['-c', join(E.prefix, 'nginx.conf'), '-s', 'quit']);
  // the stream sessions of the hop end once the worker's Redis
  // connections close; otherwise they (and the worker) live on for good
  await until('nginx to exit', () => !alive(pid), 10000);
  assert.match(E.errorLog(), new RegExp(`redis 127\\.0\\.0\\.1:${E.hop}: closed, the worker is shutting down`));
  assert.match(E.errorLog(), new RegExp(`redis 127\\.0\\.0\\.1:${E.hop}: subscription closed, the worker is shutting down`));
  assert.deepEqual(E.problems(), []);
  assert.deepEqual(errors(E), []);
});

test('a graceful stop while a command waits for Redis: its request answers from Postgres at once', async () => {
  // timeout=30s: only the shutdown can end the command before Redis does
  const G = await node({ timeout: '30s' });
  extra.push(G);
  await until('G connected and subscribed', () =>
    new RegExp(`redis 127\\.0\\.0\\.1:${G.hop}: connected`).test(G.errorLog())
    && /subscribed to "ngx_backend:invalidate"/.test(G.errorLog()));
  const pid = G.pid();
  let paused = false;
  try {
    // 5 s: no client of Redis, not even redis-cli's AUTH, runs meanwhile
    assert.equal(cli('CLIENT', 'PAUSE', '5000', 'ALL'), 'OK');
    paused = true;
    // a zone miss: the context's MGET goes to Redis, which holds it
    const pending = status(G, 'y');
    await sleep(1000);   // the request reaches the worker (nothing to poll for)
    G.run(['-c', join(G.prefix, 'nginx.conf'), '-s', 'quit']);
    assert.deepEqual(await pending, [200, '{"result":{"data":"m"}}']);
    assert.match(G.errorLog(), /backend auth: redis read failed: disconnected, using postgres/);
    await until('nginx to exit', () => !alive(pid), 10000);
  } finally {
    // answered once the pause is over (the command was the quit's, not Redis's)
    if (paused) cli('PING');
  }
  assert.deepEqual(G.problems(), []);
  assert.deepEqual(errors(G), []);
});

// the worker's last word on each of its links says up
function linksUp(n, pid) {
  const mine = n.errorLog().split('\n')
    .filter((l) => l.includes(` ${pid}#`) && l.includes(`redis 127.0.0.1:${n.hop}: `));
  const cmd = mine.filter((l) => !/subscri/.test(l)).pop() ?? '';
  const sub = mine.filter((l) => /subscri/.test(l)).pop() ?? '';
  return /: connected( again)?$/.test(cmd) && /: subscribed to "[^"]*"( again)?$/.test(sub);
}

// A new worker's connections to the hop may be accepted by an old worker
// still listening (the master signals the old ones 100 ms after starting
// the new): that stream session holds the old worker until
// worker_shutdown_timeout, then the new worker reconnects
test('reloads with worker_shutdown_timeout: old workers end, the new one is connected', async () => {
  const F = await node({ main: 'worker_shutdown_timeout 3s;' });
  extra.push(F);
  const workers = () => spawnSync('pgrep', ['-P', String(F.pid())], { encoding: 'utf8' })
    .stdout.trim().split('\n').filter(Boolean).map(Number);
  for (let r = 0; r < 3; r++) {
    const old = workers();
    await F.reload();
    await until(`the old worker of reload ${r} to exit`, () => old.every((p) => !alive(p)), 20000);
  }
  const [pid] = workers();
  await until('the current worker connected and subscribed', () => linksUp(F, pid), 20000);
  assert.deepEqual(await status(F, 'y'), [200, '{"result":{"data":"m"}}']);
  assert.deepEqual(F.problems(), []);
  assert.deepEqual(errors(F), []);
});
