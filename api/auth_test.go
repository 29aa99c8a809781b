package api_test

import (
	"context"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"math/rand/v2"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/oklog/ulid/v2"
	"golang.org/x/crypto/bcrypt"

	"github.com/keywayhq/keyway/domain/environment"
	"github.com/keywayhq/keyway/domain/session"
	"github.com/keywayhq/keyway/domain/throttle"
	"github.com/keywayhq/keyway/events"
	"github.com/keywayhq/keyway/infra/keys"
)

const (
	goodPassword  = "a long and careful passphrase"
	wrongPassword = "not the passphrase at all"
	unknownSess   = "session_01ZZZZZZZZZZZZZZZZZZZZZZZZ"
)

// clientOf is the client id of a key's environment.
func (f *fixture) clientOf(key string) string {
	if key == f.production {
		return f.prodClient
	}
	return f.stagingClient
}

// auth posts to /user_management/authenticate as the SDK does: client_id
// and client_secret of key's environment, then body (a nil value removes a field).
func (f *fixture) auth(key string, body obj, headers ...string) response {
	f.t.Helper()
	b := obj{"client_id": f.clientOf(key), "client_secret": key}
	for k, v := range body {
		if v == nil {
			delete(b, k)
		} else {
			b[k] = v
		}
	}
	return f.do(key, "POST", "/user_management/authenticate", b, headers...)
}

func (f *fixture) password(email, pw string) response {
	f.t.Helper()
	return f.auth(f.staging, obj{"grant_type": "password", "email": email, "password": pw})
}

func (f *fixture) refresh(key, token string) response {
	f.t.Helper()
	return f.auth(key, obj{"grant_type": "refresh_token", "refresh_token": token})
}

// signedIn is a successful authentication and what its access token says.
type signedIn struct {
	body    obj
	access  string
	refresh string
	claims  keys.Claims
}

func (s signedIn) sid() string { return s.claims.SessionID }

// authed fails unless res is a 200 authentication in staging, and verifies
// its access token with staging's keys.
func (f *fixture) authed(res response) signedIn {
	f.t.Helper()
	return f.authedIn(f.stagingEnv, res)
}

func (f *fixture) authedIn(env string, res response) signedIn {
	f.t.Helper()
	if res.status != 200 {
		f.t.Fatalf("authenticate = %d %s, want 200", res.status, res.raw)
	}
	s := signedIn{body: res.body}
	s.access, _ = res.body["access_token"].(string)
	s.refresh, _ = res.body["refresh_token"].(string)
	c, err := f.signer.Verify(context.Background(), env, s.access, testIssuer)
	if err != nil {
		f.t.Fatalf("access token does not verify: %v\n%s", err, res.raw)
	}
	s.claims = c
	return s
}

func (f *fixture) signIn(email, pw string) signedIn {
	f.t.Helper()
	return f.authed(f.password(email, pw))
}

func (f *fixture) refreshed(key, token string) signedIn {
	f.t.Helper()
	return f.authed(f.refresh(key, token))
}

// oauthFailed fails unless res is a 400 with the OAuth error code.
func (f *fixture) oauthFailed(res response, code string) {
	f.t.Helper()
	if res.status != 400 || res.body["error"] != code || res.body["error_description"] == nil || res.body["error_description"] == "" {
		f.t.Fatalf("got %d %s, want 400 {error: %s, error_description}", res.status, res.raw, code)
	}
	if res.body["access_token"] != nil || res.body["refresh_token"] != nil {
		f.t.Fatalf("an error carries tokens: %s", res.raw)
	}
}

// sessionsOf lists a user's sessions.
func (f *fixture) sessionsOf(key, userID string) []obj {
	f.t.Helper()
	return f.listData(key, "/user_management/users/"+userID+"/sessions")
}

// sessionStatus is the status the sessions list shows for one session.
func (f *fixture) sessionStatus(userID, sid string) string {
	f.t.Helper()
	for _, s := range f.sessionsOf(f.staging, userID) {
		if s["id"] == sid {
			return s["status"].(string)
		}
	}
	f.t.Fatalf("session %s is not listed for %s", sid, userID)
	return ""
}

// feed returns all events of a namespace.
func (f *fixture) feed(env string) []events.Envelope {
	f.t.Helper()
	evs, err := f.store.Feed(context.Background(), events.FeedQuery{Environment: env, Limit: 100000})
	if err != nil {
		f.t.Fatal(err)
	}
	return evs
}

// countType counts the staging events of a type.
func (f *fixture) countType(typ string) int {
	f.t.Helper()
	n := 0
	for _, e := range f.feed(f.stagingEnv) {
		if e.Type == typ {
			n++
		}
	}
	return n
}

// attemptsByStream counts throttle.attempted events per throttle stream.
func (f *fixture) attemptsByStream(env string) map[string]int {
	f.t.Helper()
	out := map[string]int{}
	for _, e := range f.feed(env) {
		if e.Type == "throttle.attempted" {
			out[e.Stream]++
		}
	}
	return out
}

// raw runs a request without JSON expectations (redirects are HTML).
func (f *fixture) raw(key, method, path string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, nil)
	if key != "" {
		r.Header.Set("Authorization", "Bearer "+key)
	}
	w := httptest.NewRecorder()
	f.srv.ServeHTTP(w, r)
	return w
}

// newUser creates a staging user with the good password and a verified email.
func (f *fixture) newUser(email string) string {
	f.t.Helper()
	return f.createUser(f.staging, obj{"email": email, "password": goodPassword, "email_verified": true})["id"].(string)
}

// ---------------------------------------------------------------------------
// Password grant

func TestPasswordGrant(t *testing.T) {
	f := newFixture(t)
	acme := f.createOrg(obj{"name": "Acme"})["id"].(string)
	alice := f.newUser("alice@example.com")
	f.createMembership(obj{"user_id": alice, "organization_id": acme})
	before := f.countType("session.created")

	res := f.password("Alice@Example.com", goodPassword)
	s := f.authed(res)
	u := s.body["user"].(obj)
	if u["id"] != alice || u["object"] != "user" || u["email"] != "alice@example.com" {
		t.Fatalf("user = %v", u)
	}
	if u["last_sign_in_at"] != t0 {
		t.Fatalf("last_sign_in_at in the answer = %v, want %s", u["last_sign_in_at"], t0)
	}
	if g := f.must(f.staging, "GET", "/user_management/users/"+alice, nil, 200); g["last_sign_in_at"] != t0 {
		t.Fatalf("last_sign_in_at of the user = %v", g["last_sign_in_at"])
	}
	if s.body["authentication_method"] != "Password" || s.body["organization_id"] != acme {
		t.Fatalf("authentication_method/organization_id: %s", res.raw)
	}

	// The access token.
	c := s.claims
	if c.Issuer != testIssuer || c.Subject != alice || !strings.HasPrefix(c.SessionID, "session_") {
		t.Fatalf("claims iss/sub/sid = %q %q %q", c.Issuer, c.Subject, c.SessionID)
	}
	if _, err := ulid.ParseStrict(c.ID); err != nil || strings.Contains(c.ID, "_") {
		t.Fatalf("jti %q is not a bare ULID: %v", c.ID, err)
	}
	if !c.IssuedAt.Time.Equal(f.clock.Now()) || c.ExpiresAt.Time.Sub(c.IssuedAt.Time) != 5*time.Minute {
		t.Fatalf("iat %v exp %v", c.IssuedAt, c.ExpiresAt)
	}
	if c.OrganizationID != acme || c.Role != "member" || fmt.Sprint(c.Roles) != "[member]" || c.Permissions == nil {
		t.Fatalf("org_id %q role %q roles %v permissions %v", c.OrganizationID, c.Role, c.Roles, c.Permissions)
	}
	header, payload := jwtParts(t, s.access)
	if header["alg"] != "RS256" || header["typ"] != "JWT" || header["kid"] == "" || header["kid"] == nil {
		t.Fatalf("JWT header = %v", header)
	}
	for _, claim := range []string{"iss", "sub", "sid", "jti", "org_id", "role", "permissions", "exp", "iat"} {
		if _, ok := payload[claim]; !ok {
			t.Fatalf("no %s claim: %v", claim, payload)
		}
	}
	if _, err := f.signer.Verify(context.Background(), f.stagingEnv, s.access, "https://someone.else"); err == nil {
		t.Fatal("the token verifies with another issuer")
	}

	// The refresh token is opaque: not a JWT, at least 128 bits, no ids in it.
	if len(s.refresh) < 26 || strings.Contains(s.refresh, ".") || strings.Contains(s.refresh, alice) || strings.Contains(s.refresh, c.SessionID) {
		t.Fatalf("refresh token %q", s.refresh)
	}

	// One session, listed.
	if n := f.countType("session.created") - before; n != 1 {
		t.Fatalf("%d sessions created", n)
	}
	if got := f.sessionsOf(f.staging, alice); len(got) != 1 || got[0]["id"] != c.SessionID {
		t.Fatalf("sessions = %v", got)
	}

	// Each sign-in is a new session, also on an SDK retry with the same Idempotency-Key.
	one := f.authed(f.auth(f.staging, obj{"grant_type": "password", "email": "alice@example.com", "password": goodPassword}, "Idempotency-Key", "retry-1"))
	two := f.auth(f.staging, obj{"grant_type": "password", "email": "alice@example.com", "password": goodPassword}, "Idempotency-Key", "retry-1")
	if two.header.Get("Idempotent-Replayed") != "" {
		t.Fatal("a sign-in was replayed")
	}
	if f.authed(two).sid() == one.sid() || one.sid() == s.sid() || one.refresh == s.refresh {
		t.Fatal("sign-ins share a session")
	}
}

