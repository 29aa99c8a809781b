// The official WorkOS Node SDK (@workos-inc/node 11.0.0) against a running
// Keyway: the mailed flows besides Magic Auth (workos-api.md sections 4 and
// 6): email verification (by the API and as a sign-in step), organization
// selection, password reset and invitations. Every code, reset link and
// invitation link is also read out of the mailbox (mail.mjs). sdk_test.go
// starts the server and runs this file with `node --test`; by hand:
//
//	KEYWAY_PORT=8080 KEYWAY_API_KEY=sk_test_... KEYWAY_CLIENT_ID=client_01... \
//	  [KEYWAY_MAIL_SOURCE=dev:http://127.0.0.1:8080/_dev/inbox] \
//	  node --test test/sdk/flows.test.mjs
//
// Emails and organization names are unique to each run and every sign-in
// comes from an address of its own. The users and organizations this file
// creates are deleted at the end: users.test.mjs expects lastSignInAt null
// on every user it lists.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  AuthenticationException,
  NotFoundException,
  OauthException,
} from '@workos-inc/node';
import { readMail, readCode } from './mail.mjs';
import {
  API_KEY, CLIENT_ID, RUN, newClient as client, next, runDomain, emailsAt, freshIP, USER_AGENT, PASSWORD,
  USER_ID, ORG_ID, SESSION_ID, unknownId, assertIso, raw, decodeJwtClaims,
} from './support.mjs';

const workos = client(API_KEY);
// No retries: every failing call is exactly one try.
const um = client(API_KEY, { maxRetries: 0 }).userManagement;

const DOMAIN = runDomain('keyway-flows');
const email = emailsAt(DOMAIN);

const NEW_PASSWORD = 'Amber-Meadow-Falcon-4826?';

const EMAIL_VERIFICATION_ID = /^email_verification_0[0-9A-Z]{25}$/;
const PASSWORD_RESET_ID = /^password_reset_0[0-9A-Z]{25}$/;
const INVITATION_ID = /^invitation_0[0-9A-Z]{25}$/;
const UNKNOWN_INVITATION = unknownId('invitation');

// Everything this file creates, deleted at the end.
const createdUsers = new Set();
const createdOrgs = new Set();
after(async () => {
  for (const id of createdUsers) await um.deleteUser(id).catch(() => {});
  for (const id of createdOrgs) await workos.organizations.deleteOrganization(id).catch(() => {});
});

// --- helpers -------------------------------------------------------------

async function newUser(tag, { verified = true, password = PASSWORD } = {}) {
  const u = await um.createUser({ email: email(tag), password, emailVerified: verified });
  createdUsers.add(u.id);
  assert.match(u.id, USER_ID);
  assert.equal(u.emailVerified, verified);
  return u;
}

async function newOrg(tag) {
  const o = await workos.organizations.createOrganization({ name: `Flows ${tag} ${RUN} #${next()}` });
  createdOrgs.add(o.id);
  assert.match(o.id, ORG_ID);
  return o;
}

function signIn(addr, options = {}) {
  return um.authenticateWithPassword({ email: addr, password: PASSWORD, ipAddress: freshIP(), userAgent: USER_AGENT, ...options });
}

function assertSession(res, userId, orgId) {
  assert.equal(res.user.id, userId);
  const claims = decodeJwtClaims(res.accessToken);
  assert.equal(claims.sub, userId);
  assert.match(claims.sid, SESSION_ID);
  if (orgId) {
    assert.equal(res.organizationId, orgId);
    assert.equal(claims.org_id, orgId);
  }
  assert.equal(typeof res.refreshToken, 'string');
  assert.ok(res.refreshToken.length >= 20, 'the refresh token is long');
}

// failure awaits a promise that must fail and returns the error.
async function failure(promise, what) {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  assert.fail(`${what}: the call succeeded`);
}

const describeErr = (err) => `${err?.name} ${err?.status}: ${err?.message} ${JSON.stringify(err?.rawData ?? err?.errors ?? '')}`;

// errorCode is the machine-readable code of an API error, in the code form
// ({code}) or the OAuth form ({error}).
const errorCode = (err) => err?.code ?? err?.rawData?.code ?? err?.error ?? err?.rawData?.error;

