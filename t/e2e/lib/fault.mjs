// A fault-injecting HTTP upstream on loopback for the adapter tests:
// each request is recorded (time, method, url, headers, body) and
// answered by the current script, a function of the request that
// returns { status, headers, body, delay, hang, slow, destroy }.
import { createServer } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';

export class Fault {
  constructor() {
    this.seen = [];
    this.script = () => ({ status: 200, body: '{}' });
    this.sockets = new Set();
  }

  async start() {
    this.server = createServer((req, res) => this.handle(req, res));
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise((ok) => this.server.listen(0, '127.0.0.1', ok));
    this.port = this.server.address().port;
    return this;
  }

  async handle(req, res) {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const r = { at: Date.now(), method: req.method, url: req.url,
                headers: req.headers, body: Buffer.concat(chunks).toString() };
    this.seen.push(r);
    const a = this.script(r) ?? {};
    if (a.destroy) { req.socket.destroy(); return; }
    if (a.hang) return;  // never answers; the socket closes when nginx gives up
    if (a.delay) await sleep(a.delay);
    const body = a.body ?? '';
    res.writeHead(a.status ?? 200, { 'content-type': 'application/json', ...(a.headers ?? {}) });
    if (a.slow) {
      // the head at once, the body a byte per slow ms
      for (const ch of body) {
        if (res.destroyed) return;
        res.write(ch);
        await sleep(a.slow);
      }
      res.end();
      return;
    }
    res.end(body);
  }

  reset(script) {
    this.seen = [];
    if (script) this.script = script;
  }

  async stop() {
    for (const s of this.sockets) s.destroy();
    await new Promise((ok) => this.server.close(ok));
  }
}