func TestAccessTokenOrganization(t *testing.T) {
	f := newFixture(t)
	a := f.createOrg(obj{"name": "A"})["id"].(string)
	b := f.createOrg(obj{"name": "B"})["id"].(string)
	f.must(f.staging, "POST", "/authorization/roles", obj{"slug": "billing", "name": "Billing"}, 201)

	none := f.newUser("none@example.com")
	if s := f.signIn("none@example.com", goodPassword); s.claims.OrganizationID != "" || s.claims.Role != "" || s.body["organization_id"] != nil {
		t.Fatalf("no membership: org %q role %q body %v", s.claims.OrganizationID, s.claims.Role, s.body["organization_id"])
	}
	_ = none

	two := f.newUser("two@example.com")
	f.createMembership(obj{"user_id": two, "organization_id": a})
	mb := f.createMembership(obj{"user_id": two, "organization_id": b, "role_slug": "billing"})["id"].(string)
	// Two active memberships: the user must choose, and no session starts yet.
	before := f.countType("session.created")
	if res := f.password("two@example.com", goodPassword); res.status != 403 || res.body["code"] != "organization_selection_required" ||
		res.body["access_token"] != nil || res.body["refresh_token"] != nil || f.countType("session.created") != before {
		t.Fatalf("two active memberships = %d %s", res.status, res.raw)
	}
	// Deactivating one leaves exactly one active membership.
	f.must(f.staging, "PUT", "/user_management/organization_memberships/"+mb+"/deactivate", obj{}, 200)
	if s := f.signIn("two@example.com", goodPassword); s.claims.OrganizationID != a || s.claims.Role != "member" {
		t.Fatalf("one active membership: org %q role %q", s.claims.OrganizationID, s.claims.Role)
	}
	f.must(f.staging, "PUT", "/user_management/organization_memberships/"+mb+"/reactivate", obj{}, 200)
	ma := f.listData(f.staging, "/user_management/organization_memberships?user_id="+two+"&organization_id="+a)[0]["id"].(string)
	f.must(f.staging, "DELETE", "/user_management/organization_memberships/"+ma, nil, 200)
	if s := f.signIn("two@example.com", goodPassword); s.claims.OrganizationID != b || s.claims.Role != "billing" {
		t.Fatalf("the remaining membership: org %q role %q", s.claims.OrganizationID, s.claims.Role)
	}
}

// An imported bcrypt hash signs in, and is replaced by an argon2id hash.
func TestImportedHashIsRehashedOnSignIn(t *testing.T) {
	f := newFixture(t)
	h, err := bcrypt.GenerateFromPassword([]byte(goodPassword), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	uid := f.createUser(f.staging, obj{"email": "imported@example.com", "password_hash": string(h), "password_hash_type": "bcrypt", "email_verified": true})["id"].(string)
	if res := f.password("imported@example.com", wrongPassword); res.body["code"] != "invalid_credentials" {
		t.Fatalf("wrong password = %s", res.raw)
	}
	before := f.countType("user.password_set")
	f.signIn("imported@example.com", goodPassword)
	var hashes []string
	for _, e := range f.feed(f.stagingEnv) {
		if e.Type == "user.password_set" && strings.HasSuffix(e.Stream, uid) {
			hashes = append(hashes, string(e.Data))
		}
	}
	if f.countType("user.password_set") != before+1 || !strings.Contains(hashes[len(hashes)-1], "$argon2id$") {
		t.Fatalf("no argon2id rehash: %v", hashes)
	}
	// The new hash works, and is not replaced again.
	f.signIn("imported@example.com", goodPassword)
	if f.countType("user.password_set") != before+1 {
		t.Fatal("rehashed twice")
	}
}

func TestWrongPasswordAndUnknownEmailLookTheSame(t *testing.T) {
	f := newFixture(t)
	f.newUser("known@example.com")
	f.createUser(f.staging, obj{"email": "nopassword@example.com"})
	deleted := f.newUser("deleted@example.com")
	f.must(f.staging, "DELETE", "/user_management/users/"+deleted, nil, 200)

	wrong := f.password("known@example.com", wrongPassword)
	if wrong.status != 400 || wrong.body["code"] != "invalid_credentials" || wrong.body["message"] == "" {
		t.Fatalf("wrong password = %d %s", wrong.status, wrong.raw)
	}
	for _, email := range []string{"unknown@example.com", "nopassword@example.com", "deleted@example.com", "KNOWN@example.org"} {
		res := f.password(email, wrongPassword)
		if res.status != wrong.status || res.raw != wrong.raw {
			t.Fatalf("%s = %d %s, wrong password = %d %s", email, res.status, res.raw, wrong.status, wrong.raw)
		}
		if res := f.password(email, goodPassword); res.status != wrong.status || res.raw != wrong.raw {
			t.Fatalf("%s with the good password = %d %s", email, res.status, res.raw)
		}
	}
	for _, email := range []string{"", "not-an-email", strings.Repeat("a", 300) + "@example.com"} {
		if res := f.password(email, goodPassword); res.status != wrong.status || res.raw != wrong.raw {
			t.Fatalf("email %q = %d %s", email, res.status, res.raw)
		}
	}
	if res := f.password("known@example.com", ""); res.status != wrong.status || res.raw != wrong.raw {
		t.Fatalf("empty password = %d %s", res.status, res.raw)
	}
	if f.countType("session.created") != 0 {
		t.Fatal("a failed sign-in made a session")
	}
}

func TestAuthenticateRejectsBadRequests(t *testing.T) {
	f := newFixture(t)
	f.newUser("bob@example.com")
	good := obj{"grant_type": "password", "email": "bob@example.com", "password": goodPassword}
	with := func(extra obj) obj {
		b := obj{"client_id": f.stagingClient, "client_secret": f.staging}
		for k, v := range good {
			b[k] = v
		}
		for k, v := range extra {
			if v == nil {
				delete(b, k)
			} else {
				b[k] = v
			}
		}
		return b
	}
	path := "/user_management/authenticate"
	cases := []struct {
		name string
		body any
		code string
	}{
		{"another environment's client id", with(obj{"client_id": f.prodClient}), "invalid_client"},
		{"no client id", with(obj{"client_id": nil}), "invalid_client"},
		{"unknown client id", with(obj{"client_id": "client_01ZZZZZZZZZZZZZZZZZZZZZZZZ"}), "invalid_client"},
		{"another key as secret", with(obj{"client_secret": f.production}), "invalid_client"},
		{"unsupported grant", with(obj{"grant_type": "client_credentials"}), "unsupported_grant_type"},
		{"device code grant", with(obj{"grant_type": "urn:ietf:params:oauth:grant-type:device_code"}), "unsupported_grant_type"},
		{"no grant", with(obj{"grant_type": nil}), "invalid_request"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := f.on(t)
			res := f.rejected(f.staging, "POST", path, c.body, 400, c.code)
			f.oauthFailed(res, c.code)
		})
	}
	f.rejected(f.staging, "POST", path, `{"grant_type": 7}`, 422, "invalid_request_parameters")
	f.rejected(f.staging, "POST", path, `[1]`, 422, "invalid_request_parameters")
	f.rejected(f.staging, "POST", path, `{"grant_type":`, 400, "invalid_json")
	if res := f.do("", "POST", path, with(nil)); res.status != 401 {
		t.Fatalf("no API key = %d %s", res.status, res.raw)
	}
	if res := f.do(f.staging, "GET", path, nil); res.status != 404 && res.status != 405 {
		t.Fatalf("GET = %d", res.status)
	}

	// A form-encoded body works too, and the client secret may be left out.
	form := url.Values{"client_id": {f.stagingClient}, "grant_type": {"password"}, "email": {"bob@example.com"}, "password": {goodPassword},
		"ip_address": {"203.0.113.9"}, "user_agent": {"Form/1.0"}}
	s := f.authed(f.do(f.staging, "POST", path, form.Encode(), "Content-Type", "application/x-www-form-urlencoded;charset=utf-8"))
	if s.body["user"].(obj)["email"] != "bob@example.com" {
		t.Fatalf("form sign-in = %v", s.body)
	}
	ss := f.sessionsOf(f.staging, s.claims.Subject)
	if len(ss) != 1 || ss[0]["ip_address"] != "203.0.113.9" || ss[0]["user_agent"] != "Form/1.0" {
		t.Fatalf("form session = %v", ss)
	}
	form.Set("client_id", f.prodClient)
	f.oauthFailed(f.do(f.staging, "POST", path, form.Encode(), "Content-Type", "application/x-www-form-urlencoded"), "invalid_client")
	r := f.refreshed(f.staging, s.refresh)
	refresh := url.Values{"client_id": {f.stagingClient}, "grant_type": {"refresh_token"}, "refresh_token": {r.refresh}}
	if g := f.authed(f.do(f.staging, "POST", path, refresh.Encode(), "Content-Type", "application/x-www-form-urlencoded")); g.sid() != s.sid() {
		t.Fatal("a form refresh changed the session")
	}
}

