// psql for the tests, and private Postgres clusters for outage tests.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PG, ROOT, freePort } from './nginx.mjs';

export function psql(sql, pg = PG) {
  const r = spawnSync('psql', ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1',
                               '-h', pg.host, '-p', String(pg.port), '-U', pg.user,
                               '-d', pg.database, '-c', sql], { encoding: 'utf8' });
  if (r.status !== 0) {
    throw new Error(`psql: ${r.stderr}`);
  }
  return r.stdout.trim();
}

// connections of a pool, by its application_name
export function poolConnections(app = 'ngx_backend', pg = PG) {
  return Number(psql(`select count(*) from pg_stat_activity
                       where application_name = '${app}'
                         and datname = '${pg.database}'`, pg));
}

export class Cluster {
  async start() {
    this.dir = mkdtempSync(join(tmpdir(), 'backend-e2e-pg-'));
    chmodSync(this.dir, 0o755);
    this.port = await freePort();
    this.pg = { host: '127.0.0.1', port: String(this.port), database: 'postgres', user: 'postgres' };
    this.ctl('start');
    return this;
  }

  ctl(what) {
    const r = spawnSync(join(ROOT, 'tools/pg.sh'), [what, join(this.dir, 'pg'), String(this.port)],
                        { encoding: 'utf8', env: { ...process.env, PG_EPHEMERAL: '1' } });
    if (r.status !== 0) {
      throw new Error(`pg.sh ${what}: ${r.stdout}${r.stderr}`);
    }
  }

  // as a crash would: no shutdown checkpoint, clients cut off
  kill() {
    spawnSync('runuser', ['-u', 'postgres', '--', '/usr/lib/postgresql/15/bin/pg_ctl',
                          '-D', join(this.dir, 'pg', 'data'), 'stop', '-m', 'immediate'],
              { encoding: 'utf8' });
  }

  async stop() {
    try { this.ctl('stop'); } catch { /* already down */ }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
