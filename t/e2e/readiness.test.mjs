// Readiness follows the node's dependencies and liveness follows nothing:
// /readyz goes 503 when Postgres is stopped and back to 200 when it
// returns (the engine reconnects by itself), waits for the migration
// version tools/db-push.sh records, and reports Redis down as "degraded"
// (still 200) unless Redis is required (then 503), and gets the keys of a
// JWKS URL loaded before any token came; /healthz stays 200 throughout.  Every wait polls, up to a stated bound.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createServer, connect } from 'node:net';
import { chmodSync, cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Nginx, PG, ROOT, conninfo, freePort } from './lib/nginx.mjs';
import { Cluster, psql } from './lib/pg.mjs';
import { Redis } from './lib/redis.mjs';
import { keyPair, keysDir, writeJwks } from './lib/clerk.mjs';

const LOCATIONS = `
        location = /readyz { backend_readiness; }
        location = /healthz { backend_liveness; }`;

async function get(n, path) {
  let r;
  try {
    r = await fetch(`http://127.0.0.1:${n.port}${path}`);
  } catch {
    // once: a kept-alive connection to a worker the test killed
    r = await fetch(`http://127.0.0.1:${n.port}${path}`);
  }
  const text = await r.text();
  return { status: r.status, body: JSON.parse(text), type: r.headers.get('content-type') };
}

// polls fn until it returns something truthy; every round also asks
// /healthz of each node, which must be 200 whatever else happens
async function until(what, nodes, fn, ms = 30000) {
  const end = Date.now() + ms;
  let last;
  for (;;) {
    for (const n of nodes) {
      const live = await get(n, '/healthz');
      assert.deepEqual([live.status, live.body], [200, { status: 'ok' }], 'liveness');
    }
    last = await fn();
    if (last) return last;
    if (Date.now() > end) throw new Error(`timed out (${ms} ms) waiting for ${what}`);
    await new Promise((ok) => setTimeout(ok, 50));
  }
}

function dbPush(cluster, dir) {
  const r = spawnSync(join(ROOT, 'tools/db-push.sh'), [], {
    encoding: 'utf8',
    env: {
      ...process.env,
      DATABASE_URL: `postgres://postgres@127.0.0.1:${cluster.port}/app`,
      MIGRATIONS_DIR: dir,
    },
  });
  assert.equal(r.status, 0, r.stderr);
}

