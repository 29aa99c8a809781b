// The official WorkOS Node SDK (@workos-inc/node 11.0.0) against a running
// Keyway: Magic Auth (workos-api.md sections 4 and 6). Every code these tests
// sign in with is read out of the mailbox the server sent it to, never from
// the createMagicAuth response. sdk_test.go starts the server and runs this
// file with `node --test`; by hand:
//
//	KEYWAY_PORT=8080 KEYWAY_API_KEY=sk_test_... KEYWAY_CLIENT_ID=client_01... \
//	  [KEYWAY_MAIL_SOURCE=dev:http://127.0.0.1:8080/_dev/inbox | ses:http://127.0.0.1:8005] \
//	  [KEYWAY_PROD_API_KEY=sk_live_... KEYWAY_PROD_CLIENT_ID=client_01...] \
//	  node --test test/sdk/magic_auth.test.mjs
//
// mail.mjs reads the mail from KEYWAY_MAIL_SOURCE: "dev:<url>" is the dev
// mailer's inbox (the default being the server's own /_dev/inbox),
// "ses:<url>" is aws-ses-v2-local, for a server run with KEYWAY_MAILER=ses.
//
// Emails are unique to each run, and every sign-in comes from an address of
// its own, so runs never collide and no per-IP limit trips. The users this
// file creates (Magic Auth creates them too) are deleted at the end:
// users.test.mjs expects lastSignInAt null on every user it lists.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  GenericServerException,
  NotFoundException,
  UnprocessableEntityException,
} from '@workos-inc/node';
import { MAIL, MAIL_FROM, bareAddress, readMail, codeOf, readCode } from './mail.mjs';
import {
  API_KEY, PROD_API_KEY, PROD_CLIENT_ID, newClient as client, runDomain, emailsAt,
  freshIP, USER_AGENT, USER_ID, SESSION_ID,
  assertIso, rejectsWith, rejectsOauth, raw, decodeJwtClaims,
} from './support.mjs';

const workos = client(API_KEY);
const um = workos.userManagement;
// No retries, so that every wrong code is exactly one try.
const umNoRetry = client(API_KEY, { maxRetries: 0 }).userManagement;
const prod = PROD_API_KEY && PROD_CLIENT_ID ? client(PROD_API_KEY, { clientId: PROD_CLIENT_ID }).userManagement : null;

const DOMAIN = runDomain('keyway-magic');
const email = emailsAt(DOMAIN);

const MAGIC_AUTH_ID = /^magic_auth_0[0-9A-Z]{25}$/;
const SIX_DIGITS = /^\d{6}$/;
const MAGIC_AUTH_KEYS = ['object', 'id', 'user_id', 'email', 'expires_at', 'code', 'created_at', 'updated_at'];
const LIFETIME_MS = 10 * 60 * 1000;

// Every user this file creates or signs in, deleted at the end.
const createdUsers = new Set();
after(async () => {
  for (const id of createdUsers) await um.deleteUser(id).catch(() => {});
});

// rejectsCode checks a 400 in the code form ({code, message}).
async function rejectsCode(promise, code, what = code) {
  const err = await rejectsWith(promise, GenericServerException, 400);
  assert.equal(err.code, code, `${what}: ${err.message} ${JSON.stringify(err.rawData ?? '')}`);
  return err;
}

// --- helpers -------------------------------------------------------------

async function createMagicAuth(addr, userManagement = um) {
  const ma = await userManagement.createMagicAuth({ email: addr, ipAddress: freshIP(), userAgent: USER_AGENT });
  if (ma?.userId) createdUsers.add(ma.userId);
  return ma;
}

function signIn(addr, code, userManagement = umNoRetry) {
  return userManagement.authenticateWithMagicAuth({ email: addr, code, ipAddress: freshIP(), userAgent: USER_AGENT });
}

// otherCode returns a 6-digit code that is not code.
const otherCode = (code, k = 1) => String((Number(code) + k) % 1_000_000).padStart(6, '0');

function assertMagicAuth(ma, addr) {
  assert.equal(ma.object, 'magic_auth');
  assert.match(ma.id, MAGIC_AUTH_ID);
  assert.match(ma.userId, USER_ID);
  assert.equal(ma.email, addr);
  assertIso(ma.createdAt, 'createdAt');
  assertIso(ma.updatedAt, 'updatedAt');
  assertIso(ma.expiresAt, 'expiresAt');
  assert.ok(Math.abs(Date.parse(ma.createdAt) - Date.now()) < 60_000, 'createdAt is now');
  assert.equal(Date.parse(ma.expiresAt) - Date.parse(ma.createdAt), LIFETIME_MS, 'the code expires 10 minutes after creation');
}

