// Page weight, external requests and screenshots: one walk through every
// distinct page (the example signed out, sign-in, sign-up, verify email, the
// example signed in, the methods step, a wrong password, the code page,
// forgot password, the mailed reset link, the error page), with the browser
// cache off so each page is weighed cold. Every request must be on Keyway's
// origin or the example's (anything else is aborted and fails the test), and
// every asset of a hosted page must come from /authkit/assets/. The weights
// go to ARTIFACTS/page-weight.json and a table on stdout; a full-page
// screenshot of each page goes to ARTIFACTS/<page>.png.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  EXAMPLE_URL, KEYWAY_ORIGIN, PASSWORD, REDIRECT_URI, TEST_TIMEOUT, alertText, authorizeURL, createUser, email,
  expectSignedIn, h1, launch, newSession, onKeyway, readCode, readMail, shot, writeArtifact,
} from './support.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

const SKIP = '-'; // a bucket left out of the table (steps between pages)
const pages = []; // {name, screenshot}

// open starts a context with the cache disabled.
async function open() {
  const s = await newSession(browser);
  const cdp = await s.context.newCDPSession(s.page);
  await cdp.send('Network.setCacheDisabled', { cacheDisabled: true });
  return s;
}

// step marks a new page named name, runs act (which must end once the page
// is shown), and takes its screenshot.
async function step(s, name, file, act) {
  s.rec.mark(name);
  await act();
  await s.page.waitForLoadState('load');
  // The icon is fetched after the load event: count it with its page.
  const icon = await s.page.evaluate(() => document.querySelector('link[rel~="icon"]')?.href ?? null);
  if (icon) await s.rec.finishedInBucket(icon);
  await shot(s.page, file);
  pages.push({ name, screenshot: `${file}.png` });
  s.rec.mark(SKIP);
}

const kb = (n) => (n / 1024).toFixed(1);

function summarize(recorders) {
  const rows = [];
  for (const rec of recorders) {
    for (const b of rec.buckets) {
      if (b.name === SKIP || b.name === '(start)') continue;
      const docs = b.requests.filter((r) => r.type === 'document');
      const assets = b.requests.filter((r) => r.type !== 'document');
      const sum = (list, k) => list.reduce((n, r) => n + (r[k] || 0), 0);
      rows.push({
        page: b.name,
        requests: b.requests.length,
        documents: docs.map((r) => `${r.status} ${r.method} ${new URL(r.url).pathname}`),
        assets: assets.map((r) => ({ url: r.url, type: r.type, status: r.status, bodyBytes: r.bodyBytes, transferBytes: r.transferBytes })),
        htmlBytes: sum(docs, 'bodyBytes'),
        assetBytes: sum(assets, 'bodyBytes'),
        totalBytes: sum(b.requests, 'bodyBytes'),
        transferBytes: sum(b.requests, 'transferBytes'),
        origins: [...new Set(b.requests.map((r) => new URL(r.url).origin))],
      });
    }
  }
  return rows;
}

function table(rows) {
  const head = ['page', 'reqs', 'html KiB', 'assets KiB', 'total KiB', 'transfer KiB'];
  const body = rows.map((r) => [r.page, String(r.requests), kb(r.htmlBytes), kb(r.assetBytes), kb(r.totalBytes), kb(r.transferBytes)]);
  const w = head.map((h, i) => Math.max(h.length, ...body.map((row) => row[i].length)));
  const line = (cells) => cells.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join('  ');
  return [line(head), line(w.map((n) => '-'.repeat(n))), ...body.map(line)].join('\n');
}

