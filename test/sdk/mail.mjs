// The mailbox the server sends to, for the SDK suite's mail tests.
// KEYWAY_MAIL_SOURCE is where the mail is read: "dev:<url>" is the dev
// mailer's inbox (GET <url>?format=json, the default being the server's own
// /_dev/inbox at 127.0.0.1:KEYWAY_PORT), "ses:<url>" is aws-ses-v2-local
// (GET <url>/store), for a server run with KEYWAY_MAILER=ses.
import assert from 'node:assert/strict';

const BASE = `http://127.0.0.1:${Number(process.env.KEYWAY_PORT)}`;
export const MAIL_SOURCE = process.env.KEYWAY_MAIL_SOURCE || `dev:${BASE}/_dev/inbox`;
export const MAIL = (() => {
  const m = /^(dev|ses):(https?:\/\/.+)$/.exec(MAIL_SOURCE);
  assert.ok(m, `KEYWAY_MAIL_SOURCE must be dev:<url> or ses:<url>, not ${MAIL_SOURCE}`);
  return { kind: m[1], url: m[2].replace(/\/+$/, '') };
})();
// The server's default KEYWAY_MAIL_FROM.
export const MAIL_FROM = 'no-reply@keyway.localhost';

// bareAddress turns "Name <a@b>" into "a@b", lower-cased.
export function bareAddress(s) {
  const m = /<([^>]+)>\s*$/.exec(String(s));
  return (m ? m[1] : String(s)).trim().toLowerCase();
}

// fetchMail returns every message the mail source holds, oldest first, as
// {to: [addresses], from, subject, text, html}.
export async function fetchMail() {
  const url = MAIL.kind === 'ses' ? `${MAIL.url}/store` : `${MAIL.url}?format=json`;
  const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
  const text = await res.text();
  assert.equal(res.status, 200, `GET ${url}: ${res.status} ${text.slice(0, 500)}`);
  const body = JSON.parse(text);
  if (MAIL.kind === 'ses') {
    assert.ok(Array.isArray(body.emails), `GET ${url}: no emails[]`);
    // aws-ses-v2-local keeps them oldest first.
    return body.emails.map((e) => ({
      to: (e.destination?.to ?? []).map(bareAddress),
      from: e.from ?? '',
      subject: e.subject ?? '',
      text: e.body?.text ?? '',
      html: e.body?.html ?? '',
    }));
  }
  assert.ok(Array.isArray(body.messages), `GET ${url}: no messages[]`);
  // The dev inbox lists them newest first.
  return body.messages
    .map((m) => ({ to: [bareAddress(m.to)], from: m.from ?? '', subject: m.subject ?? '', text: m.text ?? '', html: m.html ?? '' }))
    .reverse();
}

// How many messages to each address the tests have read so far: readMail
// waits for one more, so that it never returns an older code again.
const seen = new Map();

// readMail polls the mail source (for at most timeoutMs) until count
// messages to addr newer than the last one read have arrived, and returns
// the newest.
export async function readMail(addr, { count = 1, timeoutMs = 5000 } = {}) {
  const to = addr.toLowerCase();
  const want = (seen.get(to) ?? 0) + count;
  const deadline = Date.now() + timeoutMs;
  let delay = 25;
  for (;;) {
    const mine = (await fetchMail()).filter((m) => m.to.includes(to));
    if (mine.length >= want) {
      seen.set(to, mine.length);
      return mine[mine.length - 1];
    }
    if (Date.now() >= deadline) {
      assert.fail(`no new mail to ${addr} in ${MAIL_SOURCE} within ${timeoutMs} ms (${mine.length} seen, ${want} expected)`);
    }
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 250);
  }
}

// codeOf extracts the 6-digit code from a message's text part: it stands
// on a line of its own.
export function codeOf(message) {
  const codes = [...message.text.matchAll(/^[ \t]*(\d{6})[ \t]*$/gm)].map((m) => m[1]);
  assert.equal(codes.length, 1, `exactly one 6-digit code line in the text part:\n${message.text}`);
  return codes[0];
}

// readCode returns the code of the newest new mail to addr.
export async function readCode(addr, options) {
  return codeOf(await readMail(addr, options));
}
