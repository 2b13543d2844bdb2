// The runbooks, the debugging matrix and the alert rules name metrics,
// directives and variables; this keeps them from drifting away from the
// module.  The reference app (conf/procedures.conf, conf/webhooks.conf,
// conf/jobs.conf, auth, the session zone, Redis, Postgres) is started with a metrics zone
// and scraped once:
// - every backend_* metric the documents name is declared by the scrape
//   (a "# TYPE" line; _bucket, _sum and _count of a histogram count as
//   its family), samples not needed;
// - every backend_* directive they name is in a commands array of src/*.c
//   and has its section in docs/directives.md;
// - every $backend_* variable they name is in a variables array of
//   src/*.c and is documented in docs/directives.md;
// - every runbook_url of the rules, and every #anchor link of the two
//   documents, is a heading of docs/runbooks.md (or of the document).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Nginx, ROOT, conninfo } from './lib/nginx.mjs';
import { AZP, ISSUER, keyPair, keysDir, writeJwks } from './lib/clerk.mjs';

const REDIS_PORT = process.env.TEST_NGINX_REDIS_PORT ?? '6379';
const DOCS = ['docs/runbooks.md', 'docs/debugging.md'];
const RULES = 'conf/prometheus/backend.rules.yml';

const read = (f) => readFileSync(join(ROOT, f), 'utf8');

// words of Postgres (pg_stat_activity's columns) that SQL in the
// documents may use
const POSTGRES = new Set(['backend_type', 'backend_start', 'backend_xid', 'backend_xmin']);

// families of the contract, from its tables: | `backend_x` | type | ...
function contractFamilies(text) {
  return new Set([...text.matchAll(/^\|\s*`(backend_\w+)`\s*\|/gm)].map((m) => m[1]));
}

// every backend_* word of a text, sorted into metrics, directives and
// variables: "$backend_x" is a variable; a name with a metric's suffix, a
// family of the contract, or followed by a selector ({, [) is a metric;
// in a rule's expr every name is a metric; the rest are directives
function mentions(text, { rules = false, families = new Set() } = {}) {
  if (rules) {
    // expr: up to the rule's next key (for, labels, annotations, ...)
    const expr = /^([ \t]*)expr:([\s\S]*?)(?=^\1[a-z_]+:)/gm;
    const exprs = [...text.matchAll(expr)].map((m) => m[2]);
    const rest = text.replace(expr, '');
    const e = mentions(exprs.join('\n'), { families: { has: () => true } });
    const r = mentions(rest, { families });
    return Object.fromEntries(Object.keys(e).map((k) => [k, new Set([...e[k], ...r[k]])]));
  }
  const out = { metrics: new Set(), directives: new Set(), variables: new Set() };
  for (const m of text.matchAll(/(\$?)\bbackend_\w+/g)) {
    const name = m[0].replace(/^\$/, '');
    if (!m[1] && POSTGRES.has(name)) continue;
    const next = text[m.index + m[0].length];
    if (m[1] === '$') {
      out.variables.add(name);
    } else if (families.has(name) || next === '{' || next === '['
               || /_(total|seconds|bytes|bucket|sum|count|info)$/.test(name)) {
      out.metrics.add(name);
    } else {
      out.directives.add(name);
    }
  }
  return out;
}