// ---------------------------------------------------------------------------
// Throttling

func TestSignInThrottle(t *testing.T) {
	f := newFixture(t)
	f.newUser("carol@example.com")
	f.newUser("other@example.com")
	wrong := func(email string) {
		t.Helper()
		if res := f.password(email, wrongPassword); res.status != 400 || res.body["code"] != "invalid_credentials" {
			t.Fatalf("wrong password for %s = %d %s", email, res.status, res.raw)
		}
	}
	throttled := func(res response) {
		t.Helper()
		if res.status != 429 || res.body["code"] != "too_many_requests" || res.body["error"] != "too_many_requests" || res.body["message"] == "" || res.body["access_token"] != nil {
			t.Fatalf("got %d %s, want 429", res.status, res.raw)
		}
		ra, err := strconv.Atoi(res.header.Get("Retry-After"))
		if err != nil || ra < 1 || ra > 15*60+1 {
			t.Fatalf("Retry-After = %q", res.header.Get("Retry-After"))
		}
	}
	for range 5 {
		wrong("carol@example.com")
	}
	// The 6th attempt is refused, even with the right password, and writes nothing.
	before := f.feedLen()
	throttled(f.password("carol@example.com", goodPassword))
	throttled(f.password("Carol@EXAMPLE.com", goodPassword))
	if f.feedLen() != before {
		t.Fatal("a throttled attempt wrote events")
	}
	// Other accounts are not affected.
	f.signIn("other@example.com", goodPassword)
	// Retry-After shrinks as the window passes.
	f.clock.Advance(10 * time.Minute)
	res := f.password("carol@example.com", goodPassword)
	throttled(res)
	if ra, _ := strconv.Atoi(res.header.Get("Retry-After")); ra > 5*60+1 {
		t.Fatalf("Retry-After after 10 minutes = %d", ra)
	}
	// After the window, sign-in works.
	f.clock.Advance(5 * time.Minute)
	f.signIn("carol@example.com", goodPassword)

	// A success clears the account's count.
	for range 4 {
		wrong("carol@example.com")
	}
	f.signIn("carol@example.com", goodPassword)
	for range 5 {
		wrong("carol@example.com")
	}
	throttled(f.password("carol@example.com", goodPassword))

	// An unknown account is throttled the same way, so the limit tells nothing.
	for range 5 {
		wrong("ghost@example.com")
	}
	throttled(f.password("ghost@example.com", wrongPassword))

	// Attempts are per environment.
	f.createUser(f.production, obj{"email": "carol@example.com", "password": goodPassword, "email_verified": true})
	f.authedIn(f.prodEnv, f.auth(f.production, obj{"grant_type": "password", "email": "carol@example.com", "password": goodPassword}))
}

func TestSignInThrottlePerIP(t *testing.T) {
	f := newFixture(t)
	f.newUser("dave@example.com")
	attempt := func(email, pw, ip string) response {
		return f.auth(f.staging, obj{"grant_type": "password", "email": email, "password": pw, "ip_address": ip})
	}
	// 50 attempts from one IP, on 50 accounts, one each.
	for i := range 50 {
		if res := attempt(fmt.Sprintf("spray%d@example.com", i), wrongPassword, "198.51.100.7"); res.status != 400 {
			t.Fatalf("attempt %d = %d %s", i, res.status, res.raw)
		}
	}
	before := f.attemptsByStream(f.stagingEnv)
	res := attempt("dave@example.com", goodPassword, "198.51.100.7")
	if res.status != 429 || res.header.Get("Retry-After") == "" {
		t.Fatalf("51st attempt from the IP = %d %s", res.status, res.raw)
	}
	// The refused attempt did not count against the account either.
	if after := f.attemptsByStream(f.stagingEnv); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("a refused attempt counted: %v -> %v", before, after)
	}
	// Another IP may still sign in, and the account has its 5 attempts.
	for range 4 {
		if res := attempt("dave@example.com", wrongPassword, "198.51.100.8"); res.status != 400 {
			t.Fatalf("from another IP = %d %s", res.status, res.raw)
		}
	}
	f.authed(attempt("dave@example.com", goodPassword, "198.51.100.8"))

	// Successful sign-ins do not count against the IP: an office behind one
	// address signs in all morning.
	for i := range 60 {
		if res := attempt("dave@example.com", goodPassword, "198.51.100.9"); res.status != 200 {
			t.Fatalf("sign-in %d from one IP = %d %s", i, res.status, res.raw)
		}
	}
	for i := range 49 {
		if res := attempt(fmt.Sprintf("office%d@example.com", i), wrongPassword, "198.51.100.9"); res.status != 400 {
			t.Fatalf("failure %d after the sign-ins = %d %s", i, res.status, res.raw)
		}
	}
	// ...but a success gives back only its own attempt: the failures stay counted.
	f.authed(attempt("dave@example.com", goodPassword, "198.51.100.9"))
	if res := attempt("office49@example.com", wrongPassword, "198.51.100.9"); res.status != 400 {
		t.Fatalf("50th failure = %d %s", res.status, res.raw)
	}
	if res := attempt("dave@example.com", goodPassword, "198.51.100.9"); res.status != 429 {
		t.Fatalf("after 50 failures = %d %s", res.status, res.raw)
	}

	// Without ip_address there is no per-IP count: the connection is the
	// caller's backend, shared by all its users.
	for i := range 60 {
		if res := f.password(fmt.Sprintf("conn%d@example.com", i), wrongPassword); res.status != 400 {
			t.Fatalf("attempt %d without ip_address = %d %s", i, res.status, res.raw)
		}
	}
	f.signIn("dave@example.com", goodPassword)
	if ss := f.sessionsOf(f.staging, f.signIn("dave@example.com", goodPassword).claims.Subject); ss[0]["ip_address"] != nil {
		t.Fatalf("session without ip_address has ip_address %v", ss[0]["ip_address"])
	}
	f.clock.Advance(15 * time.Minute)
	f.authed(attempt("dave@example.com", goodPassword, "198.51.100.7"))
	f.authed(attempt("dave@example.com", goodPassword, "198.51.100.9"))
}

