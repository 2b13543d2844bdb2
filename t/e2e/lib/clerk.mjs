// Clerk-shaped session tokens for the tests, signed with the real jose
// package: RSA key pairs, their JWKS, and tokens with any claim changed.
import { createHmac } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT, exportJWK, exportSPKI, generateKeyPair } from 'jose';

export const ISSUER = 'https://clerk.e2e.local';
export const AZP = 'http://localhost:3000';

export async function keyPair(kid) {
  const { publicKey, privateKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' };
  return { kid, publicKey, privateKey, jwk, pem: await exportSPKI(publicKey) };
}

export function keysDir() {
  return mkdtempSync(join(tmpdir(), 'backend-e2e-keys-'));
}

export function writeJwks(file, ...keys) {
  writeFileSync(file, JSON.stringify({ keys: keys.map((k) => k.jwk) }));
  return file;
}

const b64url = (v) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

// claims: overrides of the default v2 session claims (undefined drops one)
export async function mint(key, claims = {}, { alg = 'RS256', kid = key.kid, typ = 'JWT' } = {}) {
  const now = Math.floor(Date.now() / 1000);
  const base = {
    sub: 'user_1', sid: 'sess_1', iss: ISSUER, azp: AZP, v: 2,
    iat: now - 5, nbf: now - 10, exp: now + 60,
  };
  const payload = { ...base, ...claims };
  for (const k of Object.keys(payload)) if (payload[k] === undefined) delete payload[k];
  const header = { alg, typ };
  if (kid !== undefined) header.kid = kid;
  return new SignJWT(payload).setProtectedHeader(header).sign(key.privateKey);
}

// tokens no RSA key signed: alg "none", and HS256 keyed with the public key
export function unsigned(claims, kid) {
  const now = Math.floor(Date.now() / 1000);
  const p = { sub: 'user_1', sid: 'sess_1', iss: ISSUER, azp: AZP, iat: now, nbf: now, exp: now + 60, ...claims };
  return `${b64url({ alg: 'none', typ: 'JWT', kid })}.${b64url(p)}.`;
}

export function hs256WithPublicKey(key, claims) {
  const now = Math.floor(Date.now() / 1000);
  const p = { sub: 'user_1', sid: 'sess_1', iss: ISSUER, azp: AZP, iat: now, nbf: now, exp: now + 60, ...claims };
  const signing = `${b64url({ alg: 'HS256', typ: 'JWT', kid: key.kid })}.${b64url(p)}`;
  const sig = createHmac('sha256', key.pem).update(signing).digest('base64url');
  return `${signing}.${sig}`;
}
