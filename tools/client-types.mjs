#!/usr/bin/env node
// make client-types: the TypeScript types of a configuration's procedures,
// for a web app's createTRPCClient<AppRouter>() (docs/clients.md).
//
// Reads the backend_procedure blocks (and backend_auth_user, for
// "data ctx.user") of an nginx configuration file and the files it
// includes; each input is typed from its JSON Schema (the `input` file,
// which make schemas exports from Zod), else from the SQL parameters that
// `params input...` binds; each output from the statement's result columns
// as the database describes them (tools/pg-describe.c: PQdescribePrepared,
// PQftable/PQftablecol and the catalog) and the JSON the module writes for
// each type (src/ngx_http_backend_pg_types.c, docs/directives.md), shaped
// by `result` (many, one, value, none) or `data`; a `call` without `sql`
// (an external API's answer) is `unknown`.
//
// Writes one module with two routers: AppRouter for plain JSON locations,
// AppRouterSuperjson for `backend_rpc_transformer superjson` locations
// (Dates of timestamp columns, z.date() inputs).  With --check, writes
// nothing and fails when the file is not what it would write.
//
// usage: node tools/client-types.mjs [--check] [--db=CONNINFO]
//            [--describe=PATH] [--out=FILE] [CONF]
//   CONF       conf/procedures.conf (or a whole nginx.conf)
//   --out      conf/app-router.ts
//   --db       DATABASE_URL, else the database of make run
//   --describe .build/pg-describe (built by the Makefile)
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';

const args = process.argv.slice(2);
const opt = (name, def) => {
  const a = args.find((x) => x.startsWith(`--${name}=`));
  return a ? a.slice(name.length + 3) : def;
};
const check = args.includes('--check');
const confFile = resolve(args.find((a) => !a.startsWith('--')) ?? 'conf/procedures.conf');
const outFile = resolve(opt('out', 'conf/app-router.ts'));
const db = opt('db', process.env.DATABASE_URL
               ?? `postgres://postgres@127.0.0.1:${process.env.PG_PORT ?? 54329}/app`);
const describeBin = resolve(opt('describe', '.build/pg-describe'));

function die(msg) {
  console.error(`client-types: ${msg}`);
  process.exit(1);
}


// nginx's configuration syntax: words, quoted strings, ; { } and comments

function tokenize(text, file) {
  const tokens = [];
  let i = 0;
  let line = 1;
  while (i < text.length) {
    const c = text[i];
    if (c === '\n') {
      line++;
      i++;
    } else if (/\s/.test(c)) {
      i++;
    } else if (c === '#') {
      while (i < text.length && text[i] !== '\n') {
        i++;
      }
    } else if (c === ';' || c === '{' || c === '}') {
      tokens.push({ t: c, line });
      i++;
    } else if (c === '"' || c === "'") {
      const start = line;
      let s = '';
      i++;
      while (i < text.length && text[i] !== c) {
        if (text[i] === '\\' && i + 1 < text.length) {
          const n = text[i + 1];
          s += n === c || n === '\\' ? n : n === 'n' ? '\n' : n === 't' ? '\t' : n === 'r' ? '\r' : `\\${n}`;
          i += 2;
          continue;
        }
        if (text[i] === '\n') {
          line++;
        }
        s += text[i++];
      }
      if (i >= text.length) {
        die(`${file}:${start}: unterminated string`);
      }
      i++;
      tokens.push({ w: s, line: start });
    } else {
      let s = '';
      while (i < text.length && !/[\s;{}]/.test(text[i])) {
        s += text[i++];
      }
      tokens.push({ w: s, line });
    }
  }
  return tokens;
}