// loadBarrier holds the first n loads of streams with a prefix until all n
// have arrived: n requests read the same version before any appends.
type loadBarrier struct {
	events.Store
	prefix  string
	n       int
	mu      sync.Mutex
	arrived int
	all     chan struct{}
}

func holdLoads(prefix string, n int) func(events.Store) events.Store {
	return func(s events.Store) events.Store {
		return &loadBarrier{Store: s, prefix: prefix, n: n, all: make(chan struct{})}
	}
}

func (b *loadBarrier) Load(ctx context.Context, env, stream string) ([]events.Envelope, error) {
	if strings.HasPrefix(stream, b.prefix) {
		b.mu.Lock()
		b.arrived++
		if b.arrived == b.n {
			close(b.all)
		}
		wait := b.arrived <= b.n
		b.mu.Unlock()
		if wait {
			select {
			case <-b.all:
			case <-time.After(10 * time.Second):
				return nil, fmt.Errorf("loadBarrier: only %d of %d loads arrived", b.arrived, b.n)
			}
		}
	}
	return b.Store.Load(ctx, env, stream)
}

var throttleStreams = events.StreamName(throttle.Aggregate, "")

// checkParallelAttempts runs n wrong attempts on one account at once and
// checks that exactly the limit of them were checked.
func checkParallelAttempts(t *testing.T, f *fixture, email string, n int, sameIP bool) {
	t.Helper()
	before := f.attemptsByStream(f.stagingEnv)
	results := race(n, func(i int) response {
		body := obj{"grant_type": "password", "email": email, "password": wrongPassword, "ip_address": "192.0.2.200"}
		if !sameIP {
			body["ip_address"] = fmt.Sprintf("192.0.2.%d", i+1)
		}
		return f.auth(f.staging, body)
	})
	counts := map[string]int{}
	for i, res := range results {
		switch {
		case res.status == 400 && res.body["code"] == "invalid_credentials":
			counts["invalid_credentials"]++
		case res.status == 429 && res.header.Get("Retry-After") != "":
			counts["429"]++
		default:
			t.Fatalf("attempt %d = %d %s", i, res.status, res.raw)
		}
	}
	if counts["invalid_credentials"] != 5 || counts["429"] != n-5 {
		t.Fatalf("answers = %v, want 5 invalid_credentials and %d 429", counts, n-5)
	}
	// The account's stream holds exactly 5 new attempts, and so does the
	// shared IP's; with one IP each, the 5 checked attempts have one each.
	after := f.attemptsByStream(f.stagingEnv)
	var deltas []int
	for stream, c := range after {
		if d := c - before[stream]; d > 0 {
			deltas = append(deltas, d)
		}
	}
	sort.Ints(deltas)
	want := "[1 1 1 1 1 5]"
	if sameIP {
		want = "[5 5]"
	}
	if fmt.Sprint(deltas) != want {
		t.Fatalf("new attempts per stream: %v, want %s", deltas, want)
	}
	// Still throttled.
	if res := f.password(email, goodPassword); res.status != 429 {
		t.Fatalf("after the race = %d %s", res.status, res.raw)
	}
}

func TestParallelWrongPasswordsReserveExactlyTheLimit(t *testing.T) {
	const n = 20
	t.Run("free", func(t *testing.T) {
		f := newFixture(t)
		for round := range 3 {
			email := fmt.Sprintf("race%d@example.com", round)
			f.newUser(email)
			checkParallelAttempts(t, f, email, n, round == 2)
		}
	})
	// The worst interleaving: all 20 read the count before any appends.
	t.Run("all read first", func(t *testing.T) {
		f := newFixtureWith(t, fixtureOptions{wrap: holdLoads(throttleStreams, n)})
		f.newUser("race@example.com")
		checkParallelAttempts(t, f, "race@example.com", n, false)
	})
	t.Run("all read first, one IP", func(t *testing.T) {
		f := newFixtureWith(t, fixtureOptions{wrap: holdLoads(throttleStreams, n)})
		f.newUser("race@example.com")
		checkParallelAttempts(t, f, "race@example.com", n, true)
	})
}

// staleStore answers some loads of throttle streams with an older version
// of the stream, chosen at random: any interleaving of concurrent attempts
// amounts to each reading some prefix of the stream, so this explores them
// one request at a time, deterministically.
type staleStore struct {
	events.Store
	mu      sync.Mutex
	rng     *rand.Rand
	budget  int // stale loads left for the current request
	stale   int // loads answered with an older version
	blinded int // stale loads that showed fewer than 5 attempts when 5 were made
}

func (s *staleStore) Load(ctx context.Context, env, stream string) ([]events.Envelope, error) {
	evs, err := s.Store.Load(ctx, env, stream)
	if err != nil || !strings.HasPrefix(stream, throttleStreams) {
		return evs, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.budget == 0 {
		return evs, nil
	}
	s.budget--
	k := s.rng.IntN(len(evs) + 1)
	if k < len(evs) {
		s.stale++
		if k < 5 && len(evs) >= 5 {
			s.blinded++
		}
	}
	return evs[:k], nil
}

func (s *staleStore) setBudget(n int) {
	s.mu.Lock()
	s.budget = n
	s.mu.Unlock()
}

func TestThrottleHoldsWhateverVersionAttemptsRead(t *testing.T) {
	for seed := range uint64(12) {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			var st *staleStore
			f := newFixtureWith(t, fixtureOptions{wrap: func(s events.Store) events.Store {
				st = &staleStore{Store: s, rng: rand.New(rand.NewPCG(seed, 7))}
				return st
			}})
			f.newUser("eve@example.com")
			answers := map[int]int{}
			for range 20 {
				st.setBudget(8)
				res := f.auth(f.staging, obj{"grant_type": "password", "email": "eve@example.com", "password": wrongPassword, "ip_address": "203.0.113.1"})
				answers[res.status]++
				if res.status != 400 && res.status != 429 {
					t.Fatalf("answer %d %s", res.status, res.raw)
				}
			}
			if answers[400] != 5 || answers[429] != 15 {
				t.Fatalf("answers %v", answers)
			}
			for stream, n := range f.attemptsByStream(f.stagingEnv) {
				if n != 5 {
					t.Fatalf("%s has %d attempts", stream, n)
				}
			}
			if st.stale == 0 {
				t.Fatal("no load was stale")
			}
			t.Logf("%d stale loads, %d of them blind to the limit", st.stale, st.blinded)
		})
	}
}

// ---------------------------------------------------------------------------
// Refresh

