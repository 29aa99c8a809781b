// What the browser tests (*.test.mjs here) share: the servers they talk to
// (from the environment browser_test.go sets), Debian's chromium driven by
// playwright-core, a request recorder that refuses every request off the two
// origins, the hosted pages' steps by their accessible names (see
// notes/authkit-contract.md), and the dev outbox (../sdk/mail.mjs).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { WorkOS } from '@workos-inc/node';

// --- environment ---------------------------------------------------------

export const KEYWAY_URL = (process.env.KEYWAY_URL || '').replace(/\/+$/, '');
export const EXAMPLE_URL = (process.env.EXAMPLE_URL || '').replace(/\/+$/, '');
export const API_KEY = process.env.KEYWAY_API_KEY;
export const CLIENT_ID = process.env.KEYWAY_CLIENT_ID;
// The second registered redirect URI, for the PKCE test (nothing serves it:
// the test intercepts the browser's request to it).
export const PKCE_REDIRECT_URI = process.env.PKCE_REDIRECT_URI;
// The example app's WORKOS_COOKIE_PASSWORD, to unseal its cookie here.
export const EXAMPLE_COOKIE_PASSWORD = process.env.EXAMPLE_COOKIE_PASSWORD;
export const ARTIFACTS = process.env.ARTIFACTS || path.join(path.dirname(new URL(import.meta.url).pathname), 'artifacts');
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