test('Postgres stopped: readiness 503, back to 200 when it returns; a migration version waited for; liveness 200 throughout', async (t) => {
  const cluster = await new Cluster().start();
  t.after(() => cluster.stop());
  psql('create database app', cluster.pg);

  const migrations = mkdtempSync(join(tmpdir(), 'backend-e2e-migrations-'));
  t.after(() => rmSync(migrations, { recursive: true, force: true }));
  // versions 1-3 only: the test lands its own 0004 below
  cpSync(join(ROOT, 'migrations'), migrations, {
    recursive: true,
    filter: (src) => !/\/\d{4}_[^/]*$/.test(src) || /\/000[1-3]_[^/]*$/.test(src),
  });
  dbPush(cluster, migrations);

  // two workers: the answer is the node's, whichever worker gives it
  const n = await new Nginx({
    workers: 2,
    http: `
    backend_metrics_zone readiness_e2e 1m;
    backend_pg main "${conninfo({ ...cluster.pg, database: 'app' })}" max=2 connect_timeout=2s;
    backend_readiness_migration 4;
    backend_readiness_interval 200ms;`,
    location: `${LOCATIONS}
        location = /metrics { backend_metrics; }`,
  }).start();
  t.after(() => n.stop());

  // the gauges follow the node's state without anyone asking /readyz: every
  // worker refreshes its own each interval (a stale "1" of a worker nobody
  // asks would hide a failure in the max over workers)
  const gauges = async () => {
    const text = await (await fetch(`http://127.0.0.1:${n.port}/metrics`)).text();
    const value = (re) => Number(re.exec(text)?.[1]);
    return {
      ready: value(/^backend_ready (\d+)$/m),
      postgres: value(/^backend_readiness_check\{check="postgres"\} (\d+)$/m),
      migrations: value(/^backend_readiness_check\{check="migrations"\} (\d+)$/m),
    };
  };
  await until('the gauges of the first check, /readyz not asked', [n], async () => {
    const g = await gauges();
    return g.postgres === 1 && (assert.deepEqual(g, { ready: 0, postgres: 1, migrations: 0 }), true);
  });

  // migrations 1-3 applied, 4 required: not ready, though Postgres is up
  const before = await until('the first check', [n], async () => {
    const r = await get(n, '/readyz');
    return r.body.checks.postgres === 'ok' && r;
  });
  assert.equal(before.status, 503);
  assert.equal(before.type, 'application/json');
  assert.deepEqual(before.body, {
    status: 'not_ready',
    checks: { postgres: 'ok', migrations: 'failing', jwks: 'skipped', redis: 'skipped' },
  });

  // the rolling migration lands: db-push records version 0004
  writeFileSync(join(migrations, '0004_readiness_e2e.up.sql'), 'CREATE TABLE readiness_e2e (id int);\n');
  writeFileSync(join(migrations, '0004_readiness_e2e.down.sql'), 'DROP TABLE readiness_e2e;\n');
  dbPush(cluster, migrations);

  const ready = { status: 'ready', checks: { postgres: 'ok', migrations: 'ok', jwks: 'skipped', redis: 'skipped' } };
  await until('ready after migration 4', [n], async () => {
    const r = await get(n, '/readyz');
    return r.status === 200 && (assert.deepEqual(r.body, ready), true);
  });

  cluster.ctl('stop');
  const down = await until('503 with Postgres stopped', [n], async () => {
    const r = await get(n, '/readyz');
    return r.status === 503 && r;
  });
  assert.deepEqual(down.body, {
    status: 'not_ready',
    checks: { postgres: 'failing', migrations: 'failing', jwks: 'skipped', redis: 'skipped' },
  });

  await until('backend_ready 0 from every worker', [n], async () => {
    const g = await gauges();
    return g.postgres === 0 && (assert.deepEqual(g, { ready: 0, postgres: 0, migrations: 0 }), true);
  });

  cluster.ctl('start');
  await until('200 once Postgres is back', [n], async () => {
    const r = await get(n, '/readyz');
    return r.status === 200 && (assert.deepEqual(r.body, ready), true);
  });
  await until('backend_ready 1', [n], async () => {
    const g = await gauges();
    return g.ready === 1 && (assert.deepEqual(g, { ready: 1, postgres: 1, migrations: 1 }), true);
  });

  assert.match(n.errorLog(), /backend readiness: postgres "main" does not answer/);
  assert.match(n.errorLog(), /backend readiness: postgres "main" answers/);
  assert.deepEqual(n.problems(), []);
});

test('Redis stopped: 200 with redis "degraded" where optional, 503 where required; both back to ok', async (t) => {
  const redis = await new Redis().start();
  t.after(() => redis.stop());

  const http = (mode) => `
    backend_pg main "${conninfo()}" max=2;
    backend_session_zone readiness:1m;
    backend_session_redis 127.0.0.1:${redis.port} timeout=200ms connect_timeout=300ms;
    backend_readiness_redis ${mode};`;

  const optional = await new Nginx({ http: http('optional'), location: LOCATIONS }).start();
  t.after(() => optional.stop());
  const required = await new Nginx({ http: http('required'), location: LOCATIONS }).start();
  t.after(() => required.stop());
  const nodes = [optional, required];

  const states = async () => Promise.all(nodes.map((n) => get(n, '/readyz')));
  const ok = { status: 'ready', checks: { postgres: 'ok', migrations: 'skipped', jwks: 'skipped', redis: 'ok' } };

  await until('both nodes ready with Redis up', nodes, async () => {
    const [o, r] = await states();
    return o.status === 200 && r.status === 200
      && (assert.deepEqual([o.body, r.body], [ok, ok]), true);
  });

  redis.ctl('stop');
  await until('redis degraded (optional) and failing (required)', nodes, async () => {
    const [o, r] = await states();
    if (o.body.checks.redis === 'ok' || r.body.checks.redis === 'ok') return false;
    assert.deepEqual([o.status, o.body], [200, {
      status: 'ready', checks: { ...ok.checks, redis: 'degraded' },
    }]);
    assert.deepEqual([r.status, r.body], [503, {
      status: 'not_ready', checks: { ...ok.checks, redis: 'failing' },
    }]);
    return true;
  });

  redis.ctl('start');
  await until('both nodes ready again with Redis back', nodes, async () => {
    const [o, r] = await states();
    return o.status === 200 && r.status === 200
      && (assert.deepEqual([o.body, r.body], [ok, ok]), true);
  });

  for (const n of nodes) assert.deepEqual(n.problems(), []);
});