test('page weight, external requests and screenshots of every page', { timeout: 3 * TEST_TIMEOUT }, async () => {
  const recorders = [];

  // 1. Sign-up through the example.
  const a = await open();
  recorders.push(a.rec);
  const addr = email('weight');
  await step(a, 'example: signed out', 'example-signed-out', async () => {
    await a.page.goto(EXAMPLE_URL + '/');
    await a.page.getByRole('link', { name: 'Sign in', exact: true }).waitFor();
  });
  await step(a, 'sign-in', 'sign-in', async () => {
    await a.page.getByRole('link', { name: 'Sign in', exact: true }).click();
    await onKeyway(a.page);
    await h1(a.page, 'Sign in').waitFor();
  });
  await step(a, 'sign-up', 'sign-up', async () => {
    await a.page.getByRole('link', { name: 'Sign up', exact: true }).click();
    await h1(a.page, 'Create your account').waitFor();
  });
  await a.page.getByLabel('First name', { exact: true }).fill('Page');
  await a.page.getByLabel('Last name', { exact: true }).fill('Weight');
  await a.page.getByLabel('Email', { exact: true }).fill(addr);
  await a.page.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await step(a, 'verify email', 'verify-email', async () => {
    await a.page.getByRole('button', { name: 'Create account', exact: true }).click();
    await h1(a.page, 'Verify your email').waitFor();
  });
  await a.page.getByLabel('Code', { exact: true }).fill(await readCode(addr));
  await step(a, 'example: signed in', 'example-signed-in', async () => {
    await a.page.getByRole('button', { name: 'Verify', exact: true }).click();
    await expectSignedIn(a.page, addr);
  });
  await step(a, 'error (bad redirect_uri)', 'error', async () => {
    const res = await a.page.goto(authorizeURL({ redirect_uri: 'https://evil.example/callback', state: 'x' }));
    assert.equal(res.status(), 400);
    await h1(a.page, 'Something went wrong').waitFor();
  });
  await a.done();

  // 2. A known user: the methods step, a wrong password, the code page,
  // forgot password and the mailed reset link.
  const b = await open();
  recorders.push(b.rec);
  const user = await createUser('weightb');
  await b.page.goto(EXAMPLE_URL + '/login');
  await h1(b.page, 'Sign in').waitFor();
  await b.page.getByLabel('Email', { exact: true }).fill(user.email);
  await step(b, 'methods', 'methods', async () => {
    await b.page.getByRole('button', { name: 'Continue', exact: true }).click();
    await b.page.getByLabel('Password', { exact: true }).waitFor();
    await b.page.getByRole('button', { name: 'Email me a code', exact: true }).waitFor();
    await b.page.getByRole('link', { name: 'Forgot password?', exact: true }).waitFor();
    await b.page.getByRole('link', { name: 'Use a different email', exact: true }).waitFor();
  });
  await b.page.getByLabel('Password', { exact: true }).fill('Not-The-Password-0000!');
  await step(b, 'methods: wrong password', 'methods-wrong-password', async () => {
    await b.page.getByRole('button', { name: 'Sign in', exact: true }).click();
    assert.match(await alertText(b.page), /Incorrect email or password\./);
  });
  await step(b, 'code', 'code', async () => {
    await b.page.getByRole('button', { name: 'Email me a code', exact: true }).click();
    await h1(b.page, 'Check your email').waitFor();
    await b.page.getByLabel('Code', { exact: true }).waitFor();
  });
  await readCode(user.email); // the Magic Auth mail, so the next read is the reset mail

  await b.page.goto(authorizeURL({ redirect_uri: REDIRECT_URI, state: 'weight' }));
  await h1(b.page, 'Sign in').waitFor();
  await b.page.getByLabel('Email', { exact: true }).fill(user.email);
  await b.page.getByRole('button', { name: 'Continue', exact: true }).click();
  await b.page.getByRole('link', { name: 'Forgot password?', exact: true }).waitFor();
  await b.page.waitForLoadState('load');
  await step(b, 'forgot password', 'forgot-password', async () => {
    await b.page.getByRole('link', { name: 'Forgot password?', exact: true }).click();
    await h1(b.page, 'Reset your password').waitFor();
  });
  await b.page.getByLabel('Email', { exact: true }).fill(user.email);
  await step(b, 'forgot password: sent', 'forgot-password-sent', async () => {
    await b.page.getByRole('button', { name: 'Send reset link', exact: true }).click();
    await h1(b.page, 'Check your email').waitFor();
  });
  const mail = await readMail(user.email);
  const links = [...`${mail.text}\n${mail.html}`.matchAll(/https?:\/\/[^\s"'<>]+reset-password[^\s"'<>]*/g)].map((m) => m[0].replace(/&amp;/g, '&'));
  assert.ok(links.length > 0, `a reset link in the mail:\n${mail.text}`);
  const link = new URL(links[0]);
  assert.equal(link.origin, KEYWAY_ORIGIN, `the reset link is on Keyway: ${link}`);
  const newPassword = 'Brand-New-Lantern-4821!';
  await step(b, 'reset password', 'reset-password', async () => {
    await b.page.goto(link.href);
    await h1(b.page, 'Choose a new password').waitFor();
  });
  await b.page.getByLabel('New password', { exact: true }).fill(newPassword);
  await step(b, 'password changed', 'password-changed', async () => {
    await b.page.getByRole('button', { name: 'Reset password', exact: true }).click();
    await h1(b.page, 'Password changed').waitFor();
  });
  // The new password signs in through the example.
  await b.page.goto(EXAMPLE_URL + '/login');
  await h1(b.page, 'Sign in').waitFor();
  await b.page.getByLabel('Email', { exact: true }).fill(user.email);
  await b.page.getByRole('button', { name: 'Continue', exact: true }).click();
  await b.page.getByLabel('Password', { exact: true }).fill(newPassword);
  await b.page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await expectSignedIn(b.page, user.email);
  await b.done();

  const rows = summarize(recorders);
  // Hosted pages load their assets from /authkit/assets/ only.
  for (const r of rows) {
    for (const asset of r.assets) {
      const u = new URL(asset.url);
      if (u.origin === KEYWAY_ORIGIN) {
        assert.ok(u.pathname.startsWith('/authkit/assets/'), `${r.page}: asset ${asset.url} is not under /authkit/assets/`);
      }
      assert.ok(asset.status === null || asset.status < 400, `${r.page}: asset ${asset.url} answered ${asset.status}`);
    }
    for (const o of r.origins) assert.ok([KEYWAY_ORIGIN, new URL(EXAMPLE_URL).origin].includes(o), `${r.page}: origin ${o}`);
  }
  const file = writeArtifact('page-weight.json', { measuredAt: new Date().toISOString(), cache: 'disabled', pages: rows, screenshots: pages });
  console.log(`page weight (cache disabled; body bytes decoded, transfer = headers + encoded body), ${file}:\n${table(rows)}`);
});