assert.ok(/^https?:\/\//.test(KEYWAY_URL), 'KEYWAY_URL must be set to the Keyway server');
assert.ok(/^https?:\/\//.test(EXAMPLE_URL), 'EXAMPLE_URL must be set to the example app');
assert.ok(API_KEY, 'KEYWAY_API_KEY must be set');
assert.ok(CLIENT_ID, 'KEYWAY_CLIENT_ID must be set');
assert.ok(PKCE_REDIRECT_URI, 'PKCE_REDIRECT_URI must be set');
assert.ok(EXAMPLE_COOKIE_PASSWORD, 'EXAMPLE_COOKIE_PASSWORD must be set');
// ../sdk/mail.mjs reads the dev inbox of 127.0.0.1:KEYWAY_PORT.
process.env.KEYWAY_PORT ||= new URL(KEYWAY_URL).port;
process.env.KEYWAY_MAIL_SOURCE ||= `dev:${KEYWAY_URL}/_dev/inbox`;
export const { readCode, readMail, fetchMail } = await import('../sdk/mail.mjs');

export const KEYWAY_ORIGIN = new URL(KEYWAY_URL).origin;
export const EXAMPLE_ORIGIN = new URL(EXAMPLE_URL).origin;
// The example's registered callback.
export const REDIRECT_URI = `${EXAMPLE_URL}/callback`;

// Bounded waits (ms): every step waits on a selector or a navigation, never
// on time.
export const STEP_TIMEOUT = 10_000;
export const NAV_TIMEOUT = 15_000;
export const TEST_TIMEOUT = 90_000;

const keywayURL = new URL(KEYWAY_URL);
const sdkOptions = {
  apiHostname: keywayURL.hostname,
  port: Number(keywayURL.port) || 80,
  https: keywayURL.protocol === 'https:',
};
// workos is a confidential client (the API key), for set-up and checks.
export const workos = new WorkOS(API_KEY, { ...sdkOptions, clientId: CLIENT_ID });
// publicClient is a WorkOS client with no API key, as a CLI or mobile app
// that uses PKCE has (createWorkOS never reads WORKOS_API_KEY).
export async function publicClient() {
  const { createWorkOS } = await import('@workos-inc/node');
  return createWorkOS({ ...sdkOptions, clientId: CLIENT_ID });
}

// --- names unique to this run --------------------------------------------

export const RUN = `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
let seq = 0;
// email is an address unique to each call (lower case, as the server keeps it).
export const email = (tag) => `${tag}-${RUN}-${++seq}@browser.example.com`;
export const PASSWORD = 'Quiet-Harbor-Lantern-7319!';

// createUser makes a verified user with PASSWORD through the SDK.
export async function createUser(tag, extra = {}) {
  const addr = email(tag);
  const user = await workos.userManagement.createUser({
    email: addr,
    password: PASSWORD,
    firstName: 'Ada',
    lastName: tag[0].toUpperCase() + tag.slice(1),
    emailVerified: true,
    ...extra,
  });
  assert.equal(user.email, addr);
  return user;
}

// --- the browser ---------------------------------------------------------

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

export function launch() {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 30_000 });
}

// isAllowed says whether a URL is on one of the two origins the tests talk
// to (or a data:/about: URL the browser makes up itself).
export function isAllowed(url, extraOrigins = []) {
  if (/^(data|about|blob):/.test(url)) return true;
  let origin;
  try {
    origin = new URL(url).origin;
  } catch {
    return false;
  }
  return origin === KEYWAY_ORIGIN || origin === EXAMPLE_ORIGIN || extraOrigins.includes(origin);
}

// Recorder keeps every request a browser context makes, in buckets: mark()
// starts a new one (a "page" of the page-weight table). Requests off the
// allowed origins are recorded and then aborted, so nothing ever leaves the
// machine.
export class Recorder {
  constructor() {
    this.buckets = [{ name: '(start)', requests: [] }];
    this.pending = new Set();
    this.waiters = new Set();
    this.all = [];
  }

  // finishedInBucket waits (at most timeoutMs) until a request for url in
  // the current bucket has finished, and says whether one did. The favicon,
  // for one, is fetched after the load event.
  finishedInBucket(url, timeoutMs = 3000) {
    const bucket = this.current;
    const done = () => bucket.requests.some((r) => r.url === url && r.finished);
    if (done()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        resolve(false);
      }, timeoutMs);
      const check = () => {
        if (!done()) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve(true);
      };
      this.waiters.add(check);
    });
  }

  get current() {
    return this.buckets[this.buckets.length - 1];
  }

  mark(name) {
    this.buckets.push({ name, requests: [] });
  }

  attach(context) {
    context.on('request', (req) => {
      const entry = {
        url: req.url(),
        method: req.method(),
        type: req.resourceType(),
        navigation: req.isNavigationRequest(),
        status: null,
        bodyBytes: 0,
        transferBytes: 0,
        failed: null,
      };
      this.current.requests.push(entry);
      this.all.push(entry);
      req._keywayEntry = entry;
    });
    context.on('response', (res) => {
      const entry = res.request()._keywayEntry;
      if (entry) entry.status = res.status();
    });
    const finish = (req, failed) => {
      const entry = req._keywayEntry;
      if (!entry) return;
      entry.failed = failed;
      entry.finished = true;
      for (const w of [...this.waiters]) w();
      const p = (async () => {
        try {
          const s = await req.sizes();
          entry.transferBytes = s.responseHeadersSize + s.responseBodySize;
          entry.encodedBodyBytes = s.responseBodySize;
        } catch {
          /* the page or context is gone */
        }
        if (!failed) {
          try {
            const res = await req.response();
            if (res && (res.status() < 300 || res.status() >= 400)) entry.bodyBytes = (await res.body()).length;
          } catch {
            /* redirects and aborted requests have no body */
          }
        }
      })();
      this.pending.add(p);
      p.finally(() => this.pending.delete(p));
    };
    context.on('requestfinished', (req) => finish(req, null));
    context.on('requestfailed', (req) => finish(req, req.failure()?.errorText ?? 'failed'));
  }

  // settle waits until the sizes of every finished request are known.
  async settle() {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }

  // offOrigin is every request off the allowed origins.
  offOrigin(extraOrigins = []) {
    return this.all.filter((r) => !isAllowed(r.url, extraOrigins));
  }

  // requestsTo is every request whose URL starts with prefix.
  requestsTo(prefix) {
    return this.all.filter((r) => r.url.startsWith(prefix));
  }

  navigations() {
    return this.all.filter((r) => r.navigation).map((r) => r.url);
  }
}

// newSession opens a fresh browser context and page with a recorder; every
// request off the allowed origins is aborted. done() closes the context and
// asserts that no such request was made.
export async function newSession(browser, { extraOrigins = [] } = {}) {
  const context = await browser.newContext({ viewport: { width: 1100, height: 800 }, locale: 'en-US' });
  context.setDefaultTimeout(STEP_TIMEOUT);
  context.setDefaultNavigationTimeout(NAV_TIMEOUT);
  const rec = new Recorder();
  rec.attach(context);
  await context.route((url) => !isAllowed(url.href, extraOrigins), (route) => route.abort('blockedbyclient'));
  const page = await context.newPage();
  return {
    context,
    page,
    rec,
    async done() {
      await rec.settle();
      await context.close();
      const off = rec.offOrigin(extraOrigins);
      assert.deepEqual(
        off.map((r) => r.url),
        [],
        `requests off ${KEYWAY_ORIGIN} and ${EXAMPLE_ORIGIN}`,
      );
    },
  };
}

// FILE names this test file in failure screenshots.
const FILE = path.basename(process.argv[1] ?? 'test', '.test.mjs');
let failures = 0;

// withSession runs fn with a fresh context and always closes it; on a
// failure it saves a screenshot, ARTIFACTS/failure-<file>-<n>.png.
export async function withSession(browser, fn, options) {
  const s = await newSession(browser, options);
  let ok = false;
  try {
    await fn(s);
    ok = true;
  } finally {
    if (!ok) await shot(s.page, `failure-${FILE}-${++failures}`).catch(() => {});
    if (ok) await s.done();
    else await s.context.close().catch(() => {});
  }
}

// shot saves a full-page screenshot as ARTIFACTS/<name>.png.
export async function shot(page, name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

export function writeArtifact(name, data) {
  mkdirSync(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, name);
  writeFileSync(file, typeof data === 'string' ? data : JSON.stringify(data, null, 2) + '\n');
  return file;
}

// --- the hosted pages, step by step (accessible names of the contract) ---

// h1 is the page's main heading.
// (Not exact: the sign-in heading may carry the app name too.)
export const h1 = (page, name) => page.getByRole('heading', { level: 1, name });

// onKeyway waits until the page is on Keyway's origin under path.
export async function onKeyway(page, pathPrefix = '/authkit/') {
  try {
    await page.waitForURL((u) => u.origin === KEYWAY_ORIGIN && u.pathname.startsWith(pathPrefix), { timeout: NAV_TIMEOUT });
  } catch (err) {
    throw new Error(`expected a page under ${KEYWAY_ORIGIN}${pathPrefix}, the browser is at ${page.url()}: ${await pageSummary(page)}`, { cause: err });
  }
}

// pageSummary is the start of a page's text, for failure messages.
export async function pageSummary(page) {
  try {
    const text = await page.locator('body').innerText({ timeout: 1000 });
    return JSON.stringify(text.replace(/\s+/g, ' ').trim().slice(0, 300));
  } catch {
    return '(no text)';
  }
}

// startAtExample opens the example signed out and follows its "Sign in"
// link to Keyway's sign-in page.
export async function startAtExample(page) {
  await page.goto(EXAMPLE_URL + '/');
  await page.getByRole('link', { name: 'Sign in', exact: true }).click();
  await onKeyway(page);
  await h1(page, 'Sign in').waitFor();
}

// enterEmail fills the sign-in page's email and continues to the methods step.
export async function enterEmail(page, addr) {
  await page.getByLabel('Email', { exact: true }).fill(addr);
  await page.getByRole('button', { name: 'Continue', exact: true }).click();
  await page.getByLabel('Password', { exact: true }).waitFor();
  await page.getByText(addr).first().waitFor();
}

// signInWithPassword goes from the sign-in page through the methods step.
export async function signInWithPassword(page, addr, password = PASSWORD) {
  await enterEmail(page, addr);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
}

// expectSignedIn waits for the example's home page showing addr, and returns
// the user and session ids it shows.
export async function expectSignedIn(page, addr) {
  try {
    await page.waitForURL(EXAMPLE_URL + '/', { timeout: NAV_TIMEOUT });
    await page.getByTestId('user-email').waitFor();
  } catch (err) {
    throw new Error(`expected the example signed in as ${addr}, the browser is at ${page.url()}: ${await pageSummary(page)}`, { cause: err });
  }
  assert.equal(await page.getByTestId('user-email').textContent(), addr);
  await page.getByRole('link', { name: 'Sign out', exact: true }).waitFor();
  return {
    userId: await page.getByTestId('user-id').textContent(),
    sessionId: await page.getByTestId('session-id').textContent(),
  };
}

// expectSignedOut waits for the example's home page signed out.
export async function expectSignedOut(page) {
  await page.waitForURL(EXAMPLE_URL + '/', { timeout: NAV_TIMEOUT });
  await page.getByRole('link', { name: 'Sign in', exact: true }).waitFor();
  assert.equal(await page.getByTestId('user-email').count(), 0, 'no user shown');
}

// signInThroughExample signs a user in with a password, from the example's
// home page, and returns what expectSignedIn returns.
export async function signInThroughExample(page, addr, password = PASSWORD) {
  await startAtExample(page);
  await signInWithPassword(page, addr, password);
  return expectSignedIn(page, addr);
}

// alert is the text of the page's role=alert element(s).
export async function alertText(page) {
  const a = page.getByRole('alert');
  await a.first().waitFor();
  return (await a.allTextContents()).join(' ').replace(/\s+/g, ' ').trim();
}

// cookie returns the named cookie of the context for url, or undefined.
export async function cookie(context, url, name) {
  return (await context.cookies(url)).find((c) => c.name === name);
}

// authorizeURL is a raw GET /user_management/authorize URL with params.
export function authorizeURL(params) {
  const q = new URLSearchParams({ response_type: 'code', provider: 'authkit', client_id: CLIENT_ID, ...params });
  return `${KEYWAY_URL}/user_management/authorize?${q}`;
}

// authenticateRaw posts a grant to /user_management/authenticate without an
// API key (a public client), and returns {status, json}.
export async function authenticateRaw(body, { key } = {}) {
  const res = await fetch(`${KEYWAY_URL}/user_management/authenticate`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...(key ? { Authorization: `Bearer ${key}` } : {}) },
    body: JSON.stringify({ client_id: CLIENT_ID, ...body }),
    signal: AbortSignal.timeout(STEP_TIMEOUT),
  });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, json, text };
}