func TestRefreshRotates(t *testing.T) {
	f := newFixture(t)
	uid := f.newUser("rot@example.com")
	s1 := f.signIn("rot@example.com", goodPassword)
	f.clock.Advance(time.Minute)
	s2 := f.refreshed(f.staging, s1.refresh)
	if s2.refresh == s1.refresh || s2.access == s1.access || s2.claims.ID == s1.claims.ID {
		t.Fatal("refresh did not rotate the tokens")
	}
	if s2.sid() != s1.sid() || s2.claims.Subject != uid || !s2.claims.IssuedAt.Time.Equal(f.clock.Now()) {
		t.Fatalf("refreshed claims %+v", s2.claims)
	}
	if s2.body["authentication_method"] != "Password" || s2.body["user"].(obj)["id"] != uid {
		t.Fatalf("refresh body %v", s2.body)
	}

	// The old token within the grace window: refused, harmlessly.
	f.clock.Advance(5 * time.Second)
	f.oauthFailed(f.refresh(f.staging, s1.refresh), "invalid_grant")
	if st := f.sessionStatus(uid, s1.sid()); st != "active" {
		t.Fatalf("status after a replay in the grace window = %s", st)
	}
	s3 := f.refreshed(f.staging, s2.refresh)

	// The previous token after the grace window revokes the whole session.
	f.clock.Advance(11 * time.Second)
	before := f.countType("session.revoked")
	f.oauthFailed(f.refresh(f.staging, s2.refresh), "invalid_grant")
	if f.countType("session.revoked") != before+1 {
		t.Fatal("no session.revoked event")
	}
	f.oauthFailed(f.refresh(f.staging, s3.refresh), "invalid_grant")
	ss := f.sessionsOf(f.staging, uid)
	if len(ss) != 1 || ss[0]["status"] != "revoked" || ss[0]["ended_at"] != timeAt(f) {
		t.Fatalf("sessions after reuse = %v", ss)
	}
	// A revoked session stays revoked; more replays write nothing.
	f.rejected(f.staging, "POST", "/user_management/authenticate", obj{"client_id": f.stagingClient, "grant_type": "refresh_token", "refresh_token": s1.refresh}, 400, "invalid_grant")
}

func timeAt(f *fixture) string { return f.clock.Now().UTC().Format("2006-01-02T15:04:05.000Z") }

func TestRefreshWithAnOlderTokenRevokesAtOnce(t *testing.T) {
	f := newFixture(t)
	uid := f.newUser("old@example.com")
	s1 := f.signIn("old@example.com", goodPassword)
	s2 := f.refreshed(f.staging, s1.refresh)
	s3 := f.refreshed(f.staging, s2.refresh)
	// s1 is two rotations old: a replay even within the grace window.
	f.oauthFailed(f.refresh(f.staging, s1.refresh), "invalid_grant")
	f.oauthFailed(f.refresh(f.staging, s3.refresh), "invalid_grant")
	if st := f.sessionStatus(uid, s1.sid()); st != "revoked" {
		t.Fatalf("status = %s", st)
	}
	// Garbage tokens are invalid_grant and write nothing.
	for _, tok := range []string{"", "nope", strings.Repeat("x", 5000), s1.access} {
		before := f.feedLen()
		f.oauthFailed(f.auth(f.staging, obj{"grant_type": "refresh_token", "refresh_token": tok}), "invalid_grant")
		if f.feedLen() != before {
			t.Fatalf("token %.20q wrote events", tok)
		}
	}
	f.oauthFailed(f.auth(f.staging, obj{"grant_type": "refresh_token"}), "invalid_grant")
	f.rejected(f.staging, "POST", "/user_management/authenticate", obj{"client_id": f.stagingClient, "grant_type": "refresh_token", "refresh_token": 5}, 422, "invalid_request_parameters")
}

func checkParallelRefresh(t *testing.T, f *fixture, n int) {
	t.Helper()
	uid := f.newUser("par@example.com")
	s := f.signIn("par@example.com", goodPassword)
	results := race(n, func(int) response { return f.refresh(f.staging, s.refresh) })
	winner := -1
	for i, res := range results {
		switch {
		case res.status == 200:
			if winner >= 0 {
				t.Fatalf("two refreshes won: %d and %d", winner, i)
			}
			winner = i
		case res.status == 400 && res.body["error"] == "invalid_grant":
		default:
			t.Fatalf("refresh %d = %d %s", i, res.status, res.raw)
		}
	}
	if winner < 0 {
		t.Fatal("no refresh won")
	}
	if st := f.sessionStatus(uid, s.sid()); st != "active" {
		t.Fatalf("status after the race = %s", st)
	}
	if got := f.countType("session.refreshed"); got != 1 {
		t.Fatalf("%d session.refreshed events", got)
	}
	w := f.authed(results[winner])
	next := f.refreshed(f.staging, w.refresh)
	if next.sid() != s.sid() {
		t.Fatal("the winner's token leads to another session")
	}
}

func TestParallelRefreshesOfOneTokenHaveOneWinner(t *testing.T) {
	t.Run("free", func(t *testing.T) { checkParallelRefresh(t, newFixture(t), 50) })
	t.Run("all read first", func(t *testing.T) {
		checkParallelRefresh(t, newFixtureWith(t, fixtureOptions{wrap: holdLoads(events.StreamName(session.Aggregate, ""), 50)}), 50)
	})
}

func TestSessionLifetime(t *testing.T) {
	f := newFixture(t)
	uid := f.newUser("life@example.com")
	s := f.signIn("life@example.com", goodPassword)
	other := f.signIn("life@example.com", goodPassword)
	// Refreshes keep working up to the absolute lifetime, not beyond.
	tok := s.refresh
	for range 29 {
		f.clock.Advance(24 * time.Hour)
		tok = f.refreshed(f.staging, tok).refresh
	}
	f.clock.Advance(24*time.Hour - time.Second)
	tok = f.refreshed(f.staging, tok).refresh
	if st := f.sessionStatus(uid, s.sid()); st != "active" {
		t.Fatalf("status just before the end = %s", st)
	}
	f.clock.Advance(2 * time.Second)
	f.oauthFailed(f.refresh(f.staging, tok), "invalid_grant")
	f.oauthFailed(f.refresh(f.staging, other.refresh), "invalid_grant")
	for _, sess := range f.sessionsOf(f.staging, uid) {
		if sess["status"] != "expired" {
			t.Fatalf("session after 30 days = %v", sess)
		}
		exp, _ := time.Parse(time.RFC3339, sess["expires_at"].(string))
		cr, _ := time.Parse(time.RFC3339, sess["created_at"].(string))
		if exp.Sub(cr) != 30*24*time.Hour {
			t.Fatalf("expires_at - created_at = %v", exp.Sub(cr))
		}
	}
}

func TestRefreshAfterTheUserIsDeleted(t *testing.T) {
	f := newFixture(t)
	uid := f.newUser("gone@example.com")
	s := f.signIn("gone@example.com", goodPassword)
	f.must(f.staging, "DELETE", "/user_management/users/"+uid, nil, 200)
	f.oauthFailed(f.refresh(f.staging, s.refresh), "invalid_grant")
	// The email is free again; the new user's sign-in is not the old session.
	f.newUser("gone@example.com")
	f.oauthFailed(f.refresh(f.staging, s.refresh), "invalid_grant")
	if n := f.signIn("gone@example.com", goodPassword); n.claims.Subject == uid {
		t.Fatal("signed in as the deleted user")
	}
}

func TestRefreshSwitchesOrganization(t *testing.T) {
	f := newFixture(t)
	a := f.createOrg(obj{"name": "A"})["id"].(string)
	b := f.createOrg(obj{"name": "B"})["id"].(string)
	f.must(f.staging, "POST", "/authorization/roles", obj{"slug": "billing", "name": "Billing"}, 201)
	uid := f.newUser("switch@example.com")
	f.createMembership(obj{"user_id": uid, "organization_id": a})
	s := f.signIn("switch@example.com", goodPassword)
	if s.claims.OrganizationID != a {
		t.Fatalf("org %q", s.claims.OrganizationID)
	}
	switchTo := func(token, org string) response {
		return f.auth(f.staging, obj{"grant_type": "refresh_token", "refresh_token": token, "organization_id": org})
	}
	// Not a member of B, or of an unknown organization: refused, and the token still works.
	for _, org := range []string{b, unknownOrg, "nope"} {
		before := f.feedLen()
		f.oauthFailed(switchTo(s.refresh, org), "organization_membership_not_found")
		if f.feedLen() != before {
			t.Fatal("a refused switch wrote events")
		}
	}
	mb := f.createMembership(obj{"user_id": uid, "organization_id": b, "role_slug": "billing"})["id"].(string)
	s2 := f.authed(switchTo(s.refresh, b))
	if s2.body["organization_id"] != b || s2.claims.OrganizationID != b || s2.claims.Role != "billing" || s2.sid() != s.sid() {
		t.Fatalf("switched: body org %v, claims %+v", s2.body["organization_id"], s2.claims)
	}
	if ss := f.sessionsOf(f.staging, uid); ss[0]["organization_id"] != b {
		t.Fatalf("session organization = %v", ss[0]["organization_id"])
	}
	// The session stays in B.
	s3 := f.refreshed(f.staging, s2.refresh)
	if s3.claims.OrganizationID != b {
		t.Fatalf("org after a plain refresh = %q", s3.claims.OrganizationID)
	}
	// Deactivating the membership stops the next refresh at once.
	f.must(f.staging, "PUT", "/user_management/organization_memberships/"+mb+"/deactivate", obj{}, 200)
	f.oauthFailed(f.refresh(f.staging, s3.refresh), "organization_membership_not_found")
	f.oauthFailed(switchTo(s3.refresh, b), "organization_membership_not_found")
	// Back to A, where the user is still active.
	s4 := f.authed(switchTo(s3.refresh, a))
	if s4.claims.OrganizationID != a || s4.claims.Role != "member" {
		t.Fatalf("back to A: %+v", s4.claims)
	}
	// Deleting the membership too.
	ma := f.listData(f.staging, "/user_management/organization_memberships?user_id="+uid+"&organization_id="+a)[0]["id"].(string)
	f.must(f.staging, "DELETE", "/user_management/organization_memberships/"+ma, nil, 200)
	f.oauthFailed(f.refresh(f.staging, s4.refresh), "organization_membership_not_found")
}

