// Differential test: generated inputs (fast-check), each sent to the server
// and given to the real zod's safeParse; the decision (200 or 400), the
// issues (every key, in order) and data.zodError must be the same, but for
// the intended differences of docs/input-contracts.md, and those only:
//   - a string or key holding U+0000 is refused (a custom issue at its
//     path, after Zod's own issues);
//   - a lone surrogate is read as U+FFFD (so zod is given U+FFFD too);
//   - input nested deeper than 64 levels is refused as a whole;
//   - at most 20 issues.
// Schemas: the reference app's (conf/schemas) and a few exported here with
// Zod that use every format, enums, literals, defaults, nesting, arrays.
//
// make test: a fixed seed, ZOD_FUZZ_RUNS inputs per schema (400).
// make fuzz-zod: a random seed (printed), ZOD_FUZZ_RUNS=N (default 5000);
// ZOD_FUZZ_SEED=S replays a run.  The figures are printed as
// "zod-fuzz: seed S, N inputs, D disagreements".
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import fc from 'fast-check';
import { z } from 'zod';
import { Nginx, ROOT, conninfo } from './lib/nginx.mjs';

const RUNS = Number(process.env.ZOD_FUZZ_RUNS || 400);
const SEED = process.env.ZOD_FUZZ_SEED === 'random'
  ? Math.floor(Math.random() * 2 ** 31)
  : Number(process.env.ZOD_FUZZ_SEED || 20261201);
const MAX_ISSUES = 20;
const MAX_DEPTH = 64;

const dir = mkdtempSync(join(tmpdir(), 'backend-e2e-zod-fuzz-'));

const extra = {
  kitchen: z.object({
    id: z.uuid(),
    email: z.email().optional(),
    when: z.iso.datetime().optional(),
    day: z.iso.date().optional(),
    at: z.iso.time().optional(),
    ip: z.ipv4().optional(),
    ip6: z.ipv6().optional(),
    kind: z.enum(['a', 'b', 'c']),
    one: z.literal('x').optional(),
    only: z.enum(['solo']).optional(),
    ratio: z.number().min(-1.5).max(2.5).optional(),
    five: z.number().int().multipleOf(5).optional(),
    big: z.number().int().optional(),
    flag: z.boolean().optional(),
    nothing: z.null().optional(),
    maybe: z.string().max(3).nullable().optional(),
    either: z.union([z.string().max(2), z.number().int().min(0), z.array(z.boolean()).max(1)]).optional(),
  }),
  profile: z.object({
    name: z.string().min(2).max(5),
    age: z.number().int().min(0).optional(),
    role: z.enum(['user', 'mentorado', 'admin']).default('user'),
    tags: z.array(z.string().min(1).max(3)).min(1).max(3).default(['x']),
    address: z.object({ city: z.string(), zip: z.string().regex(/^\d{5}$/) }).optional(),
    code: z.string().length(4).optional(),
    slug: z.string().regex(/^[a-z]+(-[a-z]+)*$/).optional(),
  }),
  strict: z.strictObject({
    pos: z.number().positive().lt(10).optional(),
    neg: z.number().nonnegative().lte(5).optional(),
    pair: z.tuple([z.string().max(2), z.number().int()]).optional(),
    rec: z.record(z.string(), z.number()).optional(),
    shape: z.discriminatedUnion('k', [z.object({ k: z.literal('a'), a: z.string() }),
                                      z.object({ k: z.literal('b'), b: z.number() })]).optional(),
    dto: z.iso.datetime({ offset: true }).optional(),
    lit: z.literal(3).optional(),
    nest: z.object({ d: z.string().default('x'), o: z.number().optional() }).optional(),
  }),
};

const schemas = {};
for (const file of readdirSync(join(ROOT, 'conf/schemas')).filter((f) => f.endsWith('.mjs'))) {
  const mod = await import(pathToFileURL(join(ROOT, 'conf/schemas', file)).href);
  const json = join(ROOT, 'conf/schemas', file.replace(/\.mjs$/, '.json'));
  schemas[file.replace(/\.mjs$/, '')] = { zod: mod.default, json };
}
for (const [name, zod] of Object.entries(extra)) {
  const json = join(dir, `${name}.json`);
  writeFileSync(json, JSON.stringify(z.toJSONSchema(zod, { io: 'input' })));
  schemas[name] = { zod, json };
}
for (const s of Object.values(schemas)) {
  s.schema = z.toJSONSchema(s.zod, { io: 'input' });
}

