// Sign-up with a password through the example app: / -> Sign in -> Sign up
// -> the form -> verify the email with the code from the dev outbox -> back
// on the example's home page, signed in. Then the SDK (with the API key)
// sees that user, and the sealed cookie the example set authenticates.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  EXAMPLE_COOKIE_PASSWORD, EXAMPLE_URL, KEYWAY_URL, PASSWORD, TEST_TIMEOUT, email, expectSignedIn, h1, launch, onKeyway, readCode,
  startAtExample, withSession, workos,
} from './support.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

test('sign up with a password, verify the email, land signed in', { timeout: TEST_TIMEOUT }, async () => {
  await withSession(browser, async ({ page, context }) => {
    const addr = email('signup');
    await startAtExample(page);
    await page.getByRole('link', { name: 'Sign up', exact: true }).click();
    await onKeyway(page);
    await h1(page, 'Create your account').waitFor();
    await page.getByLabel('First name', { exact: true }).fill('Grace');
    await page.getByLabel('Last name', { exact: true }).fill('Hopper');
    await page.getByLabel('Email', { exact: true }).fill(addr);
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await page.getByRole('button', { name: 'Create account', exact: true }).click();

    await h1(page, 'Verify your email').waitFor();
    const code = await readCode(addr);
    await page.getByLabel('Code', { exact: true }).fill(code);
    await page.getByRole('button', { name: 'Verify', exact: true }).click();

    const { userId, sessionId } = await expectSignedIn(page, addr);
    assert.match(userId, /^user_0[0-9A-Z]{25}$/);
    assert.match(sessionId, /^session_0[0-9A-Z]{25}$/);
    assert.equal(await page.getByTestId('user-name').textContent(), 'Grace Hopper');

    // The API sees the user the pages created, verified.
    const user = await workos.userManagement.getUser(userId);
    assert.equal(user.email, addr);
    assert.equal(user.firstName, 'Grace');
    assert.equal(user.lastName, 'Hopper');
    assert.equal(user.emailVerified, true);

    // The example's sealed cookie authenticates through the SDK.
    const cookies = await context.cookies(EXAMPLE_URL);
    const sealed = cookies.find((c) => c.name === 'wos-session');
    assert.ok(sealed, 'the example set wos-session');
    assert.equal(sealed.httpOnly, true, 'wos-session is HttpOnly');
    assert.equal(sealed.sameSite, 'Lax', 'wos-session is SameSite=Lax');
    const session = workos.userManagement.loadSealedSession({
      sessionData: decodeURIComponent(sealed.value),
      cookiePassword: EXAMPLE_COOKIE_PASSWORD,
    });
    const auth = await session.authenticate();
    assert.equal(auth.authenticated, true, `sealed session authenticates: ${auth.reason ?? ''}`);
    assert.equal(auth.user.id, userId);
    assert.equal(auth.sessionId, sessionId);
    assert.equal(auth.authenticationMethod, 'Password');

    // The session is the user's, active, made by the browser.
    const { data: sessions } = await workos.userManagement.listSessions(userId);
    const s = sessions.find((x) => x.id === sessionId);
    assert.ok(s, 'the session is listed for the user');
    assert.equal(s.status, 'active');

    // Keyway's own hosted-session cookie: HttpOnly, SameSite=Lax.
    const kw = (await context.cookies(KEYWAY_URL)).find((c) => c.name === 'keyway_session');
    assert.ok(kw, 'Keyway set keyway_session');
    assert.equal(kw.httpOnly, true);
    assert.equal(kw.sameSite, 'Lax');
    assert.equal(kw.path, '/');
    // keyway_csrf has Path=/, so the authorize URL (which can show the
    // organization choice) sees it too.
    const csrf = (await context.cookies(`${KEYWAY_URL}/authkit/sign-in`)).find((c) => c.name === 'keyway_csrf');
    assert.ok(csrf, 'Keyway set keyway_csrf');
    assert.equal(csrf.path, '/', `keyway_csrf path ${csrf.path}`);
    assert.equal(csrf.httpOnly, true);
    assert.equal(csrf.sameSite, 'Lax');
  });
});
