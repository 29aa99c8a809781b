// The official WorkOS Node SDK (@workos-inc/node 11.0.0) against a running
// Keyway: password and refresh-token authentication, access-token JWTs and
// the JWKS, sessions (list, revoke, logout), sealed session cookies and
// sign-in throttling (workos-api.md sections 4 and 9). sdk_test.go starts
// the server and runs this file with `node --test`; by hand:
//
//	KEYWAY_PORT=8080 KEYWAY_API_KEY=sk_test_... KEYWAY_CLIENT_ID=client_01... \
//	  [KEYWAY_PROD_API_KEY=sk_live_... KEYWAY_PROD_CLIENT_ID=client_01...] \
//	  node --test test/sdk/auth.test.mjs
//
// against a server with the default KEYWAY_ISSUER (http://<KEYWAY_ADDR>, so
// 127.0.0.1:PORT) and KEYWAY_LOGOUT_REDIRECTS (http://localhost:3000).
// Emails are unique to each run, and every sign-in but the throttling ones
// comes from an address of its own, so runs never collide and the per-IP
// limit never trips. The users this file signs in are deleted at the end:
// users.test.mjs expects lastSignInAt null on every user it lists.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey, randomBytes, verify } from 'node:crypto';
import {
  GenericServerException,
  NotFoundException,
  OauthException,
  RateLimitExceededException,
} from '@workos-inc/node';
import {
  API_KEY, CLIENT_ID, PROD_API_KEY, PROD_CLIENT_ID, BASE, RUN, newClient, next, runDomain, emailsAt,
  freshIP, USER_AGENT, PASSWORD, SESSION_ID, unknownId,
  assertIso, rejectsWith, rejectsOauth as rejectsOauthError, raw,
} from './support.mjs';

// The server's default KEYWAY_ISSUER is http://<KEYWAY_ADDR>.
const ISSUER = BASE;
// The server's default KEYWAY_LOGOUT_REDIRECTS.
const RETURN_TO = 'http://localhost:3000';

// Clients verify the access token's iss (the SDK does only when `issuer` is
// set) and fetch the JWKS from `${baseURL}/sso/jwks/${clientId}`.
function client(key, { clientId = CLIENT_ID, ...options } = {}) {
  return newClient(key, { clientId, issuer: ISSUER, ...options });
}

const workos = client(API_KEY);
const um = workos.userManagement;
// No retries: a 429 would otherwise be retried 3 times, honouring Retry-After.
const umNoRetry = client(API_KEY, { maxRetries: 0 }).userManagement;
const prod = PROD_API_KEY && PROD_CLIENT_ID ? client(PROD_API_KEY, { clientId: PROD_CLIENT_ID }).userManagement : null;

const DOMAIN = runDomain('keyway-auth');
const email = emailsAt(DOMAIN);

const COOKIE_PASSWORD = randomBytes(32).toString('base64url'); // 43 characters

const ULID = /^0[0-9A-Z]{25}$/;
const UNKNOWN_USER = unknownId('user');
const UNKNOWN_SESSION = unknownId('session');
const ACCESS_TTL = 300; // seconds, the server's default

// Everything this file creates, deleted at the end.
const createdUsers = [];
const createdOrgs = [];
after(async () => {
  for (const id of createdUsers) await um.deleteUser(id).catch(() => {});
  for (const id of createdOrgs) await workos.organizations.deleteOrganization(id).catch(() => {});
});

// Users are created verified: an unverified email must verify it first (403).
async function newUser(tag, options = { password: PASSWORD, emailVerified: true }) {
  const u = await um.createUser({ email: email(tag), ...options });
  createdUsers.push(u.id);
  return u;
}

async function newOrg(tag) {
  const o = await workos.organizations.createOrganization({ name: `Auth ${tag} ${RUN} #${next()}` });
  createdOrgs.push(o.id);
  return o;
}

function signIn(u, options = {}, userManagement = um) {
  return userManagement.authenticateWithPassword({
    email: u.email, password: PASSWORD, ipAddress: freshIP(), userAgent: USER_AGENT, ...options,
  });
}

// rejectsOauth also checks that the OAuth error has a description.
async function rejectsOauth(promise, error) {
  const err = await rejectsOauthError(promise, error);
  assert.equal(typeof err.errorDescription, 'string');
  return err;
}