// an include's files: relative to the including file's directory; a
// wildcard in the file name matches as nginx's glob does, sorted; a
// template's @PLACEHOLDER@ paths are not followed
function includes(name, from) {
  const path = isAbsolute(name) ? name : join(dirname(from), name);
  if (!basename(path).includes('*')) {
    return existsSync(path) ? [path] : [];
  }
  const dir = dirname(path);
  const re = new RegExp(`^${basename(path).split('*').map((x) => x.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
  return existsSync(dir) ? readdirSync(dir).filter((f) => re.test(f)).sort().map((f) => join(dir, f)) : [];
}

// directives: { name, args, block, file, line }, includes followed
function parse(file, seen = new Set()) {
  if (seen.has(file)) {
    return [];
  }
  seen.add(file);
  const tokens = tokenize(readFileSync(file, 'utf8'), file);
  let i = 0;
  const block = () => {
    const out = [];
    while (i < tokens.length && tokens[i].t !== '}') {
      const words = [];
      const line = tokens[i].line;
      while (i < tokens.length && tokens[i].w !== undefined) {
        words.push(tokens[i++].w);
      }
      const end = tokens[i++];
      if (!end || words.length === 0) {
        die(`${file}:${line}: unexpected "${end?.t ?? 'end of file'}"`);
      }
      const d = { name: words[0], args: words.slice(1), file, line };
      if (end.t === '{') {
        d.block = block();
        i++;
      }
      if (d.name === 'include' && !d.args[0].includes('@')) {
        for (const inc of includes(d.args[0], file)) {
          out.push(...parse(inc, seen));
        }
        continue;
      }
      out.push(d);
    }
    return out;
  };
  return block();
}

function walk(dirs, fn) {
  for (const d of dirs) {
    fn(d);
    if (d.block && d.name !== 'backend_procedure') {
      walk(d.block, fn);
    }
  }
}

const procs = [];
let authUser = null;

walk(parse(confFile), (d) => {
  if (d.name === 'backend_auth_user') {
    authUser = { sql: d.args[0], file: d.file, line: d.line };
  }
  if (d.name !== 'backend_procedure') {
    return;
  }
  const p = { name: d.args[0], type: 'query', result: 'many', params: [], file: d.file, line: d.line };
  for (const x of d.block ?? []) {
    if (x.name === 'params') {
      p.params = x.args;
    } else {
      p[x.name] = x.args.length > 1 ? x.args : x.args[0];
    }
  }
  procs.push(p);
});

if (procs.length === 0) {
  die(`${relative(process.cwd(), confFile)}: no backend_procedure`);
}


// the database's description of every statement, in one run

const statements = procs.filter((p) => p.sql).map((p) => p.sql);
if (authUser) {
  statements.push(authUser.sql);
}

let described = [];

if (statements.length) {
  if (!existsSync(describeBin)) {
    die(`${describeBin} is missing: make client-types builds it`);
  }

  const r = spawnSync(describeBin, [db], { input: statements.join('\0'), encoding: 'utf8' });
  if (r.status !== 0) {
    die(`describing the statements on ${db}: ${r.stderr.trim()}`);
  }

  described = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
}
const describe = (sql, where) => {
  const d = described[statements.indexOf(sql)];
  if (d.error) {
    die(`${relative(process.cwd(), where.file)}:${where.line}: the statement does not `
        + `prepare on ${db}: ${d.error.split('\n')[0]}`);
  }
  return d;
};


// types as the module writes them (src/ngx_http_backend_pg_types.c)

const NUMBERS = new Set(['int2', 'int4', 'int8', 'oid', 'float4', 'float8']);
// arrays the writer reads; any other array is written as its text
const ARRAYS = new Set(['bool', 'int2', 'int4', 'int8', 'oid', 'float4', 'float8', 'numeric',
                        'json', 'jsonb', 'timestamp', 'timestamptz', 'text', 'varchar',
                        'bpchar', 'char', 'name', 'uuid', 'date', 'time', 'timetz', 'interval']);

function union(types) {
  return [...new Set(types)].join(' | ');
}

function outputType(t, sj) {
  if (t.base) {
    return outputType(t.base, sj);
  }
  if (t.enum) {
    return t.enum.length ? union(t.enum.map((l) => JSON.stringify(l))) : 'never';
  }
  if (t.category === 'A' && t.element) {
    if (!ARRAYS.has(t.element.type)) {
      return 'string';
    }
    // elements may be NULL (and infinity is written null)
    return `Array<${outputType(t.element, sj)} | null>`;
  }
  if (t.type === 'bool') {
    return 'boolean';
  }
  if (NUMBERS.has(t.type)) {
    return 'number';
  }
  if (t.type === 'json' || t.type === 'jsonb') {
    return 'JsonValue';
  }
  if (t.type === 'timestamp' || t.type === 'timestamptz') {
    return sj ? 'Date' : 'string';
  }
  return 'string';
}

function columnType(c, sj) {
  const t = outputType(c.of, sj);
  return c.notnull ? t : `${t.includes(' ') ? `(${t})` : t} | null`;
}

const ident = (k) => (/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(k) ? k : JSON.stringify(k));

function rowType(columns, sj, indent) {
  if (columns.length === 0) {
    return 'Record<string, never>';
  }
  const pad = ' '.repeat(indent + 2);
  return `{\n${columns.map((c) => `${pad}${ident(c.name)}: ${columnType(c, sj)};`).join('\n')}\n${' '.repeat(indent)}}`;
}

function jsonType(v) {
  if (v === null || typeof v !== 'object') {
    return JSON.stringify(v);
  }
  if (Array.isArray(v)) {
    return `[${v.map(jsonType).join(', ')}]`;
  }
  return `{ ${Object.entries(v).map(([k, x]) => `${ident(k)}: ${jsonType(x)}`).join('; ')} }`;
}


// inputs: the JSON Schema, else the parameters input... binds

function schemaType(s, root, sj, depth = 0) {
  if (depth > 32) {
    return 'unknown';
  }
  if (s === true || s === undefined) {
    return 'unknown';
  }
  if (s === false) {
    return 'never';
  }
  const sub = (x) => schemaType(x, root, sj, depth + 1);
  if (s.$ref) {
    const m = /^#\/(\$defs|definitions)\/(.+)$/.exec(s.$ref);
    return m && root[m[1]]?.[m[2]] !== undefined ? sub(root[m[1]][m[2]]) : 'unknown';
  }
  if (s['x-superjson'] === 'Date') {
    // a plain JSON location cannot carry a Date: always refused there
    return sj ? 'Date' : 'never';
  }
  if (s.const !== undefined) {
    return JSON.stringify(s.const);
  }
  if (Array.isArray(s.enum)) {
    return union(s.enum.map((v) => JSON.stringify(v)));
  }
  for (const k of ['anyOf', 'oneOf']) {
    if (Array.isArray(s[k])) {
      return union(s[k].map((x) => `(${sub(x)})`));
    }
  }
  if (Array.isArray(s.allOf)) {
    return s.allOf.map((x) => `(${sub(x)})`).join(' & ');
  }
  const types = Array.isArray(s.type) ? s.type : s.type ? [s.type] : [];
  if (types.length === 0) {
    return s.properties ? objectType(s, sub) : 'unknown';
  }
  return union(types.map((t) => {
    switch (t) {
      case 'string': return 'string';
      case 'number': case 'integer': return 'number';
      case 'boolean': return 'boolean';
      case 'null': return 'null';
      case 'array':
        if (Array.isArray(s.prefixItems)) {
          const items = s.prefixItems.map(sub);
          return s.items === false ? `[${items.join(', ')}]` : `[${items.join(', ')}, ...${sub(s.items)}[]]`;
        }
        return `Array<${sub(s.items)}>`;
      case 'object': return objectType(s, sub);
      default: return 'unknown';
    }
  }));
}

function objectType(s, sub) {
  const required = new Set(s.required ?? []);
  const props = Object.entries(s.properties ?? {})
    .map(([k, v]) => `${ident(k)}${required.has(k) ? '' : '?'}: ${sub(v)}`);
  const extra = s.additionalProperties;
  if (extra !== undefined && extra !== false) {
    props.push(`[key: string]: ${extra === true ? 'unknown' : 'unknown'}`);
  }
  return props.length ? `{ ${props.join('; ')} }` : 'Record<string, never>';
}

function paramType(t, sj) {
  if (t.base) {
    return paramType(t.base, sj);
  }
  if (t.enum) {
    return union(t.enum.map((l) => JSON.stringify(l)));
  }
  if (t.category === 'A') {
    return 'unknown';
  }
  if (t.type === 'bool') {
    return 'boolean';
  }
  if (NUMBERS.has(t.type)) {
    return sj && t.type === 'int8' ? 'number | bigint' : 'number';
  }
  if (t.type === 'numeric') {
    return sj ? 'number | string | bigint' : 'number | string';
  }
  if (t.type === 'json' || t.type === 'jsonb') {
    return 'JsonValue';
  }
  if (['timestamp', 'timestamptz', 'date'].includes(t.type)) {
    return sj ? 'Date | string' : 'string';
  }
  return 'string';
}

function paramsInput(p, d, sj) {
  const tree = {};
  let whole = null;
  p.params.forEach((name, i) => {
    if (name === 'input') {
      whole = paramType(d.params[i], sj);
      return;
    }
    if (!name.startsWith('input.')) {
      return;
    }
    const path = name.slice(6).split('.');
    let node = tree;
    path.forEach((k, j) => {
      if (j === path.length - 1) {
        node[k] = node[k] && typeof node[k] === 'object' ? 'unknown' : paramType(d.params[i], sj);
      } else {
        node[k] = node[k] && typeof node[k] === 'object' ? node[k] : {};
        node = node[k];
      }
    });
  });
  if (whole) {
    return `${whole} | null`;
  }
  if (Object.keys(tree).length === 0) {
    return 'void';
  }
  const emit = (n) => `{ ${Object.entries(n).map(([k, v]) =>
    `${ident(k)}?: ${typeof v === 'object' ? `${emit(v)} | null` : `${v} | null`}`).join('; ')} }`;
  return `${emit(tree)} | undefined`;
}


function procedureTypes(p, sj) {
  const where = { file: p.file, line: p.line };
  let input = 'void';
  let output;
  let d = null;

  if (p.sql) {
    d = describe(p.sql, where);
  }

  if (p.input) {
    const file = isAbsolute(p.input) ? p.input : join(dirname(p.file), p.input);
    const schema = JSON.parse(readFileSync(file, 'utf8'));
    input = schemaType(schema, schema, sj);
  } else if (d) {
    input = paramsInput(p, d, sj);
  }

  if (p.call && !p.sql) {
    // an external API's answer (backend_adapter, "call"): JSON of no known shape
    output = 'unknown';
  } else if (p.data === 'ctx.user') {
    if (!authUser) {
      die(`${relative(process.cwd(), p.file)}:${p.line}: "data ctx.user" without backend_auth_user`);
    }
    // the context's row is cached as JSON: its timestamps stay strings
    const row = rowType(describe(authUser.sql, authUser).columns, false, 6);
    output = p.tier === 'public' ? `${row} | null` : row;
  } else if (p.data !== undefined) {
    output = jsonType(JSON.parse(p.data));
  } else if (p.result === 'none') {
    output = 'void';
  } else if (p.result === 'value') {
    const c = d.columns[0];
    output = c ? `${outputType(c.of, sj)} | null` : 'null';
  } else if (p.result === 'one') {
    output = rowType(d.columns, sj, 6);
  } else {
    output = `Array<${rowType(d.columns, sj, 6)}>`;
  }

  const kind = p.type === 'mutation' ? 'TRPCMutationProcedure' : 'TRPCQueryProcedure';
  return `${kind}<{\n      input: ${input};\n      output: ${output};\n      meta: object;\n    }>`;
}

// a.b.c nested as tRPC routers nest: { a: { b: { c: ... } } }
function routerRecord(sj) {
  const root = {};
  for (const p of [...procs].sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const parts = p.name.split('.');
    let node = root;
    for (const k of parts.slice(0, -1)) {
      if (typeof node[k] === 'string') {
        die(`${relative(process.cwd(), p.file)}:${p.line}: "${p.name}" nests under a procedure`);
      }
      node = node[k] ??= {};
    }
    node[parts.at(-1)] = procedureTypes(p, sj);
  }
  const emit = (n, indent) => {
    const pad = ' '.repeat(indent);
    return `{\n${Object.entries(n).map(([k, v]) =>
      `${pad}  ${ident(k)}: ${typeof v === 'string' ? v.replaceAll('\n', `\n${pad}`) : emit(v, indent + 2)};`)
      .join('\n')}\n${pad}}`;
  };
  return emit(root, 0);
}

const out = `// Generated by make client-types (tools/client-types.mjs) from
// ${relative(process.cwd(), confFile)}, its input schemas and the statements' result columns
// as the database describes them.  Do not edit; see docs/clients.md.
//
//   import type { AppRouter } from './app-router';
//   const client = createTRPCClient<AppRouter>({ links: [httpBatchLink({ url })] });
//
// AppRouter: locations with backend_rpc (JSON); AppRouterSuperjson:
// locations with backend_rpc_transformer superjson (pass transformer:
// superjson to the link).
/* eslint-disable */
import type {
  TRPCDefaultErrorShape,
  TRPCBuiltRouter,
  TRPCMutationProcedure,
  TRPCQueryProcedure,
} from '@trpc/server';

export type JsonValue =
  | string | number | boolean | null
  | JsonValue[] | { [key: string]: JsonValue };

// a rejected input's data.zodError: flatten() of the issues
export type ErrorShape = TRPCDefaultErrorShape & {
  data: {
    zodError?: { formErrors: string[]; fieldErrors: Record<string, string[] | undefined> };
  };
};

type Root<Transformer extends boolean> = {
  ctx: object;
  meta: object;
  errorShape: ErrorShape;
  transformer: Transformer;
};

export type AppRouter = TRPCBuiltRouter<Root<false>, ${routerRecord(false)}>;

export type AppRouterSuperjson = TRPCBuiltRouter<Root<true>, ${routerRecord(true)}>;
`;

let old = null;
try {
  old = readFileSync(outFile, 'utf8');
} catch {
  // missing
}

if (check) {
  if (old !== out) {
    die(`${relative(process.cwd(), outFile)}: not current with ${relative(process.cwd(), confFile)} `
        + 'and the database; run `make client-types`');
  }
  console.log(`${relative(process.cwd(), outFile)}: current (${procs.length} procedures)`);
} else if (old !== out) {
  writeFileSync(outFile, out);
  console.log(`wrote ${relative(process.cwd(), outFile)} (${procs.length} procedures)`);
} else {
  console.log(`${relative(process.cwd(), outFile)}: unchanged (${procs.length} procedures)`);
}