function assertSignedIn(res, { userId, addr }) {
  assert.equal(res.user.id, userId);
  assert.equal(res.user.email, addr);
  assert.equal(res.authenticationMethod, 'MagicAuth');
  const claims = decodeJwtClaims(res.accessToken);
  assert.equal(claims.sub, userId);
  assert.match(claims.sid, SESSION_ID);
  assert.equal(typeof res.refreshToken, 'string');
  assert.ok(res.refreshToken.length >= 20, 'the refresh token is long');
  createdUsers.add(res.user.id);
}

// --- tests ---------------------------------------------------------------

describe('Magic Auth', () => {
  test('end to end: createMagicAuth mails a code, the mailed code signs in, the refresh token rotates', async () => {
    const addr = email('e2e');
    const ma = await createMagicAuth(addr);
    assertMagicAuth(ma, addr);
    assert.match(ma.code, SIX_DIGITS, 'the creation response carries the 6-digit code');

    // GET returns the same object without its code.
    const got = await um.getMagicAuth(ma.id);
    for (const k of ['object', 'id', 'userId', 'email', 'expiresAt', 'createdAt', 'updatedAt']) assert.equal(got[k], ma[k], k);
    assert.equal(got.code, undefined, 'getMagicAuth has no code');
    const rawGet = await raw('GET', `/user_management/magic_auth/${ma.id}`);
    assert.equal(rawGet.status, 200, rawGet.text);
    assert.ok(!('code' in rawGet.json), `GET /user_management/magic_auth/:id must not show the code: ${rawGet.text}`);
    for (const k of Object.keys(rawGet.json)) assert.ok(MAGIC_AUTH_KEYS.includes(k), `unexpected field ${k}`);

    // The code comes out of the mailbox.
    const code = await readCode(addr);
    assert.equal(code, ma.code, 'the mailed code is the one created');

    const res = await signIn(addr, code);
    assertSignedIn(res, { userId: ma.userId, addr });

    const next = await um.authenticateWithRefreshToken({ refreshToken: res.refreshToken });
    assert.equal(next.user.id, ma.userId);
    assert.equal(decodeJwtClaims(next.accessToken).sub, ma.userId);
    assert.equal(typeof next.refreshToken, 'string');
    assert.notEqual(next.refreshToken, res.refreshToken, 'the refresh token rotates');
    assert.notEqual(next.accessToken, res.accessToken);

    await rejectsOauth(um.authenticateWithRefreshToken({ refreshToken: res.refreshToken }), 'invalid_grant');
  });

  test('a wrong code is invalid_one_time_code; the right code still works after it', async () => {
    const addr = email('wrong');
    const ma = await createMagicAuth(addr);
    const code = await readCode(addr);
    await rejectsCode(signIn(addr, otherCode(code)), 'invalid_one_time_code');
    // A malformed code is the same error.
    await rejectsCode(signIn(addr, 'abcdef'), 'invalid_one_time_code', 'a non-numeric code');
    // The right code for another email is wrong for this one.
    await rejectsCode(signIn(email('wrong-other'), code), 'invalid_one_time_code', 'the code with another email');
    assertSignedIn(await signIn(addr, code), { userId: ma.userId, addr });
  });

  test('a code is single use', async () => {
    const addr = email('once');
    const ma = await createMagicAuth(addr);
    const code = await readCode(addr);
    assertSignedIn(await signIn(addr, code), { userId: ma.userId, addr });
    await rejectsCode(signIn(addr, code), 'invalid_one_time_code', 'the second use of a code');
  });

  test('after 5 wrong codes even the right code fails; a new Magic Auth works again', async () => {
    const addr = email('burn');
    const ma = await createMagicAuth(addr);
    const code = await readCode(addr);
    for (let i = 1; i <= 5; i++) {
      await rejectsCode(signIn(addr, otherCode(code, i)), 'invalid_one_time_code', `wrong code ${i}`);
    }
    await rejectsCode(signIn(addr, code), 'invalid_one_time_code', 'the right code after 5 wrong ones');

    const again = await createMagicAuth(addr);
    assert.equal(again.userId, ma.userId);
    const fresh = await readCode(addr);
    assertSignedIn(await signIn(addr, fresh), { userId: ma.userId, addr });
  });

  test('a second createMagicAuth replaces the first code', async () => {
    const addr = email('replace');
    const first = await createMagicAuth(addr);
    const firstCode = await readCode(addr);
    let second;
    let secondCode;
    // Two draws of a 6-digit code collide once in a million: draw again then.
    for (let i = 0; i < 3 && (secondCode === undefined || secondCode === firstCode); i++) {
      second = await createMagicAuth(addr);
      secondCode = await readCode(addr);
    }
    assert.notEqual(secondCode, firstCode);
    assert.notEqual(second.id, first.id);
    assert.equal(second.userId, first.userId, 'both codes are for the same user');
    assert.equal(secondCode, second.code, 'the newest mail carries the newest code');

    await rejectsCode(signIn(addr, firstCode), 'invalid_one_time_code', 'the replaced code');
    assertSignedIn(await signIn(addr, secondCode), { userId: first.userId, addr });
  });

  test('the first Magic Auth for an unknown email creates the user, email_verified after signing in', async () => {
    const addr = email('new');
    assert.deepEqual((await um.listUsers({ email: addr })).data, [], 'no user yet');
    const ma = await createMagicAuth(addr);
    const created = await um.getUser(ma.userId);
    assert.equal(created.email, addr);
    assert.equal(created.emailVerified, false, 'not verified before the code is used');

    // A second Magic Auth finds that user rather than creating another.
    const again = await createMagicAuth(addr);
    assert.equal(again.userId, ma.userId);
    const users = (await um.listUsers({ email: addr })).data;
    assert.deepEqual(users.map((u) => u.id), [ma.userId], 'exactly one user with the email');

    // Two mails; the newest has the code that counts.
    const res = await signIn(addr, await readCode(addr, { count: 2 }));
    assertSignedIn(res, { userId: ma.userId, addr });
    assert.equal(res.user.emailVerified, true, 'the signed-in user is verified');
    assert.equal((await um.getUser(ma.userId)).emailVerified, true, 'getUser shows the user verified');
  });

  test('Magic Auth for an existing user signs that user in', async () => {
    const addr = email('existing');
    const u = await um.createUser({ email: addr, firstName: 'Existing' });
    createdUsers.add(u.id);
    const ma = await createMagicAuth(addr);
    assert.equal(ma.userId, u.id);
    const res = await signIn(addr, await readCode(addr));
    assertSignedIn(res, { userId: u.id, addr });
    assert.equal(res.user.firstName, 'Existing');
  });

  test('the mail: addressed to the email, with the code in both the text and the HTML part', async () => {
    const addr = email('mail');
    const ma = await createMagicAuth(addr);
    const m = await readMail(addr);
    assert.deepEqual(m.to, [addr]);
    assert.ok(m.subject.trim().length > 0, 'the mail has a subject');
    assert.ok(!m.subject.includes(ma.code), 'the subject does not show the code');
    const code = codeOf(m);
    assert.equal(code, ma.code);
    assert.ok(m.text.includes(code), 'the text part has the code');
    assert.ok(m.html.length > 0, 'the mail has an HTML part');
    assert.ok(m.html.includes(code), `the HTML part has the code:\n${m.html}`);
    if (MAIL.kind === 'ses') assert.ok(bareAddress(m.from) === MAIL_FROM, `sent from ${MAIL_FROM}, not ${m.from}`);
    // Used, so that users.test.mjs never meets a half-finished sign-up.
    assertSignedIn(await signIn(addr, code), { userId: ma.userId, addr });
  });

  test('a staging code does not sign in to production', { skip: !prod && 'no KEYWAY_PROD_*' }, async () => {
    const addr = email('tenant');
    const ma = await createMagicAuth(addr);
    const code = await readCode(addr);
    const prodNoRetry = client(PROD_API_KEY, { clientId: PROD_CLIENT_ID, maxRetries: 0 }).userManagement;
    await rejectsCode(signIn(addr, code, prodNoRetry), 'invalid_one_time_code', 'a staging code in production');
    assertSignedIn(await signIn(addr, code), { userId: ma.userId, addr });
  });

  test('getMagicAuth of an unknown id is NotFoundException; a bad email is 422', async () => {
    await rejectsWith(um.getMagicAuth(`magic_auth_01${'A'.repeat(24)}`), NotFoundException, 404);
    await rejectsWith(um.getMagicAuth('not-an-id'), NotFoundException, 404);
    await rejectsWith(umNoRetry.createMagicAuth({ email: 'not-an-email' }), UnprocessableEntityException, 422);
    const noEmail = await raw('POST', '/user_management/magic_auth', { body: {} });
    assert.equal(noEmail.status, 422, noEmail.text);
    // Without the API key: 401.
    const anon = await raw('POST', '/user_management/magic_auth', { key: null, body: { email: email('anon') } });
    assert.equal(anon.status, 401, anon.text);
  });
});
