#!/usr/bin/env node
// Sends a Clerk webhook delivery to make run's /webhooks/clerk, signed the
// way Svix signs it with the dev secret (.run/keys/webhook-secret), and
// prints the HTTP status and the answer:
//   make webhook EVENT=user.updated ID=3 ROLE=admin
//   make webhook FILE=event.json          (a whole Clerk event of your own)
// usage: node tools/webhook.mjs EVENT ID [ROLE] | --file FILE
//        [--keys DIR] [--url URL] [--msg-id ID]
// EVENT: user.created, user.updated, user.deleted (data.id user_<ID>),
//        session.ended, session.removed, session.revoked (data.id
//        sess_<ID>, data.user_id user_<ID>).  docs/webhooks.md says what
//        each does.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Webhook } from 'svix';

const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(name);
  return i >= 0 ? args.splice(i, 2)[1] : def;
};
const keys = opt('--keys', new URL('../.run/keys', import.meta.url).pathname);
const url = opt('--url', `http://127.0.0.1:${process.env.PORT || 8080}/webhooks/clerk`);
const msgId = opt('--msg-id', `msg_dev_${randomBytes(8).toString('hex')}`);
const file = opt('--file', '');

let body;
if (file) {
  body = readFileSync(file, 'utf8');
} else {
  const [type, id, role] = args;
  if (!type || !id) {
    console.error('usage: node tools/webhook.mjs EVENT ID [ROLE] | --file FILE');
    process.exit(2);
  }
  const now = Date.now();
  let data;
  if (type.startsWith('user.')) {
    data = { id: `user_${id}`, object: 'user', updated_at: now };
    if (type !== 'user.deleted') {
      data.email_addresses = [{ id: `idn_${id}`, email_address: `user${id}@demo.local` }];
      data.primary_email_address_id = `idn_${id}`;
      data.public_metadata = role ? { role } : {};
    }
  } else if (type.startsWith('session.')) {
    data = { id: `sess_${id}`, object: 'session', user_id: `user_${id}`, status: type.slice(8) };
  } else {
    data = { id: String(id) };
  }
  body = JSON.stringify({ type, object: 'event', data });
}

const secret = readFileSync(join(keys, 'webhook-secret'), 'utf8').trim();
const ts = new Date();
const res = await fetch(url, {
  method: 'POST',
  headers: {
    'content-type': 'application/json',
    'svix-id': msgId,
    'svix-timestamp': String(Math.floor(ts / 1000)),
    'svix-signature': new Webhook(secret).sign(msgId, ts, body),
  },
  body,
});
console.log(`${res.status} ${msgId} ${await res.text()}`);
process.exit(res.ok ? 0 : 1);
