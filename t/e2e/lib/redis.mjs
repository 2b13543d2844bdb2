// A private Redis for tests that stop and start it (tools/redis.sh).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, freePort } from './nginx.mjs';

export class Redis {
  async start() {
    this.dir = mkdtempSync(join(tmpdir(), 'backend-e2e-redis-'));
    this.port = await freePort();
    this.ctl('start');
    return this;
  }

  ctl(what) {
    const args = [what, this.dir];
    if (what === 'start') args.push(String(this.port));
    const r = spawnSync(join(ROOT, 'tools/redis.sh'), args, { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`redis.sh ${what}: ${r.stdout}${r.stderr}`);
  }

  cli(...args) {
    const r = spawnSync('redis-cli', ['-p', String(this.port), ...args], { encoding: 'utf8' });
    return r.stdout.trim();
  }

  async stop() {
    try { this.ctl('stop'); } catch { /* already down */ }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