// rejectsCode checks a 400 with the given code (code or OAuth form).
async function rejectsCode(promise, code, what = code) {
  const err = await failure(promise, what);
  assert.equal(err.status, 400, `${what}: ${describeErr(err)}`);
  assert.equal(errorCode(err), code, `${what}: ${describeErr(err)}`);
  return err;
}

async function rejectsWith(promise, Klass, status, what = Klass.name) {
  const err = await failure(promise, what);
  assert.equal(err?.constructor, Klass, `${what}: expected ${Klass.name}, got ${describeErr(err)}`);
  assert.equal(err.status, status, `${what}: ${describeErr(err)}`);
  return err;
}

// rejectsAuth checks a 403 AuthenticationException with the code.
async function rejectsAuth(promise, code) {
  const err = await rejectsWith(promise, AuthenticationException, 403, code);
  assert.equal(err.code, code, describeErr(err));
  assert.equal(typeof err.pendingAuthenticationToken, 'string', 'a pending authentication token');
  assert.ok(err.pendingAuthenticationToken.length >= 20, 'the pending authentication token is long');
  return err;
}

// linkWithToken returns the one URL in a message's text part that carries
// the query parameter param (token for a password reset, invitation_token
// for an invitation), and its value.
function linkWithToken(message, param = 'token') {
  const links = [...message.text.matchAll(/https?:\/\/[^\s<>"')]+/g)]
    .map((m) => m[0])
    .filter((u) => new URL(u).searchParams.has(param));
  assert.equal(new Set(links).size, 1, `exactly one link with ${param} in the text part:\n${message.text}`);
  return { url: links[0], token: new URL(links[0]).searchParams.get(param) };
}

async function memberships(userId, organizationId) {
  return (await um.listOrganizationMemberships({ userId, organizationId })).data;
}

// --- email verification --------------------------------------------------

describe('email verification', () => {
  test('sendVerificationEmail mails a code; verifyEmail with it verifies the user', async () => {
    const u = await newUser('verify', { verified: false });
    const sent = await um.sendVerificationEmail({ userId: u.id });
    assert.equal(sent.user.id, u.id);
    assert.equal(sent.user.email, u.email);
    assert.equal(sent.user.emailVerified, false, 'not verified by sending');

    const code = await readCode(u.email);
    const wrong = String((Number(code) + 1) % 1_000_000).padStart(6, '0');
    await rejectsCode(um.verifyEmail({ userId: u.id, code: wrong }), 'email_verification_code_incorrect', 'a wrong code');
    assert.equal((await um.getUser(u.id)).emailVerified, false, 'still unverified after a wrong code');

    const res = await um.verifyEmail({ userId: u.id, code });
    assert.equal(res.user.id, u.id);
    assert.equal(res.user.emailVerified, true);
    assert.equal((await um.getUser(u.id)).emailVerified, true, 'getUser shows the user verified');

    await rejectsCode(um.sendVerificationEmail({ userId: u.id }), 'email_already_verified', 'sending to a verified user');
    // A verified user signs in with the password directly.
    assertSession(await signIn(u.email), u.id);
  });

  test('sendVerificationEmail to an already verified user is email_already_verified; unknown user is 404', async () => {
    const u = await newUser('verified');
    await rejectsCode(um.sendVerificationEmail({ userId: u.id }), 'email_already_verified');
    await rejectsWith(um.sendVerificationEmail({ userId: `user_01${'A'.repeat(24)}` }), NotFoundException, 404, 'an unknown user');
    await rejectsWith(um.getEmailVerification(`email_verification_01${'A'.repeat(24)}`), NotFoundException, 404, 'an unknown email verification');
  });

  test('password sign-in with an unverified email is email_verification_required; the mailed code completes it', async () => {
    const u = await newUser('pending', { verified: false });
    const err = await rejectsAuth(signIn(u.email), 'email_verification_required');
    assert.equal(err.rawData.email, u.email);
    const evId = err.rawData.email_verification_id;
    assert.match(evId, EMAIL_VERIFICATION_ID);

    const ev = await um.getEmailVerification(evId);
    assert.equal(ev.object, 'email_verification');
    assert.equal(ev.id, evId);
    assert.equal(ev.userId, u.id);
    assert.equal(ev.email, u.email);
    assertIso(ev.createdAt, 'createdAt');
    assertIso(ev.expiresAt, 'expiresAt');
    assert.ok(Date.parse(ev.expiresAt) > Date.now(), 'not expired');
    assert.equal(ev.code, undefined, 'getEmailVerification has no code');

    const code = await readCode(u.email);
    const res = await um.authenticateWithEmailVerification({
      clientId: CLIENT_ID, code, pendingAuthenticationToken: err.pendingAuthenticationToken, ipAddress: freshIP(), userAgent: USER_AGENT,
    });
    assertSession(res, u.id);
    assert.equal(res.user.emailVerified, true, 'the signed-in user is verified');
    assert.equal((await um.getUser(u.id)).emailVerified, true);

    // The pending token is single use.
    const again = await failure(um.authenticateWithEmailVerification({
      clientId: CLIENT_ID, code, pendingAuthenticationToken: err.pendingAuthenticationToken,
    }), 'a second use of the pending token');
    assert.equal(again.status, 400, describeErr(again));

    // Verified now: the password signs in directly.
    assertSession(await signIn(u.email), u.id);
  });
});

// --- organization selection ----------------------------------------------

describe('organization selection', () => {
  test('a member of two organizations chooses one; a non-member organization is organization_membership_not_found', async () => {
    const u = await newUser('select');
    const [a, b, other] = [await newOrg('a'), await newOrg('b'), await newOrg('other')];
    await um.createOrganizationMembership({ userId: u.id, organizationId: a.id });
    await um.createOrganizationMembership({ userId: u.id, organizationId: b.id });

    const err = await rejectsAuth(signIn(u.email), 'organization_selection_required');
    const orgs = err.rawData.organizations;
    assert.ok(Array.isArray(orgs), 'organizations[]');
    assert.deepEqual(orgs.map((o) => o.id).sort(), [a.id, b.id].sort());
    for (const o of orgs) assert.equal(o.name, o.id === a.id ? a.name : b.name);

    const res = await um.authenticateWithOrganizationSelection({
      clientId: CLIENT_ID, pendingAuthenticationToken: err.pendingAuthenticationToken, organizationId: a.id,
    });
    assertSession(res, u.id, a.id);

    const err2 = await rejectsAuth(signIn(u.email), 'organization_selection_required');
    await rejectsCode(um.authenticateWithOrganizationSelection({
      clientId: CLIENT_ID, pendingAuthenticationToken: err2.pendingAuthenticationToken, organizationId: other.id,
    }), 'organization_membership_not_found', 'a non-member organization');
  });
});

// --- password reset ------------------------------------------------------

describe('password reset', () => {
  test('createPasswordReset mails a link; resetPassword sets the password once and revokes the sessions', async () => {
    const u = await newUser('reset');
    const before = await signIn(u.email);

    const pr = await um.createPasswordReset({ email: u.email });
    assert.equal(pr.object, 'password_reset');
    assert.match(pr.id, PASSWORD_RESET_ID);
    assert.equal(pr.userId, u.id);
    assert.equal(pr.email, u.email);
    assert.equal(typeof pr.passwordResetToken, 'string');
    assert.ok(pr.passwordResetToken.length >= 20, 'the token is long');
    assert.equal(new URL(pr.passwordResetUrl).searchParams.get('token'), pr.passwordResetToken, 'the URL carries the token');
    assertIso(pr.createdAt, 'createdAt');
    assertIso(pr.expiresAt, 'expiresAt');
    assert.ok(Date.parse(pr.expiresAt) > Date.now(), 'not expired');

    const link = linkWithToken(await readMail(u.email));
    assert.equal(link.token, pr.passwordResetToken, 'the mailed link has the token');
    assert.equal(link.url, pr.passwordResetUrl, 'the mailed link is the password reset URL');

    const got = await um.getPasswordReset(pr.id);
    for (const k of ['object', 'id', 'userId', 'email', 'expiresAt', 'createdAt']) assert.equal(got[k], pr[k], k);
    assert.equal(got.passwordResetToken, undefined, 'getPasswordReset has no token');
    const rawGet = await raw('GET', `/user_management/password_reset/${pr.id}`);
    assert.equal(rawGet.status, 200, rawGet.text);
    assert.ok(!rawGet.text.includes(pr.passwordResetToken), `GET must not show the token: ${rawGet.text}`);

    // A weak password is refused and leaves the token usable.
    await rejectsCode(um.resetPassword({ token: pr.passwordResetToken, newPassword: 'abc' }), 'password_reset_error', 'a weak password');

    const res = await um.resetPassword({ token: pr.passwordResetToken, newPassword: NEW_PASSWORD });
    assert.equal(res.user.id, u.id);
    assert.equal(res.user.email, u.email);

    // Single use.
    const reuse = await failure(um.resetPassword({ token: pr.passwordResetToken, newPassword: 'Another-Fresh-Passphrase-9051' }), 'a second reset with the token');
    assert.ok([400, 404].includes(reuse.status), describeErr(reuse));

    await rejectsCode(signIn(u.email), 'invalid_credentials', 'the old password');
    assertSession(await signIn(u.email, { password: NEW_PASSWORD }), u.id);

    // The session from before the reset is gone.
    const stale = await rejectsWith(um.authenticateWithRefreshToken({ refreshToken: before.refreshToken }), OauthException, 400, 'a refresh token from before the reset');
    assert.equal(stale.error, 'invalid_grant', describeErr(stale));
  });

  test('createPasswordReset for an unknown email is NotFoundException; an unknown token is refused', async () => {
    await rejectsWith(um.createPasswordReset({ email: email('nobody') }), NotFoundException, 404, 'an unknown email');
    await rejectsWith(um.getPasswordReset(`password_reset_01${'A'.repeat(24)}`), NotFoundException, 404, 'an unknown password reset');
    const err = await failure(um.resetPassword({ token: randomBytes(32).toString('base64url'), newPassword: NEW_PASSWORD }), 'a made-up token');
    assert.ok([400, 404].includes(err.status), describeErr(err));
  });
});

// --- invitations ---------------------------------------------------------

function assertInvitation(inv, { addr, orgId, state = 'pending', roleSlug }) {
  assert.equal(inv.object, 'invitation');
  assert.match(inv.id, INVITATION_ID);
  assert.equal(inv.email, addr);
  assert.equal(inv.state, state);
  assert.equal(inv.organizationId, orgId);
  if (roleSlug !== undefined) assert.equal(inv.roleSlug, roleSlug);
  assertIso(inv.createdAt, 'createdAt');
  assertIso(inv.updatedAt, 'updatedAt');
  assertIso(inv.expiresAt, 'expiresAt');
}

async function invite(addr, orgId, options = {}) {
  const inv = await um.sendInvitation({ email: addr, organizationId: orgId, ...options });
  assertInvitation(inv, { addr, orgId, roleSlug: options.roleSlug });
  assert.equal(typeof inv.token, 'string');
  assert.ok(inv.token.length >= 20, 'the token is long');
  assert.equal(new URL(inv.acceptInvitationUrl).searchParams.get('invitation_token'), inv.token, 'the accept URL carries the token');
  const link = linkWithToken(await readMail(addr), 'invitation_token');
  assert.equal(link.token, inv.token, 'the mailed link has the invitation token');
  assert.equal(link.url, inv.acceptInvitationUrl, 'the mailed link is the accept URL');
  return inv;
}

describe('invitations', () => {
  test('sendInvitation mails a link; get, find by token, list; acceptInvitation makes an admin membership', async () => {
    const org = await newOrg('invite');
    const u = await newUser('invitee');
    const inv = await invite(u.email, org.id, { roleSlug: 'admin' });
    assert.equal(inv.acceptedAt, null);
    assert.equal(inv.revokedAt, null);
    assert.equal(inv.acceptedUserId, null);
    assert.ok(Date.parse(inv.expiresAt) > Date.now() + 6 * 86_400_000, 'expires in 7 days by default');

    const got = await um.getInvitation(inv.id);
    assertInvitation(got, { addr: u.email, orgId: org.id, roleSlug: 'admin' });
    assert.equal(got.id, inv.id);
    const found = await um.findInvitationByToken(inv.token);
    assert.equal(found.id, inv.id);

    const byOrg = (await um.listInvitations({ organizationId: org.id })).data;
    assert.deepEqual(byOrg.map((i) => i.id), [inv.id], 'listInvitations by organization');
    const byEmail = (await um.listInvitations({ email: u.email })).data;
    assert.deepEqual(byEmail.map((i) => i.id), [inv.id], 'listInvitations by email');

    assert.deepEqual(await memberships(u.id, org.id), [], 'no membership before accepting');
    const accepted = await um.acceptInvitation(inv.id);
    assertInvitation(accepted, { addr: u.email, orgId: org.id, state: 'accepted', roleSlug: 'admin' });
    assertIso(accepted.acceptedAt, 'acceptedAt');
    assert.equal(accepted.acceptedUserId, u.id);
    assert.equal((await um.getInvitation(inv.id)).state, 'accepted');

    const ms = await memberships(u.id, org.id);
    assert.equal(ms.length, 1, 'one membership');
    assert.equal(ms[0].status, 'active');
    assert.equal(ms[0].role?.slug, 'admin', 'the invitation role');

    await rejectsCode(um.acceptInvitation(inv.id), 'invite_not_pending', 'accepting twice');
    await rejectsCode(um.resendInvitation(inv.id), 'invite_accepted', 'resending an accepted invitation');
  });

  test('a revoked invitation cannot be accepted or resent', async () => {
    const org = await newOrg('revoke');
    const u = await newUser('revoked');
    const inv = await invite(u.email, org.id);
    const revoked = await um.revokeInvitation(inv.id);
    assertInvitation(revoked, { addr: u.email, orgId: org.id, state: 'revoked' });
    assertIso(revoked.revokedAt, 'revokedAt');
    await rejectsCode(um.acceptInvitation(inv.id), 'invite_not_pending', 'accepting a revoked invitation');
    await rejectsCode(um.revokeInvitation(inv.id), 'invite_not_pending', 'revoking twice');
    await rejectsCode(um.resendInvitation(inv.id), 'invite_revoked', 'resending a revoked invitation');
    assert.deepEqual(await memberships(u.id, org.id), [], 'no membership');
  });

  test('resendInvitation mails a new token; the old one is no longer found', async () => {
    const org = await newOrg('resend');
    const addr = email('resend');
    const inv = await invite(addr, org.id);
    const again = await um.resendInvitation(inv.id);
    assertInvitation(again, { addr, orgId: org.id });
    assert.equal(again.id, inv.id);
    assert.equal(typeof again.token, 'string');
    assert.notEqual(again.token, inv.token, 'a new token');
    assert.equal(new URL(again.acceptInvitationUrl).searchParams.get('invitation_token'), again.token);
    const link = linkWithToken(await readMail(addr), 'invitation_token');
    assert.equal(link.token, again.token, 'the new mail has the new token');

    await rejectsWith(um.findInvitationByToken(inv.token), NotFoundException, 404, 'the old token');
    assert.equal((await um.findInvitationByToken(again.token)).id, inv.id);
    await um.revokeInvitation(inv.id);
  });

  test('authenticateWithPassword with an invitation token joins the organization', async () => {
    const org = await newOrg('join');
    const u = await newUser('joiner');
    const inv = await invite(u.email, org.id, { roleSlug: 'admin' });
    const res = await signIn(u.email, { invitationToken: inv.token });
    assertSession(res, u.id, org.id);

    const ms = await memberships(u.id, org.id);
    assert.equal(ms.length, 1, 'one membership');
    assert.equal(ms[0].status, 'active');
    assert.equal(ms[0].role?.slug, 'admin');
    const joined = await um.getInvitation(inv.id);
    assert.equal(joined.state, 'accepted');
    assert.equal(joined.acceptedUserId, u.id);
  });

  test('unknown invitations are NotFoundException', async () => {
    await rejectsWith(um.getInvitation(UNKNOWN_INVITATION), NotFoundException, 404, 'an unknown id');
    await rejectsWith(um.findInvitationByToken(randomBytes(24).toString('base64url')), NotFoundException, 404, 'an unknown token');
    await rejectsWith(um.acceptInvitation(UNKNOWN_INVITATION), NotFoundException, 404, 'accepting an unknown id');
  });
});
