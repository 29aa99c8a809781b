// A wrong password shows the "Incorrect email or password." alert on the
// methods step, and the browser stays on Keyway: no redirect to the app.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  EXAMPLE_URL, KEYWAY_ORIGIN, PASSWORD, TEST_TIMEOUT, alertText, createUser, expectSignedIn, launch, signInWithPassword,
  startAtExample, withSession,
} from './support.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

test('a wrong password shows the alert and does not redirect', { timeout: TEST_TIMEOUT }, async () => {
  await withSession(browser, async ({ page, rec }) => {
    const user = await createUser('wrongpw');
    await startAtExample(page);
    await signInWithPassword(page, user.email, 'Not-The-Password-0000!');
    assert.match(await alertText(page), /Incorrect email or password\./);
    assert.equal(new URL(page.url()).origin, KEYWAY_ORIGIN, 'still on Keyway');
    assert.deepEqual(rec.requestsTo(EXAMPLE_URL + '/callback').map((r) => r.url), [], 'no request to the callback');
    // The password field is there again, and the right password then works.
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await expectSignedIn(page, user.email);
  });
});

test('an unknown email with any password shows the same alert', { timeout: TEST_TIMEOUT }, async () => {
  await withSession(browser, async ({ page, rec }) => {
    await startAtExample(page);
    await signInWithPassword(page, `nobody-${Date.now()}@browser.example.com`, 'Any-Password-1234!');
    assert.match(await alertText(page), /Incorrect email or password\./);
    assert.deepEqual(rec.requestsTo(EXAMPLE_URL + '/callback').map((r) => r.url), [], 'no request to the callback');
  });
});

test('after 5 wrong passwords the account is locked: "Too many attempts"', { timeout: TEST_TIMEOUT }, async () => {
  await withSession(browser, async ({ page, rec }) => {
    const user = await createUser('locked');
    await startAtExample(page);
    await signInWithPassword(page, user.email, 'Not-The-Password-0000!');
    let text = await alertText(page);
    let wrong = 1;
    while (!/Too many attempts/.test(text) && wrong < 6) {
      assert.match(text, /Incorrect email or password\./, `attempt ${wrong}`);
      await page.getByLabel('Password', { exact: true }).fill('Not-The-Password-0000!');
      await Promise.all([
        page.waitForResponse((r) => r.request().method() === 'POST' && r.url().includes('/authkit/password')),
        page.getByRole('button', { name: 'Sign in', exact: true }).click(),
      ]);
      text = await alertText(page);
      wrong++;
    }
    assert.match(text, /Too many attempts/, `locked after ${wrong} wrong passwords`);
    assert.equal(wrong, 6, 'the sixth attempt is the one refused (5 per account)');
    // Locked: even the right password is refused now, and nothing redirects.
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await Promise.all([
      page.waitForResponse((r) => r.request().method() === 'POST' && r.url().includes('/authkit/password')),
      page.getByRole('button', { name: 'Sign in', exact: true }).click(),
    ]);
    assert.match(await alertText(page), /Too many attempts/);
    assert.deepEqual(rec.requestsTo(EXAMPLE_URL + '/callback').map((r) => r.url), [], 'no request to the callback');
  });
});
