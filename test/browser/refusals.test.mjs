// What the hosted pages refuse, each without a redirect: an unregistered
// redirect_uri (the error page, 400), a forged CSRF token (the error page,
// 403), and an open redirect through logout's return_to (4xx). Every request
// off the two origins is aborted by the recorder and fails the test.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  EXAMPLE_URL, KEYWAY_ORIGIN, KEYWAY_URL, REDIRECT_URI, TEST_TIMEOUT, authorizeURL, createUser, enterEmail, h1,
  launch, onKeyway, shot, signInThroughExample, startAtExample, withSession, workos,
} from './support.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

const EVIL = 'https://evil.example';

// expectErrorPage checks the error page of response: status, heading, a
// message, and that the browser stayed on Keyway.
async function expectErrorPage(page, response, status) {
  assert.ok(response, 'a response');
  assert.equal(response.status(), status, `status of ${response.url()}`);
  await h1(page, 'Something went wrong').waitFor();
  const text = (await page.locator('main, body').first().innerText()).replace(/\s+/g, ' ');
  assert.ok(text.replace('Something went wrong', '').trim().length > 10, `the page says what went wrong: ${text}`);
  assert.equal(new URL(page.url()).origin, KEYWAY_ORIGIN, 'still on Keyway');
  return text;
}

test('an unregistered redirect_uri shows the error page and never redirects', { timeout: TEST_TIMEOUT }, async () => {
  await withSession(browser, async ({ page, rec }) => {
    for (const bad of [`${EVIL}/callback`, `${EXAMPLE_URL}/not-registered`, `${REDIRECT_URI}/extra`]) {
      const res = await page.goto(authorizeURL({ redirect_uri: bad, state: 'x' }));
      const text = await expectErrorPage(page, res, 400);
      assert.equal(res.request().redirectedFrom(), null, `no redirect for ${bad}`);
      assert.deepEqual(rec.requestsTo(bad).map((r) => r.url), [], `no request to ${bad}`);
      assert.doesNotMatch(text, /evil\.example\/callback\?/, 'no link carrying a code');
    }
    assert.deepEqual(rec.requestsTo(EVIL).map((r) => r.url), [], 'no request to evil.example');
  });
});

test('an unregistered redirect_uri is refused even with a hosted session', { timeout: TEST_TIMEOUT }, async () => {
  await withSession(browser, async ({ page, rec }) => {
    const user = await createUser('badredirect');
    await signInThroughExample(page, user.email);
    const res = await page.goto(authorizeURL({ redirect_uri: `${EVIL}/callback`, state: 'x' }));
    await expectErrorPage(page, res, 400);
    assert.deepEqual(rec.requestsTo(EVIL).map((r) => r.url), [], 'no request to evil.example');
  });
});

test('an unknown client_id shows the error page', { timeout: TEST_TIMEOUT }, async () => {
  await withSession(browser, async ({ page }) => {
    const res = await page.goto(authorizeURL({ client_id: 'client_01AAAAAAAAAAAAAAAAAAAAAAAA', redirect_uri: REDIRECT_URI }));
    await expectErrorPage(page, res, 400);
  });
});

test('a forged CSRF token gets the 403 error page', { timeout: TEST_TIMEOUT }, async () => {
  await withSession(browser, async ({ page, rec }) => {
    const user = await createUser('csrf');
    await startAtExample(page);
    const forged = await page.evaluate(() => {
      const fields = [...document.querySelectorAll('form input[type=hidden]')].filter((i) => /csrf/i.test(i.name));
      for (const f of fields) f.value = 'forged' + f.value.split('').reverse().join('');
      return fields.map((f) => f.name);
    });
    assert.ok(forged.length > 0, 'the sign-in form has a hidden csrf field');
    await page.getByLabel('Email', { exact: true }).fill(user.email);
    const [res] = await Promise.all([
      page.waitForResponse((r) => r.request().method() === 'POST' && r.url().startsWith(KEYWAY_ORIGIN), { timeout: 10_000 }),
      page.getByRole('button', { name: 'Continue', exact: true }).click(),
    ]);
    assert.equal(res.status(), 403, 'a forged token is 403');
    await page.waitForLoadState('load');
    await h1(page, 'Something went wrong').waitFor();
    assert.deepEqual(rec.requestsTo(EXAMPLE_URL + '/callback').map((r) => r.url), [], 'no request to the callback');
  });
});

test('a forged CSRF token on the password step gets 403 and signs nobody in', { timeout: TEST_TIMEOUT }, async () => {
  await withSession(browser, async ({ page, rec }) => {
    const user = await createUser('csrfpw');
    await startAtExample(page);
    await enterEmail(page, user.email);
    const n = await page.evaluate(() => {
      const fields = [...document.querySelectorAll('form input[type=hidden]')].filter((i) => /csrf/i.test(i.name));
      for (const f of fields) f.value = 'AAAA' + f.value.slice(4);
      return fields.length;
    });
    assert.ok(n > 0, 'the password form has a hidden csrf field');
    await page.getByLabel('Password', { exact: true }).fill('Quiet-Harbor-Lantern-7319!');
    const [res] = await Promise.all([
      page.waitForResponse((r) => r.request().method() === 'POST' && r.url().startsWith(KEYWAY_ORIGIN), { timeout: 10_000 }),
      page.getByRole('button', { name: 'Sign in', exact: true }).click(),
    ]);
    assert.equal(res.status(), 403);
    await h1(page, 'Something went wrong').waitFor();
    assert.deepEqual(rec.requestsTo(EXAMPLE_URL + '/callback').map((r) => r.url), [], 'no request to the callback');
    const { data: sessions } = await workos.userManagement.listSessions(user.id);
    assert.equal(sessions.length, 0, 'no session was made');
  });
});

test('logout refuses an open redirect through return_to', { timeout: TEST_TIMEOUT }, async () => {
  await withSession(browser, async ({ page, context, rec }) => {
    const user = await createUser('openredirect');
    const { sessionId } = await signInThroughExample(page, user.email);
    for (const returnTo of [`${EVIL}/`, `//evil.example/`, `${EXAMPLE_URL}.evil.example/`, `${EXAMPLE_URL}@evil.example/`]) {
      const url = `${KEYWAY_URL}/user_management/sessions/logout?${new URLSearchParams({ session_id: sessionId, return_to: returnTo })}`;
      const res = await page.goto(url);
      assert.ok(res, `a response for return_to=${returnTo}`);
      assert.ok(res.status() >= 400 && res.status() < 500, `return_to=${returnTo}: status ${res.status()}, want 4xx`);
      assert.equal(res.request().redirectedFrom(), null, `no redirect for return_to=${returnTo}`);
      assert.equal(new URL(page.url()).origin, KEYWAY_ORIGIN, `still on Keyway for return_to=${returnTo}`);
    }
    assert.deepEqual(rec.requestsTo(EVIL).map((r) => r.url), [], 'no request to evil.example');
    assert.deepEqual(rec.offOrigin().map((r) => r.url), [], 'no request off the two origins');
    // A refused logout changes nothing: the session is still active, and the
    // example still shows the user.
    const { data: sessions } = await workos.userManagement.listSessions(user.id);
    assert.equal(sessions.find((s) => s.id === sessionId)?.status, 'active');
    await page.goto(EXAMPLE_URL + '/');
    await page.getByTestId('user-email').waitFor();
    assert.ok(await context.cookies(KEYWAY_URL).then((cs) => cs.some((c) => c.name === 'keyway_session')), 'keyway_session kept');
  });
});
