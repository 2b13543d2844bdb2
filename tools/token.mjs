#!/usr/bin/env node
// Prints a Clerk-shaped session token (v2 claims) for a dev user, signed
// with the dev key of make run, so protected procedures can be called
// with curl:
//   curl -H "Authorization: Bearer $(make -s token USER=3)" ...
// usage: node tools/token.mjs [USER_ID] [--keys DIR] [--ttl SECONDS]
//        [--sid SID] [--azp ORIGIN] [--iss ISSUER]
// sub is user_<USER_ID> (the clerk_id of the demo data), sid sess_<USER_ID>.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { importPKCS8, SignJWT } from 'jose';

const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(name);
  return i >= 0 ? args.splice(i, 2)[1] : def;
};
const keys = opt('--keys', new URL('../.run/keys', import.meta.url).pathname);
const ttl = Number(opt('--ttl', 3600));
const user = args[0] ?? '3';
const sid = opt('--sid', `sess_${user}`);
const azp = opt('--azp', 'http://localhost:3000');
const iss = opt('--iss', 'https://clerk.dev.local');

const kid = readFileSync(join(keys, 'kid'), 'utf8').trim();
const key = await importPKCS8(readFileSync(join(keys, 'private.pem'), 'utf8'), 'RS256');
const now = Math.floor(Date.now() / 1000);

const token = await new SignJWT({ sid, azp, v: 2, fva: [0, -1] })
  .setProtectedHeader({ alg: 'RS256', kid, typ: 'JWT' })
  .setSubject(`user_${user}`)
  .setIssuer(iss)
  .setIssuedAt(now)
  .setNotBefore(now - 10)
  .setExpirationTime(now + ttl)
  .sign(key);
process.stdout.write(token + '\n');
