// The legacy tRPC server of the migration tests (fixtures/legacy-server.mjs)
// as a child process on a free port.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

export class Legacy {
  // transformer: 'superjson' for initTRPC.create({ transformer: superjson })
  constructor({ transformer = '' } = {}) {
    this.transformer = transformer;
  }

  async start() {
    this.child = spawn(process.execPath, [join(import.meta.dirname, '../fixtures/legacy-server.mjs'), '0',
                                          this.transformer],
                       { stdio: ['ignore', 'pipe', 'inherit'] });
    this.exited = new Promise((ok) => this.child.on('exit', ok));
    const lines = createInterface({ input: this.child.stdout });
    this.port = await new Promise((ok, fail) => {
      const timer = setTimeout(() => fail(new Error('the legacy server did not start in 10 s')), 10000);
      lines.once('line', (line) => {
        clearTimeout(timer);
        const m = /^listening (\d+)$/.exec(line);
        m ? ok(Number(m[1])) : fail(new Error(`legacy server: ${line}`));
      });
    });
    this.url = `http://127.0.0.1:${this.port}/trpc`;
    return this;
  }

  async stop() {
    if (this.child) {
      this.child.kill('SIGTERM');
      await this.exited;
      this.child = null;
    }
  }
}

// a port nothing listens on: bound, then closed
export { freePort } from './nginx.mjs';
