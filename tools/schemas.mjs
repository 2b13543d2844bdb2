#!/usr/bin/env node
// Exports every Zod schema in conf/schemas/*.mjs (its default export) to
// the JSON Schema file next to it, which nginx loads (`input` in a
// backend_procedure).  With --check, writes nothing and fails when a
// committed JSON file is missing or differs from what Zod exports now.
//
// A schema whose JSON Schema would accept what the Zod schema refuses, or
// hand SQL a value Zod would have changed (.refine(), .transform(),
// .trim(), .pipe(), z.coerce.*, z.preprocess(), .catch(), a format nginx
// does not check, ...), is refused, naming the file, the schema path and
// the construct, unless the author opts out for that part of the schema
// with .meta({ exportUnchecked: 'why' }) (docs/input-contracts.md).  What
// has no JSON form at all (z.date(), z.bigint(), ...) is refused always,
// except z.date() in a module that says `export const transformer =
// 'superjson'`: its input comes through backend_rpc_transformer superjson
// locations, whose meta marks Dates; it is exported as
// {"type":"string","format":"date-time","x-superjson":"Date"}, a string
// that superjson's meta says is a Date (docs/clients.md).
//
// usage: node tools/schemas.mjs [--check] [--out=DIR] [DIR | FILE.mjs ...]
//   --out=DIR  write (or compare) the .json files in DIR instead of next
//              to each .mjs
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';

// formats nginx asserts (docs/input-contracts.md); others are annotations,
// so a format without a pattern beside it would not be checked at all
// (by Zod's names: datetime is date-time, url is uri, guid is uuid)
const CHECKED_FORMATS = new Set(['datetime', 'date', 'time', 'email', 'uuid',
                                 'guid', 'url', 'ipv4', 'ipv6']);

// checks toJSONSchema turns into keywords; any other kind would vanish
const EXPORTED_CHECKS = new Set(['less_than', 'greater_than', 'multiple_of',
                                 'number_format', 'min_length', 'max_length',
                                 'length_equals', 'string_format', 'describe']);

// regular expression flags the exported `pattern` (run by PCRE2, UTF-8)
// keeps the meaning of; i, m, s, y, v would be dropped
const HARMLESS_FLAGS = /^[gdu]*$/;

const OPT_OUT = 'exportUnchecked';
const HOW = `not exported (opt out: .meta({ ${OPT_OUT}: 'why' }))`;

const UNREPRESENTABLE = {
  date: 'z.date()', bigint: 'z.bigint()', symbol: 'z.symbol()',
  undefined: 'z.undefined()', void: 'z.void()', nan: 'z.nan()',
  custom: 'z.custom() or z.instanceof()', function: 'z.function()',
  transform: 'z.transform()', map: 'z.map()', set: 'z.set()',
  literal: 'z.literal()', number: '.multipleOf()', default: '.default()',
  catch: '.catch()', object: 'z.object()', record: 'z.record()',
};

const where = (path) => ['input', ...path].join('.');

function overwriteName(check) {
  const src = String(check._zod.def.tx ?? '');
  for (const m of ['trim', 'toLowerCase', 'toUpperCase', 'normalize', 'slugify']) {
    if (src.includes(m)) {
      return `.${m}()`;
    }
  }
  return '.overwrite()';
}

function pipeName(def) {
  if (def.transform && def.reverseTransform) {
    return def.in?._zod.def.type === 'string' && def.out?._zod.def.type === 'boolean'
      ? 'z.stringbool()' : 'z.codec()';
  }
  if (def.in?._zod.def.type === 'transform') {
    return 'z.preprocess()';
  }
  if (def.out?._zod.def.type === 'transform') {
    return '.transform()';
  }
  return '.pipe()';
}

