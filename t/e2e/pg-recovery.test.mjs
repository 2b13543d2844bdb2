// The engine recovers by itself where it can do so safely: a statement on a
// connection that turns out dead after a Postgres restart runs again on a
// new one if it cannot have written (a tRPC query), a mutation whose
// answer was lost is never sent twice, and a statement whose cached plan a
// migration invalidated is prepared again and run once more.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect } from 'node:net';
import { Nginx, conninfo, PG } from './lib/nginx.mjs';
import { Cluster, psql } from './lib/pg.mjs';
import { readFileSync } from 'node:fs';

// A TCP relay in front of Postgres, as a pooler or a cloud proxy would
// be.  When Postgres closes a connection, the relay keeps the client's side
// open (the client sees nothing until it writes, then the relay closes it):
// an idle connection that looks alive but is dead, deterministically.
// cutAfterAnswer(): the next statement goes through, and its answer (up to
// ReadyForQuery, so after the commit) is dropped with the connection.
class Relay {
  constructor(pg) {
    this.pg = pg;
    this.pairs = new Set();
    this.cut = false;
  }

  start() {
    this.server = createServer((client) => {
      const upstream = connect(Number(this.pg.port), this.pg.host);
      const pair = { client, upstream, dead: false, cutting: false };
      this.pairs.add(pair);
      const drop = () => {
        client.destroy();
        upstream.destroy();
        this.pairs.delete(pair);
      };
      client.on('data', (d) => {
        if (pair.dead) {
          drop();
          return;
        }
        if (this.cut && pair.ready) {
          this.cut = false;
          pair.cutting = true;
        }
        upstream.write(d);
      });
      upstream.on('data', (d) => {
        if (pair.cutting) {
          // ReadyForQuery: the statement and its commit are done
          if (d.includes(Buffer.from([0x5a, 0, 0, 0, 5]))) drop();
          return;
        }
        pair.ready = true;
        client.write(d);
      });
      upstream.on('end', () => { pair.dead = true; });
      upstream.on('close', () => { pair.dead = true; });
      upstream.on('error', () => { pair.dead = true; });
      client.on('close', drop);
      client.on('error', drop);
    });
    return new Promise((ok) => this.server.listen(0, '127.0.0.1', () => {
      this.port = this.server.address().port;
      ok(this);
    }));
  }

  cutAfterAnswer() {
    this.cut = true;
  }

  stop() {
    for (const p of this.pairs) {
      p.client.destroy();
      p.upstream.destroy();
    }
    return new Promise((ok) => this.server.close(ok));
  }
}

let instances = 0;

// the pid of the one worker of an nginx
function workerOf(n) {
  const master = n.pid();
  const children = readFileSync(`/proc/${master}/task/${master}/children`, 'utf8').trim().split(/\s+/);
  assert.equal(children.length, 1, 'one worker');
  return Number(children[0]);
}

// HTTP/1.1 on one keep-alive connection, written by hand so that the test
// knows when a request has left for the server's socket
class RawHttp {
  static open(n) {
    const h = new RawHttp();
    return new Promise((ok, fail) => {
      h.socket = connect(n.port, '127.0.0.1', () => ok(h));
      h.socket.on('error', fail);
      h.buffer = Buffer.alloc(0);
      h.socket.on('data', (d) => {
        h.buffer = Buffer.concat([h.buffer, d]);
        h.parse();
      });
    });
  }

  parse() {
    const end = this.buffer.indexOf('\r\n\r\n');
    if (end < 0 || !this.waiting) return;
    const head = this.buffer.subarray(0, end).toString();
    const length = Number(/content-length: *(\d+)/i.exec(head)?.[1] ?? 0);
    if (this.buffer.length < end + 4 + length) return;
    const body = this.buffer.subarray(end + 4, end + 4 + length).toString();
    this.buffer = this.buffer.subarray(end + 4 + length);
    const ok = this.waiting;
    this.waiting = null;
    ok({ status: Number(head.split(' ')[1]), body });
  }

  post(path, body) {
    const p = new Promise((ok) => { this.waiting = ok; });
    this.written = new Promise((ok) => this.socket.write(
      `POST ${path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n`
      + `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`, ok));
    return p;
  }

  flushed() {
    return this.written;
  }

  close() {
    this.socket.destroy();
  }
}

async function until(what, fn, ms = 10000) {
  const end = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((ok) => setTimeout(ok, 20));
  }
}