let http = `    backend_pg main "${conninfo()}";\n`;
for (const [name, s] of Object.entries(schemas)) {
  http += `    backend_procedure fuzz.${name} { type mutation; tier public; input ${s.json};
        sql "select $1::jsonb as input"; params input; result value; }\n`;
}

const nginx = new Nginx({ http });
before(() => nginx.start());
after(() => nginx.stop());


// --- generation: a JSON text (numbers may be spelled in any way JSON allows)

class Raw {
  constructor(text) { this.text = text; }
}
class Obj {
  constructor(entries) { this.entries = entries; }
}

function write(v) {
  if (v instanceof Raw) return v.text;
  if (v instanceof Obj) return `{${v.entries.map(([k, x]) => `${JSON.stringify(k)}:${write(x)}`).join(',')}}`;
  if (Array.isArray(v)) return `[${v.map(write).join(',')}]`;
  return JSON.stringify(v);
}

const MAX_SAFE = Number.MAX_SAFE_INTEGER;

// the same integer written the ways JSON allows
const spellings = (n) => {
  const s = String(n);
  if (!/^-?\d+$/.test(s)) return fc.constant(new Raw(JSON.stringify(n)));
  return fc.constantFrom(s, `${s}.0`, `${s}e0`, n === 0 ? '0e5' : `${s}0e-1`, `${s}.000`, `${s}E+0`)
    .map((t) => new Raw(t));
};

const weird = fc.constantFrom(
  new Raw('1e400'), new Raw('-1e400'), new Raw('1e-400'), new Raw('-0'), new Raw('0.0e5'),
  null, true, false, 0, -1, 1.5, '', 'x', '0', [], new Obj([]), [1, 'a'],
  new Obj([['a', 1]]), '\u0000', 'a\u0000', '\ud800', [[[]]],
);

function numbers(s) {
  const bounds = [s.minimum, s.maximum, s.exclusiveMinimum, s.exclusiveMaximum]
    .filter((b) => typeof b === 'number');
  const near = [];
  for (const b of bounds) near.push(b - 1, b, b + 1, b - 0.5, b + 0.5);
  near.push(0, -1, 1, MAX_SAFE, MAX_SAFE + 1, MAX_SAFE + 2, -MAX_SAFE, -MAX_SAFE - 1,
            2 ** 53, 2 ** 60, -(2 ** 60), 1e21, 1e300, -1e300, 0.1, 2.5);
  if (s.multipleOf) near.push(s.multipleOf, s.multipleOf * 3, s.multipleOf + 1, s.multipleOf / 2);
  const value = fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...near) },
    { weight: 2, arbitrary: fc.integer({ min: -1000, max: 1000 }) },
    { weight: 1, arbitrary: fc.double({ noNaN: true, noDefaultInfinity: true }) },
  );
  return value.chain((n) => (Number.isInteger(n) ? spellings(n) : fc.constant(n)));
}

// characters: ASCII, 2-, 3- and 4-byte UTF-8, combining, NUL, controls,
// lone surrogates, quotes and backslashes (escaped by JSON.stringify)
const char = fc.constantFrom('a', 'b', 'z', 'A', '0', '9', '-', '.', '@', ':', ' ', 'é', '中', '😀',
  '\u0301', '\u0000', '\u0001', '\u001f', '\u007f', '\u2028', '\ud800', '\udc00', '\udbff',
  '"', '\\', '/', 'ß', '\ufffd', '\ufeff');
const ascii = fc.constantFrom(...'abcdefxyz0123456789-.:@_T Z+'.split(''));

const str = (min, max, ch = char) => fc.array(ch, { minLength: min, maxLength: max }).map((a) => a.join(''));

