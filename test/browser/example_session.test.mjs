// The example app's session cookie, without the hosted pages: a session from
// the password grant, sealed as the SDK seals it, set as wos-session. An
// access token that no longer verifies (as when it expires) makes the
// example refresh() and set a new sealed session; a cookie that does not
// unseal counts as signed out and is cleared; sign-out revokes the session.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  CLIENT_ID, EXAMPLE_COOKIE_PASSWORD, EXAMPLE_URL, PASSWORD, TEST_TIMEOUT, createUser, expectSignedIn, expectSignedOut,
  launch, withSession, workos,
} from './support.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

// passwordSession signs user in through the API and returns the response
// and its sealed session; tamper breaks the access token's signature first.
async function passwordSession(user, { tamper = false } = {}) {
  const res = await workos.userManagement.authenticateWithPassword({ email: user.email, password: PASSWORD, clientId: CLIENT_ID });
  let accessToken = res.accessToken;
  if (tamper) {
    const [h, p, s] = accessToken.split('.');
    accessToken = `${h}.${p}.${s[0] === 'A' ? 'B' : 'A'}${s.slice(1)}`;
  }
  // The SDK's own sealing (what authenticateWithCode does with sealSession).
  const sealed = await workos.userManagement.sealSessionDataFromAuthenticationResponse({
    authenticationResponse: { ...res, accessToken },
    cookiePassword: EXAMPLE_COOKIE_PASSWORD,
  });
  return { res, sealed };
}

const setSessionCookie = (context, value) =>
  context.addCookies([{ name: 'wos-session', value: encodeURIComponent(value), url: EXAMPLE_URL + '/', httpOnly: true, sameSite: 'Lax' }]);

const sessionCookie = async (context) => (await context.cookies(EXAMPLE_URL)).find((c) => c.name === 'wos-session');

test('a session whose access token does not verify is refreshed', { timeout: TEST_TIMEOUT }, async () => {
  await withSession(browser, async ({ page, context }) => {
    const user = await createUser('refresh');
    const { res, sealed } = await passwordSession(user, { tamper: true });
    await setSessionCookie(context, sealed);
    await page.goto(EXAMPLE_URL + '/');
    const { sessionId } = await expectSignedIn(page, user.email);
    const sid = JSON.parse(Buffer.from(res.accessToken.split('.')[1], 'base64url')).sid;
    assert.equal(sessionId, sid, 'the same session, refreshed');
    const after = await sessionCookie(context);
    assert.ok(after && decodeURIComponent(after.value) !== sealed, 'the example set a new sealed session');
    // The new cookie authenticates without another refresh, and the old
    // refresh token was rotated.
    const auth = await workos.userManagement.loadSealedSession({
      sessionData: decodeURIComponent(after.value), cookiePassword: EXAMPLE_COOKIE_PASSWORD,
    }).authenticate();
    assert.equal(auth.authenticated, true);
    const unsealed = await workos.userManagement.getSessionFromCookie({
      sessionData: decodeURIComponent(after.value), cookiePassword: EXAMPLE_COOKIE_PASSWORD,
    });
    assert.notEqual(unsealed.refreshToken, res.refreshToken, 'the refresh token rotated');
  });
});

test('a cookie that does not unseal is signed out and cleared', { timeout: TEST_TIMEOUT }, async () => {
  await withSession(browser, async ({ page, context }) => {
    await setSessionCookie(context, 'Fe26.2*1*not-a-sealed-session~2');
    await page.goto(EXAMPLE_URL + '/');
    await expectSignedOut(page);
    assert.equal(await sessionCookie(context), undefined, 'the example cleared wos-session');
  });
});

test('sign-out from an API session revokes it and returns to the example', { timeout: TEST_TIMEOUT }, async () => {
  await withSession(browser, async ({ page, context }) => {
    const user = await createUser('apisignout');
    const { res, sealed } = await passwordSession(user);
    await setSessionCookie(context, sealed);
    await page.goto(EXAMPLE_URL + '/');
    const { sessionId } = await expectSignedIn(page, user.email);
    await page.getByRole('link', { name: 'Sign out', exact: true }).click();
    await expectSignedOut(page);
    const { data: sessions } = await workos.userManagement.listSessions(user.id);
    assert.equal(sessions.find((s) => s.id === sessionId)?.status, 'revoked');
    assert.equal(res.user.id, user.id);
  });
});
