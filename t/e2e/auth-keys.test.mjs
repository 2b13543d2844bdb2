// Several PEM keys without kid (backend_auth_key file, rotation by adding
// a second key): each is tried in order until one verifies, so the tokens
// of both keys are accepted, whatever kid they carry; a token of a key not
// configured is still rejected (bad-signature).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFileSync, rmSync } from 'node:fs';
import { Nginx } from './lib/nginx.mjs';
import { AZP, ISSUER, keyPair, keysDir, mint } from './lib/clerk.mjs';

let dir, n, p1, p2, p3, kid;

before(async () => {
  dir = keysDir();
  [p1, p2, p3, kid] = await Promise.all([keyPair('p1'), keyPair('p2'), keyPair('p3'), keyPair('kid')]);
  for (const k of [p1, p2, p3, kid]) writeFileSync(join(dir, `${k.kid}.pem`), k.pem);
  n = await new Nginx({
    http: `
      backend_auth_key ${join(dir, 'p1.pem')};
      backend_auth_key ${join(dir, 'p2.pem')};
      backend_auth_key ${join(dir, 'kid.pem')} kid=named;
      backend_auth_issuer ${ISSUER};
      backend_auth_authorized_parties ${AZP};
      backend_procedure who { tier public; data '"ok"'; }
    `,
    location: `location /trpc/ {
        backend_rpc;
        add_header X-Auth-Sub $backend_clerk_user_id always;
        add_header X-Auth-Reason $backend_auth_reason always;
    }`,
  }).start();
});

after(async () => {
  await n?.stop();
  rmSync(dir, { recursive: true, force: true });
});

// no backend_auth_user: the Clerk identity is the whole context, its
// subject in a header when the token verified (no database needed)
async function who(token) {
  const res = await fetch(`${n.url}/who`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(res.status, 200);
  return { sub: res.headers.get('x-auth-sub'), reason: res.headers.get('x-auth-reason') };
}

test('tokens of either PEM key are accepted, with or without a kid', async () => {
  for (const key of [p1, p2]) {
    for (const k of [undefined, key.kid, 'some-kid']) {
      const r = await who(await mint(key, { sub: `user_${key.kid}` }, { kid: k }));
      assert.equal(r.sub, `user_${key.kid}`, `${key.kid}, kid ${k}: ${r.reason}`);
    }
  }
});

test('a key with a kid still verifies its own tokens, after the PEM keys failed', async () => {
  const r = await who(await mint(kid, { sub: 'user_named' }, { kid: 'named' }));
  assert.equal(r.sub, 'user_named', r.reason);
});

test('a token of a key not configured is rejected', async () => {
  for (const k of [undefined, 'p1', 'named']) {
    const r = await who(await mint(p3, {}, { kid: k }));
    assert.ok(!r.sub, `kid ${k}: ${r.sub}`);
    assert.equal(r.reason, 'bad-signature', `kid ${k}`);
  }
  assert.match(n.errorLog(), /token rejected: bad-signature/);
  assert.deepEqual(n.problems(), []);
});