const b64url = (s) => Buffer.from(s, 'base64url');

function decodeJwt(token) {
  assert.equal(typeof token, 'string');
  const parts = token.split('.');
  assert.equal(parts.length, 3, 'a JWS compact serialization has three parts');
  return {
    header: JSON.parse(b64url(parts[0]).toString('utf8')),
    claims: JSON.parse(b64url(parts[1]).toString('utf8')),
    input: `${parts[0]}.${parts[1]}`,
    signature: b64url(parts[2]),
  };
}

async function fetchJwks(clientId = CLIENT_ID) {
  const res = await raw('GET', `/sso/jwks/${clientId}`, { key: null, headers: { 'User-Agent': 'jose/v6.2.12' } });
  assert.equal(res.status, 200, res.text);
  return res.json;
}

// assertAccessToken checks an access token's header and claims and its
// signature against the JWKS, and returns its claims.
async function assertAccessToken(token, { userId, sessionId, orgId } = {}) {
  const { header, claims, input, signature } = decodeJwt(token);
  assert.equal(header.alg, 'RS256');
  assert.equal(header.typ, 'JWT');
  assert.equal(typeof header.kid, 'string');
  assert.ok(header.kid.length > 0, 'kid is set');

  const { keys } = await fetchJwks();
  const jwk = keys.find((k) => k.kid === header.kid);
  assert.ok(jwk, `the JWKS has the token's kid ${header.kid}`);
  const ok = verify('RSA-SHA256', Buffer.from(input), createPublicKey({ key: jwk, format: 'jwk' }), signature);
  assert.ok(ok, 'the JWKS key verifies the signature');

  assert.equal(claims.iss, ISSUER);
  if (userId) assert.equal(claims.sub, userId);
  assert.match(claims.sid, SESSION_ID);
  if (sessionId) assert.equal(claims.sid, sessionId);
  assert.match(claims.jti, ULID, 'jti is a bare ULID');
  if (orgId === null) assert.ok(!('org_id' in claims) || claims.org_id == null, 'no org_id without an organization');
  else if (orgId) assert.equal(claims.org_id, orgId);
  assert.ok(Number.isInteger(claims.iat) && Number.isInteger(claims.exp));
  assert.equal(claims.exp - claims.iat, ACCESS_TTL, 'the access token lives 5 minutes');
  assert.ok(Math.abs(claims.iat - Date.now() / 1000) < 60, 'iat is now');
  return claims;
}

function assertRefreshToken(token) {
  assert.equal(typeof token, 'string');
  assert.ok(token.length >= 20, 'the refresh token is long');
  assert.ok(!token.includes('.') || token.split('.').length !== 3, 'the refresh token is opaque, not a JWT');
}

