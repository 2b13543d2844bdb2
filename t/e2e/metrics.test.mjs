// backend_metrics against a real Prometheus server (Debian's prometheus):
// it scrapes the test nginx every second, and after a known number of
// calls over two workers its HTTP API answers exactly that number; the
// counts stay exact across a reload and a killed worker; promtool check
// metrics accepts a scrape taken under load.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Nginx, freePort } from './lib/nginx.mjs';

let n, prom, promDir, promPort, served;

const http = `
    backend_metrics_zone metrics 2m;
    backend_procedure health { tier public; data '{"ok":true}'; }
    backend_procedure echo { tier public; type mutation; data '1'; }
`;
const location = `
    location /trpc/ { backend_rpc; add_header X-Worker $pid always; }
    location = /metrics { backend_metrics; }
`;

async function scrape() {
  const r = await fetch(`http://127.0.0.1:${n.port}/metrics`);
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
  return r.text();
}

function sample(text, series) {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${series} `)) {
      return Number(line.slice(series.length + 1));
    }
  }
  return undefined;
}

// calls over many connections at once, so both workers take some
async function calls(count, path = 'health', method = 'GET') {
  const todo = Array.from({ length: count }, (_, i) => i);
  const workers = new Set();
  await Promise.all(Array.from({ length: 16 }, async () => {
    while (todo.length) {
      todo.pop();
      const r = await fetch(`${n.url}/${path}`, { method });
      await r.arrayBuffer();
      assert.equal(r.status, 200);
      workers.add(r.headers.get('x-worker'));
    }
  }));
  return workers;
}

async function query(q) {
  const r = await fetch(`http://127.0.0.1:${promPort}/api/v1/query?query=${encodeURIComponent(q)}`);
  const j = await r.json();
  assert.equal(j.status, 'success', JSON.stringify(j));
  return j.data.result.length ? Number(j.data.result[0].value[1]) : undefined;
}

// Prometheus scrapes each second: poll its API for up to 30 s
async function promWaitFor(q, want) {
  let got;
  for (let i = 0; i < 150; i++) {
    got = await query(q);
    if (got === want) {
      return got;
    }
    await sleep(200);
  }
  return got;
}

before(async () => {
  n = new Nginx({ http, location, workers: 2 });
  await n.start();

  promDir = mkdtempSync(join(tmpdir(), 'backend-prom-'));
  promPort = await freePort();
  writeFileSync(join(promDir, 'prometheus.yml'), `
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: backend
    static_configs:
      - targets: ['127.0.0.1:${n.port}']
`);
  prom = spawn('prometheus', [
    `--config.file=${join(promDir, 'prometheus.yml')}`,
    `--storage.tsdb.path=${join(promDir, 'data')}`,
    `--web.listen-address=127.0.0.1:${promPort}`,
    '--log.level=warn',
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  prom.stderr.setEncoding('utf8');
  let promLog = '';
  prom.stderr.on('data', (d) => { promLog += d; });

  for (let i = 0; i < 150; i++) {
    try {
      const r = await fetch(`http://127.0.0.1:${promPort}/-/ready`);
      if (r.status === 200) {
        break;
      }
    } catch { /* not yet */ }
    await sleep(200);
  }
  assert.equal(await promWaitFor('up{job="backend"}', 1), 1, `Prometheus does not scrape:\n${promLog}`);
});

after(async () => {
  if (prom) {
    prom.kill('SIGTERM');
    await new Promise((ok) => prom.once('exit', ok));
  }
  if (promDir) {
    rmSync(promDir, { recursive: true, force: true });
  }
  if (n) {
    const problems = n.problems();
    await n.stop();
    n.remove();
    assert.deepEqual(problems, []);
  }
});

test('Prometheus reads exactly the calls made over two workers', async () => {
  served = await calls(137);
  assert.equal(served.size, 2, 'both workers served calls');

  assert.equal(await promWaitFor('sum(backend_calls_total{procedure="health",code="OK"})', 137), 137);
  assert.equal(await promWaitFor('backend_call_duration_seconds_count{procedure="health"}', 137), 137);
  assert.equal(await query('backend_call_duration_seconds_bucket{procedure="health",le="+Inf"}'), 137);
  assert.equal(await query('backend_workers'), 2);
  // declared, not called: exposed at 0 from the start
  assert.equal(await query('backend_calls_total{procedure="echo",type="mutation",code="OK"}'), 0);
});

test('no label value comes from the client', async () => {
  for (const p of ['user_12345', 'x%22%7D%20evil', 'a.b.c.d.e.f']) {
    const r = await fetch(`${n.url}/${p}`);
    assert.equal(r.status, 404);
  }
  const text = await scrape();
  assert.doesNotMatch(text, /user_12345|evil|a\.b\.c\.d/);
  assert.equal(sample(text, 'backend_calls_total{procedure="unknown",type="query",code="NOT_FOUND"}'), 3);
});

test('promtool check metrics accepts a scrape taken under load', async () => {
  const load = calls(400);
  const text = await scrape();
  await load;
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
});

test('counts survive a reload, exactly', async () => {
  const before = sample(await scrape(), 'backend_calls_total{procedure="health",type="query",code="OK"}');
  await n.reload();

  // the new workers answer once the reload is done: the old ones exit
  for (let i = 0; i < 150; i++) {
    const t = await scrape();
    if (sample(t, 'backend_config_reloads_total') === 1 && sample(t, 'backend_workers') === 2) {
      break;
    }
    await sleep(200);
  }

  await calls(50);
  const text = await scrape();
  assert.equal(sample(text, 'backend_config_reloads_total'), 1);
  assert.equal(sample(text, 'backend_calls_total{procedure="health",type="query",code="OK"}'), before + 50);
  assert.equal(sample(text, 'backend_worker_starts_total'), 4);
  assert.equal(await promWaitFor('sum(backend_calls_total{procedure="health",code="OK"})', before + 50),
               before + 50);
});

test('a killed worker: its counts stay, the crash is counted', async () => {
  const before = sample(await scrape(), 'backend_calls_total{procedure="health",type="query",code="OK"}');
  const victim = [...await calls(20)][0];
  process.kill(Number(victim), 'SIGKILL');

  // the master starts another worker in its place; a kept-alive
  // connection to the killed one fails once
  let text = '';
  for (let i = 0; i < 150; i++) {
    try {
      text = await scrape();
    } catch {
      await sleep(200);
      continue;
    }
    if (sample(text, 'backend_worker_crashes_total') === 1 && sample(text, 'backend_workers') === 2) {
      break;
    }
    await sleep(200);
  }
  assert.equal(sample(text, 'backend_worker_crashes_total'), 1);
  assert.equal(sample(text, 'backend_workers'), 2);
  assert.equal(sample(text, 'backend_calls_total{procedure="health",type="query",code="OK"}'), before + 20);

  // the crash is expected here: not a problem for after()
  const log = n.errorLog();
  assert.match(log, /exited on signal 9/);
  writeFileSync(join(n.prefix, 'logs/error.log'), log.replace(/.*exited on signal 9.*\n/g, ''));
});
