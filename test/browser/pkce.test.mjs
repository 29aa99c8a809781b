// PKCE through a public client (no API key): the authorization URL comes
// from the SDK's getAuthorizationUrlWithPKCE (S256), the browser signs in on
// the hosted page, and the test takes the code from the redirect to the
// second registered redirect URI (intercepted: nothing serves it). A wrong
// code_verifier is refused with 400 invalid_grant; a fresh code with the
// right verifier signs in; exchanging that code again is refused and revokes
// the session it made, so its refresh token stops working.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { OauthException } from '@workos-inc/node';
import {
  PKCE_REDIRECT_URI, TEST_TIMEOUT, authenticateRaw, createUser, h1, launch, onKeyway, publicClient,
  signInWithPassword, withSession, workos,
} from './support.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

const b64url = (buf) => Buffer.from(buf).toString('base64url');

// claims of a JWT (not verified).
const claims = (jwt) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString('utf8'));

async function rejectsInvalidGrant(promise, what) {
  let err;
  try {
    await promise;
  } catch (e) {
    err = e;
  }
  assert.ok(err, `${what}: expected 400 invalid_grant, but it succeeded`);
  assert.ok(err instanceof OauthException, `${what}: expected OauthException, got ${err?.name}: ${err?.message}`);
  assert.equal(err.status, 400, what);
  assert.equal(err.error, 'invalid_grant', `${what}: ${err.message}`);
}

// authorize opens url, signs addr in on the hosted page, and returns the
// query of the intercepted redirect to PKCE_REDIRECT_URI.
async function authorize(page, url, addr) {
  const redirected = page.waitForRequest((r) => r.url().startsWith(PKCE_REDIRECT_URI + '?'), { timeout: 20_000 });
  await page.goto(url);
  await onKeyway(page);
  await h1(page, 'Sign in').waitFor();
  await signInWithPassword(page, addr);
  const req = await redirected;
  await page.waitForURL((u) => u.href.startsWith(PKCE_REDIRECT_URI), { timeout: 15_000 });
  return new URL(req.url()).searchParams;
}