describe('authenticateWithPassword', () => {
  test('returns the user, tokens and the Password method; the access token is an RS256 JWT', async () => {
    const u = await newUser('pw');
    const res = await signIn(u);
    assert.equal(res.user.object, 'user');
    assert.equal(res.user.id, u.id);
    assert.equal(res.user.email, u.email);
    assertIso(res.user.lastSignInAt, 'user.lastSignInAt');
    assert.equal(res.authenticationMethod, 'Password');
    assert.equal(res.organizationId ?? null, null, 'no organization without a membership');
    assertRefreshToken(res.refreshToken);
    assert.ok(!('sealedSession' in res), 'no sealed session unless asked for');
    await assertAccessToken(res.accessToken, { userId: u.id, orgId: null });

    // The sign-in is recorded on the user.
    const got = await um.getUser(u.id);
    assert.equal(got.lastSignInAt, res.user.lastSignInAt);

    // Each sign-in is a new session with new tokens.
    const again = await signIn(u);
    assert.notEqual(again.refreshToken, res.refreshToken);
    assert.notEqual(decodeJwt(again.accessToken).claims.sid, decodeJwt(res.accessToken).claims.sid);
  });

  test('organizationId when the user has exactly one membership, in the token too', async () => {
    const u = await newUser('one-org');
    const org = await newOrg('one');
    const m = await um.createOrganizationMembership({ userId: u.id, organizationId: org.id });
    const res = await signIn(u);
    assert.equal(res.organizationId, org.id);
    const claims = await assertAccessToken(res.accessToken, { userId: u.id, orgId: org.id });
    assert.equal(claims.role, m.role.slug, 'role is the membership role');
  });

  test('the email is case-insensitive', async () => {
    const u = await newUser('case');
    const res = await signIn(u, { email: u.email.toUpperCase() });
    assert.equal(res.user.id, u.id);
  });

  test('a wrong password, an unknown email and a user without a password: the same invalid_credentials', async () => {
    const u = await newUser('wrong');
    const noPassword = await newUser('nopw', {});
    const errors = [
      await rejectsWith(signIn(u, { password: `${PASSWORD}x` }), GenericServerException, 400),
      await rejectsWith(signIn({ email: email('nobody') }), GenericServerException, 400),
      await rejectsWith(signIn(noPassword), GenericServerException, 400),
      await rejectsWith(signIn(u, { password: '' }), GenericServerException, 400),
    ];
    for (const e of errors) {
      assert.equal(e.code, 'invalid_credentials');
      assert.equal(e.message, errors[0].message, 'the same message, so accounts cannot be enumerated');
      assert.deepEqual(Object.keys(e.rawData).sort(), Object.keys(errors[0].rawData).sort());
    }
    // The right password still works afterwards.
    assert.equal((await signIn(u)).user.id, u.id);
  });

  test('a client_id of another environment is invalid_client', { skip: !prod && 'no KEYWAY_PROD_*' }, async () => {
    const u = await newUser('client');
    const wrongClient = client(API_KEY, { clientId: PROD_CLIENT_ID }).userManagement;
    await rejectsOauth(signIn(u, {}, wrongClient), 'invalid_client');
  });

  test('production cannot sign in a staging user', { skip: !prod && 'no KEYWAY_PROD_*' }, async () => {
    const u = await newUser('tenant');
    const e = await rejectsWith(signIn(u, {}, prod), GenericServerException, 400);
    assert.equal(e.code, 'invalid_credentials');
  });
});

describe('authenticateWithRefreshToken', () => {
  test('rotates the tokens; the old refresh token is then invalid_grant', async () => {
    const u = await newUser('refresh');
    const first = await signIn(u);
    const sid = decodeJwt(first.accessToken).claims.sid;

    const second = await um.authenticateWithRefreshToken({ refreshToken: first.refreshToken });
    assert.equal(second.user.id, u.id);
    assert.equal(second.authenticationMethod, 'Password');
    assertRefreshToken(second.refreshToken);
    assert.notEqual(second.refreshToken, first.refreshToken);
    assert.notEqual(second.accessToken, first.accessToken);
    const claims = await assertAccessToken(second.accessToken, { userId: u.id, sessionId: sid, orgId: null });
    assert.notEqual(claims.jti, decodeJwt(first.accessToken).claims.jti);

    await rejectsOauth(um.authenticateWithRefreshToken({ refreshToken: first.refreshToken }), 'invalid_grant');

    // A replay right after rotation is refused without ending the session
    // (the server's grace window): the newest token still works.
    const third = await um.authenticateWithRefreshToken({ refreshToken: second.refreshToken });
    assert.equal(decodeJwt(third.accessToken).claims.sid, sid);
  });

  test('a made-up or empty refresh token is invalid_grant', async () => {
    await rejectsOauth(um.authenticateWithRefreshToken({ refreshToken: randomBytes(32).toString('base64url') }), 'invalid_grant');
    await rejectsOauth(um.authenticateWithRefreshToken({ refreshToken: '' }), 'invalid_grant');
  });

  test('organizationId switches the session to another organization of the user', async () => {
    const u = await newUser('switch');
    const [a, b, other] = [await newOrg('a'), await newOrg('b'), await newOrg('other')];
    await um.createOrganizationMembership({ userId: u.id, organizationId: a.id });
    await um.createOrganizationMembership({ userId: u.id, organizationId: b.id });
    // A member of two organizations must choose one to sign in.
    let pendingToken;
    try {
      await signIn(u);
      assert.fail('sign-in without an organization was accepted');
    } catch (err) {
      assert.equal(err.rawData?.code, 'organization_selection_required', String(err));
      assert.deepEqual(err.rawData.organizations.map((o) => o.id).sort(), [a.id, b.id].sort());
      pendingToken = err.pendingAuthenticationToken ?? err.rawData.pending_authentication_token;
    }
    const res = await um.authenticateWithOrganizationSelection({ clientId: CLIENT_ID, pendingAuthenticationToken: pendingToken, organizationId: b.id });
    assert.equal(res.organizationId, b.id);
    // The pending token is single use.
    await assert.rejects(um.authenticateWithOrganizationSelection({ clientId: CLIENT_ID, pendingAuthenticationToken: pendingToken, organizationId: b.id }));

    const inA = await um.authenticateWithRefreshToken({ refreshToken: res.refreshToken, organizationId: a.id });
    assert.equal(inA.organizationId, a.id);
    await assertAccessToken(inA.accessToken, { userId: u.id, orgId: a.id });
    // Without organizationId the session stays in its organization.
    const stay = await um.authenticateWithRefreshToken({ refreshToken: inA.refreshToken });
    assert.equal(stay.organizationId, a.id);
    const inB = await um.authenticateWithRefreshToken({ refreshToken: stay.refreshToken, organizationId: b.id });
    assert.equal(inB.organizationId, b.id);
    assert.equal(decodeJwt(inB.accessToken).claims.org_id, b.id);

    await rejectsOauth(um.authenticateWithRefreshToken({ refreshToken: inB.refreshToken, organizationId: other.id }),
      'organization_membership_not_found');
  });

  test('a staging refresh token is invalid_grant in production', { skip: !prod && 'no KEYWAY_PROD_*' }, async () => {
    const u = await newUser('tenant-refresh');
    const res = await signIn(u);
    await rejectsOauth(prod.authenticateWithRefreshToken({ refreshToken: res.refreshToken }), 'invalid_grant');
    // Still valid in staging.
    assert.equal((await um.authenticateWithRefreshToken({ refreshToken: res.refreshToken })).user.id, u.id);
  });
});