// what in this one schema node the JSON Schema would drop or weaken
function inspect(schema) {
  const def = schema._zod.def;
  const found = [];

  if (def.type === 'date' && def.checks?.length) {
    found.push('z.date().min() or .max(): the export has no bound for a Date');
    return found;
  }

  if (def.coerce) {
    found.push(`z.coerce.${def.type}(): Zod converts any input to a ${def.type} `
               + 'first; the JSON Schema checks the input as sent');
  }

  if (def.type === 'pipe') {
    found.push(`${pipeName(def)}: only its input side can be exported; SQL `
               + 'would get the value untransformed and unchecked by the rest');
  }

  if (def.type === 'catch') {
    found.push('.catch(): Zod replaces an invalid input with a value; the '
               + 'JSON Schema refuses it instead');
  }

  if (def.type === 'promise' || def.type === 'success' || def.type === 'file') {
    found.push(`z.${def.type}(): not a JSON input; the export would not check it`);
  }

  if (def.type === 'string' && (def.protocol || def.hostname)) {
    found.push(`${def.normalize ? 'z.httpUrl()' : 'z.url()'} with a protocol or `
               + 'hostname rule: JSON Schema keeps only format "uri"');
  }

  for (const p of [def.pattern, ...(def.checks ?? []).map((c) => c._zod.def.pattern)]) {
    if (p instanceof RegExp && !HARMLESS_FLAGS.test(p.flags)) {
      found.push(`.regex(${p}): the flags "${p.flags}" are lost in the `
                 + 'exported pattern');
    }
  }

  // a string format is exported as its pattern, or as a format nginx
  // asserts; z.jwt() and z.stringFormat(name, fn) would be neither
  for (const d of [def, ...(def.checks ?? []).map((c) => c._zod.def)]) {
    if (typeof d.format === 'string' && (d.type === 'string' || d.check === 'string_format')
        && !(d.pattern instanceof RegExp) && !CHECKED_FORMATS.has(d.format)) {
      found.push(`format "${d.format}" (z.${d.format === 'jwt' ? 'jwt' : 'stringFormat'}()): `
                 + 'nginx does not check it and it has no pattern');
    }
  }

  for (const check of def.checks ?? []) {
    const kind = check._zod.def.check;
    if (kind === 'custom') {
      found.push(`${check._zod.def.fn ? '.refine()' : '.superRefine() or .check()'}: `
                 + 'a function JSON Schema cannot express; nginx would not run it');
    } else if (kind === 'overwrite') {
      found.push(`${overwriteName(check)}: Zod changes the value before its `
                 + 'other checks and before SQL sees it; the JSON Schema does not');
    } else if (!EXPORTED_CHECKS.has(kind)) {
      found.push(`a "${kind}" check: the export drops it`);
    }
  }

  return found;
}

function optedOut(schema) {
  const reason = z.globalRegistry.get(schema)?.[OPT_OUT];
  return typeof reason === 'string' && reason.trim() !== '';
}

// the schema's direct subschemas, whatever its kind (shape, element,
// options, innerType, in/out, a lazy's target, what .meta() was called on)
function children(schema) {
  const def = schema._zod.def;
  const out = [];
  const add = (v) => {
    if (v?._zod) {
      out.push(v);
    } else if (Array.isArray(v)) {
      v.forEach(add);
    }
  };
  for (const [key, v] of Object.entries(def)) {
    if (key === 'checks') {
      continue;
    }
    if (key === 'shape' && v && typeof v === 'object') {
      Object.values(v).forEach(add);
    } else {
      add(v);
    }
  }
  if (def.type === 'lazy') {
    add(schema._zod.innerType);
  }
  add(schema._zod.parent);
  return out;
}

// Zod exports a schema used in several places once, under the first of
// its paths; an opt-out above one place must not cover the others.  The
// schemas reached on at least one way from the root without an opt-out.
function uncovered(root) {
  const exposed = new Set();
  const walk = (schema) => {
    if (optedOut(schema) || exposed.has(schema)) {
      return;
    }
    exposed.add(schema);
    children(schema).forEach(walk);
  };
  walk(root);
  return exposed;
}


