// What the *.test.mjs files here share: the server they talk to (from the
// environment sdk_test.go sets, or that a person sets by hand), a WorkOS
// client for it, names unique to the run, id and timestamp patterns and the
// small assertion helpers. Not a test file itself (node --test only runs
// *.test.mjs here); every file still gets its own RUN, since node --test
// runs each file in a process of its own.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { WorkOS, OauthException } from '@workos-inc/node';

// --- environment ---------------------------------------------------------

export const PORT = Number(process.env.KEYWAY_PORT);
export const API_KEY = process.env.KEYWAY_API_KEY;
export const CLIENT_ID = process.env.KEYWAY_CLIENT_ID;
// The production environment's credentials: optional, '' when not set.
export const PROD_API_KEY = process.env.KEYWAY_PROD_API_KEY || '';
export const PROD_CLIENT_ID = process.env.KEYWAY_PROD_CLIENT_ID || '';

assert.ok(Number.isInteger(PORT) && PORT > 0, 'KEYWAY_PORT must be set to the server port');
assert.ok(API_KEY, 'KEYWAY_API_KEY must be set');
assert.ok(CLIENT_ID, 'KEYWAY_CLIENT_ID must be set');

// The server's base URL.
export const BASE = `http://127.0.0.1:${PORT}`;

// newClient is a WorkOS client for the server, with the test environment's
// client id unless options says otherwise; any other options (issuer,
// maxRetries, ...) go to the SDK as given.
export function newClient(key, { clientId = CLIENT_ID, ...options } = {}) {
  return new WorkOS(key, { apiHostname: '127.0.0.1', port: PORT, https: false, clientId, ...options });
}

// --- names unique to this run --------------------------------------------

export const RUN = `${Date.now().toString(36)}${randomBytes(4).toString('hex')}`;
let seq = 0;
// next is the next number of the run's one sequence (for emails and names).
export const next = () => ++seq;
// runDomain is a domain of this run's own, run-<RUN>.<label>.test.
export const runDomain = (label) => `run-${RUN}.${label}.test`;
// emailsAt returns email(tag), an address at domain unique to each call (all
// lower case: the server lower-cases emails, so comparisons stay exact).
export const emailsAt = (domain) => (tag) => `${tag}-${next()}@${domain}`;

// freshIP is a documentation IPv6 address of its own for each sign-in, so no
// per-IP limit ever trips.
const IP_PREFIX = `2001:db8:${randomBytes(2).toString('hex')}:${randomBytes(2).toString('hex')}`;
let ipSeq = 0;
export const freshIP = () => `${IP_PREFIX}::${(++ipSeq).toString(16)}`;
export const USER_AGENT = `keyway-sdk-suite/${RUN}`;

// A password strong enough for the server's password policy.
export const PASSWORD = 'Quiet-Harbor-Lantern-7319!';
// bcrypt (cost 10) of "Imported-Bcrypt-Passw0rd!", made once with
// golang.org/x/crypto/bcrypt.GenerateFromPassword.
export const BCRYPT_HASH = '$2a$10$cZAq77Lt3CookWSfJeH1HeVxeGY/92sU1uXwSxD/nUPnWNVG8nQIa';

// --- ids and timestamps --------------------------------------------------

export const USER_ID = /^user_0[0-9A-Z]{25}$/;
export const ORG_ID = /^org_0[0-9A-Z]{25}$/;
export const SESSION_ID = /^session_0[0-9A-Z]{25}$/;
// unknownId is a well-formed id with the prefix that nothing has.
export const unknownId = (prefix) => `${prefix}_01${'A'.repeat(24)}`;
export const ISO_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

// assertIso checks an ISO-8601 UTC timestamp with milliseconds; with
// roundTrip, also that Date gives back exactly the same string.
export function assertIso(value, what, { roundTrip = false } = {}) {
  assert.equal(typeof value, 'string', `${what} is a string`);
  assert.match(value, ISO_MS, `${what} is an ISO-8601 UTC timestamp with milliseconds`);
  if (roundTrip) assert.equal(new Date(value).toISOString(), value, `${what} round-trips through Date`);
}

// ids is the ids of a list of objects.
export const ids = (list) => list.map((x) => x.id);

// --- errors --------------------------------------------------------------

// rejectsWith awaits a promise that must fail and returns the error after
// checking its class and status: exactly Klass, or with subclasses Klass or
// any subclass of it; and, when code is given, its code.
export async function rejectsWith(promise, Klass, status, { subclasses = false, code } = {}) {
  let err;
  try {
    await promise;
  } catch (e) {
    err = e;
  }
  assert.ok(err, `expected ${Klass.name} (${status}), but the call succeeded`);
  const got = `${err?.name} (${err?.status}): ${err?.message} ${JSON.stringify(err?.rawData ?? err?.code ?? '')}`;
  if (subclasses) {
    assert.ok(err instanceof Klass, `expected ${Klass.name}, got ${got}`);
  } else {
    assert.equal(err?.constructor, Klass, `expected exactly ${Klass.name}, got ${got}`);
  }
  assert.equal(err.status, status);
  if (code !== undefined) assert.equal(err.code, code, `error code (${err.message})`);
  return err;
}

// rejectsOauth checks a 400 OauthException with the OAuth error code.
export async function rejectsOauth(promise, error) {
  const err = await rejectsWith(promise, OauthException, 400);
  assert.equal(err.error, error, `OAuth error ${error}: ${err.message}`);
  return err;
}

// --- raw HTTP ------------------------------------------------------------

// raw calls the API without the SDK: the key (API_KEY unless given; none
// when null or '') as a bearer token, body (if any) as JSON. json is the
// parsed body, or undefined when it is not JSON.
export async function raw(method, path, { key = API_KEY, body, headers = {}, redirect = 'follow' } = {}) {
  const res = await fetch(BASE + path, {
    method,
    redirect,
    headers: {
      ...(key ? { Authorization: `Bearer ${key}` } : {}),
      ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}),
      ...headers,
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

// rawJSON is the strict form of raw: it always sends Authorization (even an
// empty key), Content-Type and Accept as JSON, sends a string body as it is,
// and asserts that any non-empty response is JSON with a JSON content-type.
export async function rawJSON(method, path, { key = API_KEY, body, headers = {} } = {}) {
  const res = await fetch(BASE + path, {
    method,
    headers: {
      Authorization: `Bearer ${key}`,
      'Content-Type': 'application/json',
      Accept: 'application/json',
      ...headers,
    },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json;
  if (text !== '') {
    assert.match(res.headers.get('content-type') ?? '', /application\/json/, `${method} ${path}: JSON content-type`);
    json = JSON.parse(text);
  }
  return { status: res.status, headers: res.headers, json, text };
}

// decodeJwtClaims is the claims of a JWT (not verified).
export function decodeJwtClaims(token) {
  assert.equal(typeof token, 'string');
  const parts = token.split('.');
  assert.equal(parts.length, 3, 'the access token is a JWS compact serialization');
  return JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
}
