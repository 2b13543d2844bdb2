// Input contracts: the server's accept/reject decision, issue codes and
// paths, and defaults against the real zod package deciding on the same
// input, for the reference app's schemas (conf/schemas) and for a schema
// with defaults, nesting and Unicode lengths exported here with Zod.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import { Nginx, ROOT, conninfo } from './lib/nginx.mjs';

const dir = mkdtempSync(join(tmpdir(), 'backend-e2e-zod-'));

const extra = {
  profile: z.object({
    name: z.string().min(2).max(5),
    age: z.number().int().min(0).optional(),
    role: z.enum(['user', 'mentorado', 'admin']).default('user'),
    tags: z.array(z.string().max(3)).max(3).default([]),
    address: z.object({ city: z.string(), zip: z.string().regex(/^\d{5}$/) }).optional(),
    email: z.email().optional(),
    id: z.uuid().optional(),
  }),
};

const schemas = {};
for (const file of readdirSync(join(ROOT, 'conf/schemas')).filter((f) => f.endsWith('.mjs'))) {
  const mod = await import(pathToFileURL(join(ROOT, 'conf/schemas', file)).href);
  schemas[file.replace(/\.mjs$/, '')] = { zod: mod.default, json: join(ROOT, 'conf/schemas', file.replace(/\.mjs$/, '.json')) };
}
for (const [name, zod] of Object.entries(extra)) {
  const json = join(dir, `${name}.json`);
  writeFileSync(json, JSON.stringify(z.toJSONSchema(zod, { io: 'input' })));
  schemas[name] = { zod, json };
}

let http = `    backend_pg main "${conninfo()}";\n`;
for (const [name, s] of Object.entries(schemas)) {
  http += `    backend_procedure zod.${name} { type mutation; tier public; input ${s.json};
        sql "select $1::jsonb as input"; params input; result value; }\n`;
}

const nginx = new Nginx({ http });
before(() => nginx.start());
after(() => nginx.stop());

const cases = {
  'sessions-list': [
    { limit: 20 }, { limit: 1 }, { limit: 100 }, { limit: 0 }, { limit: 101 }, { limit: 500 },
    { limit: 'x' }, { limit: 1.5 }, { limit: 20, before: '2025-06-03T00:00:00Z' },
    { limit: 20, before: '2025-06-03T00:00:00.123Z' }, { limit: 5, before: 'yesterday' },
    { limit: 5, before: '2025-06-03T00:00:00+02:00' }, { limit: 5, before: '2025-02-30T00:00:00Z' },
    { limit: 5, extra: true }, {}, null, [], 'str', undefined,
  ],
  'notes-create': [
    { sessionId: 1, notes: 'fine' }, { sessionId: 0, notes: 'x' }, { sessionId: -3, notes: 'x' },
    { sessionId: 'one', notes: 'x' }, { sessionId: 1 }, { notes: 'x' }, { sessionId: 1, notes: 5 },
    { sessionId: 1, notes: 'é'.repeat(10000) }, { sessionId: 1, notes: 'é'.repeat(10001) },
    { sessionId: 9007199254740991, notes: '' }, { sessionId: 2.5, notes: '' }, undefined,
    // beyond Number.MAX_SAFE_INTEGER: Zod's int issue; Infinity; the order
    // of issues is the schema's, missing or not
    { sessionId: 9007199254740993, notes: '' }, { sessionId: -9007199254740993, notes: '' },
    { sessionId: 1e300, notes: '' }, { raw: '{"sessionId":1e400,"notes":""}' },
    { raw: '{"sessionId":-1e400,"notes":""}' }, { sessionId: 'x' }, { notes: 1, sessionId: 'x' },
  ],
  'sessions-list#2': [
    { limit: 2 ** 60 }, { limit: -(2 ** 60) }, { raw: '{"limit":1e400}' },
  ],
  'users-set-role': [
    { userId: 1 }, { userId: 'x' }, { role: 'root' }, {}, { userId: 1, role: 5 },
    { userId: 1, role: [] }, { userId: 1, role: 'admin' },
  ],
  'webhooks-replay': [
    { svixId: [] }, { svixId: ['a'] }, { svixId: Array(201).fill(1) }, { svixId: '' },
  ],
  profile: [
    { name: 'ana' }, { name: 'a' }, { name: 'abcdef' }, { name: 'ção' }, { name: '😀😀' },
    { name: 'ana', role: 'admin' }, { name: 'ana', role: 'root' }, { name: 'ana', tags: ['a', 'bb'] },
    { name: 'ana', tags: ['abcd'] }, { name: 'ana', tags: ['a', 'b', 'c', 'd'] },
    { name: 'ana', address: { city: 'Rio', zip: '12345' } },
    { name: 'ana', address: { city: 'Rio', zip: '12345', extra: 1 }, more: { x: 1 } },
    { name: 'ana', address: { city: 'Rio', zip: '1234' } }, { name: 'ana', address: { zip: 12345 } },
    { name: 'ana', age: -1 }, { name: 'ana', age: 30.5 }, { name: 'ana', email: 'a@b.co' },
    { name: 'ana', email: 'not-an-email' }, { name: 'ana', id: 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11' },
    { name: 'ana', id: 'nope' }, { age: 3 }, {},
    { name: [] }, { name: [1, 2, 3, 4, 5, 6] }, { name: 'ana', tags: 'abcd' }, { name: 'ana', tags: '' },
    { name: 'ana', role: 5 }, { name: 'ana', age: 2 ** 54 }, { raw: '{"name":"ana","age":1e400}' },
  ],
};

// every key of every issue, in Zod's key order
const summarize = (issues) => issues.map((i) => JSON.stringify(i));

const groups = {};
for (const [name, inputs] of Object.entries(cases)) {
  (groups[name.replace(/#.*/, '')] ??= []).push(...inputs);
}

for (const [name, inputs] of Object.entries(groups)) {
  test(`zod.${name}: the same decisions, issues and defaults as zod`, async () => {
    for (const c of inputs) {
      // { raw }: a body JSON.stringify cannot write (1e400), JSON.parse'd for zod
      const raw = c?.raw;
      const input = raw === undefined ? c : JSON.parse(raw);
      const expected = schemas[name].zod.safeParse(input);
      const res = await fetch(`${nginx.url}/zod.${name}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: raw ?? (input === undefined ? '' : JSON.stringify(input)),
      });
      const body = await res.json();
      const what = `${name} ${raw ?? JSON.stringify(input)}`;

      if (expected.success) {
        assert.equal(res.status, 200, `${what}: ${JSON.stringify(body)}`);
        // what zod's parse returns (defaults in, unknown keys stripped, at
        // every level) is what was bound, as JSON
        assert.deepEqual(body.result.data,
                         expected.data === undefined ? null : JSON.parse(JSON.stringify(expected.data)),
                         `${what}: ${JSON.stringify(body.result.data)}`);
      } else {
        assert.equal(res.status, 400, `${what}: zod says ${expected.error.message}`);
        assert.equal(body.error.data.code, 'BAD_REQUEST');
        const issues = JSON.parse(body.error.message);
        assert.deepEqual(summarize(issues), summarize(expected.error.issues),
                         `${what}: ${body.error.message}`);
        assert.deepEqual(body.error.data.zodError, z.flattenError(expected.error), what);
      }
    }
  });
}
