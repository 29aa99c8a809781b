// Sign-in with a Magic Auth code: the methods step's "Email me a code", the
// code read from the dev outbox, back on the example signed in.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  TEST_TIMEOUT, alertText, createUser, enterEmail, expectSignedIn, h1, launch, readCode, startAtExample,
  withSession, workos,
} from './support.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

// toCodePage goes from the example to the code page for addr.
async function toCodePage(page, addr) {
  await startAtExample(page);
  await enterEmail(page, addr);
  await page.getByRole('button', { name: 'Email me a code', exact: true }).click();
  await h1(page, 'Check your email').waitFor();
  await page.getByLabel('Code', { exact: true }).waitFor();
}

test('sign in with a Magic Auth code from the outbox', { timeout: TEST_TIMEOUT }, async () => {
  await withSession(browser, async ({ page }) => {
    const user = await createUser('magic');
    await toCodePage(page, user.email);
    const code = await readCode(user.email);
    await page.getByLabel('Code', { exact: true }).fill(code);
    await page.getByRole('button', { name: 'Continue', exact: true }).click();
    const { userId, sessionId } = await expectSignedIn(page, user.email);
    assert.equal(userId, user.id);
    const { data: sessions } = await workos.userManagement.listSessions(user.id);
    const s = sessions.find((x) => x.id === sessionId);
    assert.ok(s, 'the session is listed for the user');
    assert.equal(s.authMethod, 'magic_code');
  });
});

test('a wrong code is refused on the code page, the right one then works', { timeout: TEST_TIMEOUT }, async () => {
  await withSession(browser, async ({ page, rec }) => {
    const user = await createUser('magicwrong');
    await toCodePage(page, user.email);
    const code = await readCode(user.email);
    const wrong = String((Number(code) + 1) % 1_000_000).padStart(6, '0');
    await page.getByLabel('Code', { exact: true }).fill(wrong);
    await page.getByRole('button', { name: 'Continue', exact: true }).click();
    assert.match(await alertText(page), /That code is incorrect\./);
    assert.deepEqual(rec.requestsTo(process.env.EXAMPLE_URL + '/callback'), [], 'no redirect to the callback');
    await page.getByLabel('Code', { exact: true }).fill(code);
    await page.getByRole('button', { name: 'Continue', exact: true }).click();
    await expectSignedIn(page, user.email);
  });
});
