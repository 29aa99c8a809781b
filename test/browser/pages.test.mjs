// The pages beyond the sign-in basics: a member of two organizations chooses one,
// an email on a domain whose organization requires SSO is sent to the
// "Single sign-on required" page, a provider that is not set up yet shows
// "Not configured", the pages fit a 320-pixel screen, and a keyboard alone
// signs in. Each page is saved as a screenshot.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  API_KEY, KEYWAY_URL, PASSWORD, REDIRECT_URI, RUN, STEP_TIMEOUT, TEST_TIMEOUT, authorizeURL, createUser, enterEmail, expectSignedIn, h1,
  launch, shot, signInWithPassword, startAtExample, withSession, workos,
} from './support.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

// keyway calls Keyway's own management API with the API key.
async function keyway(method, path, body) {
  const res = await fetch(`${KEYWAY_URL}${path}`, {
    method,
    headers: { Authorization: `Bearer ${API_KEY}`, 'Content-Type': 'application/json' },
    body: body && JSON.stringify(body),
    signal: AbortSignal.timeout(STEP_TIMEOUT),
  });
  const text = await res.text();
  assert.ok(res.ok, `${method} ${path}: ${res.status} ${text}`);
  return JSON.parse(text);
}

test('a member of two organizations chooses one, and the session is in it', { timeout: TEST_TIMEOUT }, async () => {
  await withSession(browser, async ({ page }) => {
    const user = await createUser('orgs');
    const acme = await workos.organizations.createOrganization({ name: `Acme ${RUN}` });
    const globex = await workos.organizations.createOrganization({ name: `Globex ${RUN}` });
    for (const org of [acme, globex]) {
      await workos.userManagement.createOrganizationMembership({ userId: user.id, organizationId: org.id });
    }
    await startAtExample(page);
    await signInWithPassword(page, user.email);
    await h1(page, 'Choose an organization').waitFor();
    await page.getByRole('button', { name: `Acme ${RUN}`, exact: true }).waitFor();
    await shot(page, 'organization');
    await page.getByRole('button', { name: `Globex ${RUN}`, exact: true }).click();
    const { sessionId } = await expectSignedIn(page, user.email);
    const sessions = await workos.userManagement.listSessions(user.id);
    const s = sessions.data.find((x) => x.id === sessionId);
    assert.equal(s?.organizationId, globex.id, `the session is in Globex: ${JSON.stringify(s)}`);
  });
});

test('an email whose organization requires SSO gets the SSO page, and no password field', { timeout: TEST_TIMEOUT }, async () => {
  await withSession(browser, async ({ page, rec }) => {
    const domain = `sso-${RUN}.example.org`;
    const org = await workos.organizations.createOrganization({ name: `SSO ${RUN}`, domainData: [{ domain, state: 'pending' }] });
    await keyway('POST', `/keyway/organization_domains/${org.domains[0].id}/verify_manually`);
    await keyway('PUT', `/keyway/organizations/${org.id}/policies`, { sso_required: true });
    await startAtExample(page);
    await page.getByLabel('Email', { exact: true }).fill(`someone@${domain}`);
    await page.getByRole('button', { name: 'Continue', exact: true }).click();
    await h1(page, 'Single sign-on required').waitFor();
    assert.equal(await page.getByLabel('Password', { exact: true }).count(), 0, 'no password field');
    await shot(page, 'sso-required');
    // A user on another domain still gets the methods step.
    const other = await createUser('not-sso');
    await startAtExample(page);
    await enterEmail(page, other.email);
    assert.deepEqual(rec.requestsTo(REDIRECT_URI).map((r) => r.url), [], 'no code was sent to the app');
  });
});

test('a provider that is not set up shows "Not configured" and does not redirect', { timeout: TEST_TIMEOUT }, async () => {
  await withSession(browser, async ({ page, rec }) => {
    const res = await page.goto(authorizeURL({ redirect_uri: REDIRECT_URI, provider: 'GoogleOAuth', state: 'google' }));
    assert.equal(res.status(), 400);
    await h1(page, 'Not configured').waitFor();
    assert.match(await page.locator('main').innerText(), /GoogleOAuth/);
    await shot(page, 'not-configured');
    assert.deepEqual(rec.requestsTo(REDIRECT_URI).map((r) => r.url), [], 'no redirect to the app');
  });
});

test('the pages fit a 320-pixel-wide screen without scrolling sideways', { timeout: TEST_TIMEOUT }, async () => {
  await withSession(browser, async ({ page }) => {
    await page.setViewportSize({ width: 320, height: 640 });
    const user = await createUser('narrow');
    await startAtExample(page);
    const fits = async (name) => {
      const { scroll, client } = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth }));
      assert.ok(scroll <= client, `${name}: ${scroll}px wide in a ${client}px screen`);
      await shot(page, `${name}-320px`);
    };
    await fits('sign-in');
    await enterEmail(page, user.email);
    await fits('methods');
    await page.getByRole('link', { name: 'Use a different email', exact: true }).click();
    await page.getByRole('link', { name: 'Sign up', exact: true }).click();
    await h1(page, 'Create your account').waitFor();
    await fits('sign-up');
  });
});

test('a keyboard alone signs in: the email field has focus, Tab reaches the links, Enter submits', { timeout: TEST_TIMEOUT }, async () => {
  await withSession(browser, async ({ page }) => {
    const user = await createUser('keyboard');
    await startAtExample(page);
    const focused = () => page.evaluate(() => {
      const el = document.activeElement;
      return el?.labels?.[0]?.textContent?.trim() || el?.textContent?.trim() || el?.tagName;
    });
    assert.equal(await focused(), 'Email', 'the email field has focus on arrival');
    await page.keyboard.type(user.email);
    await page.keyboard.press('Tab');
    assert.equal(await focused(), 'Continue');
    await page.keyboard.press('Tab');
    assert.equal(await focused(), 'Sign up');
    await page.keyboard.press('Shift+Tab');
    await page.keyboard.press('Enter');
    await page.getByLabel('Password', { exact: true }).waitFor();
    assert.equal(await focused(), 'Password', 'the password field has focus on the methods step');
    await page.keyboard.type('Not-The-Password-0000!');
    await page.keyboard.press('Enter');
    await page.getByRole('alert').waitFor();
    assert.equal(await focused(), 'Password', 'after an error, focus is back on the password field');
    assert.equal(await page.getByLabel('Password', { exact: true }).getAttribute('aria-invalid'), 'true');
    await page.keyboard.type(PASSWORD);
    await page.keyboard.press('Enter');
    await expectSignedIn(page, user.email);
  });
});