test('PKCE: wrong verifier refused, right one works, code replay revokes', { timeout: TEST_TIMEOUT }, async () => {
  await withSession(browser, async ({ page, context }) => {
    await context.route((u) => u.href.startsWith(PKCE_REDIRECT_URI), (route) =>
      route.fulfill({ status: 200, contentType: 'text/html', body: '<!doctype html><title>PKCE</title><h1>Callback</h1>' }));
    const user = await createUser('pkce');
    const pub = await publicClient();

    // 1. The SDK's PKCE URL; a wrong verifier is refused, raw and through the SDK.
    const first = await pub.userManagement.getAuthorizationUrlWithPKCE({ provider: 'authkit', redirectUri: PKCE_REDIRECT_URI });
    const u1 = new URL(first.url);
    assert.equal(u1.searchParams.get('code_challenge_method'), 'S256');
    assert.equal(u1.searchParams.get('code_challenge'), b64url(createHash('sha256').update(first.codeVerifier).digest()));
    const q1 = await authorize(page, first.url, user.email);
    assert.equal(q1.get('state'), first.state, 'state comes back unchanged');
    const code1 = q1.get('code');
    assert.ok(code1, 'a code on the redirect');
    const wrongVerifier = b64url(randomBytes(32));
    const raw = await authenticateRaw({ grant_type: 'authorization_code', code: code1, code_verifier: wrongVerifier });
    assert.equal(raw.status, 400, `wrong verifier: ${raw.text}`);
    assert.equal(raw.json?.error, 'invalid_grant', `wrong verifier: ${raw.text}`);
    await rejectsInvalidGrant(
      pub.userManagement.authenticateWithCodeAndVerifier({ code: code1, codeVerifier: b64url(randomBytes(32)) }),
      'wrong verifier through the SDK',
    );

    // 2. A fresh code (prompt=login: the form again), with a pair made here
    // with node:crypto, and the right verifier: a session.
    const verifier = b64url(randomBytes(48));
    const challenge = b64url(createHash('sha256').update(verifier).digest());
    const state = b64url(randomBytes(16));
    const url2 = pub.userManagement.getAuthorizationUrl({
      provider: 'authkit', redirectUri: PKCE_REDIRECT_URI, codeChallenge: challenge, codeChallengeMethod: 'S256', state, prompt: 'login',
    });
    const q2 = await authorize(page, url2, user.email);
    assert.equal(q2.get('state'), state);
    const code2 = q2.get('code');
    assert.ok(code2 && code2 !== code1, 'a new code');
    const auth = await pub.userManagement.authenticateWithCodeAndVerifier({ code: code2, codeVerifier: verifier });
    assert.equal(auth.user.id, user.id);
    assert.equal(auth.user.email, user.email);
    assert.equal(typeof auth.refreshToken, 'string');
    const c = claims(auth.accessToken);
    assert.equal(c.sub, user.id);
    assert.match(c.sid, /^session_0[0-9A-Z]{25}$/);

    // 3. The same code again: refused, and the session it made is revoked.
    const replay = await authenticateRaw({ grant_type: 'authorization_code', code: code2, code_verifier: verifier });
    assert.equal(replay.status, 400, `replayed code: ${replay.text}`);
    assert.equal(replay.json?.error, 'invalid_grant', `replayed code: ${replay.text}`);
    await rejectsInvalidGrant(
      pub.userManagement.authenticateWithRefreshToken({ refreshToken: auth.refreshToken }),
      "the replayed code's session refresh token",
    );
    const { data: sessions } = await workos.userManagement.listSessions(user.id);
    const s = sessions.find((x) => x.id === c.sid);
    assert.ok(s, 'the session is listed');
    assert.equal(s.status, 'revoked', 'replaying the code revoked its session');
  });
});

test('PKCE: a code with a challenge is refused without a verifier or key', { timeout: TEST_TIMEOUT }, async () => {
  await withSession(browser, async ({ page, context }) => {
    await context.route((u) => u.href.startsWith(PKCE_REDIRECT_URI), (route) =>
      route.fulfill({ status: 200, contentType: 'text/html', body: '<!doctype html><title>PKCE</title><h1>Callback</h1>' }));
    const user = await createUser('pkcenover');
    const pub = await publicClient();
    const a = await pub.userManagement.getAuthorizationUrlWithPKCE({ provider: 'authkit', redirectUri: PKCE_REDIRECT_URI });
    const q = await authorize(page, a.url, user.email);
    // Neither proof: a client that cannot authenticate (401 invalid_client)
    // or a code it may not use (400 invalid_grant), never a session.
    const res = await authenticateRaw({ grant_type: 'authorization_code', code: q.get('code') });
    assert.ok([400, 401].includes(res.status), `no verifier, no key: ${res.status} ${res.text}`);
    assert.ok(['invalid_client', 'invalid_grant'].includes(res.json?.error), `no verifier, no key: ${res.text}`);
    assert.equal(res.json?.access_token, undefined);
    // The code still works with its verifier, or it was burnt: either way
    // the wrong attempt gave nothing away. With the verifier it signs in now
    // only if the server did not consume the code; both are allowed.
    const ok = await authenticateRaw({ grant_type: 'authorization_code', code: q.get('code'), code_verifier: a.codeVerifier });
    assert.ok(ok.status === 200 || ok.json?.error === 'invalid_grant', `then with the verifier: ${ok.status} ${ok.text}`);
    if (ok.status === 200) assert.equal(ok.json.user.id, user.id);
    console.log(`after a refused exchange without verifier or key (${res.status} ${res.json?.error}), the code ${ok.status === 200 ? 'still signed in with its verifier' : 'was burnt (invalid_grant)'}`);
  });
});
