// Input values at the edges of what Zod, JSON and Postgres agree on: a
// pattern that backtracks catastrophically (PCRE2's limits), NUL in
// strings (refused, never cut), other spellings of a number (bound in
// their canonical form), lone surrogates (counted as Zod counts them and
// bound as U+FFFD), each checked against the real zod where Zod decides.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { Nginx, conninfo } from './lib/nginx.mjs';

const dir = mkdtempSync(join(tmpdir(), 'backend-e2e-values-'));
const schema = (name, zod) => {
  const file = join(dir, `${name}.json`);
  writeFileSync(file, JSON.stringify(z.toJSONSchema(zod, { io: 'input' })));
  return file;
};

const zods = {
  evil: z.object({ s: z.string().regex(/^(a+)+$/),
                   x: z.array(z.string().regex(/^(a+)+$/)).optional() }),
  text: z.object({ s: z.string().min(1).max(4) }),
  int: z.object({ n: z.number().int() }),
  num: z.object({ n: z.number() }),
};

const http = `
    backend_pg main "${conninfo()}";
    backend_procedure v.evil { type mutation; tier public; input ${schema('evil', zods.evil)};
        sql "select $1::text as s"; params input.s; result one; }
    backend_procedure v.evilKeys { type mutation; tier public;
        input ${join(dir, 'evilKeys.json')};
        sql "select 1 as one"; result one; }
    backend_procedure v.text { type mutation; tier public; input ${schema('text', zods.text)};
        sql "select $1::text as s, char_length($1::text) as n"; params input.s; result one; }
    backend_procedure v.free { type mutation; tier public;
        sql "select $1::text as s"; params input.s; result one; }
    backend_procedure v.int { type mutation; tier public; input ${schema('int', zods.int)};
        sql "select $1::int as n"; params input.n; result one; }
    backend_procedure v.bigint { type mutation; tier public;
        sql "select $1::numeric::text as n"; params input.n; result one; }
`;

// patternProperties with a catastrophic pattern: the exporter cannot make
// one from Zod, so this one is written by hand
writeFileSync(join(dir, 'evilKeys.json'), JSON.stringify({
  type: 'object', patternProperties: { '^(b+)+$': { type: 'string' } },
}));

const nginx = new Nginx({ http });
before(() => nginx.start());
after(() => nginx.stop());

async function call(path, raw) {
  const res = await fetch(`${nginx.url}/${path}`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: raw,
  });
  return { status: res.status, body: await res.json() };
}

const issuesOf = (body) => JSON.parse(body.error.message);

test('a catastrophic pattern is an invalid_format issue, at PCRE2 limits set by the module', async () => {
  const evil = 'a'.repeat(40) + '!';
  const t0 = Date.now();
  const { status, body } = await call('v.evil', JSON.stringify({ s: evil }));
  assert.equal(status, 400, JSON.stringify(body));
  assert.equal(body.error.data.code, 'BAD_REQUEST');
  assert.deepEqual(issuesOf(body), [{
    origin: 'string', code: 'invalid_format', format: 'regex', pattern: '/^(a+)+$/',
    path: ['s'], message: 'Invalid string: too costly to match pattern /^(a+)+$/',
  }]);

  // what matches within the limits still does
  const ok = await call('v.evil', JSON.stringify({ s: 'a'.repeat(5000) }));
  assert.equal(ok.status, 200, JSON.stringify(ok.body));

  // a key of patternProperties that reaches the limit: an issue at its path
  const keys = await call('v.evilKeys', JSON.stringify({ ['b'.repeat(40) + '!']: 'x', b: 'y' }));
  assert.equal(keys.status, 400, JSON.stringify(keys.body));
  assert.deepEqual(issuesOf(keys.body).map((i) => [i.code, i.path]),
                   [['invalid_format', ['b'.repeat(40) + '!']]]);

  // many such strings in one request: the issue limit ends it early
  const many = await call('v.evil', JSON.stringify({ s: evil, x: Array(200).fill(evil) }));
  assert.equal(many.status, 400);
  assert.ok(Date.now() - t0 < 20000, `took ${Date.now() - t0} ms`);
});

