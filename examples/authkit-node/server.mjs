// The AuthKit quick start (https://workos.com/docs/authkit), written on
// node:http instead of express, with the official WorkOS Node SDK pointed at a
// Keyway server instead of api.workos.com.
//
//   GET /          the signed-in user and a "Sign out" link, or a "Sign in" link
//   GET /login     redirects to Keyway's hosted sign-in (getAuthorizationUrl)
//   GET /callback  exchanges the code (authenticateWithCode) and sets the sealed session cookie
//   GET /logout    clears the cookie and redirects to Keyway's logout URL
//
// Settings (environment):
//   WORKOS_API_KEY          the key `make run` prints (sk_test_...)
//   WORKOS_CLIENT_ID        the client id `make run` prints (client_...)
//   KEYWAY_URL              where Keyway answers (default http://127.0.0.1:8080)
//   PORT                    this app's port (default 3000); it is reached as http://localhost:PORT
//   HOST                    the address it listens on (default 127.0.0.1)
//   WORKOS_COOKIE_PASSWORD  seals the session cookie: at least 32 characters
//                           (a fixed development default is used when unset)
//   LOGOUT_RETURN_TO        where Keyway's logout sends the browser back to
//                           (default http://localhost:PORT/; Keyway must allow it)
import http from 'node:http';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { WorkOS } from '@workos-inc/node';

const KEYWAY_URL = new URL(process.env.KEYWAY_URL || 'http://127.0.0.1:8080');
const PORT = Number(process.env.PORT || 3000);
const HOST = process.env.HOST || '127.0.0.1';
const CLIENT_ID = process.env.WORKOS_CLIENT_ID;
const API_KEY = process.env.WORKOS_API_KEY;
const COOKIE_PASSWORD = process.env.WORKOS_COOKIE_PASSWORD || 'keyway-example-dev-cookie-password-not-for-production';

// The app's public address: the redirect URI and logout return_to Keyway
// must allow (KEYWAY_REDIRECT_URIS, KEYWAY_LOGOUT_REDIRECTS).
const APP_URL = `http://localhost:${PORT}`;
const REDIRECT_URI = `${APP_URL}/callback`;
const RETURN_TO = process.env.LOGOUT_RETURN_TO || `${APP_URL}/`;

// The sealed session, as the quick start names it, and the state of a
// sign-in under way (checked on the callback).
const SESSION_COOKIE = 'wos-session';
const STATE_COOKIE = 'wos-state';

if (!API_KEY || !CLIENT_ID) {
  console.error('authkit-node: set WORKOS_API_KEY and WORKOS_CLIENT_ID (make run prints both)');
  process.exit(2);
}
if (COOKIE_PASSWORD.length < 32) {
  console.error('authkit-node: WORKOS_COOKIE_PASSWORD must be at least 32 characters');
  process.exit(2);
}
if (!Number.isInteger(PORT) || PORT <= 0 || PORT > 65535) {
  console.error(`authkit-node: PORT must be a port number, not ${process.env.PORT}`);
  process.exit(2);
}

const https = KEYWAY_URL.protocol === 'https:';
const workos = new WorkOS(API_KEY, {
  apiHostname: KEYWAY_URL.hostname,
  port: Number(KEYWAY_URL.port) || (https ? 443 : 80),
  https,
  clientId: CLIENT_ID,
});

// --- cookies ---------------------------------------------------------------

function parseCookies(header = '') {
  const out = {};
  for (const part of header.split(';')) {
    const i = part.indexOf('=');
    if (i < 0) continue;
    const name = part.slice(0, i).trim();
    if (!name || name in out) continue;
    try {
      out[name] = decodeURIComponent(part.slice(i + 1).trim());
    } catch {
      out[name] = part.slice(i + 1).trim();
    }
  }
  return out;
}