const formats = {
  'date-time': ['2025-06-03T00:00:00Z', '2025-06-03T00:00:00.123Z', '2025-06-03T00:00:00+02:00',
                '2025-02-30T00:00:00Z', '2024-02-29T23:59:59Z', '2023-02-29T00:00:00Z',
                '2025-06-03T24:00:00Z', '2025-06-03t00:00:00z', '2025-06-03 00:00:00Z',
                '2025-06-03T00:00:60Z', '2025-06-03T00:00Z', '2025-06-03'],
  date: ['2025-06-03', '2024-02-29', '2023-02-29', '2025-13-01', '2025-6-3', '20250603',
         '2025-06-03T00:00:00Z', '0000-01-01', '9999-12-31'],
  email: ['a@b.co', 'ana.silva@example.com', 'a@b', 'a@@b.co', '@b.co', 'a@b.c', 'a b@c.co',
          "o'neil@x.io", 'a+tag@x.io', 'a@[127.0.0.1]', 'é@b.co', 'a@b.co.', '.a@b.co',
          'a..b@c.co', 'A@B.CO'],
  uuid: ['a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11',
         '00000000-0000-0000-0000-000000000000', 'ffffffff-ffff-ffff-ffff-ffffffffffff',
         'a0eebc99-9c0b-0ef8-bb6d-6bb9bd380a11', 'a0eebc99-9c0b-4ef8-cb6d-6bb9bd380a11',
         'a0eebc999c0b4ef8bb6d6bb9bd380a11', '{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}',
         'a0eebc99-9c0b-9ef8-bb6d-6bb9bd380a11', 'nope'],
  ipv4: ['127.0.0.1', '0.0.0.0', '255.255.255.255', '256.0.0.1', '1.2.3', '01.2.3.4',
         '1.2.3.4.5', ' 1.2.3.4', '1.2.3.04'],
  ipv6: ['::1', '::', '2001:db8::1', 'fe80::1%eth0', '2001:db8:0:0:0:0:0:1', '1:2:3:4:5:6:7:8',
         '1:2:3:4:5:6:7:8:9', '::ffff:127.0.0.1', 'gggg::1', '2001:db8::1::1', '1::'],
};

function strings(s) {
  const lengths = [s.minLength, s.maxLength].filter((n) => typeof n === 'number');
  const near = [0, 1, 2];
  for (const n of lengths) near.push(Math.max(0, n - 1), n, n + 1);
  const sized = fc.constantFrom(...near).chain((n) => fc.oneof(str(n, n), str(n, n, ascii)));
  const arbs = [{ weight: 3, arbitrary: sized }, { weight: 1, arbitrary: str(0, 12) }];
  if (s.format && formats[s.format]) {
    const f = fc.constantFrom(...formats[s.format]);
    arbs.push({ weight: 6, arbitrary: f });
    // a valid one with one character changed, added or taken away
    arbs.push({ weight: 2, arbitrary: fc.tuple(f, fc.nat(40), char).map(([v, i, c]) => {
      const k = i % (v.length + 1);
      return [v.slice(0, k) + c + v.slice(k + 1), v.slice(0, k) + c + v.slice(k), v.slice(0, k)][i % 3];
    }) });
  }
  if (s.format === 'uri') {
    arbs.push({ weight: 6, arbitrary: fc.constantFrom('https://example.com', 'http://a.b/c?d#e', 'mailto:a@b.co',
      'example.com', '//a.b', 'http://', 'https://exa mple.com', 'http://[::1]:80/', 'ftp://x', 'a:b',
      'http://ex%41mple.com', 'https://例え.jp', 'http://a.b/ c') });
  }
  if (s.pattern && !s.format) {
    arbs.push({ weight: 3, arbitrary: str(0, 8, fc.constantFrom('a', 'b', '-', '1', '9', 'x', 'é')) });
    arbs.push({ weight: 1, arbitrary: fc.constantFrom('12345', '1234', '123456', 'abc', 'a-b', 'a--b', '-a', 'a-') });
  }
  return fc.oneof(...arbs);
}

