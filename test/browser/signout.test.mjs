// Sign-out through the example app: /logout -> Keyway's logout URL -> back
// at the example, signed out. The session is revoked, Keyway's hosted
// session has ended, and a new authorize shows the sign-in form again.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  EXAMPLE_URL, KEYWAY_ORIGIN, KEYWAY_URL, TEST_TIMEOUT, cookie, createUser, expectSignedOut, h1, launch, onKeyway,
  signInThroughExample, withSession, workos,
} from './support.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

test('sign out through the example ends both sessions', { timeout: TEST_TIMEOUT }, async () => {
  await withSession(browser, async ({ page, context, rec }) => {
    const user = await createUser('signout');
    const { sessionId } = await signInThroughExample(page, user.email);
    assert.ok(await cookie(context, KEYWAY_URL, 'keyway_session'), 'keyway_session is set after sign-in');

    const before = rec.all.length;
    await page.getByRole('link', { name: 'Sign out', exact: true }).click();
    await expectSignedOut(page);
    const navs = rec.all.slice(before).filter((r) => r.navigation).map((r) => new URL(r.url));
    const keywayLogout = navs.find((u) => u.origin === KEYWAY_ORIGIN);
    assert.ok(keywayLogout, `the browser went through Keyway: ${navs.map(String).join(' -> ')}`);
    assert.equal(keywayLogout.pathname, '/user_management/sessions/logout');
    assert.equal(keywayLogout.searchParams.get('session_id'), sessionId);
    assert.equal(keywayLogout.searchParams.get('return_to'), EXAMPLE_URL + '/');

    assert.equal(await cookie(context, EXAMPLE_URL, 'wos-session'), undefined, 'the example cleared its cookie');
    assert.equal(await cookie(context, KEYWAY_URL, 'keyway_session'), undefined, 'Keyway cleared keyway_session');
    const { data: sessions } = await workos.userManagement.listSessions(user.id);
    assert.equal(sessions.find((s) => s.id === sessionId)?.status, 'revoked', 'the session is revoked');

    // A new sign-in shows the form again.
    await page.getByRole('link', { name: 'Sign in', exact: true }).click();
    await onKeyway(page);
    await h1(page, 'Sign in').waitFor();
    await page.getByLabel('Email', { exact: true }).waitFor();
  });
});