// name -> type of each "# TYPE" line of a scrape
function declared(scrape) {
  return new Map([...scrape.matchAll(/^# TYPE (\w+) (\w+)$/gm)].map((m) => [m[1], m[2]]));
}

// metric names that the scrape does not declare
function undeclared(names, types) {
  const missing = [];
  for (const name of names) {
    if (types.has(name)) continue;
    const h = name.match(/^(\w+)_(bucket|sum|count)$/);
    if (h && types.get(h[1]) === 'histogram') continue;
    missing.push(name);
  }
  return missing.sort();
}

// the backend_* names of the ngx_command_t and ngx_http_variable_t arrays
// of the sources
function sourceNames() {
  const directives = new Set();
  const variables = new Set();
  const dir = join(ROOT, 'src');
  for (const f of readdirSync(dir).filter((f) => f.endsWith('.c'))) {
    const c = readFileSync(join(dir, f), 'utf8');
    for (const [, body] of c.matchAll(/ngx_command_t\s+\w+\[\]\s*=\s*\{([\s\S]*?)ngx_null_command/g)) {
      for (const [, n] of body.matchAll(/ngx_string\("(backend_\w+)"\)/g)) directives.add(n);
    }
    for (const [, body] of c.matchAll(/ngx_http_variable_t\s+\w+\[\]\s*=\s*\{([\s\S]*?)ngx_http_null_variable/g)) {
      // ngx_string("...") or a macro of the module around the literal
      for (const [, n] of body.matchAll(/"(backend_\w+)"/g)) variables.add(n);
    }
  }
  return { directives, variables };
}

// GitHub's anchors of a Markdown document's headings
function anchors(md) {
  const set = new Set();
  let fence = false;
  for (const line of md.split('\n')) {
    if (/^```/.test(line)) fence = !fence;
    const h = !fence && line.match(/^#{1,6}\s+(.*)$/);
    if (h) {
      set.add(h[1].trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-'));
    }
  }
  return set;
}

// everything the documents name that the module does not have, as
// readable lines (empty: no drift)
function drift(docs, rules, { scrape, src, directivesMd, metricsMd }) {
  const families = contractFamilies(metricsMd);
  const types = declared(scrape);
  const documented = new Set([...directivesMd.matchAll(/^### (backend_\w+)$/gm)].map((m) => m[1]));
  const problems = [];
  const all = [...Object.entries(docs).map(([file, text]) => [file, mentions(text, { families })]),
               ...Object.entries(rules).map(([file, text]) => [file, mentions(text, { rules: true, families })])];
  for (const [file, m] of all) {
    const metrics = undeclared(m.metrics, types);
    if (metrics.length) {
      problems.push(`${file}: metrics not declared by /metrics: ${metrics.join(', ')}`);
    }
    const unknown = [...m.directives].filter((d) => !src.directives.has(d)).sort();
    if (unknown.length) {
      problems.push(`${file}: directives the module does not have (src/*.c): ${unknown.join(', ')}`);
    }
    const undocumented = [...m.directives].filter((d) => src.directives.has(d) && !documented.has(d)).sort();
    if (undocumented.length) {
      problems.push(`${file}: directives without a section in docs/directives.md: ${undocumented.join(', ')}`);
    }
    const vars = [...m.variables].filter((v) => !src.variables.has(v)).sort();
    if (vars.length) {
      problems.push(`${file}: variables the module does not have (src/*.c): ${vars.map((v) => `$${v}`).join(', ')}`);
    }
    const undocVars = [...m.variables]
      .filter((v) => src.variables.has(v) && !directivesMd.includes(`$${v}`)).sort();
    if (undocVars.length) {
      problems.push(`${file}: variables not in docs/directives.md: ${undocVars.map((v) => `$${v}`).join(', ')}`);
    }
  }
  return problems;
}

// links to sections: runbook_url of the rules into runbooks.md, #anchors
// inside each document
function brokenLinks(docs, rules, runbooksMd) {
  const problems = [];
  const rb = anchors(runbooksMd);
  for (const [file, text] of Object.entries(rules)) {
    const urls = [...text.matchAll(/runbook_url:\s*"?([^"\s]+)"?/g)].map((m) => m[1]);
    if (!urls.length) problems.push(`${file}: no runbook_url`);
    const bad = urls.filter((u) => {
      const [path, frag] = u.split('#');
      return path !== 'docs/runbooks.md' || !frag || !rb.has(frag);
    });
    if (bad.length) problems.push(`${file}: runbook_url not a section of docs/runbooks.md: ${[...new Set(bad)].join(', ')}`);
    const alerts = [...text.matchAll(/^\s*-\s*alert:\s*(\w+)/gm)].map((m) => m[1]);
    const absent = alerts.filter((a) => !runbooksMd.includes(`\`${a}\``));
    if (absent.length) problems.push(`${file}: alerts not named in docs/runbooks.md: ${absent.join(', ')}`);
  }
  for (const [file, text] of Object.entries(docs)) {
    const own = anchors(text);
    const bad = [...text.matchAll(/\]\(([\w.]*)#([^)]+)\)/g)]
      .filter(([, path, frag]) => !(path === '' ? own : path === 'runbooks.md' ? rb : null)?.has(frag))
      .map((m) => `${m[1]}#${m[2]}`);
    if (bad.length) problems.push(`${file}: links to no heading: ${[...new Set(bad)].join(', ')}`);
  }
  return problems;
}

let n, dir;

before(async () => {
  dir = keysDir();
  chmodSync(dir, 0o755);
  writeJwks(join(dir, 'jwks.json'), await keyPair('docs'));
  writeFileSync(join(dir, 'secret'), 'whsec_ZG9jcy1zaWduYWxzLXRlc3Qtc2VjcmV0');
  n = await new Nginx({
    http: `
      backend_metrics_zone metrics 4m;
      backend_pg main "${conninfo()}" max=2 pipeline=8;
      backend_auth_jwks ${join(dir, 'jwks.json')};
      backend_auth_issuer ${ISSUER};
      backend_auth_authorized_parties ${AZP};
      backend_session_zone docs:1m;
      backend_session_redis 127.0.0.1:${REDIS_PORT} timeout=1s;
      include ${ROOT}/conf/procedures.conf;
      include ${ROOT}/conf/jobs.conf;`,
    location: `
      location /trpc/ { backend_rpc; }
      location = /metrics { backend_metrics; }
      location = /webhooks/clerk {
          include ${ROOT}/conf/webhooks.conf;
          backend_webhook_secret ${join(dir, 'secret')};
      }
      # conf/jobs.conf's mail adapter (nothing is enqueued here)
      location = /_adapters/mailer { internal; return 503; }`,
  }).start();
});

after(async () => {
  await n?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const sources = () => ({
  docs: Object.fromEntries(DOCS.map((f) => [f, read(f)])),
  rules: { [RULES]: read(RULES) },
});

test('every metric, directive and variable the runbooks, the matrix and the rules name exists', async () => {
  const res = await fetch(`http://127.0.0.1:${n.port}/metrics`);
  assert.equal(res.status, 200);
  const scrape = await res.text();
  assert.match(scrape, /^# TYPE backend_build_info gauge$/m);
  const { docs, rules } = sources();
  const problems = drift(docs, rules, {
    scrape, src: sourceNames(), directivesMd: read('docs/directives.md'), metricsMd: read('docs/metrics.md'),
  });
  assert.deepEqual(problems, [], `the documents name what the module does not have:\n  ${problems.join('\n  ')}`);
  assert.deepEqual(n.problems(), []);
});

test('every runbook_url and section link points at a heading', () => {
  const { docs, rules } = sources();
  const problems = brokenLinks(docs, rules, read('docs/runbooks.md'));
  assert.deepEqual(problems, [], `broken links:\n  ${problems.join('\n  ')}`);
});

// the checks themselves catch a made-up name of each kind
test('the checks report made-up names and links', () => {
  const scrape = '# HELP backend_x_seconds x\n# TYPE backend_x_seconds histogram\n'
    + '# TYPE backend_y_total counter\nbackend_y_total 3\n';
  const src = { directives: new Set(['backend_pg', 'backend_hidden']), variables: new Set(['backend_request_id']) };
  const directivesMd = '### backend_pg\n\n`$backend_request_id`\n';
  const metricsMd = '| `backend_up_there` | gauge | | |\n';
  const doc = 'Look at `rate(backend_x_seconds_bucket[5m])`, `backend_y_total`, '
    + '`backend_x_seconds_count`, `backend_made_up_total`, `backend_up_there`, '
    + '`backend_gauge{a="b"}`, `backend_pg`, `backend_pg_made_up`, `backend_hidden`, '
    + '`$backend_request_id`, `$backend_made_up` and ngx_http_backend_module. '
    + 'See [here](#a-heading) and [there](runbooks.md#nowhere).\n\n## A heading\n';
  const rules = '  - alert: BackendMadeUp\n    expr: backend_y_total > 0\n      and backend_rule_made_up\n'
    + '    for: 1m\n    annotations:\n      description: see backend_pg\n'
    + '      runbook_url: "docs/runbooks.md#nowhere"\n';
  assert.deepEqual(drift({ 'doc.md': doc }, { 'rules.yml': rules }, { scrape, src, directivesMd, metricsMd }), [
    'doc.md: metrics not declared by /metrics: backend_gauge, backend_made_up_total, backend_up_there',
    'doc.md: directives the module does not have (src/*.c): backend_pg_made_up',
    'doc.md: directives without a section in docs/directives.md: backend_hidden',
    'doc.md: variables the module does not have (src/*.c): $backend_made_up',
    'rules.yml: metrics not declared by /metrics: backend_rule_made_up',
  ]);
  assert.deepEqual(brokenLinks({ 'doc.md': doc }, { 'rules.yml': rules }, '# Runbooks\n## Somewhere\n'), [
    'rules.yml: runbook_url not a section of docs/runbooks.md: docs/runbooks.md#nowhere',
    'rules.yml: alerts not named in docs/runbooks.md: BackendMadeUp',
    'doc.md: links to no heading: runbooks.md#nowhere',
  ]);
});