// ---------------------------------------------------------------------------
// SSO required

func TestSSORequiredRefusesPasswords(t *testing.T) {
	f := newFixture(t)
	acme := f.createOrg(obj{"name": "Acme", "domain_data": []obj{{"domain": "acme.com", "state": "verified"}, {"domain": "pending.com"}}})["id"].(string)
	f.must(f.staging, "PUT", "/keyway/organizations/"+acme+"/policies", obj{"sso_required": true}, 200)
	uid := f.newUser("sam@acme.com")
	f.newUser("pat@pending.com")
	before := f.countType("session.created")
	res := f.password("sam@acme.com", goodPassword)
	if res.status != 400 || res.body["error"] != "sso_required" || res.body["code"] != "sso_required" || res.body["error_description"] == "" ||
		res.body["email"] != "sam@acme.com" || res.raw == "" || fmt.Sprint(res.body["connection_ids"]) != "[]" || res.body["access_token"] != nil {
		t.Fatalf("sso_required = %d %s", res.status, res.raw)
	}
	if !strings.Contains(res.raw, `"connection_ids":[]`) {
		t.Fatalf("connection_ids is not an empty array: %s", res.raw)
	}
	if f.countType("session.created") != before || len(f.sessionsOf(f.staging, uid)) != 0 {
		t.Fatal("a session was created")
	}
	if g := f.must(f.staging, "GET", "/user_management/users/"+uid, nil, 200); g["last_sign_in_at"] != nil {
		t.Fatalf("last_sign_in_at = %v", g["last_sign_in_at"])
	}
	// A wrong password is still invalid_credentials; a pending domain is not covered.
	if res := f.password("sam@acme.com", wrongPassword); res.body["code"] != "invalid_credentials" {
		t.Fatalf("wrong password = %s", res.raw)
	}
	f.signIn("pat@pending.com", goodPassword)
	// Turning the policy off lets passwords in again.
	f.must(f.staging, "PUT", "/keyway/organizations/"+acme+"/policies", obj{"sso_required": false}, 200)
	f.signIn("sam@acme.com", goodPassword)
}

// ---------------------------------------------------------------------------
// Sessions: list, revoke, logout

func TestListSessions(t *testing.T) {
	f := newFixture(t)
	acme := f.createOrg(obj{"name": "Acme"})["id"].(string)
	uid := f.newUser("list@example.com")
	f.createMembership(obj{"user_id": uid, "organization_id": acme})
	var sids []string
	for i := range 3 {
		f.clock.Advance(time.Second)
		s := f.authed(f.auth(f.staging, obj{"grant_type": "password", "email": "list@example.com", "password": goodPassword,
			"ip_address": fmt.Sprintf("203.0.113.%d", i), "user_agent": fmt.Sprint("agent ", i)}))
		sids = append(sids, s.sid())
	}
	f.must(f.staging, "POST", "/user_management/sessions/revoke", obj{"session_id": sids[1]}, 200)
	ids, _, _ := f.list(f.staging, "/user_management/users/"+uid+"/sessions")
	eq(t, "newest first", ids, reversed(sids))
	asc, _, _ := f.list(f.staging, "/user_management/users/"+uid+"/sessions?order=asc")
	eq(t, "order=asc", asc, sids)
	page, _, after := f.list(f.staging, "/user_management/users/"+uid+"/sessions?limit=2")
	eq(t, "page 1", page, reversed(sids)[:2])
	if after != sids[1] {
		t.Fatalf("after = %v", after)
	}
	rest, before, after2 := f.list(f.staging, "/user_management/users/"+uid+"/sessions?limit=2&after="+sids[1])
	eq(t, "page 2", rest, sids[:1])
	if before != sids[0] || after2 != nil {
		t.Fatalf("page 2 cursors %v %v", before, after2)
	}

	items := f.sessionsOf(f.staging, uid)
	want := []string{"created_at", "ended_at", "expires_at", "auth_method", "id", "ip_address", "object", "organization_id", "status", "updated_at", "user_agent", "user_id"}
	for i, s := range items {
		for _, k := range want {
			if _, ok := s[k]; !ok {
				t.Fatalf("session has no %s: %v", k, s)
			}
		}
		n := 2 - i
		if s["object"] != "session" || s["user_id"] != uid || s["auth_method"] != "password" || s["organization_id"] != acme ||
			s["ip_address"] != fmt.Sprintf("203.0.113.%d", n) || s["user_agent"] != fmt.Sprint("agent ", n) {
			t.Fatalf("session %d = %v", i, s)
		}
		status, ended := "active", s["ended_at"] == nil
		if s["id"] == sids[1] {
			status, ended = "revoked", s["ended_at"] != nil
		}
		if s["status"] != status || !ended {
			t.Fatalf("session %d status %v ended_at %v", i, s["status"], s["ended_at"])
		}
	}
	f.rejected(f.staging, "GET", "/user_management/users/"+unknownUser+"/sessions", nil, 404, "")
	f.rejected(f.staging, "GET", "/user_management/users/nope/sessions", nil, 404, "")
	f.rejected(f.staging, "GET", "/user_management/users/"+uid+"/sessions?limit=0", nil, 422, "invalid_request_parameters")
	f.rejected(f.staging, "GET", "/user_management/users/"+uid+"/sessions?after=user_01ZZZZZZZZZZZZZZZZZZZZZZZZ", nil, 422, "invalid_request_parameters")
	f.rejected(f.staging, "GET", "/user_management/users/"+uid+"/other", nil, 404, "route_not_found")
	if res := f.do("", "GET", "/user_management/users/"+uid+"/sessions", nil); res.status != 401 {
		t.Fatalf("without a key = %d", res.status)
	}
	// A user without sessions has an empty list.
	other := f.newUser("nosessions@example.com")
	if got := f.sessionsOf(f.staging, other); len(got) != 0 {
		t.Fatalf("sessions = %v", got)
	}
}

func TestRevokeSession(t *testing.T) {
	f := newFixture(t)
	uid := f.newUser("rev@example.com")
	s := f.signIn("rev@example.com", goodPassword)
	keep := f.signIn("rev@example.com", goodPassword)
	res := f.do(f.staging, "POST", "/user_management/sessions/revoke", obj{"session_id": s.sid()})
	if res.status != 200 || res.raw != "" {
		t.Fatalf("revoke = %d %q", res.status, res.raw)
	}
	f.oauthFailed(f.refresh(f.staging, s.refresh), "invalid_grant")
	if f.sessionStatus(uid, s.sid()) != "revoked" || f.sessionStatus(uid, keep.sid()) != "active" {
		t.Fatal("wrong sessions revoked")
	}
	f.refreshed(f.staging, keep.refresh)
	// Revoking again is fine and writes nothing.
	f.unchanged(f.staging, "POST", "/user_management/sessions/revoke", obj{"session_id": s.sid()}, 200)
	f.rejected(f.staging, "POST", "/user_management/sessions/revoke", obj{"session_id": unknownSess}, 404, "")
	f.rejected(f.staging, "POST", "/user_management/sessions/revoke", obj{"session_id": "nope"}, 404, "")
	f.rejected(f.staging, "POST", "/user_management/sessions/revoke", obj{}, 422, "invalid_request_parameters")
	f.rejected(f.staging, "POST", "/user_management/sessions/revoke", obj{"session_id": 5}, 422, "invalid_request_parameters")
}

