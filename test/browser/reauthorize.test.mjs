// A second authorize in the same browser skips the form: Keyway's hosted
// session (the keyway_session cookie) answers it at once with a redirect to
// the callback. prompt=login shows the form again.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  EXAMPLE_URL, KEYWAY_ORIGIN, REDIRECT_URI, TEST_TIMEOUT, authorizeURL, createUser, expectSignedIn, h1, launch,
  onKeyway, signInThroughExample, withSession, workos,
} from './support.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

test('a second authorize goes straight to the callback', { timeout: TEST_TIMEOUT }, async () => {
  await withSession(browser, async ({ page, context, rec }) => {
    const user = await createUser('again');
    const first = await signInThroughExample(page, user.email);

    // Drop only the example's cookie: the example is signed out, Keyway's
    // hosted session remains.
    const kept = (await context.cookies()).filter((c) => c.name !== 'wos-session');
    await context.clearCookies();
    await context.addCookies(kept);
    await page.goto(EXAMPLE_URL + '/');
    await page.getByRole('link', { name: 'Sign in', exact: true }).waitFor();

    const before = rec.all.length;
    await page.getByRole('link', { name: 'Sign in', exact: true }).click();
    const second = await expectSignedIn(page, user.email);
    const navs = rec.all.slice(before).filter((r) => r.navigation).map((r) => new URL(r.url));
    const paths = navs.map((u) => `${u.origin === KEYWAY_ORIGIN ? 'keyway' : 'example'}${u.pathname}`);
    assert.deepEqual(paths, ['example/login', 'keyway/user_management/authorize', 'example/callback', 'example/'],
      'login -> authorize -> callback -> home, no hosted page in between');
    assert.equal(second.userId, first.userId);
    assert.notEqual(second.sessionId, first.sessionId, 'a new code makes a new session');
    const { data: sessions } = await workos.userManagement.listSessions(user.id);
    for (const id of [first.sessionId, second.sessionId]) {
      assert.equal(sessions.find((s) => s.id === id)?.status, 'active', `${id} is active`);
    }
  });
});

test('prompt=login shows the sign-in form despite the hosted session', { timeout: TEST_TIMEOUT }, async () => {
  await withSession(browser, async ({ page }) => {
    const user = await createUser('prompt');
    await signInThroughExample(page, user.email);
    const state = 'prompt-login-state';
    await page.goto(authorizeURL({ redirect_uri: REDIRECT_URI, state, prompt: 'login' }));
    await onKeyway(page);
    await h1(page, 'Sign in').waitFor();
    assert.ok(new URL(page.url()).pathname.startsWith('/authkit/'), page.url());
  });
});