describe('sessions', () => {
  test('listSessions shows each sign-in; revokeSession ends one and its refresh token', async () => {
    const u = await newUser('sessions');
    const ip1 = freshIP();
    const s1 = await signIn(u, { ipAddress: ip1 });
    const s2 = await signIn(u);
    const sid1 = decodeJwt(s1.accessToken).claims.sid;
    const sid2 = decodeJwt(s2.accessToken).claims.sid;

    const list = await um.listSessions(u.id);
    assert.deepEqual(list.data.map((s) => s.id), [sid2, sid1], 'newest first');
    const one = list.data.find((s) => s.id === sid1);
    assert.equal(one.object, 'session');
    assert.equal(one.userId, u.id);
    assert.equal(one.ipAddress, ip1);
    assert.equal(one.userAgent, USER_AGENT);
    assert.equal(one.authMethod, 'password');
    assert.equal(one.status, 'active');
    assert.equal(one.endedAt, null);
    assertIso(one.createdAt, 'createdAt');
    assertIso(one.updatedAt, 'updatedAt');
    assertIso(one.expiresAt, 'expiresAt');
    assert.ok(new Date(one.expiresAt) > new Date(Date.now() + 24 * 3600 * 1000), 'the session outlives its access token');

    const paged = await um.listSessions(u.id, { limit: 1 });
    assert.deepEqual(paged.data.map((s) => s.id), [sid2]);
    assert.equal(paged.listMetadata.after, sid2);

    assert.equal(await um.revokeSession({ sessionId: sid1 }), undefined);
    const revoked = (await um.listSessions(u.id)).data.find((s) => s.id === sid1);
    assert.equal(revoked.status, 'revoked');
    assertIso(revoked.endedAt, 'endedAt');
    await rejectsOauth(um.authenticateWithRefreshToken({ refreshToken: s1.refreshToken }), 'invalid_grant');

    // The other session is untouched.
    assert.equal((await um.listSessions(u.id)).data.find((s) => s.id === sid2).status, 'active');
    await um.authenticateWithRefreshToken({ refreshToken: s2.refreshToken });
  });

  test('unknown users and sessions are NotFoundException', async () => {
    await rejectsWith(um.listSessions(UNKNOWN_USER), NotFoundException, 404);
    await rejectsWith(um.revokeSession({ sessionId: UNKNOWN_SESSION }), NotFoundException, 404);
  });

  test('production cannot list or revoke a staging session', { skip: !prod && 'no KEYWAY_PROD_*' }, async () => {
    const u = await newUser('tenant-sessions');
    const res = await signIn(u);
    const sid = decodeJwt(res.accessToken).claims.sid;
    await rejectsWith(prod.listSessions(u.id), NotFoundException, 404);
    await rejectsWith(prod.revokeSession({ sessionId: sid }), NotFoundException, 404);
    assert.equal((await um.listSessions(u.id)).data[0].status, 'active');
  });
});