func TestLogout(t *testing.T) {
	f := newFixture(t)
	uid := f.newUser("out@example.com")
	logout := func(sid, returnTo string) *httptest.ResponseRecorder {
		q := url.Values{}
		if sid != "" {
			q.Set("session_id", sid)
		}
		if returnTo != "" {
			q.Set("return_to", returnTo)
		}
		return f.raw("", "GET", "/user_management/sessions/logout?"+q.Encode())
	}
	jsonErr := func(w *httptest.ResponseRecorder, status int) obj {
		t.Helper()
		var b obj
		if w.Code != status || json.Unmarshal(w.Body.Bytes(), &b) != nil || b["message"] == nil {
			t.Fatalf("logout = %d %q, want %d with a JSON message", w.Code, w.Body.String(), status)
		}
		return b
	}

	// A return_to that is not allowed: 422, and the session is NOT revoked.
	s := f.signIn("out@example.com", goodPassword)
	for _, bad := range []string{"https://evil.example", "https://app.example.com/signed-out/../x", "https://app.example.com/signed-outx",
		"https://app.example.com.evil.example/signed-out", "//evil.example", "javascript:alert(1)", "HTTPS://APP.EXAMPLE.COM/signed-out"} {
		before := f.feedLen()
		w := logout(s.sid(), bad)
		if b := jsonErr(w, 422); b["code"] == nil || w.Header().Get("Location") != "" {
			t.Fatalf("return_to %q = %v", bad, b)
		}
		if f.feedLen() != before || f.sessionStatus(uid, s.sid()) != "active" {
			t.Fatalf("return_to %q revoked the session", bad)
		}
	}
	f.refreshed(f.staging, s.refresh)

	// An allowed return_to: 302 there, and the session is revoked.
	w := logout(s.sid(), "http://localhost:3000")
	if w.Code != 302 || w.Header().Get("Location") != "http://localhost:3000" {
		t.Fatalf("logout = %d Location %q", w.Code, w.Header().Get("Location"))
	}
	if f.sessionStatus(uid, s.sid()) != "revoked" {
		t.Fatal("logout did not revoke the session")
	}
	// Logging out again still redirects.
	if w := logout(s.sid(), "https://app.example.com/signed-out"); w.Code != 302 || w.Header().Get("Location") != "https://app.example.com/signed-out" {
		t.Fatalf("second logout = %d %q", w.Code, w.Header().Get("Location"))
	}
	// Without return_to: the first allowed URL.
	s2 := f.signIn("out@example.com", goodPassword)
	if w := logout(s2.sid(), ""); w.Code != 302 || w.Header().Get("Location") != testLogoutURLs[0] {
		t.Fatalf("logout without return_to = %d %q", w.Code, w.Header().Get("Location"))
	}
	f.oauthFailed(f.refresh(f.staging, s2.refresh), "invalid_grant")

	// Unknown sessions.
	jsonErr(logout(unknownSess, "http://localhost:3000"), 404)
	jsonErr(logout("nope", "http://localhost:3000"), 404)
	jsonErr(logout("", "http://localhost:3000"), 404)
	jsonErr(logout(unknownSess, "https://evil.example"), 404)

	// A production session logs out too, without any key.
	f.createUser(f.production, obj{"email": "out@example.com", "password": goodPassword, "email_verified": true})
	p := f.authedIn(f.prodEnv, f.auth(f.production, obj{"grant_type": "password", "email": "out@example.com", "password": goodPassword}))
	if w := logout(p.sid(), "http://localhost:3000"); w.Code != 302 {
		t.Fatalf("production logout = %d", w.Code)
	}
	f.oauthFailed(f.refresh(f.production, p.refresh), "invalid_grant")
}

// ---------------------------------------------------------------------------
// JWKS

func jwtParts(t *testing.T, token string) (header, payload obj) {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", token)
	}
	for i, dst := range []*obj{&header, &payload} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil || json.Unmarshal(b, dst) != nil {
			t.Fatalf("JWT part %d: %v", i, err)
		}
	}
	return header, payload
}

func (f *fixture) jwks(clientID string) *httptest.ResponseRecorder {
	return f.raw("", "GET", "/sso/jwks/"+clientID)
}

func TestJWKS(t *testing.T) {
	f := newFixture(t)
	f.newUser("jwks@example.com")
	s := f.signIn("jwks@example.com", goodPassword)

	w := f.jwks(f.stagingClient)
	if w.Code != 200 || !strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") {
		t.Fatalf("JWKS = %d %s %q", w.Code, w.Header().Get("Content-Type"), w.Body.String())
	}
	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &set); err != nil || len(set.Keys) == 0 {
		t.Fatalf("JWKS body %q: %v", w.Body.String(), err)
	}
	pubs := map[string]*rsa.PublicKey{}
	for _, k := range set.Keys {
		if k["alg"] != "RS256" || k["kty"] != "RSA" || k["use"] != "sig" || k["kid"] == "" || k["n"] == "" || k["e"] == "" {
			t.Fatalf("JWK %v", k)
		}
		for _, private := range []string{"d", "p", "q", "dp", "dq", "qi"} {
			if _, ok := k[private]; ok {
				t.Fatalf("the JWKS publishes %s", private)
			}
		}
		n, err1 := base64.RawURLEncoding.DecodeString(k["n"])
		e, err2 := base64.RawURLEncoding.DecodeString(k["e"])
		if err1 != nil || err2 != nil {
			t.Fatalf("JWK encoding: %v %v", err1, err2)
		}
		pubs[k["kid"]] = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
	}
	// Production has keys of its own: a staging token does not verify there.
	p := f.jwks(f.prodClient)
	var prodSet struct {
		Keys []map[string]string `json:"keys"`
	}
	if p.Code != 200 || json.Unmarshal(p.Body.Bytes(), &prodSet) != nil || len(prodSet.Keys) == 0 {
		t.Fatalf("production JWKS = %d %s", p.Code, p.Body.String())
	}
	for _, k := range prodSet.Keys {
		if _, ok := pubs[k["kid"]]; ok {
			t.Fatalf("staging and production share key %s", k["kid"])
		}
	}
	if _, err := f.signer.Verify(context.Background(), f.prodEnv, s.access, testIssuer); err == nil {
		t.Fatal("a staging token verifies with production's keys")
	}
	// A token verifies with a key rebuilt from the JWKS alone.
	keyOf := func(tok *jwt.Token) (any, error) {
		kid, _ := tok.Header["kid"].(string)
		if pub, ok := pubs[kid]; ok {
			return pub, nil
		}
		return nil, fmt.Errorf("unknown kid %q", kid)
	}
	parser := jwt.NewParser(jwt.WithValidMethods([]string{"RS256"}), jwt.WithTimeFunc(f.clock.Now), jwt.WithExpirationRequired(), jwt.WithIssuer(testIssuer))
	claims := jwt.MapClaims{}
	if _, err := parser.ParseWithClaims(s.access, claims, keyOf); err != nil {
		t.Fatalf("the access token does not verify with the JWKS: %v", err)
	}
	if claims["sub"] != s.claims.Subject || claims["sid"] != s.sid() {
		t.Fatalf("claims %v", claims)
	}
	// It expires after 5 minutes (jose enforces exp).
	f.clock.Advance(5*time.Minute + time.Second)
	if _, err := parser.Parse(s.access, keyOf); err == nil {
		t.Fatal("an expired token verifies")
	}

	// Forgeries do not verify: alg none, HS256 keyed with the public key, a tampered payload.
	header, payload := jwtParts(t, s.access)
	fresh := jwt.MapClaims{}
	for k, v := range payload {
		fresh[k] = v
	}
	fresh["sub"] = "user_01ZZZZZZZZZZZZZZZZZZZZZZZZ"
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, fresh).SignedString(jwt.UnsafeAllowNoneSignatureType)
	pub := pubs[header["kid"].(string)]
	hs := jwt.NewWithClaims(jwt.SigningMethodHS256, fresh)
	hs.Header["kid"] = header["kid"]
	hsTok, _ := hs.SignedString(pub.N.Bytes())
	parts := strings.Split(s.access, ".")
	forged, _ := json.Marshal(fresh)
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString(forged) + "." + parts[2]
	f.clock.Advance(-(5*time.Minute + time.Second))
	for name, tok := range map[string]string{"none": none, "HS256": hsTok, "tampered": tampered} {
		if _, err := f.signer.Verify(context.Background(), f.stagingEnv, tok, testIssuer); err == nil {
			t.Fatalf("%s token verifies with the signer", name)
		}
		if _, err := parser.Parse(tok, keyOf); err == nil {
			t.Fatalf("%s token verifies with the JWKS", name)
		}
	}

	// Unknown client ids are 404 with a JSON body.
	for _, id := range []string{"client_01ZZZZZZZZZZZZZZZZZZZZZZZZ", "nope", f.stagingEnv} {
		w := f.jwks(id)
		var b obj
		if w.Code != 404 || json.Unmarshal(w.Body.Bytes(), &b) != nil || b["message"] == nil {
			t.Fatalf("JWKS of %s = %d %q", id, w.Code, w.Body.String())
		}
	}
	// An API key does not change anything.
	if w := f.raw(f.staging, "GET", "/sso/jwks/"+f.stagingClient); w.Code != 200 {
		t.Fatalf("JWKS with a key = %d", w.Code)
	}
}