// the JSON Schema of one file's default export, or a list of refusals;
// superjson: z.date() is a marked string (above)
function exportSchema(schema, superjson = false) {
  const unrepresentable = new Map();   // schema -> what
  const groups = [];                   // per node: [{ path, what, always }]
  const optOuts = [];                  // their paths

  const json = z.toJSONSchema(schema, {
    io: 'input',
    unrepresentable: (ctx) => {
      const type = ctx.zodSchema._zod.def.type;
      unrepresentable.set(ctx.zodSchema,
                          `${UNREPRESENTABLE[type] ?? type}: ${ctx.message}; `
                          + 'a JSON body cannot hold it');
      return {};
    },
    // called for every node, in reverse order of the schema
    override: (ctx) => {
      const node = [];
      const path = ctx.path;
      if (superjson && ctx.zodSchema._zod.def.type === 'date') {
        unrepresentable.delete(ctx.zodSchema);
        Object.assign(ctx.jsonSchema, { type: 'string', format: 'date-time',
                                        'x-superjson': 'Date' });
      }
      if (unrepresentable.has(ctx.zodSchema)) {
        node.push({ path, always: true, what: unrepresentable.get(ctx.zodSchema) });
      }
      const reason = z.globalRegistry.get(ctx.zodSchema)?.[OPT_OUT];
      if (reason !== undefined) {
        if (typeof reason !== 'string' || reason.trim() === '') {
          node.push({ path, always: true,
                      what: `.meta({ ${OPT_OUT} }) needs a reason: a non-empty string` });
        } else {
          optOuts.push(path);
        }
      }
      for (const what of inspect(ctx.zodSchema)) {
        node.push({ path, what, schema: ctx.zodSchema });
      }
      groups.push(node);
    },
  });
  const refused = groups.reverse().flat();

  const exposed = uncovered(schema);
  const under = (path) => optOuts.some((o) => o.length <= path.length
                                       && o.every((k, i) => k === path[i]));

  const seen = new Set();
  const problems = [];
  for (const r of refused) {
    const shared = !r.always && under(r.path)
      ? ' (a schema used in more than one place: not every use is opted out)' : '';
    const line = `${where(r.path)}: ${r.what}${r.always ? '' : `; ${HOW}`}${shared}`;
    if ((r.always || exposed.has(r.schema)) && !seen.has(line)) {
      seen.add(line);
      problems.push(line);
    }
  }

  return { json, problems };
}

function describeExport(value) {
  if (value?._zod?.def) {
    return null;
  }
  if (value?._def && typeof value.safeParse === 'function') {
    return 'the default export is a Zod 3 schema; Zod 4 is required '
           + "(import { z } from 'zod' with zod 4, not 'zod/v3' or zod@3)";
  }
  return 'the default export is not a Zod schema';
}

const args = process.argv.slice(2);
const check = args.includes('--check');
const outArg = args.find((a) => a.startsWith('--out='));
const outDir = outArg ? resolve(outArg.slice(6)) : null;
const targets = args.filter((a) => !a.startsWith('--'));

const files = [];
for (const t of targets.length ? targets : ['conf/schemas']) {
  const p = resolve(t);
  if ((await stat(p)).isDirectory()) {
    const names = (await readdir(p)).filter((f) => f.endsWith('.mjs')).sort();
    files.push(...names.map((f) => join(p, f)));
  } else {
    files.push(p);
  }
}

let stale = 0;
let failed = 0;

for (const path of files) {
  const file = relative(process.cwd(), path) || path;
  const fail = (msg) => {
    console.error(`${file}: ${msg}`);
    failed++;
  };

  let mod;
  try {
    mod = await import(pathToFileURL(path).href);
  } catch (e) {
    fail(`cannot load: ${String(e?.message ?? e).split('\n')[0]}`);
    continue;
  }

  const wrong = describeExport(mod.default);
  if (wrong) {
    fail(wrong);
    continue;
  }

  if (mod.transformer !== undefined && mod.transformer !== 'superjson') {
    fail(`export const transformer: "superjson" or nothing, not ${JSON.stringify(mod.transformer)}`);
    continue;
  }

  let result;
  try {
    result = exportSchema(mod.default, mod.transformer === 'superjson');
  } catch (e) {
    fail(`cannot export: ${String(e?.message ?? e).split('\n')[0]}`);
    continue;
  }

  if (result.problems.length) {
    result.problems.forEach(fail);
    continue;
  }

  // io: 'input' describes what a client may send (optional fields with
  // defaults stay optional), which is what the validator checks
  const json = JSON.stringify(result.json, null, 2) + '\n';
  const out = join(outDir ?? dirname(path), basename(path).replace(/\.mjs$/, '.json'));

  let old = null;
  try {
    old = await readFile(out, 'utf8');
  } catch {
    // missing
  }

  if (old === json) {
    continue;
  }

  if (check) {
    console.error(`${relative(process.cwd(), out)}: not current with ${file}; run \`make schemas\``);
    stale++;
    continue;
  }

  await writeFile(out, json);
  console.log(`wrote ${relative(process.cwd(), out)}`);
}

if (failed || (check && stale)) {
  process.exit(1);
}

console.log(`${files.length} schema(s) ${check ? 'checked' : 'exported'}`);