describe('logout', () => {
  test('getLogoutUrl: 302 to return_to, without an API key, and the session is revoked', async () => {
    const u = await newUser('logout');
    const res = await signIn(u);
    const sid = decodeJwt(res.accessToken).claims.sid;
    const url = um.getLogoutUrl({ sessionId: sid, returnTo: RETURN_TO });
    assert.equal(url, `${BASE}/user_management/sessions/logout?session_id=${sid}&return_to=${encodeURIComponent(RETURN_TO)}`);

    const out = await fetch(url, { redirect: 'manual' });
    assert.equal(out.status, 302, await out.text());
    assert.equal(out.headers.get('location'), RETURN_TO);

    assert.equal((await um.listSessions(u.id)).data[0].status, 'revoked');
    await rejectsOauth(um.authenticateWithRefreshToken({ refreshToken: res.refreshToken }), 'invalid_grant');

    // Logging out again (a second click) still lands on return_to.
    const again = await fetch(url, { redirect: 'manual' });
    assert.equal(again.status, 302, await again.text());
    assert.equal(again.headers.get('location'), RETURN_TO);
  });

  test('without return_to: 302 to the first allowed URL', async () => {
    const u = await newUser('logout-default');
    const sid = decodeJwt((await signIn(u)).accessToken).claims.sid;
    const out = await fetch(um.getLogoutUrl({ sessionId: sid }), { redirect: 'manual' });
    assert.equal(out.status, 302, await out.text());
    assert.equal(out.headers.get('location'), RETURN_TO);
  });

  test('a return_to that is not allowed is 422, never a redirect, and changes nothing', async () => {
    const u = await newUser('logout-evil');
    const res = await signIn(u);
    const sid = decodeJwt(res.accessToken).claims.sid;
    for (const returnTo of ['https://evil.example/', `${RETURN_TO}.evil.example`, '//evil.example', `${RETURN_TO}/../x`, `${RETURN_TO}/x`, `${RETURN_TO}:8443/`]) {
      const out = await raw('GET', `/user_management/sessions/logout?session_id=${sid}&return_to=${encodeURIComponent(returnTo)}`,
        { key: null, redirect: 'manual' });
      assert.equal(out.status, 422, `${returnTo}: ${out.text}`);
      assert.equal(out.headers.get('location'), null);
      assert.equal(typeof out.json?.code, 'string', `${returnTo}: ${out.text}`);
      assert.ok(out.json.errors?.some((e) => e.field === 'return_to'), `${returnTo}: the error names return_to: ${out.text}`);
    }
    // A rejected logout must not end the session.
    assert.equal((await um.listSessions(u.id)).data[0].status, 'active', 'the session survives a rejected logout');
    await um.authenticateWithRefreshToken({ refreshToken: res.refreshToken });
  });

  test('an unknown session is 404', async () => {
    const out = await raw('GET', `/user_management/sessions/logout?session_id=${UNKNOWN_SESSION}&return_to=${encodeURIComponent(RETURN_TO)}`,
      { key: null, redirect: 'manual' });
    assert.equal(out.status, 404, out.text);
    assert.equal(out.headers.get('location'), null);
  });
});