test('JWKS from a URL: readiness starts the first fetch itself (no token needed) and is ready once the keys are loaded', async (t) => {
  const dir = keysDir();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  chmodSync(dir, 0o755);  // the workers (user nobody) serve the file
  writeJwks(join(dir, 'jwks.json'), await keyPair('ready1'));
  const issuerPort = await freePort();

  const n = await new Nginx({
    workers: 2,
    http: `
    backend_pg main "${conninfo()}" max=2;
    backend_auth_jwks_url /_jwks min_refresh=1s;
    backend_session_zone readiness_jwks:1m;
    server {
        listen 127.0.0.1:${issuerPort};
        location = /.well-known/jwks.json { alias ${join(dir, 'jwks.json')}; }
    }`,
    location: `${LOCATIONS}
        location = /_jwks {
            internal;
            proxy_pass http://127.0.0.1:${issuerPort}/.well-known/jwks.json;
        }`,
  }).start();
  t.after(() => n.stop());

  // no keys yet: this answer is given before the fetch it starts is done
  const first = await get(n, '/readyz');
  assert.deepEqual([first.status, first.body], [503, {
    status: 'not_ready', checks: { postgres: 'ok', migrations: 'skipped', jwks: 'failing', redis: 'skipped' },
  }]);

  await until('the keys loaded by readiness alone', [n], async () => {
    const r = await get(n, '/readyz');
    return r.status === 200 && (assert.deepEqual(r.body, {
      status: 'ready', checks: { postgres: 'ok', migrations: 'skipped', jwks: 'ok', redis: 'skipped' },
    }), true);
  });
  assert.match(n.errorLog(), /fetching JWKS from "\/_jwks" in the background/);
  assert.match(n.errorLog(), /JWKS from "\/_jwks": 1 key\(s\)/);
  assert.deepEqual(n.problems(), []);
});

// A TCP relay to Postgres that, while holding, accepts connections and
// sends nothing either way: a database that hangs
class Relay {
  constructor(pg) {
    this.pg = pg;
    this.holding = true;
    this.sockets = new Set();
  }

  start() {
    this.server = createServer((client) => {
      this.sockets.add(client);
      client.on('close', () => this.sockets.delete(client));
      client.on('error', () => client.destroy());
      if (this.holding) return;
      const upstream = connect(Number(this.pg.port), this.pg.host);
      this.sockets.add(upstream);
      upstream.on('close', () => { this.sockets.delete(upstream); client.destroy(); });
      upstream.on('error', () => client.destroy());
      client.on('close', () => upstream.destroy());
      client.pipe(upstream);
      upstream.pipe(client);
    });
    return new Promise((ok) => this.server.listen(0, '127.0.0.1', () => {
      this.port = this.server.address().port;
      ok(this);
    }));
  }

  stop() {
    for (const s of this.sockets) s.destroy();
    return new Promise((ok) => this.server.close(ok));
  }
}

test('a first check that hangs: 503 "starting" after the wait; a worker killed while checking does not hold the check up', async (t) => {
  const relay = await new Relay(PG).start();
  t.after(() => relay.stop());

  // timeouts far beyond the test: only the dead worker's claim being
  // noticed can let another check run
  const n = await new Nginx({
    http: `
    backend_pg main "${conninfo({ ...PG, port: String(relay.port) })}" max=2
               connect_timeout=300s queue_timeout=300s query_timeout=300s;
    backend_readiness_interval 100ms;`,
    location: LOCATIONS,
  }).start();
  t.after(() => n.stop());

  const t0 = Date.now();
  const first = await get(n, '/readyz');
  assert.deepEqual([first.status, first.body], [503, {
    status: 'starting', checks: { postgres: 'starting', migrations: 'starting', jwks: 'skipped', redis: 'skipped' },
  }]);
  assert.ok(Date.now() - t0 >= 2900, `waited ${Date.now() - t0} ms`);
  await until('the connection the check hangs on', [], async () => relay.sockets.size > 0);

  // the one worker holds the node's claim; it dies, its check with it
  const master = n.pid();
  const worker = () => readFileSync(`/proc/${master}/task/${master}/children`, 'utf8').trim();
  const dead = Number(worker());
  relay.holding = false;
  process.kill(dead, 'SIGKILL');
  await until('a new worker', [], async () => /^\d+$/.test(worker()) && Number(worker()) !== dead);

  await until('ready through the new worker\'s check', [n], async () => {
    const r = await get(n, '/readyz');
    return r.status === 200 && (assert.deepEqual(r.body, {
      status: 'ready', checks: { postgres: 'ok', migrations: 'skipped', jwks: 'skipped', redis: 'skipped' },
    }), true);
  }, 20000);
});
