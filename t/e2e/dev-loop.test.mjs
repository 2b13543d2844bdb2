// make reload (tools/reload.sh) on an instance laid out as make run lays
// it out (a run directory with run.env, nginx.conf rendered from
// conf/nginx.dev.conf.in by tools/run-conf.sh): the reload reaches the
// running master and its new workers answer; a configuration that does
// not load is reported with its file and line and the old one keeps
// serving.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ROOT, MODULE, freePort } from './lib/nginx.mjs';

const NGINX = process.env.TEST_NGINX_BINARY ?? '/usr/sbin/nginx';
let run, port, env;

function sh(cmd, args, extra = {}) {
  return spawnSync(cmd, args, { encoding: 'utf8', env: { ...process.env, ...extra } });
}

function writeEnv(module) {
  writeFileSync(join(run, 'run.env'), [
    `MODULE='${module}'`, `PORT='${port}'`, `METRICS_PORT='${env.METRICS_PORT}'`,
    `PG_PORT='${env.PG_PORT}'`, `REDIS_PORT='${env.REDIS_PORT}'`, ''].join('\n'));
}

const workers = () => sh('pgrep', ['-P', readFileSync(join(run, 'nginx/logs/nginx.pid'), 'utf8').trim()])
  .stdout.trim().split('\n').sort().join(' ');

before(async () => {
  run = mkdtempSync(join(tmpdir(), 'backend-e2e-devloop-'));
  chmodSync(run, 0o755);
  mkdirSync(join(run, 'nginx/logs'), { recursive: true });
  port = await freePort();
  env = {
    RUN: run, MODULE, PORT: String(port), METRICS_PORT: String(await freePort()),
    PG_PORT: process.env.TEST_NGINX_PG_PORT ?? '5432',
    REDIS_PORT: process.env.TEST_NGINX_REDIS_PORT ?? '6379',
  };
  assert.equal(sh('node', [join(ROOT, 'tools/dev-keys.mjs'), join(run, 'keys')]).status, 0);
  const conf = sh(join(ROOT, 'tools/run-conf.sh'), [], env);
  assert.equal(conf.status, 0, conf.stderr);
  writeFileSync(join(run, 'nginx.conf'), conf.stdout);
  writeEnv(MODULE);
  const r = sh(NGINX, ['-p', join(run, 'nginx'), '-c', join(run, 'nginx.conf'),
                       '-e', join(run, 'nginx/logs/error.log')]);
  assert.equal(r.status, 0, r.stderr);
  for (let i = 0; i < 100; i++) {
    try { if ((await fetch(`http://127.0.0.1:${port}/healthz`)).ok) return; } catch { /* not yet */ }
    await sleep(100);
  }
  throw new Error('the make run instance did not answer');
});

after(() => {
  sh(NGINX, ['-p', join(run, 'nginx'), '-c', join(run, 'nginx.conf'), '-s', 'stop']);
  rmSync(run, { recursive: true, force: true });
});

test('make reload: the running master takes the configuration again, new workers answer', async () => {
  const before = workers();
  const r = sh(join(ROOT, 'tools/reload.sh'), [], { RUN_DIR: run, NGINX });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /schema\(s\) exported/);
  assert.match(r.stdout, /serves the new configuration/);
  assert.notEqual(workers(), before, 'new workers');
  const res = await fetch(`http://127.0.0.1:${port}/trpc/health`);
  assert.equal(res.status, 200);
  // the old workers finish and exit (10 s at most)
  const old = before.split(' ');
  for (let i = 0; i < 100 && workers().split(' ').some((p) => old.includes(p)); i++) {
    await sleep(100);
  }
  assert.ok(!workers().split(' ').some((p) => old.includes(p)), 'the old workers exited');
});

test('make reload: a configuration that does not load is reported, the old one keeps serving', async () => {
  writeEnv('/nonexistent/ngx_http_backend_module.so');
  const before = workers();
  const r = sh(join(ROOT, 'tools/reload.sh'), [], { RUN_DIR: run, NGINX });
  writeEnv(MODULE);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /nonexistent\/ngx_http_backend_module\.so.*in .*nginx\.conf\.new:\d+/);
  assert.match(r.stderr, /nginx keeps serving the old one/);
  assert.equal(workers(), before, 'no reload happened');
  assert.equal((await fetch(`http://127.0.0.1:${port}/trpc/health`)).status, 200);
});

test('make reload without a running make run says so', () => {
  const empty = mkdtempSync(join(tmpdir(), 'backend-e2e-devloop-none-'));
  try {
    const r = sh(join(ROOT, 'tools/reload.sh'), [], { RUN_DIR: empty });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /start the backend with make run first/);
  } finally {
    rmSync(empty, { recursive: true, force: true });
  }
});

// conf/jobs.conf's welcome queue calls adapter "mailer"; make run points
// its location at a fake that answers a message id per idempotency key
test('make run: the mail adapter\'s location is internal, its fake answers per key', async () => {
  assert.equal((await fetch(`http://127.0.0.1:${port}/_adapters/mailer`, { method: 'POST' })).status, 404);
  const send = (auth) => fetch(`http://127.0.0.1:${port}/_fake/mailer/v1/emails`, {
    method: 'POST',
    headers: { authorization: auth, 'idempotency-key': 'welcome:7', 'content-type': 'application/json' },
    body: JSON.stringify({ userId: 7, to: 'u@example.test', template: 'welcome' }),
  });
  const ok = await send('Bearer mail_test_dev');
  assert.equal(ok.status, 200);
  assert.deepEqual(await ok.json(), { id: 'msg_welcome:7', status: 'queued' });
  assert.equal((await send('Bearer wrong')).status, 401);
});