describe('JWKS', () => {
  test('GET /sso/jwks/:client_id is 200 without an API key, with public RSA keys only', async () => {
    const res = await raw('GET', `/sso/jwks/${CLIENT_ID}`, { key: null, headers: { 'User-Agent': 'jose/v6.2.12' } });
    assert.equal(res.status, 200, res.text);
    assert.match(res.headers.get('content-type') ?? '', /application\/json/);
    assert.ok(Array.isArray(res.json?.keys) && res.json.keys.length > 0, res.text);
    for (const k of res.json.keys) {
      assert.equal(k.kty, 'RSA');
      assert.equal(k.alg, 'RS256');
      assert.equal(k.use, 'sig');
      assert.equal(typeof k.kid, 'string');
      assert.equal(typeof k.n, 'string');
      assert.equal(k.e, 'AQAB');
      for (const priv of ['d', 'p', 'q', 'dp', 'dq', 'qi']) assert.ok(!(priv in k), `no private ${priv}`);
      assert.ok(b64url(k.n).length >= 256, 'at least 2048-bit keys');
    }
    assert.equal(new Set(res.json.keys.map((k) => k.kid)).size, res.json.keys.length, 'kids are unique');
  });

  test('an unknown client id is 404', async () => {
    const res = await raw('GET', `/sso/jwks/client_01${'A'.repeat(24)}`, { key: null });
    assert.equal(res.status, 404, res.text);
  });

  test('production has a JWKS of its own client id', { skip: !prod && 'no KEYWAY_PROD_*' }, async () => {
    assert.ok((await fetchJwks(PROD_CLIENT_ID)).keys.length > 0);
  });

  // An app verifies access tokens with the SDK defaults: the JWKS of its
  // client id, no issuer check. A staging token must not pass in production.
  test('a staging access token does not verify with the production JWKS', { skip: !prod && 'no KEYWAY_PROD_*' }, async () => {
    const prodDefaults = client(PROD_API_KEY, { clientId: PROD_CLIENT_ID, issuer: undefined }).userManagement;
    const verifyWith = async (res) => prodDefaults.authenticateWithSessionCookie({
      sessionData: await prodDefaults.sealSessionDataFromAuthenticationResponse({ authenticationResponse: res, cookiePassword: COOKIE_PASSWORD }),
      cookiePassword: COOKIE_PASSWORD,
    });
    // A production token verifies in production...
    const p = await prod.createUser({ email: email('jwks-prod'), password: PASSWORD, emailVerified: true });
    try {
      const own = await verifyWith(await signIn(p, {}, prod));
      assert.equal(own.authenticated, true, JSON.stringify(own));
    } finally {
      await prod.deleteUser(p.id);
    }
    // ...a staging one does not.
    const u = await newUser('jwks-staging');
    const staging = await signIn(u);
    // The SDK's jose either answers invalid_jwt or throws JWKSNoMatchingKey
    // for a kid its JWKS lacks; both refuse the token.
    let got;
    try {
      got = await verifyWith(staging);
    } catch (err) {
      assert.equal(err.code, 'ERR_JWKS_NO_MATCHING_KEY', String(err));
      got = { authenticated: false, reason: 'invalid_jwt' };
    }
    assert.deepEqual(got, { authenticated: false, reason: 'invalid_jwt' }, `production accepts a staging token (session ${got.sessionId}, user ${got.user?.id})`);
    const { kid } = decodeJwt(staging.accessToken).header;
    const prodKids = (await fetchJwks(PROD_CLIENT_ID)).keys.map((k) => k.kid);
    assert.ok(!prodKids.includes(kid), `the staging signing key ${kid} is not in the production JWKS`);
  });
});

