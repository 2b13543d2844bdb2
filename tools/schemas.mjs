#!/usr/bin/env node
// Exports every Zod schema in conf/schemas/*.mjs (its default export) to
// the JSON Schema file next to it, which nginx loads (`input` in a
// backend_procedure).  With --check, writes nothing and fails when a
// committed JSON file is missing or differs from what Zod exports now.
//
// usage: node tools/schemas.mjs [--check] [DIR]
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';

const args = process.argv.slice(2);
const check = args.includes('--check');
const dir = resolve(args.find((a) => !a.startsWith('--')) ?? 'conf/schemas');

let stale = 0;
const files = (await readdir(dir)).filter((f) => f.endsWith('.mjs')).sort();

for (const file of files) {
  const mod = await import(pathToFileURL(join(dir, file)).href);
  if (!(mod.default instanceof z.ZodType)) {
    console.error(`${file}: the default export is not a Zod schema`);
    process.exit(1);
  }

  // io: 'input' describes what a client may send (optional fields with
  // defaults stay optional), which is what the validator checks
  const json = JSON.stringify(z.toJSONSchema(mod.default, { io: 'input' }),
                              null, 2) + '\n';
  const out = join(dir, file.replace(/\.mjs$/, '.json'));

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
    console.error(`${out}: not current with ${file}; run \`make schemas\``);
    stale++;
    continue;
  }

  await writeFile(out, json);
  console.log(`wrote ${out}`);
}

if (check && stale) {
  process.exit(1);
}

console.log(`${files.length} schema(s) ${check ? 'checked' : 'exported'}`);
