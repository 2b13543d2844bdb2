// Starts nginx with the project's module for an end-to-end test: its own
// prefix in a temporary directory, a free loopback port, master process on.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export const ROOT = process.env.BACKEND_ROOT ?? resolve(import.meta.dirname, '../../..');
export const MODULE = process.env.BACKEND_MODULE
  ?? join(ROOT, '.build/nginx/ngx_http_backend_module.so');
const NGINX = process.env.TEST_NGINX_BINARY ?? '/usr/sbin/nginx';

export const PG = {
  host: process.env.TEST_NGINX_PG_HOST ?? '127.0.0.1',
  port: process.env.TEST_NGINX_PG_PORT ?? '5432',
  database: process.env.TEST_NGINX_PG_DATABASE ?? 'backend_test',
  user: process.env.TEST_NGINX_PG_USER ?? 'postgres',
};

// app: an application_name of its own, to count one instance's connections
export function conninfo(pg = PG, app = 'ngx_backend') {
  return `host=${pg.host} port=${pg.port} dbname=${pg.database} user=${pg.user} `
         + `application_name=${app}`;
}

export function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.unref();
    s.on('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}

export class Nginx {
  // valgrind: run one process (master_process off) under valgrind's
  // memcheck, its report in logs/valgrind.log (see valgrindReport());
  // valgrind: 'workers': the master and its workers, each under memcheck
  // (worker-only code runs, e.g. worker 0's timers), reports in
  // logs/valgrind.<pid>.log
  // main: top-level directives after the module's load_module (another
  // load_module, a stream block)
  constructor({ http = '', location = 'location /trpc/ { backend_rpc; }', workers = 1,
                valgrind = false, main = '' } = {}) {
    this.main = main;
    this.http = http;
    this.location = location;
    this.workers = workers;
    this.valgrind = valgrind;
  }

  // a port found free can be taken by another process before nginx binds
  // it (other suites' servers, a shared machine): then another port
  async start() {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.startOnce();
      } catch (e) {
        if (attempt >= 3 || this.valgrind || !/Address already in use/.test(e.message)) throw e;
        rmSync(this.prefix, { recursive: true, force: true });
      }
    }
  }

  async startOnce() {
    this.port = await freePort();
    this.prefix = mkdtempSync(join(tmpdir(), 'backend-e2e-'));
    mkdirSync(join(this.prefix, 'logs'));
    this.url = `http://127.0.0.1:${this.port}/trpc`;
    writeFileSync(join(this.prefix, 'nginx.conf'), `
load_module ${MODULE};
${this.main}
worker_processes ${this.workers};
error_log ${this.prefix}/logs/error.log info;
pid ${this.prefix}/logs/nginx.pid;
env LD_PRELOAD;
env ASAN_OPTIONS;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path ${this.prefix}/body;
${this.http}
    server {
        listen 127.0.0.1:${this.port};
        ${this.location}
    }
}
`);
    if (this.valgrind) {
      this.child = spawn('valgrind', [
        '--quiet', '--leak-check=full', '--show-leak-kinds=definite',
        '--errors-for-leak-kinds=definite', '--num-callers=30',
        '--keep-debuginfo=yes',
        ...(this.valgrind === 'workers'
          ? ['--trace-children=yes', `--log-file=${join(this.prefix, 'logs/valgrind.%p.log')}`]
          : [`--log-file=${join(this.prefix, 'logs/valgrind.log')}`]),
        NGINX, '-p', this.prefix, '-e', join(this.prefix, 'logs/error.log'),
        '-c', join(this.prefix, 'nginx.conf'),
        '-g', this.valgrind === 'workers' ? 'daemon off;' : 'daemon off; master_process off;',
      ], { stdio: 'ignore' });
      this.exited = new Promise((ok) => this.child.on('exit', ok));
    } else {
      this.run(['-c', join(this.prefix, 'nginx.conf')]);
    }
    for (let i = 0; i < (this.valgrind ? 1200 : 200); i++) {
      try {
        await fetch(`http://127.0.0.1:${this.port}/`);
        return this;
      } catch {
        await sleep(25);
      }
    }
    throw new Error(`nginx did not start:\n${this.errorLog()}`);
  }

  run(args) {
    const r = spawnSync(NGINX, ['-p', this.prefix, '-e', join(this.prefix, 'logs/error.log'), ...args],
                        { encoding: 'utf8' });
    if (r.status !== 0) {
      throw new Error(`nginx ${args.join(' ')}: ${r.stderr}\n${this.errorLog()}`);
    }
  }

  pid() {
    const f = join(this.prefix, 'logs/nginx.pid');
    return existsSync(f) ? Number(readFileSync(f, 'utf8')) : null;
  }

  async reload() {
    this.run(['-c', join(this.prefix, 'nginx.conf'), '-s', 'reload']);
  }

  errorLog() {
    try {
      return readFileSync(join(this.prefix, 'logs/error.log'), 'utf8');
    } catch {
      return '';
    }
  }

  // [alert], [crit], [emerg] and sanitizer reports mean something broke
  problems() {
    return this.errorLog().split('\n')
      .filter((l) => /\[(alert|crit|emerg)\]|AddressSanitizer|exited on signal/.test(l));
  }

  remove() {
    if (!process.env.KEEP_TEST_DIR) {
      rmSync(this.prefix, { recursive: true, force: true });
    }
  }

  valgrindReport() {
    try {
      return readdirSync(join(this.prefix, 'logs')).filter((f) => /^valgrind\..*log$/.test(f)).sort()
        .map((f) => readFileSync(join(this.prefix, 'logs', f), 'utf8')).join('\n');
    } catch {
      return '';
    }
  }

  async stop() {
    if (this.child) {
      this.child.kill('SIGQUIT');
      await this.exited;
      this.child = null;
      return;
    }
    const pid = this.pid();
    if (pid) {
      try { process.kill(pid, 'SIGQUIT'); } catch { /* gone */ }
      for (let i = 0; i < 400; i++) {
        try {
          process.kill(pid, 0);
          const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
          if (/^\d+ \(.*\) Z/.test(stat)) break;
        } catch {
          break;
        }
        await sleep(25);
      }
    }
    if (!process.env.KEEP_TEST_DIR) {
      rmSync(this.prefix, { recursive: true, force: true });
    }
  }
}