test('NUL in a string is refused with a custom issue at its path, never cut', async () => {
  for (const [path, raw, where] of [
    ['v.text', '{"s":"ab\\u0000c"}', ['s']],
    ['v.text', '{"s":"\\u0000"}', ['s']],
    ['v.free', '{"s":"abc\\u0000def"}', ['s']],
    ['v.text', '{"s":"ok","extra":{"k":["\\u0000"]}}', ['extra', 'k', 0]],
  ]) {
    const { status, body } = await call(path, raw);
    assert.equal(status, 400, `${path} ${raw}: ${JSON.stringify(body)}`);
    assert.equal(body.error.data.code, 'BAD_REQUEST');
    assert.deepEqual(issuesOf(body).at(-1), {
      code: 'custom', path: where, message: 'Invalid string: must not contain U+0000',
    }, raw);
  }

  // zod's own issues come first; the NUL one follows
  const { body } = await call('v.text', '{"s":"abcd\\u0000"}');
  assert.deepEqual(issuesOf(body).map((i) => i.code), ['too_big', 'custom']);
});

test('a number is bound in its canonical form: 5.0, 1e0, 10e-1, 95E+0, 56.000', async () => {
  for (const [raw, n] of [['5.0', 5], ['1e0', 1], ['10e-1', 1], ['95E+0', 95], ['56.000', 56],
                          ['-0', 0], ['-0.0e5', 0], ['0.5e1', 5], ['12345e-3', null]]) {
    const expected = zods.int.safeParse(JSON.parse(`{"n":${raw}}`));
    const { status, body } = await call('v.int', `{"n":${raw}}`);
    if (n === null) {
      assert.equal(expected.success, false);
      assert.equal(status, 400, raw);
      continue;
    }
    assert.ok(expected.success, raw);
    assert.equal(status, 200, `${raw}: ${JSON.stringify(body)}`);
    assert.equal(body.result.data.n, n, raw);
  }

  // exact decimal canonical form: no rounding to a double
  for (const [raw, text] of [['1.50', '1.5'], ['1.5e1', '15'], ['1e-7', '0.0000001'],
                             ['9007199254740993', '9007199254740993'],
                             ['9007199254740993.000e0', '9007199254740993'],
                             ['-12.340e2', '-1234'], ['0.000', '0'], ['1E+2', '100'],
                             ['123456789012345678901234567890e-10',
                              '12345678901234567890.123456789']]) {
    const { status, body } = await call('v.bigint', `{"n":${raw}}`);
    assert.equal(status, 200, `${raw}: ${JSON.stringify(body)}`);
    assert.equal(body.result.data.n, text, raw);
  }
});

test('lone surrogates: counted as Zod counts them, bound as U+FFFD', async () => {
  for (const [raw, stored] of [['"\\udc00x"', '\ufffdx'], ['"\\ud800"', '\ufffd'],
                               ['"\\ud800x"', '\ufffdx'], ['"\\ud83d\\ude00"', '😀'],
                               ['"\\ud800\\u0041"', '\ufffdA'], ['"a\\udfff\\ud800b"', 'a\ufffd\ufffdb'],
                               ['"\\\\ud8"', '\\ud8']]) {
    const input = `{"s":${raw}}`;
    const expected = zods.text.safeParse(JSON.parse(input));
    assert.ok(expected.success, input);
    const { status, body } = await call('v.text', input);
    assert.equal(status, 200, `${input}: ${JSON.stringify(body)}`);
    assert.equal(body.result.data.s, stored, input);
  }

  // lengths in code points, as Zod 4 counts: 😀 is 1, a lone surrogate 1
  for (const s of ['😀😀😀😀', '😀😀😀😀😀', 'a😀b', '\ud800\ud800\ud800\ud800',
                   '\ud800\ud800\ud800\ud800\udc00', '\udc00\ud800😀😀', '\udc00\ud800😀😀😀']) {
    const input = JSON.stringify({ s });
    const expected = zods.text.safeParse(JSON.parse(input));
    const { status, body } = await call('v.text', input);
    assert.equal(status, expected.success ? 200 : 400, `${input}: ${JSON.stringify(body)}`);
    if (!expected.success) {
      assert.deepEqual(issuesOf(body), JSON.parse(JSON.stringify(expected.error.issues)), input);
    }
  }
});
