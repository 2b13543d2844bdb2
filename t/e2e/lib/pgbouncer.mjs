// A private PgBouncer (tools/pgbouncer.sh) in front of the test database:
// transaction pooling, a small server pool (poolSize connections).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, chmodSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PG, ROOT, freePort } from './nginx.mjs';
import { psql } from './pg.mjs';

export class PgBouncer {
  constructor({ poolSize = 2, pg = PG } = {}) {
    this.poolSize = poolSize;
    this.upstream = pg;
  }

  async start() {
    this.dir = mkdtempSync(join(tmpdir(), 'backend-e2e-pgbouncer-'));
    chmodSync(this.dir, 0o755);
    this.port = await freePort();
    // what a client of the pooler connects to: the same database and user
    this.pg = { ...this.upstream, host: '127.0.0.1', port: String(this.port) };
    this.ctl('start', String(this.port), String(this.upstream.port));
    return this;
  }

  ctl(what, ...args) {
    const r = spawnSync(join(ROOT, 'tools/pgbouncer.sh'), [what, join(this.dir, 'b'), ...args],
                        { encoding: 'utf8', env: { ...process.env, POOL_SIZE: String(this.poolSize) } });
    if (r.status !== 0) {
      throw new Error(`pgbouncer.sh ${what}: ${r.stdout}${r.stderr}`);
    }
  }

  // stopped (clients cut off) and started again on the same port
  restart() {
    this.ctl('stop');
    this.ctl('start', String(this.port), String(this.upstream.port));
  }

  // a statement through the pooler, as any other client would send it
  psql(sql) {
    return psql(sql, this.pg);
  }

  // the admin console: SHOW POOLS, SHOW SERVERS, SHOW CLIENTS...
  show(what) {
    return psql(`show ${what}`, { ...this.pg, database: 'pgbouncer' });
  }

  log() {
    try {
      return readFileSync(join(this.dir, 'b', 'pgbouncer.log'), 'utf8');
    } catch {
      return '';
    }
  }

  async stop() {
    try { this.ctl('stop'); } catch { /* already down */ }
    if (!process.env.KEEP_TEST_DIR) {
      rmSync(this.dir, { recursive: true, force: true });
    }
  }
}