function valueOf(s, depth = 0) {
  if (s === true || s === false || s === undefined) return weird;
  const arbs = [{ weight: 1, arbitrary: weird }];
  for (const branches of [s.anyOf, s.oneOf].filter(Boolean)) {
    arbs.push({ weight: 8, arbitrary: fc.oneof(...branches.map((b) => valueOf(b, depth))) });
  }
  if (s.enum) {
    const near = s.enum.flatMap((v) => (typeof v === 'string'
      ? [v, v.toUpperCase(), `${v} `, v.slice(1), `${v}\u0000`] : [v]));
    arbs.push({ weight: 8, arbitrary: fc.constantFrom(...near) });
  }
  if (s.const !== undefined) {
    arbs.push({ weight: 8, arbitrary: fc.constantFrom(s.const, `${s.const}x`, String(s.const).toUpperCase()) });
  }
  const types = [].concat(s.type ?? []);
  for (const t of types) {
    if (t === 'integer' || t === 'number') arbs.push({ weight: 8, arbitrary: numbers(s) });
    if (t === 'string' && !s.enum && s.const === undefined) arbs.push({ weight: 8, arbitrary: strings(s) });
    if (t === 'boolean') arbs.push({ weight: 4, arbitrary: fc.boolean() });
    if (t === 'null') arbs.push({ weight: 4, arbitrary: fc.constant(null) });
    if (t === 'object') arbs.push({ weight: 10, arbitrary: objects(s, depth) });
    if (t === 'array') arbs.push({ weight: 8, arbitrary: arrays(s, depth) });
  }
  return fc.oneof(...arbs);
}

function arrays(s, depth) {
  if (s.prefixItems) {
    return fc.tuple(fc.tuple(...s.prefixItems.map((p) => valueOf(p, depth + 1))), fc.nat(3), fc.array(weird, { maxLength: 2 }))
      .map(([items, cut, more]) => [...items.slice(0, items.length - (cut === 3 ? 1 : 0)), ...(cut === 2 ? more : [])]);
  }
  const near = [0, 1];
  for (const n of [s.minItems, s.maxItems].filter((x) => typeof x === 'number')) near.push(Math.max(0, n - 1), n, n + 1);
  return fc.constantFrom(...near).chain((n) => fc.array(valueOf(s.items, depth + 1), { minLength: n, maxLength: n }));
}

// extra keys: stripped by z.object, but NUL in them is still refused
const extraKey = fc.constantFrom('extra', 'x', 'a\u0000b', '\ud800k', 'é', 'limit2');
const deep = fc.integer({ min: 60, max: 70 }).map((n) => {
  let v = 1;
  for (let i = 0; i < n; i++) v = [v];
  return v;
});

function objects(s, depth) {
  if (!s.properties && typeof s.additionalProperties === 'object') {
    return fc.array(fc.tuple(fc.oneof(extraKey, fc.constantFrom('k', 'é', '')), valueOf(s.additionalProperties, depth + 1)),
                    { maxLength: 3 }).map((e) => new Obj(e.filter(([k], i) => e.findIndex(([x]) => x === k) === i)));
  }
  const props = Object.entries(s.properties ?? {});
  const required = new Set(s.required ?? []);
  const entries = props.map(([k, ps]) => fc.option(valueOf(ps, depth + 1).map((v) => [k, v]),
    { freq: required.has(k) ? 8 : 2, nil: undefined }));
  const extras = fc.array(fc.tuple(extraKey, fc.oneof(weird, { weight: depth ? 0 : 1, arbitrary: deep })),
    { maxLength: 2 });
  return fc.tuple(fc.tuple(...entries), extras, fc.boolean())
    .chain(([list, more, shuffle]) => {
      const all = list.filter(Boolean);
      for (const [k, v] of more) {
        if (!all.some(([key]) => key === k) && !props.some(([key]) => key === k)) all.push([k, v]);
      }
      if (!shuffle) return fc.constant(new Obj(all));
      return fc.shuffledSubarray(all, { minLength: all.length, maxLength: all.length })
        .map((e) => new Obj(e));
    });
}


// --- what is expected: zod's answer, and the intended differences

const LONE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

function wellFormed(v) {
  if (typeof v === 'string') return v.replace(LONE, '\ufffd');
  if (Array.isArray(v)) return v.map(wellFormed);
  if (v && typeof v === 'object') {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [wellFormed(k), wellFormed(x)]));
  }
  return v;
}

function nulIssues(v, path = [], out = []) {
  if (typeof v === 'string') {
    if (v.includes('\u0000')) out.push({ code: 'custom', path, message: 'Invalid string: must not contain U+0000' });
  } else if (Array.isArray(v)) {
    v.forEach((x, i) => nulIssues(x, [...path, i], out));
  } else if (v && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      if (k.includes('\u0000')) out.push({ code: 'custom', path: [...path, k], message: 'Invalid key: must not contain U+0000' });
      nulIssues(x, [...path, k], out);
    }
  }
  return out;
}

