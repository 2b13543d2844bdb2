// The edges of the tRPC protocol, compared with tRPC 11's own server
// (@trpc/server's fetch adapter, in process) where it has an answer:
// paths that are not UTF-8 (every body stays valid UTF-8 JSON), query
// parameters read as URLSearchParams reads them, batches that mix queries
// and mutations.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { initTRPC } from '@trpc/server';
import { fetchRequestHandler } from '@trpc/server/adapters/fetch';
import { Nginx, conninfo } from './lib/nginx.mjs';

const http = `
    backend_pg main "${conninfo()}" max=2 query_timeout=5s;

    backend_procedure health { type query; tier public; data '{"ok":true}'; }
    backend_procedure add { type mutation; tier public; data '{"added":1}'; }
    backend_procedure echo { tier public; sql "select $1::text as v"; params input; result value; }
    backend_procedure echom { type mutation; tier public; sql "select $1::text as v"; params input; result value; }
    backend_procedure secret { tier protected; data '"s"'; }
`;

// the same router in tRPC 11, for the answers it gives
const t = initTRPC.create();
const router = t.router({
  health: t.procedure.query(() => ({ ok: true })),
  add: t.procedure.mutation(() => ({ added: 1 })),
  echo: t.procedure.input((v) => v).query(({ input }) => (input === undefined ? null : String(input))),
  echom: t.procedure.input((v) => v).mutation(({ input }) => (input === undefined ? null : String(input))),
});

const nginx = new Nginx({ http });

before(async () => {
  await nginx.start();
});

after(async () => {
  assert.deepEqual(nginx.problems(), []);
  await nginx.stop();
});

// a request as bytes, to send what fetch() would encode: the answer's status
// and body bytes
function raw(method, target, body = null, headers = {}) {
  const head = Buffer.concat([
    Buffer.from(`${method} `),
    Buffer.isBuffer(target) ? target : Buffer.from(target, 'latin1'),
    Buffer.from(` HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n`
                + `Content-Type: application/json\r\n`
                + Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')
                + (body === null ? '' : `Content-Length: ${Buffer.byteLength(body)}\r\n`)
                + '\r\n'),
  ]);
  return new Promise((ok, fail) => {
    const s = connect(nginx.port, '127.0.0.1');
    const chunks = [];
    s.setTimeout(30000, () => s.destroy(new Error('timeout')));
    s.on('data', (c) => chunks.push(c));
    s.on('error', fail);
    s.on('end', () => {
      const all = Buffer.concat(chunks);
      const i = all.indexOf('\r\n\r\n');
      const status = Number(all.subarray(9, 12).toString());
      const headers = all.subarray(0, i).toString('latin1');
      let rest = all.subarray(i + 4);
      if (/transfer-encoding: chunked/i.test(headers)) {
        const parts = [];
        for (;;) {
          const e = rest.indexOf('\r\n');
          const n = parseInt(rest.subarray(0, e).toString(), 16);
          if (!n) break;
          parts.push(rest.subarray(e + 2, e + 2 + n));
          rest = rest.subarray(e + 4 + n);
        }
        rest = Buffer.concat(parts);
      }
      ok({ status, body: rest });
    });
    s.write(head);
    if (body !== null) s.write(body);
  });
}

// the body must be UTF-8 (fatal decoding) and then JSON
function json(bytes) {
  const text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  return JSON.parse(text);
}

// tRPC's own answer to the same URL
async function reference(method, target, body, headers = {}) {
  const res = await fetchRequestHandler({
    endpoint: '/trpc',
    req: new Request(`http://localhost${target}`, {
      method,
      body: method === 'POST' ? (body ?? '') : undefined,
      headers: { 'content-type': 'application/json', ...headers },
    }),
    router,
    createContext: () => ({}),
    onError: () => {},
  });
  return { status: res.status, body: await res.json() };
}

// the parts of an envelope both servers define: tRPC adds a stack in dev
function shape(v) {
  if (Array.isArray(v)) {
    return v.map(shape);
  }
  if (v.error) {
    const { message, code, data } = v.error;
    return { error: { message, code, data: { code: data.code, httpStatus: data.httpStatus, path: data.path } } };
  }
  return v;
}

