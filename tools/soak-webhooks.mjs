// make soak's webhook sender (tools/soak.sh): Clerk events signed by the
// real svix package, delivered to /webhooks/clerk the way Svix delivers
// them: every non-2xx (and every failed connection) is retried, each
// attempt signed again with its own timestamp, until a 2xx.
//
// usage: node tools/soak-webhooks.mjs URL SECRET_FILE OUT_DIR
// env: SOAK_WEBHOOK_SECONDS (how long new messages are sent, 60),
//      SOAK_WEBHOOK_RATE (new messages per second, 4),
//      SOAK_WEBHOOK_DRAIN (seconds to go on retrying after that, 60),
//      SOAK_WEBHOOK_PREFIX (svix id and Clerk user id prefix, "soak")
//
// Messages: every third a user.created of a new user, the others a
// user.updated of a user created before; unique ids PREFIX_msg_N.  Duplicates
// on purpose: every 10th message is sent twice at once, and every 7th
// acknowledged message is delivered again later (a redelivery, as Svix
// does when an acknowledgement is lost).
//
// Writes to OUT_DIR:
//   acked.txt      one line per acknowledged id
//   unacked.txt    ids given up after the drain (must be empty)
//   non2xx.txt     "<unix ms> <status>" per failed attempt (0: no answer)
//   summary.txt    "key value" lines: messages, deliveries, attempts,
//                  acked, unacked, non2xx, dup_sent, answer_applied,
//                  answer_ignored, answer_duplicate, applied_twice
import { Webhook } from 'svix';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const [url, secretFile, out] = process.argv.slice(2);
if (!out) {
  console.error('usage: soak-webhooks.mjs URL SECRET_FILE OUT_DIR');
  process.exit(2);
}
const seconds = Number(process.env.SOAK_WEBHOOK_SECONDS ?? 60);
const rate = Number(process.env.SOAK_WEBHOOK_RATE ?? 4);
const drain = Number(process.env.SOAK_WEBHOOK_DRAIN ?? 60);
const prefix = process.env.SOAK_WEBHOOK_PREFIX ?? 'soak';
const wh = new Webhook(readFileSync(secretFile, 'utf8').trim());

const acked = new Set();
const answers = new Map();       // id -> statuses of 2xx answers' bodies
const non2xx = [];
const c = { messages: 0, deliveries: 0, attempts: 0, dup_sent: 0 };
const users = [];
let giveUpAt = Infinity;

function event(n) {
  const now = Date.now();
  let id;
  let type = 'user.updated';
  if (n % 3 === 0 || users.length === 0) {
    id = `${prefix}_user_${n}`;
    users.push(id);
    type = 'user.created';
  } else {
    id = users[n % users.length];
  }
  const role = ['user', 'mentorado', 'admin'][n % 3];
  return {
    type, object: 'event',
    data: {
      id, object: 'user', primary_email_address_id: 'idn_1',
      email_addresses: [{ id: 'idn_1', email_address: `${id}@soak.test` }],
      public_metadata: { role }, updated_at: now,
    },
  };
}

// one delivery of a message: attempts until a 2xx, backoff 100 ms
// doubling to 2 s
async function deliver(id, body) {
  c.deliveries++;
  for (let attempt = 0; ; attempt++) {
    if (Date.now() > giveUpAt) return false;
    c.attempts++;
    const ts = new Date();
    let status = 0;
    let answer;
    try {
      const res = await fetch(`${url}/webhooks/clerk`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'svix-id': id,
          'svix-timestamp': String(Math.floor(ts.getTime() / 1000)),
          'svix-signature': wh.sign(id, ts, body),
        },
        body,
        signal: AbortSignal.timeout(15000),
      });
      status = res.status;
      const text = await res.text();
      try { answer = JSON.parse(text).status; } catch { answer = text; }
    } catch {
      status = 0;
    }
    if (status >= 200 && status < 300) {
      acked.add(id);
      answers.get(id).push(answer);
      return true;
    }
    non2xx.push(`${Date.now()} ${status}`);
    await sleep(Math.min(100 * 2 ** attempt, 2000));
  }
}

const pending = new Set();
function track(p) {
  pending.add(p);
  p.finally(() => pending.delete(p));
}

const redeliver = [];
const start = Date.now();
for (let n = 0; ; n++) {
  const due = start + (n * 1000) / rate;
  const wait = due - Date.now();
  if (wait > 0) await sleep(wait);
  if (Date.now() - start >= seconds * 1000) break;

  const id = `${prefix}_msg_${n}`;
  const body = JSON.stringify(event(n));
  c.messages++;
  answers.set(id, []);
  track(deliver(id, body).then((ok) => {
    if (ok && n % 7 === 0) redeliver.push([id, body]);
  }));
  if (n % 10 === 5) {
    c.dup_sent++;
    track(deliver(id, body));
  }
  if (n % 7 === 3 && redeliver.length > 0) {
    c.dup_sent++;
    const [rid, rbody] = redeliver.shift();
    track(deliver(rid, rbody));
  }
}

giveUpAt = Date.now() + drain * 1000;
while (pending.size > 0) await Promise.race([...pending]);

let applied = 0, ignored = 0, duplicate = 0, twice = 0;
const unacked = [];
for (const [id, list] of answers) {
  if (!acked.has(id)) unacked.push(id);
  const a = list.filter((s) => s === 'applied' || s === 'ignored').length;
  applied += list.filter((s) => s === 'applied').length;
  ignored += list.filter((s) => s === 'ignored').length;
  duplicate += list.filter((s) => s === 'duplicate').length;
  if (a > 1) twice++;
}

writeFileSync(join(out, 'acked.txt'), [...acked].map((i) => `${i}\n`).join(''));
writeFileSync(join(out, 'unacked.txt'), unacked.map((i) => `${i}\n`).join(''));
writeFileSync(join(out, 'non2xx.txt'), non2xx.map((l) => `${l}\n`).join(''));
const summary = {
  ...c, acked: acked.size, unacked: unacked.length, non2xx: non2xx.length,
  answer_applied: applied, answer_ignored: ignored,
  answer_duplicate: duplicate, applied_twice: twice,
  seconds: ((Date.now() - start) / 1000).toFixed(1),
};
writeFileSync(join(out, 'summary.txt'),
              Object.entries(summary).map(([k, v]) => `${k} ${v}\n`).join(''));
