// make schemas (tools/schemas.mjs) on small fixture schemas
// (t/e2e/fixtures/schemas): what the JSON Schema cannot hold, or would hold
// more weakly than Zod checks it, is refused with one line per problem that
// names the file, the schema path and the construct, never a stack trace,
// and nothing is written; an explicit .meta({ exportUnchecked }) exports;
// conf/schemas still export unchanged.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const FIX = 't/e2e/fixtures/schemas';
const OPT = "not exported (opt out: .meta({ exportUnchecked: 'why' }))";

function exporter(...args) {
  const out = mkdtempSync(join(tmpdir(), 'schemas-export-'));
  try {
    const r = spawnSync(process.execPath, ['tools/schemas.mjs', `--out=${out}`, ...args],
                        { cwd: ROOT, encoding: 'utf8' });
    const written = Object.fromEntries(readdirSync(out).map((f) => [f, readFileSync(join(out, f), 'utf8')]));
    return { status: r.status, stdout: r.stdout, stderr: r.stderr, written };
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

// each fixture: the lines make schemas must print, in this order
const refused = {
  'refine.mjs': [
    `input.properties.id: .refine(): a function JSON Schema cannot express; nginx would not run it; ${OPT}`],
  'super-refine.mjs': [
    `input.properties.tags.items: .superRefine() or .check(): a function JSON Schema cannot express; nginx would not run it; ${OPT}`],
  'transform.mjs': [
    `input.properties.name: .transform(): only its input side can be exported; SQL would get the value untransformed and unchecked by the rest; ${OPT}`],
  'trim.mjs': [
    `input.properties.name: .trim(): Zod changes the value before its other checks and before SQL sees it; the JSON Schema does not; ${OPT}`],
  'lowercase.mjs': [
    `input.anyOf.1: .toLowerCase(): Zod changes the value before its other checks and before SQL sees it; the JSON Schema does not; ${OPT}`],
  'pipe.mjs': [
    `input.properties.code: .pipe(): only its input side can be exported; SQL would get the value untransformed and unchecked by the rest; ${OPT}`],
  'coerce.mjs': [
    `input.properties.limit: z.coerce.number(): Zod converts any input to a number first; the JSON Schema checks the input as sent; ${OPT}`],
  'preprocess.mjs': [
    `input.properties.n: z.preprocess(): only its input side can be exported; SQL would get the value untransformed and unchecked by the rest; ${OPT}`],
  'stringbool.mjs': [
    `input.properties.on: z.stringbool(): only its input side can be exported; SQL would get the value untransformed and unchecked by the rest; ${OPT}`],
  'catch.mjs': [
    `input.properties.page: .catch(): Zod replaces an invalid input with a value; the JSON Schema refuses it instead; ${OPT}`],
  'regex-flags.mjs': [
    `input.properties.code: .regex(/^[a-z]+$/i): the flags "i" are lost in the exported pattern; ${OPT}`],
  'jwt.mjs': [
    `input.properties.token: format "jwt" (z.jwt()): nginx does not check it and it has no pattern; ${OPT}`],
  'custom.mjs': [
    'input.properties.x: z.custom() or z.instanceof(): Custom types cannot be represented in JSON Schema; a JSON body cannot hold it'],
  'date.mjs': [
    'input.properties.at: z.date(): Date cannot be represented in JSON Schema; a JSON body cannot hold it'],
  'date-superjson-min.mjs': [
    `input.properties.at: z.date().min() or .max(): the export has no bound for a Date; ${OPT}`],
  'bigint.mjs': [
    'input.properties.n: z.bigint(): BigInt cannot be represented in JSON Schema; a JSON body cannot hold it'],
  'several.mjs': [
    `input.properties.a: .refine(): a function JSON Schema cannot express; nginx would not run it; ${OPT}`,
    `input.properties.b.properties.c: .trim(): Zod changes the value before its other checks and before SQL sees it; the JSON Schema does not; ${OPT}`,
    `input.properties.b.properties.d: z.coerce.boolean(): Zod converts any input to a boolean first; the JSON Schema checks the input as sent; ${OPT}`,
    'input.properties.e: z.date(): Date cannot be represented in JSON Schema; a JSON body cannot hold it'],
  'opt-out-empty.mjs': [
    'input.properties.id: .meta({ exportUnchecked }) needs a reason: a non-empty string',
    `input.properties.id: .refine(): a function JSON Schema cannot express; nginx would not run it; ${OPT}`],
  'opt-out-partial.mjs': [
    `input.properties.name: .trim(): Zod changes the value before its other checks and before SQL sees it; the JSON Schema does not; ${OPT}`],
  'opt-out-shared.mjs': [
    `input.properties.inner.properties.id: .refine(): a function JSON Schema cannot express; nginx would not run it; ${OPT} (a schema used in more than one place: not every use is opted out)`],
  'zod3.mjs': [
    "the default export is a Zod 3 schema; Zod 4 is required (import { z } from 'zod' with zod 4, not 'zod/v3' or zod@3)"],
  'not-zod.mjs': ['the default export is not a Zod schema'],
  'syntax-error.mjs': ["cannot load: Unexpected token ')'"],
};

for (const [file, lines] of Object.entries(refused)) {
  test(`refused: ${file}`, () => {
    const r = exporter(`${FIX}/${file}`);
    assert.equal(r.status, 1, r.stdout + r.stderr);
    assert.deepEqual(r.stderr.trimEnd().split('\n'), lines.map((l) => `${FIX}/${file}: ${l}`));
    assert.doesNotMatch(r.stderr, /^\s+at /m, 'no stack trace');
    assert.deepEqual(r.written, {}, 'nothing written');
  });
}

test('every fixture is covered', () => {
  const all = readdirSync(join(ROOT, FIX)).filter((f) => f.endsWith('.mjs')).sort();
  assert.deepEqual(all, [...Object.keys(refused), 'opt-out.mjs', 'date-superjson.mjs'].sort());
});

test('an explicit opt-out exports the weaker contract, with its reason in the JSON', () => {
  const r = exporter(`${FIX}/opt-out.mjs`);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, '');
  assert.deepEqual(JSON.parse(r.written['opt-out.json']).properties.id, {
    type: 'integer',
    minimum: -9007199254740991,
    maximum: 9007199254740991,
    exportUnchecked: 'odd ids are checked by the SQL statement',
  });
});

test('z.date() of a superjson module: a string its meta marks a Date', () => {
  const r = exporter(`${FIX}/date-superjson.mjs`);
  assert.equal(r.status, 0, r.stderr);
  const date = { type: 'string', format: 'date-time', 'x-superjson': 'Date' };
  assert.deepEqual(JSON.parse(r.written['date-superjson.json']).properties, {
    at: date,
    until: { anyOf: [date, { type: 'null' }] },
  });
});

test('a directory: the refused files are named, the others still exported, exit 1', () => {
  const r = exporter(FIX);
  assert.equal(r.status, 1);
  assert.deepEqual(Object.keys(r.written).sort(), ['date-superjson.json', 'opt-out.json']);
  for (const file of Object.keys(refused)) {
    assert.match(r.stderr, new RegExp(`^${FIX}/${file.replace('.', '\\.')}: `, 'm'), file);
  }
});

test('conf/schemas export unchanged', () => {
  const r = exporter('conf/schemas');
  assert.equal(r.status, 0, r.stderr);
  const committed = readdirSync(join(ROOT, 'conf/schemas')).filter((f) => f.endsWith('.json')).sort();
  assert.deepEqual(Object.keys(r.written).sort(), committed);
  for (const f of committed) {
    assert.equal(r.written[f], readFileSync(join(ROOT, 'conf/schemas', f), 'utf8'), f);
  }
  const c = spawnSync(process.execPath, ['tools/schemas.mjs', '--check', 'conf/schemas'],
                      { cwd: ROOT, encoding: 'utf8' });
  assert.equal(c.status, 0, c.stderr);
});