async function start(t, { pg, pool, procs }) {
  const n = new Nginx({ http: `backend_pg main "${conninfo(pg)}" ${pool};\n${procs}` });
  t.after(() => n.stop());
  n.tag = ++instances;
  return n.start();
}

async function call(n, path, { method = 'GET', body } = {}) {
  const res = await fetch(`${n.url}/${path}`, {
    method,
    body: body === undefined ? undefined : JSON.stringify(body),
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    signal: AbortSignal.timeout(15000),
  });
  return { status: res.status, body: await res.json() };
}

for (const pipe of ['', ' pipeline=4']) {
  const tag = pipe ? ' (pipeline=4)' : '';

  test('after a Postgres restart, queries on dead idle connections run again and succeed' + tag, async (t) => {
    const cluster = await new Cluster().start();
    t.after(() => cluster.stop());
    const relay = await new Relay(cluster.pg).start();
    t.after(() => relay.stop());

    const n = await start(t, {
      pg: { ...cluster.pg, port: String(relay.port) },
      pool: 'max=2 connect_timeout=5s' + pipe,
      procs: `
        backend_procedure fast { tier public; sql "select 1 as one"; result value; }
        backend_procedure nap { tier public; sql "select pg_sleep($1::float8) is not null as slept"; params input; result value; }`,
    });

    // two connections open and idle
    const warm = await Promise.all([call(n, 'nap?input=1'), call(n, 'nap?input=1')]);
    assert.deepEqual(warm.map((r) => r.status), [200, 200]);
    assert.equal(relay.pairs.size, 2);

    cluster.ctl('stop');
    cluster.ctl('start');
    await until('the relay to see both server sides closed',
                () => [...relay.pairs].every((p) => p.dead));

    // every call lands on a dead connection first, until none is left
    const statuses = [];
    for (let i = 0; i < 4; i++) {
      const r = await call(n, 'fast').catch((e) => { console.log(n.errorLog()); throw e; });
      statuses.push(r.status);
      if (r.status !== 200) console.log(JSON.stringify(r.body));
    }
    assert.deepEqual(statuses, [200, 200, 200, 200]);
    assert.match(n.errorLog(), /connection lost, running ngx_backend_0 again on another connection/);
    // the lost connection's line names the server it was to
    assert.match(n.errorLog(), new RegExp(`\\[error\\] .*backend_pg "main": connection lost \\(127\\.0\\.0\\.1:${relay.port}\\): `));
    assert.deepEqual(n.problems(), []);
  });

  test('an idle connection closed during a restart is found before a mutation is sent on it' + tag, async (t) => {
    const cluster = await new Cluster().start();
    t.after(() => cluster.stop());
    psql('create table kept (k text)', cluster.pg);

    const n = await start(t, {
      pg: cluster.pg,
      pool: 'max=1' + pipe,
      procs: `
        backend_procedure add { type mutation; tier public; sql "insert into kept (k) values ($1) returning k"; params input; result value; }`,
    });
    const worker = workerOf(n);

    // one keep-alive client connection, its statement prepared on the
    // pool's one connection
    const http = await RawHttp.open(n);
    t.after(() => http.close());
    assert.equal((await http.post('/trpc/add', '"a"')).status, 200);

    // The worker is stopped while the request arrives first and the
    // server's goodbye (an error message and an end of file) second: when
    // it runs again, it reads the request before it has seen the goodbye.
    process.kill(worker, 'SIGSTOP');
    let answer;
    try {
      answer = http.post('/trpc/add', '"b"');
      await http.flushed();
      cluster.ctl('stop');
      cluster.ctl('start');
    } finally {
      process.kill(worker, 'SIGCONT');
    }
    const r = await answer;
    assert.equal(r.status, 200, r.body);
    assert.equal(psql("select string_agg(k, ',' order by k) from kept", cluster.pg), 'a,b');
    assert.doesNotMatch(n.errorLog(), /connection lost/);
    assert.deepEqual(n.problems(), []);
  });

  test('a mutation in flight when Postgres is killed is not run twice' + tag, async (t) => {
    const cluster = await new Cluster().start();
    t.after(() => cluster.stop());
    psql('create table kept (k text)', cluster.pg);
    // the cluster runs without synchronous_commit: make the table survive
    // the kill below
    psql('checkpoint', cluster.pg);

    const n = await start(t, {
      pg: cluster.pg,
      pool: 'max=2 connect_timeout=5s' + pipe,
      procs: `
        backend_procedure add { type mutation; tier public; sql "with i as (insert into kept (k) values ($1) returning k) select k from i, pg_sleep(5)"; params input; result value; }`,
    });

    const inflight = call(n, 'add', { method: 'POST', body: 'slow' });
    await until('the insert to be running', () => Number(psql(
      "select count(*) from pg_stat_activity where query like 'with i as%' and state = 'active'",
      cluster.pg)) === 1);
    cluster.kill();
    const r = await inflight;
    assert.equal(r.status, 503, JSON.stringify(r.body));
    cluster.ctl('start');
    assert.equal(psql("select count(*) from kept where k = 'slow'", cluster.pg), '0');
    assert.equal((await call(n, 'add', { method: 'POST', body: 'after' })).status, 200);
    assert.equal(psql('select count(*) from kept', cluster.pg), '1');
    assert.deepEqual(n.problems(), []);
  });

  test('an answer lost after the commit: a mutation is not sent again, a query is' + tag, async (t) => {
    const table = `e2e_recovery_${process.pid}_${instances + 1}`;
    psql(`drop table if exists ${table}; create table ${table} (k text)`);
    t.after(() => psql(`drop table if exists ${table}`));
    const relay = await new Relay(PG).start();
    t.after(() => relay.stop());

    const n = await start(t, {
      pg: { ...PG, port: String(relay.port) },
      pool: 'max=1' + pipe,
      procs: `
        backend_procedure fast { tier public; sql "select 1 as one"; result value; }
        backend_procedure add { type mutation; tier public; sql "insert into ${table} (k) values ($1) returning k"; params input; result value; }`,
    });

    // both statements prepared on the connection: only the Execute is cut
    assert.equal((await call(n, 'fast')).status, 200);
    assert.equal((await call(n, 'add', { method: 'POST', body: 'first' })).status, 200);

    relay.cutAfterAnswer();
    const m = await call(n, 'add', { method: 'POST', body: 'once' });
    assert.equal(m.status, 503, JSON.stringify(m.body));
    assert.equal(m.body.error.data.code, 'SERVICE_UNAVAILABLE');
    // it did commit, once: the caller's retry is the caller's decision
    assert.equal(psql(`select count(*) from ${table} where k = 'once'`), '1');

    relay.cutAfterAnswer();
    const q = await call(n, 'fast');
    assert.equal(q.status, 200, JSON.stringify(q.body));
    assert.deepEqual(q.body, { result: { data: 1 } });

    // the next mutation is unaffected
    assert.equal((await call(n, 'add', { method: 'POST', body: 'twice' })).status, 200);
    assert.equal(psql(`select count(*) from ${table}`), '3');
    assert.deepEqual(n.problems(), []);
  });

  test('a migration that adds a column: the next call of a select * succeeds' + tag, async (t) => {
    const table = `e2e_migration_${process.pid}_${instances + 1}`;
    psql(`drop table if exists ${table}; create table ${table} (id int primary key, a text);
          insert into ${table} values (1, 'x')`);
    t.after(() => psql(`drop table if exists ${table}`));

    // max=1: every call on the one connection, where the plan is cached
    const n = await start(t, {
      pg: PG,
      pool: 'max=1' + pipe,
      procs: `
        backend_procedure list { tier public; sql "select * from ${table} order by id"; }
        backend_procedure add { type mutation; tier public; sql "insert into ${table} (id, a) values ($1::int, 'm') returning *"; params input; result one; }`,
    });

    assert.deepEqual((await call(n, 'list')).body, { result: { data: [{ id: 1, a: 'x' }] } });
    assert.deepEqual((await call(n, 'add', { method: 'POST', body: 2 })).body,
                     { result: { data: { id: 2, a: 'm' } } });

    psql(`alter table ${table} add column b int not null default 7`);

    for (let i = 0; i < 3; i++) {
      const r = await call(n, 'list');
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.deepEqual(r.body, { result: { data: [{ id: 1, a: 'x', b: 7 }, { id: 2, a: 'm', b: 7 }] } });
    }

    // a mutation whose result changed: nothing ran the first time, so it
    // runs once, prepared again
    psql(`alter table ${table} add column c text`);
    const r = await call(n, 'add', { method: 'POST', body: 3 });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual(r.body, { result: { data: { id: 3, a: 'm', b: 7, c: null } } });
    assert.equal(psql(`select count(*) from ${table} where id = 3`), '1');
    assert.match(n.errorLog(), /statement ngx_backend_\d prepared again: cached plan must not change result type/);
    assert.deepEqual(n.problems(), []);
  });
}
