#!/usr/bin/env node
// A signing key pair for development and tests, in the shapes Clerk uses:
//   DIR/private.pem (PKCS#8), DIR/public.pem (SPKI), DIR/jwks.json
// and a webhook signing secret as Svix shows it: DIR/webhook-secret
// (whsec_<base64>).  Existing files are kept.  usage: node tools/dev-keys.mjs DIR [KID]
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { exportJWK, exportPKCS8, exportSPKI, generateKeyPair } from 'jose';

const dir = process.argv[2];
const kid = process.argv[3] ?? 'dev-key-1';
if (!dir) {
  console.error('usage: dev-keys.mjs DIR [KID]');
  process.exit(2);
}

mkdirSync(dir, { recursive: true });
if (!existsSync(join(dir, 'webhook-secret'))) {
  writeFileSync(join(dir, 'webhook-secret'),
                `whsec_${randomBytes(24).toString('base64')}\n`, { mode: 0o600 });
}
if (existsSync(join(dir, 'private.pem')) && existsSync(join(dir, 'jwks.json'))) {
  process.exit(0);
}

const { publicKey, privateKey } = await generateKeyPair('RS256', {
  modulusLength: 2048,
  extractable: true,
});
const jwk = { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' };
writeFileSync(join(dir, 'private.pem'), await exportPKCS8(privateKey), { mode: 0o600 });
writeFileSync(join(dir, 'public.pem'), await exportSPKI(publicKey));
writeFileSync(join(dir, 'jwks.json'), JSON.stringify({ keys: [jwk] }, null, 2) + '\n');
writeFileSync(join(dir, 'kid'), kid + '\n');
console.error(`dev keys in ${dir} (kid ${kid})`);