// cookie is a Set-Cookie value: HttpOnly, SameSite=Lax, Path=/, and Secure
// when the app itself is served over HTTPS (behind a proxy that says so).
function cookie(req, name, value, { maxAge } = {}) {
  const secure = req.headers['x-forwarded-proto'] === 'https';
  let c = `${name}=${encodeURIComponent(value)}; Path=/; HttpOnly; SameSite=Lax`;
  if (maxAge !== undefined) c += `; Max-Age=${maxAge}`;
  if (secure) c += '; Secure';
  return c;
}
const clearCookie = (req, name) => cookie(req, name, '', { maxAge: 0 });

// --- the session -----------------------------------------------------------

// currentSession reads the sealed session cookie and returns the signed-in
// user, refreshing the session when the access token has expired; setCookie
// is the new cookie to send back (a refreshed session, or a cleared one).
async function currentSession(req) {
  const sessionData = parseCookies(req.headers.cookie)[SESSION_COOKIE];
  if (!sessionData) return { auth: null };
  try {
    const session = workos.userManagement.loadSealedSession({ sessionData, cookiePassword: COOKIE_PASSWORD });
    const auth = await session.authenticate();
    if (auth.authenticated) return { auth, session };
    if (auth.reason === 'no_session_cookie_provided' || auth.reason === 'invalid_session_cookie') {
      return { auth: null, setCookie: clearCookie(req, SESSION_COOKIE) };
    }
    // invalid_jwt: most often an access token that expired (they live 5 minutes).
    const refreshed = await session.refresh();
    if (!refreshed.authenticated) {
      return { auth: null, setCookie: clearCookie(req, SESSION_COOKIE) };
    }
    const next = workos.userManagement.loadSealedSession({
      sessionData: refreshed.sealedSession,
      cookiePassword: COOKIE_PASSWORD,
    });
    return { auth: refreshed, session: next, setCookie: cookie(req, SESSION_COOKIE, refreshed.sealedSession) };
  } catch (err) {
    // A cookie that does not unseal, or Keyway out of reach: signed out.
    console.error('authkit-node: session:', err?.message ?? err);
    return { auth: null, setCookie: clearCookie(req, SESSION_COOKIE) };
  }
}

// --- pages -----------------------------------------------------------------

const escapeHTML = (s) =>
  String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);