// ---------------------------------------------------------------------------
// Tenancy and secrets

func TestSessionTenancy(t *testing.T) {
	f := newFixture(t)
	uid := f.newUser("tenant@example.com")
	s := f.signIn("tenant@example.com", goodPassword)
	f.rejected(f.production, "GET", "/user_management/users/"+uid+"/sessions", nil, 404, "")
	res := f.rejected(f.production, "POST", "/user_management/sessions/revoke", obj{"session_id": s.sid()}, 404, "")
	if strings.Contains(res.raw, uid) {
		t.Fatalf("404 leaks the user: %s", res.raw)
	}
	// A staging refresh token with the production key is not a token at all.
	before, beforeProd := f.feedLen(), f.feedLenOf(f.prodEnv)
	f.oauthFailed(f.refresh(f.production, s.refresh), "invalid_grant")
	// ...nor with the staging key and the production client id.
	f.oauthFailed(f.auth(f.staging, obj{"grant_type": "refresh_token", "refresh_token": s.refresh, "client_id": f.prodClient}), "invalid_client")
	if f.feedLen() != before || f.feedLenOf(f.prodEnv) != beforeProd {
		t.Fatal("a cross-environment refresh wrote events")
	}
	if f.sessionStatus(uid, s.sid()) != "active" {
		t.Fatal("the staging session changed")
	}
	f.refreshed(f.staging, s.refresh)
	// Staging users cannot sign in with the production key.
	if res := f.auth(f.production, obj{"grant_type": "password", "email": "tenant@example.com", "password": goodPassword}); res.status != 400 || res.body["code"] != "invalid_credentials" {
		t.Fatalf("cross-environment sign-in = %d %s", res.status, res.raw)
	}
}

func TestEventsNeverHoldPasswordsOrTokens(t *testing.T) {
	f := newFixture(t)
	org := f.createOrg(obj{"name": "Acme"})["id"].(string)
	uid := f.newUser("secret@example.com")
	f.createMembership(obj{"user_id": uid, "organization_id": org})
	secrets := []string{goodPassword, wrongPassword}
	remember := func(s signedIn) signedIn {
		secrets = append(secrets, s.refresh, s.access, strings.Split(s.access, ".")[2])
		return s
	}
	s := remember(f.signIn("secret@example.com", goodPassword))
	f.password("secret@example.com", wrongPassword)
	f.password("nobody@example.com", wrongPassword)
	s2 := remember(f.refreshed(f.staging, s.refresh))
	f.refresh(f.staging, s.refresh) // in the grace window
	f.clock.Advance(time.Minute)
	f.refresh(f.staging, s.refresh) // revokes
	s3 := remember(f.signIn("secret@example.com", goodPassword))
	remember(f.refreshed(f.staging, s3.refresh))
	f.must(f.staging, "POST", "/user_management/sessions/revoke", obj{"session_id": s3.sid()}, 200)
	_ = s2
	f.must(f.staging, "DELETE", "/user_management/users/"+uid, nil, 200)
	n := 0
	for _, env := range []string{f.stagingEnv, f.prodEnv, environment.System} {
		for _, e := range f.feed(env) {
			n++
			b, _ := json.Marshal(e)
			for _, sec := range secrets {
				if strings.Contains(string(b), sec) {
					t.Fatalf("event %s holds a secret %.12q…: %s", e.Type, sec, b)
				}
			}
		}
	}
	// Nor does any read model.
	for _, env := range []string{f.stagingEnv, f.prodEnv, environment.System} {
		err := f.store.ScanItems(context.Background(), env, func(it events.Item) error {
			for _, sec := range secrets {
				if strings.Contains(string(it.Data), sec) || strings.Contains(it.ID, sec) {
					return fmt.Errorf("item %s/%s holds a secret", it.Collection, it.ID)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// And GET /events shows sessions as the API does, without internals.
	sessionEvents := 0
	for _, e := range f.listData(f.staging, "/events?limit=100") {
		typ := e["event"].(string)
		switch {
		case typ == "session.created" || typ == "session.revoked":
			sessionEvents++
			data := e["data"].(map[string]any)
			if data["object"] != "session" || data["refresh_hash"] != nil || data["refresh_token"] != nil {
				t.Fatalf("%s data is not the session object: %v", typ, data)
			}
		case strings.HasPrefix(typ, "session.") || strings.HasPrefix(typ, "throttle.") || strings.HasPrefix(typ, "one_time_code.") ||
			strings.HasPrefix(typ, "pending_authentication."):
			t.Fatalf("GET /events shows %v", typ)
		}
	}
	if sessionEvents == 0 {
		t.Fatal("GET /events shows no session.created")
	}
	if n == 0 {
		t.Fatal("no events")
	}
}

// Rebuilding the read models keeps sessions and every refresh token: the
// log projects what the live writes left behind.
func TestRebuildKeepsSessions(t *testing.T) {
	f := newFixture(t)
	uid := f.newUser("rebuild@example.com")
	s := f.signIn("rebuild@example.com", goodPassword)
	s2 := f.refreshed(f.staging, s.refresh)
	old := f.signIn("rebuild@example.com", goodPassword)
	f.must(f.staging, "POST", "/user_management/sessions/revoke", obj{"session_id": old.sid()}, 200)
	f.password("rebuild@example.com", wrongPassword)
	stats, err := f.app.RebuildAll(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range stats {
		if st.Written != 0 || st.Deleted != 0 {
			t.Fatalf("rebuild changed the read models: %+v", stats)
		}
	}
	// Refreshes, replay detection and the list work as before.
	s3 := f.refreshed(f.staging, s2.refresh)
	f.clock.Advance(time.Minute)
	f.oauthFailed(f.refresh(f.staging, s.refresh), "invalid_grant")
	f.oauthFailed(f.refresh(f.staging, s3.refresh), "invalid_grant")
	if f.sessionStatus(uid, s.sid()) != "revoked" || f.sessionStatus(uid, old.sid()) != "revoked" {
		t.Fatal("statuses after rebuild")
	}
	if _, err := f.app.Rebuild(context.Background(), f.stagingEnv); err != nil {
		t.Fatal(err)
	}
}