describe('sealed sessions', () => {
  async function sealedSignIn(tag) {
    const u = await newUser(tag);
    const org = await newOrg(tag);
    await um.createOrganizationMembership({ userId: u.id, organizationId: org.id });
    const res = await signIn(u, { session: { sealSession: true, cookiePassword: COOKIE_PASSWORD } });
    assert.equal(typeof res.sealedSession, 'string');
    assert.match(res.sealedSession, /^Fe26\.2\*/, 'an iron-webcrypto seal');
    return { u, org, res, sid: decodeJwt(res.accessToken).claims.sid };
  }

  test('authenticateWithSessionCookie and loadSealedSession().authenticate()', async () => {
    const { u, org, res, sid } = await sealedSignIn('cookie');

    const a = await um.authenticateWithSessionCookie({ sessionData: res.sealedSession, cookiePassword: COOKIE_PASSWORD });
    assert.equal(a.authenticated, true, JSON.stringify(a));
    assert.equal(a.user.id, u.id);
    assert.equal(a.sessionId, sid);
    assert.equal(a.organizationId, org.id);
    assert.equal(a.authenticationMethod, 'Password');
    assert.equal(a.accessToken, res.accessToken);

    const session = um.loadSealedSession({ sessionData: res.sealedSession, cookiePassword: COOKIE_PASSWORD });
    const b = await session.authenticate();
    assert.equal(b.authenticated, true, JSON.stringify(b));
    assert.equal(b.user.id, u.id);
    assert.equal(b.sessionId, sid);
    assert.equal(b.organizationId, org.id);

    // The cookie session builds the logout URL from its session id.
    const url = await session.getLogoutUrl({ returnTo: RETURN_TO });
    assert.equal(new URL(url).searchParams.get('session_id'), sid);
  });

  test('refresh() seals a new session; the old cookie can no longer refresh', async () => {
    const { u, org, res, sid } = await sealedSignIn('cookie-refresh');
    const session = um.loadSealedSession({ sessionData: res.sealedSession, cookiePassword: COOKIE_PASSWORD });
    const r = await session.refresh();
    assert.equal(r.authenticated, true, JSON.stringify(r));
    assert.equal(typeof r.sealedSession, 'string');
    assert.notEqual(r.sealedSession, res.sealedSession);
    assert.equal(r.sessionId, sid);
    assert.equal(r.organizationId, org.id);
    assert.equal(r.user.id, u.id);
    assert.notEqual(r.session.refreshToken, res.refreshToken);

    const fresh = await um.authenticateWithSessionCookie({ sessionData: r.sealedSession, cookiePassword: COOKIE_PASSWORD });
    assert.equal(fresh.authenticated, true, JSON.stringify(fresh));
    assert.equal(fresh.sessionId, sid);
    assert.notEqual(fresh.accessToken, res.accessToken);

    const stale = um.loadSealedSession({ sessionData: res.sealedSession, cookiePassword: COOKIE_PASSWORD });
    assert.deepEqual(await stale.refresh(), { authenticated: false, reason: 'invalid_grant', retryable: false });
  });

  test('a tampered cookie or a wrong cookie password is not authenticated', async () => {
    const { res } = await sealedSignIn('cookie-tamper');
    const parts = res.sealedSession.split('*');
    // Flip one character of the encrypted payload (the fifth component).
    const enc = parts[4];
    const i = Math.floor(enc.length / 2);
    parts[4] = enc.slice(0, i) + (enc[i] === 'A' ? 'B' : 'A') + enc.slice(i + 1);
    const tampered = parts.join('*');
    assert.notEqual(tampered, res.sealedSession);

    const a = await um.authenticateWithSessionCookie({ sessionData: tampered, cookiePassword: COOKIE_PASSWORD });
    assert.equal(a.authenticated, false, JSON.stringify(a));
    const b = await um.loadSealedSession({ sessionData: tampered, cookiePassword: COOKIE_PASSWORD }).authenticate();
    assert.equal(b.authenticated, false, JSON.stringify(b));
    const c = await um.authenticateWithSessionCookie({ sessionData: res.sealedSession, cookiePassword: randomBytes(32).toString('hex') });
    assert.equal(c.authenticated, false, JSON.stringify(c));
  });

  test('a sealed forged access token, or another issuer, is invalid_jwt', async () => {
    const { res } = await sealedSignIn('cookie-forged');
    const [h, p, s] = res.accessToken.split('.');
    const claims = JSON.parse(b64url(p).toString('utf8'));
    const forgedPayload = Buffer.from(JSON.stringify({ ...claims, sub: UNKNOWN_USER })).toString('base64url');
    for (const accessToken of [`${h}.${forgedPayload}.${s}`, `${h}.${p}.${s.slice(0, -4)}AAAA`]) {
      const sealed = await um.sealSessionDataFromAuthenticationResponse({
        authenticationResponse: { ...res, accessToken }, cookiePassword: COOKIE_PASSWORD,
      });
      const a = await um.authenticateWithSessionCookie({ sessionData: sealed, cookiePassword: COOKIE_PASSWORD });
      assert.deepEqual(a, { authenticated: false, reason: 'invalid_jwt' });
    }

    // The SDK checks iss when told to: the real issuer passes (above), another fails.
    const other = client(API_KEY, { issuer: 'https://api.workos.com' }).userManagement;
    const a = await other.authenticateWithSessionCookie({ sessionData: res.sealedSession, cookiePassword: COOKIE_PASSWORD });
    assert.deepEqual(a, { authenticated: false, reason: 'invalid_jwt' });
  });

  test('after logout the cookie cannot refresh', async () => {
    const { res, sid } = await sealedSignIn('cookie-logout');
    const out = await fetch(um.getLogoutUrl({ sessionId: sid, returnTo: RETURN_TO }), { redirect: 'manual' });
    assert.equal(out.status, 302);
    const session = um.loadSealedSession({ sessionData: res.sealedSession, cookiePassword: COOKIE_PASSWORD });
    assert.deepEqual(await session.refresh(), { authenticated: false, reason: 'invalid_grant', retryable: false });
  });
});