function page(title, body) {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHTML(title)}</title>
<style>
  body { font: 16px/1.5 system-ui, sans-serif; max-width: 40rem; margin: 4rem auto; padding: 0 1rem; color: #1f2328; }
  a { color: #0b5cad; }
  code { background: #f3f4f6; padding: .1rem .3rem; border-radius: 4px; }
</style>
</head>
<body>
<main>
${body}
</main>
</body>
</html>
`;
}

function send(res, status, html, headers = {}) {
  res.writeHead(status, {
    'Content-Type': 'text/html; charset=utf-8',
    'Cache-Control': 'no-store',
    ...headers,
  });
  res.end(html);
}

function redirect(res, location, cookies = []) {
  res.writeHead(302, { Location: location, 'Cache-Control': 'no-store', ...(cookies.length ? { 'Set-Cookie': cookies } : {}) });
  res.end();
}

async function home(req, res) {
  const { auth, setCookie } = await currentSession(req);
  const headers = setCookie ? { 'Set-Cookie': setCookie } : {};
  if (!auth) {
    return send(res, 200, page('Example app', `<h1>Example app</h1>
<p>You are signed out.</p>
<p><a href="/login">Sign in</a></p>`), headers);
  }
  const u = auth.user;
  const name = [u.firstName, u.lastName].filter(Boolean).join(' ');
  return send(res, 200, page('Example app', `<h1>Example app</h1>
<p>Signed in as <strong data-testid="user-email">${escapeHTML(u.email)}</strong>${name ? ` (<span data-testid="user-name">${escapeHTML(name)}</span>)` : ''}.</p>
<dl>
  <dt>User</dt><dd><code data-testid="user-id">${escapeHTML(u.id)}</code></dd>
  <dt>Session</dt><dd><code data-testid="session-id">${escapeHTML(auth.sessionId)}</code></dd>
  ${auth.organizationId ? `<dt>Organization</dt><dd><code data-testid="organization-id">${escapeHTML(auth.organizationId)}</code></dd>` : ''}
</dl>
<p><a href="/logout">Sign out</a></p>`), headers);
}

function login(req, res) {
  const state = randomBytes(16).toString('base64url');
  const url = workos.userManagement.getAuthorizationUrl({
    provider: 'authkit',
    redirectUri: REDIRECT_URI,
    clientId: CLIENT_ID,
    state,
  });
  redirect(res, url, [cookie(req, STATE_COOKIE, state, { maxAge: 600 })]);
}

function sameString(a, b) {
  const x = Buffer.from(String(a ?? ''));
  const y = Buffer.from(String(b ?? ''));
  return x.length === y.length && x.length > 0 && timingSafeEqual(x, y);
}

async function callback(req, res, url) {
  const code = url.searchParams.get('code');
  if (url.searchParams.get('error')) {
    return send(res, 400, page('Sign-in failed', `<h1>Sign-in failed</h1>
<p>${escapeHTML(url.searchParams.get('error_description') || url.searchParams.get('error'))}</p>
<p><a href="/">Back</a></p>`));
  }
  if (!code) {
    return send(res, 400, page('Sign-in failed', '<h1>Sign-in failed</h1><p>No code provided.</p><p><a href="/">Back</a></p>'));
  }
  const expected = parseCookies(req.headers.cookie)[STATE_COOKIE];
  if (!sameString(expected, url.searchParams.get('state'))) {
    return send(res, 400, page('Sign-in failed', '<h1>Sign-in failed</h1><p>The sign-in did not start here (state mismatch).</p><p><a href="/login">Try again</a></p>'),
      { 'Set-Cookie': clearCookie(req, STATE_COOKIE) });
  }
  try {
    const { sealedSession } = await workos.userManagement.authenticateWithCode({
      code,
      clientId: CLIENT_ID,
      session: { sealSession: true, cookiePassword: COOKIE_PASSWORD },
    });
    return redirect(res, '/', [cookie(req, SESSION_COOKIE, sealedSession), clearCookie(req, STATE_COOKIE)]);
  } catch (err) {
    console.error('authkit-node: authenticateWithCode:', err?.message ?? err);
    return send(res, 400, page('Sign-in failed', `<h1>Sign-in failed</h1>
<p>${escapeHTML(err?.message ?? 'The code could not be exchanged.')}</p>
<p><a href="/login">Try again</a></p>`), { 'Set-Cookie': clearCookie(req, STATE_COOKIE) });
  }
}

async function logout(req, res) {
  const { auth, session } = await currentSession(req);
  const cleared = clearCookie(req, SESSION_COOKIE);
  if (!auth) return redirect(res, '/', [cleared]);
  const url = await session.getLogoutUrl({ returnTo: RETURN_TO });
  return redirect(res, url, [cleared]);
}

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, APP_URL);
  try {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return send(res, 405, page('Method not allowed', '<h1>Method not allowed</h1>'), { Allow: 'GET, HEAD' });
    }
    switch (url.pathname) {
      case '/':
        return await home(req, res);
      case '/login':
        return login(req, res);
      case '/callback':
        return await callback(req, res, url);
      case '/logout':
        return await logout(req, res);
      case '/favicon.ico':
        res.writeHead(204, { 'Cache-Control': 'max-age=86400' });
        return res.end();
      default:
        return send(res, 404, page('Not found', '<h1>Not found</h1><p><a href="/">Home</a></p>'));
    }
  } catch (err) {
    console.error(`authkit-node: ${req.method} ${url.pathname}:`, err);
    if (!res.headersSent) send(res, 500, page('Error', '<h1>Something went wrong</h1>'));
    else res.end();
  }
});

server.listen(PORT, HOST, () => {
  console.log(`authkit-node: listening on ${APP_URL} (Keyway at ${KEYWAY_URL.origin})`);
});

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    server.close(() => process.exit(0));
    server.closeAllConnections?.();
  });
}