const depthOf = (v) => (Array.isArray(v) || (v && typeof v === 'object')
  ? 1 + Math.max(0, ...Object.values(v).map(depthOf)) : 0);

// ZodError.flatten()
function flatten(issues) {
  const flat = { formErrors: [], fieldErrors: {} };
  for (const i of issues) {
    if (i.path.length) (flat.fieldErrors[i.path[0]] ??= []).push(i.message);
    else flat.formErrors.push(i.message);
  }
  return flat;
}

async function check(name, raw) {
  const parsed = JSON.parse(raw);
  const res = await fetch(`${nginx.url}/fuzz.${name}`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: raw,
  });
  const text = await res.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    return `not JSON: ${res.status} ${text.slice(0, 200)}`;
  }

  if (depthOf(parsed) > MAX_DEPTH) {
    if (res.status === 400 && body.error?.data?.code === 'BAD_REQUEST'
        && /nested deeper than 64/.test(body.error.message)) return null;
    return `deeper than ${MAX_DEPTH}: ${res.status} ${text.slice(0, 200)}`;
  }

  const zod = schemas[name].zod.safeParse(wellFormed(parsed));
  // JSON.parse(JSON.stringify()): what zod's issues are as JSON
  const expected = JSON.parse(JSON.stringify([...(zod.success ? [] : zod.error.issues), ...nulIssues(wellFormed(parsed))]))
    .slice(0, MAX_ISSUES);

  if (expected.length === 0) {
    if (res.status !== 200) return `zod accepts, server ${res.status}: ${text.slice(0, 300)}`;
    // what zod's parse returns (unknown keys stripped, defaults) is what
    // the server bound, as JSON
    const data = zod.data === undefined ? null : JSON.parse(JSON.stringify(zod.data));
    try {
      assert.deepEqual(body.result.data, data);
    } catch {
      return `data: zod ${JSON.stringify(data)}, server ${JSON.stringify(body.result.data)}`;
    }
    return null;
  }

  if (res.status !== 400 || body.error?.data?.code !== 'BAD_REQUEST') {
    return `zod refuses (${JSON.stringify(expected[0])}), server ${res.status}: ${text.slice(0, 300)}`;
  }
  let got;
  try {
    got = JSON.parse(body.error.message);
  } catch {
    return `message is not the issues: ${body.error.message}`;
  }
  const a = got.map((i) => JSON.stringify(i));
  const b = expected.map((i) => JSON.stringify(i));
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if (a[i] !== b[i]) return `issue ${i}: zod ${b[i]}, server ${a[i]}`;
  }
  try {
    assert.deepEqual(body.error.data.zodError, flatten(expected));
  } catch {
    return `zodError: ${JSON.stringify(body.error.data.zodError)}`;
  }
  return null;
}

let total = 0;
let disagreements = 0;

test(`zod-fuzz: seed ${SEED}, ${RUNS} inputs per schema, each decided as zod decides`, async () => {
  console.log(`zod-fuzz: seed ${SEED} (ZOD_FUZZ_SEED=${SEED} replays it), ${RUNS} inputs per schema`);
  const seen = [];
  let k = 0;
  for (const [name, s] of Object.entries(schemas)) {
    const arb = fc.oneof({ weight: 12, arbitrary: valueOf(s.schema) }, { weight: 1, arbitrary: weird });
    const inputs = fc.sample(arb, { seed: SEED + k++, numRuns: RUNS }).map(write);
    // a few at a time over keep-alive connections
    for (let i = 0; i < inputs.length; i += 8) {
      const results = await Promise.all(inputs.slice(i, i + 8).map((raw) => check(name, raw)));
      results.forEach((r, j) => {
        total++;
        if (r) {
          disagreements++;
          if (seen.length < 15) seen.push(`${name} ${inputs[i + j].slice(0, 300)}\n    ${r}`);
        }
      });
    }
  }
  console.log(`zod-fuzz: seed ${SEED}, ${total} inputs, ${disagreements} disagreements`);
  assert.equal(disagreements, 0, `disagreements with zod:\n  ${seen.join('\n  ')}`);
});