describe('throttling', () => {
  // Sign-ins of this block share one address, of this run.
  const ip = freshIP();
  const attempt = (u, password) => umNoRetry.authenticateWithPassword({ email: u.email, password, ipAddress: ip });

  test('the 6th wrong password on one account is RateLimitExceededException, even with the right password', async () => {
    const u = await newUser('throttle');
    for (let i = 1; i <= 5; i++) {
      const e = await rejectsWith(attempt(u, `wrong-${i}`), GenericServerException, 400);
      assert.equal(e.code, 'invalid_credentials', `attempt ${i}`);
    }
    const e = await rejectsWith(attempt(u, 'wrong-6'), RateLimitExceededException, 429);
    assert.ok(Number.isFinite(e.retryAfter) && e.retryAfter > 0, `Retry-After is a positive number of seconds (${e.retryAfter})`);
    assert.ok(e.retryAfter <= 15 * 60, 'Retry-After is within the 15-minute window');

    // The account stays locked for the right password too.
    await rejectsWith(attempt(u, PASSWORD), RateLimitExceededException, 429);
    const rawRes = await raw('POST', '/user_management/authenticate', {
      body: { grant_type: 'password', client_id: CLIENT_ID, client_secret: API_KEY, email: u.email, password: PASSWORD, ip_address: ip },
    });
    assert.equal(rawRes.status, 429, rawRes.text);
    assert.match(rawRes.headers.get('retry-after') ?? '', /^[1-9][0-9]*$/);
    assert.equal(typeof rawRes.json?.message, 'string', rawRes.text);

    // Other accounts are not affected.
    const other = await newUser('throttle-other');
    assert.equal((await attempt(other, PASSWORD)).user.id, other.id);
  });

  test('a successful sign-in clears the count of wrong passwords', async () => {
    const u = await newUser('throttle-clear');
    for (let i = 1; i <= 4; i++) await rejectsWith(attempt(u, `wrong-${i}`), GenericServerException, 400);
    assert.equal((await attempt(u, PASSWORD)).user.id, u.id);
    for (let i = 1; i <= 5; i++) {
      const e = await rejectsWith(attempt(u, `again-${i}`), GenericServerException, 400);
      assert.equal(e.code, 'invalid_credentials', `attempt ${i} after the success`);
    }
    await rejectsWith(attempt(u, 'again-6'), RateLimitExceededException, 429);
  });

  test('an unknown email is throttled like a known one', async () => {
    const ghost = { email: email('throttle-ghost') };
    for (let i = 1; i <= 5; i++) await rejectsWith(attempt(ghost, `wrong-${i}`), GenericServerException, 400);
    await rejectsWith(attempt(ghost, 'wrong-6'), RateLimitExceededException, 429);
  });
});

test('invalid parameters of the refresh and password grants', async () => {
  // Not a grant the server has: unsupported_grant_type, in the OAuth form.
  const res = await raw('POST', '/user_management/authenticate', {
    body: { grant_type: 'urn:keyway:nope', client_id: CLIENT_ID, client_secret: API_KEY },
  });
  assert.equal(res.status, 400, res.text);
  assert.equal(res.json?.error, 'unsupported_grant_type', res.text);
  // A wrong client_secret is invalid_client.
  const u = await newUser('secret');
  const bad = await raw('POST', '/user_management/authenticate', {
    body: { grant_type: 'password', client_id: CLIENT_ID, client_secret: `${API_KEY}x`, email: u.email, password: PASSWORD, ip_address: freshIP() },
  });
  assert.equal(bad.status, 400, bad.text);
  assert.equal(bad.json?.error, 'invalid_client', bad.text);
});
