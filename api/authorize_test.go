package api_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/keywayhq/keyway/app"
	"github.com/keywayhq/keyway/domain"
)

const (
	callback = "https://app.example.com/callback"
	verifier = "a-pkce-verifier-of-forty-three-characters-at-least-0123456789"
)

func challengeOf(v string) string {
	sum := sha256.Sum256([]byte(v))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// registerCallback registers the test's redirect URI in staging.
func (f *fixture) registerCallback() {
	f.t.Helper()
	f.must(f.staging, "PUT", "/keyway/settings", obj{"redirect_uris": []string{callback, "http://localhost:3000/callback"}}, 200)
}

// authorizeReq validates an authorize query for staging's client.
func (f *fixture) authorizeReq(extra url.Values) app.AuthorizeRequest {
	f.t.Helper()
	q := url.Values{"client_id": {f.stagingClient}, "redirect_uri": {callback}, "provider": {"authkit"}, "state": {"st-123"}}
	for k, v := range extra {
		q[k] = v
	}
	req, err := f.app.ParseAuthorize(context.Background(), q)
	if err != nil {
		f.t.Fatalf("ParseAuthorize(%v): %v", q, err)
	}
	return req
}

func (f *fixture) meta() app.Meta {
	return app.Meta{Env: f.stagingEnv, Actor: "authkit", RequestID: "req_test"}
}

// hostedSignIn signs alice in on the hosted pages' behalf and returns the
// code from the redirect and the hosted session's token.
func (f *fixture) hostedSignIn(req app.AuthorizeRequest, email string) (code, browser string) {
	f.t.Helper()
	res, err := f.app.AuthenticatePassword(context.Background(), f.meta(), email, goodPassword, app.Client{Authorize: &req})
	if err != nil {
		f.t.Fatalf("hosted sign-in: %v", err)
	}
	if res.AccessToken != "" || res.RefreshToken != "" {
		f.t.Fatalf("a hosted sign-in issued tokens: %+v", res)
	}
	return f.codeOf(res.RedirectURL, req.State), res.BrowserToken
}

func (f *fixture) codeOf(redirect, state string) string {
	f.t.Helper()
	u, err := url.Parse(redirect)
	if err != nil || !strings.HasPrefix(redirect, callback+"?") || u.Query().Get("state") != state || len(u.Query().Get("code")) < 40 {
		f.t.Fatalf("redirect %q: want %s?code=…&state=%s", redirect, callback, state)
	}
	return u.Query().Get("code")
}

func (f *fixture) exchange(key, code, verifier string) response {
	f.t.Helper()
	body := obj{"grant_type": "authorization_code", "code": code}
	if verifier != "" {
		body["code_verifier"] = verifier
	}
	if key == "" { // a public client: no secret, no Authorization header
		body["client_id"] = f.stagingClient
		return f.do("", "POST", "/user_management/authenticate", body)
	}
	return f.auth(key, body)
}

func errCode(err error) string {
	if de, ok := domain.As(err); ok {
		return de.Code
	}
	return ""
}

func TestSettings(t *testing.T) {
	f := newFixture(t)
	got := f.must(f.staging, "GET", "/keyway/settings", nil, 200)
	if got["object"] != "environment_settings" || len(got["redirect_uris"].([]any)) != 0 || got["client_id"] != f.stagingClient {
		t.Fatalf("fresh settings = %v", got)
	}
	got = f.must(f.staging, "PUT", "/keyway/settings", obj{"redirect_uris": []string{" " + callback + " ", callback, "http://localhost:3000/callback"},
		"app_name": "Acme", "primary_color": "#4F46E5", "logo_url": "https://cdn.example.com/logo.svg"}, 200)
	if uris := got["redirect_uris"].([]any); len(uris) != 2 || uris[0] != callback || got["primary_color"] != "#4f46e5" || got["app_name"] != "Acme" {
		t.Fatalf("settings after PUT = %v", got)
	}
	// A PUT changes only the fields it names.
	got = f.must(f.staging, "PUT", "/keyway/settings", obj{"logout_redirect_uris": []string{"https://app.example.com/bye"}}, 200)
	if len(got["redirect_uris"].([]any)) != 2 || got["app_name"] != "Acme" || got["logout_redirect_uris"].([]any)[0] != "https://app.example.com/bye" {
		t.Fatalf("partial PUT = %v", got)
	}
	for _, bad := range []obj{
		{"redirect_uris": []string{"javascript:alert(1)"}},
		{"redirect_uris": []string{"https://app.example.com/cb#frag"}},
		{"redirect_uris": []string{"https://user:pw@app.example.com/cb"}},
		{"redirect_uris": []string{"/relative"}},
		{"logout_redirect_uris": []string{"ftp://example.com/"}},
		{"primary_color": "red; background: url(x)"},
		{"app_name": strings.Repeat("x", 65)},
		{"logo_url": "http://cdn.example.com/logo.svg"},
	} {
		f.rejected(f.staging, "PUT", "/keyway/settings", bad, 422, "invalid_request_parameters")
	}
	f.rejected(f.staging, "PUT", "/keyway/settings", obj{"redirect_uris": "https://x.example"}, 422, "invalid_request_parameters")
	// Production refuses plain http except on loopback; staging allows it.
	f.rejected(f.production, "PUT", "/keyway/settings", obj{"redirect_uris": []string{"http://app.example.com/cb"}}, 422, "invalid_request_parameters")
	f.must(f.production, "PUT", "/keyway/settings", obj{"redirect_uris": []string{"http://127.0.0.1:4000/cb"}}, 200)
	f.must(f.staging, "PUT", "/keyway/settings", obj{"redirect_uris": []string{"http://app.example.com/cb"}}, 200)
	// Each environment has its own.
	if got := f.must(f.production, "GET", "/keyway/settings", nil, 200); got["redirect_uris"].([]any)[0] != "http://127.0.0.1:4000/cb" || got["app_name"] != "" {
		t.Fatalf("production settings = %v", got)
	}
	// The same settings again write nothing.
	f.unchanged(f.staging, "PUT", "/keyway/settings", obj{"redirect_uris": []string{"http://app.example.com/cb"}}, 200)
}

func TestParseAuthorizeRefuses(t *testing.T) {
	f := newFixture(t)
	f.registerCallback()
	base := func() url.Values {
		return url.Values{"client_id": {f.stagingClient}, "redirect_uri": {callback}, "provider": {"authkit"}}
	}
	cases := []struct {
		name string
		edit func(url.Values)
		code string
	}{
		{"no client", func(q url.Values) { q.Del("client_id") }, "invalid_client"},
		{"unknown client", func(q url.Values) { q.Set("client_id", "client_01ZZZZZZZZZZZZZZZZZZZZZZZZ") }, "invalid_client"},
		{"no redirect_uri", func(q url.Values) { q.Del("redirect_uri") }, "invalid_redirect_uri"},
		{"unregistered redirect_uri", func(q url.Values) { q.Set("redirect_uri", "https://evil.example/callback") }, "invalid_redirect_uri"},
		{"registered prefix only", func(q url.Values) { q.Set("redirect_uri", callback+"/../evil") }, "invalid_redirect_uri"},
		{"another environment's URI", func(q url.Values) { q.Set("client_id", f.prodClient) }, "invalid_redirect_uri"},
		{"two redirect_uris", func(q url.Values) { q.Add("redirect_uri", "https://evil.example/") }, "invalid_request"},
		{"plain PKCE", func(q url.Values) {
			q.Set("code_challenge", challengeOf(verifier))
			q.Set("code_challenge_method", "plain")
		}, "invalid_request"},
		{"short challenge", func(q url.Values) { q.Set("code_challenge", "abc"); q.Set("code_challenge_method", "S256") }, "invalid_request"},
		{"bad screen_hint", func(q url.Values) { q.Set("screen_hint", "register") }, "invalid_request"},
		{"response_type token", func(q url.Values) { q.Set("response_type", "token") }, "unsupported_response_type"},
		{"no provider", func(q url.Values) { q.Del("provider") }, "invalid_request"},
		{"unknown provider", func(q url.Values) { q.Set("provider", "myspace") }, "invalid_request"},
		{"Google", func(q url.Values) { q.Set("provider", "GoogleOAuth") }, "provider_not_configured"},
		{"a connection", func(q url.Values) { q.Del("provider"); q.Set("connection_id", "conn_01ABCDEFGHJKMNPQRSTVWXYZ01") }, "provider_not_configured"},
	}
	for _, c := range cases {
		q := base()
		c.edit(q)
		if _, err := f.app.ParseAuthorize(context.Background(), q); errCode(err) != c.code {
			t.Errorf("%s: err = %v, want %s", c.name, err, c.code)
		}
	}
	req := f.authorizeReq(url.Values{"code_challenge": {challengeOf(verifier)}, "code_challenge_method": {"S256"}, "login_hint": {" alice@example.com "}})
	if req.Env != f.stagingEnv || req.LoginHint != "alice@example.com" || req.CodeChallenge != challengeOf(verifier) {
		t.Fatalf("request = %+v", req)
	}
}

func TestAuthorizationCode(t *testing.T) {
	f := newFixture(t)
	f.registerCallback()
	alice := f.newUser("alice@example.com")
	req := f.authorizeReq(nil)
	code, browser := f.hostedSignIn(req, "alice@example.com")
	if browser == "" {
		t.Fatal("no hosted session started")
	}
	if n := len(f.sessionsOf(f.staging, alice)); n != 0 {
		t.Fatalf("%d sessions before the exchange", n)
	}
	// Only the right environment's secret can exchange a code made without PKCE.
	f.oauthFailed(f.exchange(f.production, code, ""), "invalid_grant")
	f.oauthFailed(f.exchange("", code, ""), "invalid_client") // public, and no PKCE
	first := f.authed(f.exchange(f.staging, code, ""))
	if first.body["authentication_method"] != "Password" || first.claims.Subject != alice {
		t.Fatalf("exchange = %s", first.body)
	}
	if f.sessionStatus(alice, first.sid()) != "active" {
		t.Fatal("the exchange's session is not active")
	}
	// A second exchange fails and revokes what the first issued.
	f.oauthFailed(f.exchange(f.staging, code, ""), "invalid_grant")
	if f.sessionStatus(alice, first.sid()) != "revoked" {
		t.Fatal("a replayed code left its session active")
	}
	f.oauthFailed(f.refresh(f.staging, first.refresh), "invalid_grant")
	// A code expires after 10 minutes.
	code, _ = f.hostedSignIn(req, "alice@example.com")
	f.clock.Advance(10*time.Minute + time.Second)
	f.oauthFailed(f.exchange(f.staging, code, ""), "invalid_grant")
	// A redirect_uri sent with the exchange must be the one of the request.
	code, _ = f.hostedSignIn(req, "alice@example.com")
	f.oauthFailed(f.auth(f.staging, obj{"grant_type": "authorization_code", "code": code, "redirect_uri": "http://localhost:3000/callback"}), "invalid_grant")
	f.oauthFailed(f.exchange(f.staging, code, ""), "invalid_grant") // used up by the refusal
	for _, bad := range []string{"", "x", strings.Repeat("a", 201)} {
		f.oauthFailed(f.exchange(f.staging, bad, ""), "invalid_grant")
	}
}

func TestAuthorizationCodePKCE(t *testing.T) {
	f := newFixture(t)
	f.registerCallback()
	f.newUser("alice@example.com")
	req := f.authorizeReq(url.Values{"code_challenge": {challengeOf(verifier)}, "code_challenge_method": {"S256"}})
	code, _ := f.hostedSignIn(req, "alice@example.com")
	// A wrong verifier is refused and uses the code up.
	f.oauthFailed(f.exchange("", code, verifier+"x"), "invalid_grant")
	f.oauthFailed(f.exchange("", code, verifier), "invalid_grant")
	// The secret alone does not do for a PKCE code, nor does nothing.
	code, _ = f.hostedSignIn(req, "alice@example.com")
	f.oauthFailed(f.exchange(f.staging, code, ""), "invalid_grant")
	code, _ = f.hostedSignIn(req, "alice@example.com")
	f.oauthFailed(f.exchange("", code, ""), "invalid_grant")
	code, _ = f.hostedSignIn(req, "alice@example.com")
	f.oauthFailed(f.exchange("", code, "short"), "invalid_grant")
	s := f.authed(f.exchange("", code, verifier))
	// The public client refreshes without a secret.
	res := f.do("", "POST", "/user_management/authenticate", obj{"grant_type": "refresh_token", "client_id": f.stagingClient, "refresh_token": s.refresh})
	f.authed(res)
	// But it cannot use the password grant.
	if res := f.do("", "POST", "/user_management/authenticate", obj{"grant_type": "password", "client_id": f.stagingClient, "email": "alice@example.com", "password": goodPassword}); res.status != 401 {
		t.Fatalf("public password grant = %d %s", res.status, res.raw)
	}
	// A verifier for a code issued without a challenge is refused.
	plain := f.authorizeReq(nil)
	code, _ = f.hostedSignIn(plain, "alice@example.com")
	f.oauthFailed(f.exchange("", code, verifier), "invalid_grant")
}

func TestHostedSession(t *testing.T) {
	m := &fakeMailer{}
	f := newFixtureWith(t, fixtureOptions{mailer: m})
	f.registerCallback()
	alice := f.newUser("alice@example.com")
	ctx := context.Background()
	req := f.authorizeReq(nil)
	_, browser := f.hostedSignIn(req, "alice@example.com")

	// A second authorize within the hosted session needs no credentials.
	again := f.authorizeReq(url.Values{"state": {"second"}})
	res, err := f.app.Authorize(ctx, f.meta(), again, browser, app.Client{})
	if err != nil || res.BrowserToken != "" {
		t.Fatalf("silent authorize = %+v, %v", res, err)
	}
	s := f.authed(f.exchange(f.staging, f.codeOf(res.RedirectURL, "second"), ""))
	for _, tok := range []string{"", "nope", strings.Repeat("x", 300)} {
		if _, err := f.app.Authorize(ctx, f.meta(), again, tok, app.Client{}); errCode(err) != "login_required" {
			t.Fatalf("authorize with token %q: %v", tok, err)
		}
	}
	// Another environment does not know the session.
	prodReq := again
	prodReq.Env = f.prodEnv
	if _, err := f.app.Authorize(ctx, app.Meta{Env: f.prodEnv}, prodReq, browser, app.Client{}); errCode(err) != "login_required" {
		t.Fatalf("cross-environment authorize: %v", err)
	}

	// Logout with a return_to that is not allowed changes nothing.
	logout := func(returnTo string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", "/user_management/sessions/logout?"+url.Values{"session_id": {s.sid()}, "return_to": {returnTo}}.Encode(), nil)
		r.Header.Set("Cookie", "keyway_session="+browser)
		w := httptest.NewRecorder()
		f.srv.ServeHTTP(w, r)
		return w
	}
	if w := logout("https://evil.example/"); w.Code != 422 || w.Header().Get("Location") != "" {
		t.Fatalf("logout to evil = %d %q", w.Code, w.Header().Get("Location"))
	}
	if f.sessionStatus(alice, s.sid()) != "active" {
		t.Fatal("a refused logout revoked the session")
	}
	if _, err := f.app.Authorize(ctx, f.meta(), again, browser, app.Client{}); err != nil {
		t.Fatalf("a refused logout ended the hosted session: %v", err)
	}
	if w := logout("http://localhost:3000.evil.example/"); w.Code != 422 {
		t.Fatalf("logout to a look-alike host = %d", w.Code)
	}
	w := logout("http://localhost:3000/") // allowed as http://localhost:3000
	if w.Code != 302 || w.Header().Get("Location") != "http://localhost:3000/" || !strings.Contains(w.Header().Get("Set-Cookie"), "keyway_session=;") ||
		!strings.Contains(w.Header().Get("Set-Cookie"), "HttpOnly") {
		t.Fatalf("logout = %d %v", w.Code, w.Header())
	}
	if _, err := f.app.Authorize(ctx, f.meta(), again, browser, app.Client{}); errCode(err) != "login_required" {
		t.Fatalf("authorize after logout: %v", err)
	}

	// A password reset ends the hosted sessions too.
	_, browser = f.hostedSignIn(req, "alice@example.com")
	_, token := f.createReset(m, "alice@example.com")
	if res := f.confirmReset(f.staging, token, "another long passphrase"); res.status != 200 {
		t.Fatalf("reset = %d %s", res.status, res.raw)
	}
	if _, err := f.app.Authorize(ctx, f.meta(), again, browser, app.Client{}); errCode(err) != "login_required" {
		t.Fatalf("authorize after a password reset: %v", err)
	}
	// So does the hosted session's end of life.
	f.newUser("bob@example.com")
	_, browser = f.hostedSignIn(req, "bob@example.com")
	f.clock.Advance(time.Hour)
	if _, err := f.app.Authorize(ctx, f.meta(), again, browser, app.Client{}); errCode(err) != "login_required" {
		t.Fatalf("authorize after an hour: %v", err)
	}
}

func TestHostedOrganization(t *testing.T) {
	f := newFixture(t)
	f.registerCallback()
	alice := f.newUser("alice@example.com")
	acme := f.createOrg(obj{"name": "Acme"})["id"].(string)
	globex := f.createOrg(obj{"name": "Globex"})["id"].(string)
	f.createMembership(obj{"user_id": alice, "organization_id": acme})
	f.createMembership(obj{"user_id": alice, "organization_id": globex})
	ctx := context.Background()
	req := f.authorizeReq(nil)
	_, err := f.app.AuthenticatePassword(ctx, f.meta(), "alice@example.com", goodPassword, app.Client{Authorize: &req})
	de, _ := domain.As(err)
	if de == nil || de.Code != "organization_selection_required" {
		t.Fatalf("two organizations: %v", err)
	}
	res, err := f.app.AuthenticateOrganizationSelection(ctx, f.meta(), de.Details["pending_authentication_token"].(string), globex, app.Client{Authorize: &req})
	if err != nil {
		t.Fatal(err)
	}
	s := f.authed(f.exchange(f.staging, f.codeOf(res.RedirectURL, "st-123"), ""))
	if s.body["organization_id"] != globex || s.claims.OrganizationID != globex {
		t.Fatalf("exchange = %s", s.body)
	}
	// organization_id on the authorize request picks the organization.
	req = f.authorizeReq(url.Values{"organization_id": {acme}})
	code, _ := f.hostedSignIn(req, "alice@example.com")
	if s := f.authed(f.exchange(f.staging, code, "")); s.claims.OrganizationID != acme {
		t.Fatalf("organization_id = %s", s.body)
	}
}