// parse errors: yajl's message is not V8's, the rest is the same
async function same(method, target, body = null, { message = true, headers = {} } = {}) {
  const ours = await raw(method, target, body, headers);
  const theirs = await reference(method, target, body, headers);
  const got = json(ours.body);
  const a = shape(got);
  const b = shape(theirs.body);
  if (!message) {
    assert.match(a.error.message, /^Invalid JSON: /);
    a.error.message = b.error.message;
  }
  assert.deepEqual({ status: ours.status, body: a }, { status: theirs.status, body: b },
                   `${method} ${target}`);
  return got;
}

describe('paths that are not UTF-8', () => {
  const bad = ['%FF', 'a%FFb', '%C0%AF', '%ED%A0%80', '%E2%82', 'health%80', '%F4%90%80%80'];

  for (const p of bad) {
    for (const [name, target] of [['single', `/trpc/${p}`],
                                  ['batch, last', `/trpc/health,${p}?batch=1`],
                                  ['batch, first', `/trpc/${p},health?batch=1`]]) {
      test(`${name}: ${target}: 400, valid UTF-8 JSON, as tRPC answers`, async () => {
        const got = await same('GET', target);
        assert.equal(got.error.data.code, 'BAD_REQUEST');
        assert.match(got.error.message, /^Invalid URL-encoding in path "/);
      });
    }

    test(`POST batch /trpc/add,${p}?batch=1 as tRPC answers`, async () => {
      await same('POST', `/trpc/add,${p}?batch=1`, '{}');
    });
  }

  test('raw bytes in the request line: 400, the path shown percent-encoded', async () => {
    for (const target of [Buffer.from('/trpc/\xff', 'latin1'),
                          Buffer.from('/trpc/a\xc0\xafb', 'latin1'),
                          Buffer.from('/trpc/health,\xed\xa0\x80?batch=1', 'latin1'),
                          Buffer.from('/trpc/\xe2\x82,health?batch=1', 'latin1')]) {
      const res = await raw('GET', target);
      const got = json(res.body);
      assert.equal(res.status, 400, target.toString('latin1'));
      assert.equal(got.error.data.code, 'BAD_REQUEST');
      assert.match(got.error.message, /^Invalid URL-encoding in path "[\x20-\x7e]*"$/);
    }
  });

  test('a UTF-8 path is looked up and shown as it is', async () => {
    const got = await same('GET', '/trpc/%C3%A9t%C3%A9');
    assert.equal(got.error.data.path, 'été');
    await same('GET', '/trpc/health,%F0%9F%98%80?batch=1');
  });

  test('a streamed batch with such a path gets the same JSON error', async () => {
    const s = connect(nginx.port, '127.0.0.1');
    const chunks = [];
    await new Promise((ok, fail) => {
      s.on('data', (c) => chunks.push(c));
      s.on('end', ok);
      s.on('error', fail);
      s.write('GET /trpc/health,%FF?batch=1 HTTP/1.0\r\ntrpc-accept: application/jsonl\r\n\r\n');
    });
    const all = Buffer.concat(chunks);
    assert.equal(Number(all.subarray(9, 12).toString()), 400);
    assert.equal(json(all.subarray(all.indexOf('\r\n\r\n') + 4)).error.data.code, 'BAD_REQUEST');
  });
});

describe('query parameters as URLSearchParams reads them', () => {
  for (const target of [
    '/trpc/health,health?batch=%31',
    '/trpc/health,health?%62atch=1',
    '/trpc/health,health?%62%61%74%63%68=%31',
    '/trpc/health,health?BATCH=1',
    '/trpc/health,health?Batch=1',
    '/trpc/health,health?batch=1+',
    '/trpc/health,health?batch=0&batch=1',
    '/trpc/health,health?x=1&batch=1',
    '/trpc/health?batch',
  ]) {
    test(`${target} as tRPC answers`, async () => {
      await same('GET', target);
    });
  }

  test('a BOM in input is not dropped (URLSearchParams keeps it): invalid JSON, as for tRPC', async () => {
    await same('GET', '/trpc/echo?input=%EF%BB%BF%22x%22', null, { message: false });
  });

  for (const target of [
    '/trpc/echo?input=%22x%22',
    '/trpc/echo?%69nput=%22x%22',
    '/trpc/echo?%69%6e%70%75%74=%22x%22',
    '/trpc/echo?INPUT=%22x%22',
    '/trpc/echo?Input=%22x%22&input=%22y%22',
    '/trpc/echo?input=%22a+b%22',
    '/trpc/echo?input=%22a%2Bb%22',
    '/trpc/echo?input=%22100%%22',
    '/trpc/echo?input=%22%zz%22',
    '/trpc/echo?input=%22%C3%A9%22',
    '/trpc/echo?input=%22%FF%22',
    '/trpc/echo?input=%22%F0%90%80x%22',
    '/trpc/echo?input=%22%ED%A0%80%E2%82%22',
    '/trpc/echo?input="x"&input="y"',
    '/trpc/echo,echo?batch=1&input=%7B%220%22%3A%22a%22%2C%221%22%3A%22b%22%7D',
    '/trpc/echo,echo?batch=1&%69nput={"0":"a","1":"b"}',
  ]) {
    test(`${target} as tRPC answers`, async () => {
      await same('GET', target);
    });
  }
});

describe('streaming asked for as getAcceptHeader() of tRPC reads it', () => {
  // a call that is not a batch tells: 400 "must be batched" if streaming
  for (const headers of [
    { 'trpc-accept': 'application/jsonl' },
    { 'trpc-accept': 'APPLICATION/JSONL' },
    { 'trpc-accept': 'application/jsonl, text/plain' },
    { 'trpc-accept': 'application/json', accept: 'application/jsonl' },
    { 'trpc-accept': '', accept: 'application/jsonl' },
    { accept: 'application/jsonl' },
    { accept: 'application/json,  application/jsonl ' },
    { accept: 'text/html,application/jsonl,*/*' },
    { accept: 'application/jsonl;q=0.9' },
    { accept: 'application/jsonlines' },
    { accept: 'Application/JSONL' },
  ]) {
    test(`${JSON.stringify(headers)} as tRPC answers`, async () => {
      await same('GET', '/trpc/health', null, { headers });
    });
  }
});

describe('a body as Request.text() reads it', () => {
  for (const [name, body] of [
    ['ill-formed UTF-8 in a string', Buffer.from('"a\xffb\xc0\xaf\xe2\x82"', 'latin1')],
    ['three bytes of a four-byte sequence', Buffer.from('"\xf0\x90\x80x"', 'latin1')],
    ['a UTF-8 BOM', Buffer.from('\xef\xbb\xbf"x"', 'latin1')],
    ['valid UTF-8', Buffer.from('"\xc3\xa9\xf0\x9f\x98\x80"', 'latin1')],
  ]) {
    test(`${name}: as tRPC answers`, async () => {
      await same('POST', '/trpc/echom', body);
    });
  }

  test('ill-formed UTF-8 outside a string: invalid JSON, as for tRPC', async () => {
    await same('POST', '/trpc/echom', Buffer.from('\xff"x"', 'latin1'), { message: false });
  });
});

describe('a batch that mixes queries and mutations', () => {
  test('GET and POST: one 400 for the request, as tRPC answers', async () => {
    const a = await same('GET', '/trpc/health,add?batch=1');
    assert.equal(a.error.message, 'Cannot mix procedure types in call: query, mutation');
    const b = await same('POST', '/trpc/add,health?batch=1', '{}');
    assert.equal(b.error.message, 'Cannot mix procedure types in call: mutation, query');
    await same('GET', '/trpc/health,nope,add?batch=1');
    await same('POST', '/trpc/add,nope,health,add?batch=1', '{}');
  });

  test('unknown procedures do not count as a type', async () => {
    await same('GET', '/trpc/health,nope?batch=1');
    await same('POST', '/trpc/add,nope?batch=1', '{}');
  });

  test('the mixed batch runs no call, protected or not', async () => {
    const res = await raw('POST', '/trpc/add,secret?batch=1', '{}');
    assert.equal(res.status, 400);
    assert.equal(json(res.body).error.message, 'Cannot mix procedure types in call: mutation, query');
  });
});
