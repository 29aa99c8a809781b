package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keywayhq/keyway/api"
	"github.com/keywayhq/keyway/app"
	"github.com/keywayhq/keyway/domain/password"
	"github.com/keywayhq/keyway/events"
	"github.com/keywayhq/keyway/events/eventstest"
	"github.com/keywayhq/keyway/events/memstore"
	"github.com/keywayhq/keyway/infra/boot"
)

// fixture is one Keyway with a staging and a production environment.
type fixture struct {
	t          *testing.T
	store      events.Store
	srv        http.Handler
	staging    string // API keys
	production string
	stagingEnv string // environment ids
	prodEnv    string
	clock      *eventstest.Clock
	app        *app.App
	signer     *boot.RingSigner // signs access tokens, over the unwrapped store
	// client ids of the environments
	stagingClient string
	prodClient    string
}

// fixtureOptions change how a fixture is built; the zero value is newFixture's.
type fixtureOptions struct {
	wrap       func(events.Store) events.Store // wraps the store the API uses
	dns        app.TXTResolver                 // domain verification
	sessions   app.SessionConfig               // zero fields take app's defaults; the issuer defaults to testIssuer
	logoutURLs []string                        // default: testLogoutURLs
	mailer     app.Mailer                      // codes and links; nil: none
}

// The fixture's session settings.
const testIssuer = "https://auth.keyway.test"

var (
	testLogoutURLs = []string{"https://app.example.com/signed-out", "http://localhost:3000"}
	testKEK        = bytes.Repeat([]byte{0x4b}, 32)
)

func newFixture(t *testing.T) *fixture { return newFixtureWith(t, fixtureOptions{}) }

func newFixtureOn(t *testing.T, wrap func(events.Store) events.Store) *fixture {
	return newFixtureWith(t, fixtureOptions{wrap: wrap})
}

func newFixtureWith(t *testing.T, o fixtureOptions) *fixture {
	t.Helper()
	clock := eventstest.NewClock(time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC))
	var store events.Store = memstore.New(clock.Now)
	if o.sessions.Issuer == "" {
		o.sessions.Issuer = testIssuer
	}
	if o.logoutURLs == nil {
		o.logoutURLs = testLogoutURLs
	}
	signer := boot.NewRingSigner(store, func() ([]byte, error) { return testKEK, nil }, clock.Now)
	cfg := app.Config{Store: store, Now: clock.Now, DNS: o.dns, Password: password.Params{MemoryKiB: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32},
		Signer: signer, Sessions: o.sessions, LogoutURLs: o.logoutURLs, Mailer: o.mailer,
		CodeKey: func() ([]byte, error) { return testKEK, nil }}
	a := app.New(cfg)
	f := &fixture{t: t, store: store, clock: clock, signer: signer}
	ctx := context.Background()
	st, err := a.EnsureEnvironment(ctx, app.EnsureEnvironmentInput{Name: "staging", Type: "staging"})
	if err != nil {
		t.Fatal(err)
	}
	pr, err := a.CreateEnvironment(ctx, app.EnsureEnvironmentInput{Name: "production", Type: "production"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(st.Key, "sk_test_") || !strings.HasPrefix(pr.Key, "sk_live_") {
		t.Fatalf("keys %q %q", st.Key, pr.Key)
	}
	f.staging, f.production, f.stagingEnv, f.prodEnv = st.Key, pr.Key, st.Environment.ID, pr.Environment.ID
	f.stagingClient, f.prodClient = st.Environment.ClientID, pr.Environment.ClientID
	if o.wrap != nil {
		cfg.Store = o.wrap(store)
		a = app.New(cfg)
	}
	f.app, f.srv = a, api.New(a, nil, clock.Now)
	return f
}

type response struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (f *fixture) do(key, method, path string, body any, headers ...string) response {
	f.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	r := httptest.NewRequest(method, path, rd)
	r.Header.Set("Content-Type", "application/json")
	if key != "" {
		r.Header.Set("Authorization", "Bearer "+key)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Set(headers[i], headers[i+1])
	}
	w := httptest.NewRecorder()
	f.srv.ServeHTTP(w, r)
	res := response{status: w.Code, header: w.Header(), raw: w.Body.String()}
	if w.Body.Len() > 0 {
		if err := json.Unmarshal(w.Body.Bytes(), &res.body); err != nil {
			f.t.Fatalf("%s %s: body is not a JSON object: %q", method, path, w.Body.String())
		}
	}
	if res.header.Get("X-Request-ID") == "" {
		f.t.Fatalf("%s %s: no X-Request-ID", method, path)
	}
	return res
}

func (f *fixture) createUser(key string, body map[string]any) map[string]any {
	f.t.Helper()
	res := f.do(key, "POST", "/user_management/users", body)
	if res.status != 201 {
		f.t.Fatalf("create user: %d %s", res.status, res.raw)
	}
	return res.body
}

// feedLen counts the events of the staging environment.
func (f *fixture) feedLen() int {
	f.t.Helper()
	return f.feedLenOf(f.stagingEnv)
}

// feedLenOf counts the events of one environment.
func (f *fixture) feedLenOf(env string) int {
	f.t.Helper()
	evs, err := f.store.Feed(context.Background(), events.FeedQuery{Environment: env, Limit: 10000})
	if err != nil {
		f.t.Fatal(err)
	}
	return len(evs)
}

func TestCreateAndGetUser(t *testing.T) {
	f := newFixture(t)
	u := f.createUser(f.staging, map[string]any{"email": "  Alice@EXAMPLE.com ", "first_name": "Alice", "last_name": "Liddell",
		"email_verified": true, "external_id": "ext-1", "metadata": map[string]string{"plan": "pro"}, "password": "correct horse battery staple"})
	id, _ := u["id"].(string)
	if !app.ValidID(id, "user") || u["object"] != "user" || u["email"] != "alice@example.com" || u["email_verified"] != true ||
		u["first_name"] != "Alice" || u["external_id"] != "ext-1" || u["created_at"] != "2026-03-04T05:06:07.000Z" {
		t.Fatalf("created user = %v", u)
	}
	for _, k := range []string{"name", "profile_picture_url", "last_sign_in_at", "locale"} {
		if v, ok := u[k]; !ok || v != nil {
			t.Errorf("%s = %v, want null", k, v)
		}
	}
	if _, leaked := u["password"]; leaked {
		t.Fatal("password in response")
	}
	for path, want := range map[string]int{
		"/user_management/users/" + id:                           200,
		"/user_management/users/external_id/ext-1":               200,
		"/user_management/users/external_id/nope":                404,
		"/user_management/users/user_01ZZZZZZZZZZZZZZZZZZZZZZZZ": 404,
		"/user_management/users/not-an-id":                       404,
	} {
		res := f.do(f.staging, "GET", path, nil)
		if res.status != want {
			t.Errorf("GET %s = %d %s, want %d", path, res.status, res.raw, want)
		}
		if want == 200 && res.body["id"] != id {
			t.Errorf("GET %s = %v", path, res.body)
		}
		if want == 404 && res.body["message"] == "" {
			t.Errorf("GET %s: 404 without message: %s", path, res.raw)
		}
	}
}

func TestPasswordsAreHashedWithArgon2idAndNeverStoredInClear(t *testing.T) {
	f := newFixture(t)
	const pw = "a very particular secret"
	f.createUser(f.staging, map[string]any{"email": "p@example.com", "password": pw})
	const bcryptHash = "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"
	f.createUser(f.staging, map[string]any{"email": "b@example.com", "password_hash": bcryptHash, "password_hash_type": "bcrypt"})
	evs, _ := f.store.Feed(context.Background(), events.FeedQuery{Environment: f.stagingEnv, Limit: 100})
	var hashes []password.Hash
	for _, e := range evs {
		if strings.Contains(string(e.Data), pw) {
			t.Fatalf("event %s holds the clear-text password", e.Type)
		}
		if e.Type == "user.password_set" {
			var ps struct{ Hash password.Hash }
			_ = json.Unmarshal(e.Data, &ps)
			hashes = append(hashes, ps.Hash)
		}
	}
	if len(hashes) != 2 || hashes[0].Type != "argon2id" || !strings.HasPrefix(hashes[0].Hash, "$argon2id$v=19$m=") ||
		!password.Verify(hashes[0], pw) || hashes[1].Type != "bcrypt" || hashes[1].Hash != bcryptHash {
		t.Fatalf("stored hashes = %+v", hashes)
	}
}

func TestBadInputIsA4xxAndWritesNothing(t *testing.T) {
	f := newFixture(t)
	f.createUser(f.staging, map[string]any{"email": "taken@example.com", "external_id": "taken"})
	before := f.feedLen()
	many := map[string]string{}
	for i := range 11 {
		many[fmt.Sprint("k", i)] = "v"
	}
	cases := []struct {
		name   string
		body   any
		status int
		code   string
		field  string
	}{
		{"malformed JSON", `{"email":`, 400, "invalid_json", ""},
		{"not an object", `["a@b.co"]`, 422, "invalid_request_parameters", ""},
		{"wrong type", map[string]any{"email": "x@example.com", "first_name": 7}, 422, "invalid_request_parameters", "first_name"},
		{"wrong type of email", map[string]any{"email": true}, 422, "invalid_request_parameters", "email"},
		{"wrong type of metadata", map[string]any{"email": "x@example.com", "metadata": "x"}, 422, "invalid_request_parameters", "metadata"},
		{"missing email", map[string]any{"first_name": "x"}, 422, "invalid_request_parameters", "email"},
		{"bad email", map[string]any{"email": "not an email"}, 422, "invalid_request_parameters", "email"},
		{"email without domain dot", map[string]any{"email": "a@localhost"}, 422, "invalid_request_parameters", "email"},
		{"display-name email", map[string]any{"email": "Al <al@example.com>"}, 422, "invalid_request_parameters", "email"},
		{"duplicate email", map[string]any{"email": "TAKEN@example.com"}, 422, "user_creation_error", "email"},
		{"duplicate external id", map[string]any{"email": "new@example.com", "external_id": "taken"}, 422, "user_creation_error", "external_id"},
		{"weak password", map[string]any{"email": "x@example.com", "password": "password123"}, 400, "password_strength_error", ""},
		{"short password", map[string]any{"email": "x@example.com", "password": "s3cr3t"}, 400, "password_strength_error", ""},
		{"password and hash", map[string]any{"email": "x@example.com", "password": "long enough pass", "password_hash": "$2a$10$x", "password_hash_type": "bcrypt"}, 422, "invalid_request_parameters", "password"},
		{"bad bcrypt hash", map[string]any{"email": "x@example.com", "password_hash": "nope", "password_hash_type": "bcrypt"}, 422, "invalid_request_parameters", "password_hash"},
		{"unsupported hash type", map[string]any{"email": "x@example.com", "password_hash": "x", "password_hash_type": "md5"}, 422, "invalid_request_parameters", "password_hash"},
		{"too many metadata keys", map[string]any{"email": "x@example.com", "metadata": many}, 422, "invalid_request_parameters", "metadata"},
		{"long metadata key", map[string]any{"email": "x@example.com", "metadata": map[string]string{strings.Repeat("k", 41): "v"}}, 422, "invalid_request_parameters", "metadata"},
		{"external id with spaces", map[string]any{"email": "x@example.com", "external_id": "a b"}, 422, "invalid_request_parameters", "external_id"},
		{"control characters in name", map[string]any{"email": "x@example.com", "first_name": "a\x00b"}, 422, "invalid_request_parameters", "first_name"},
		{"oversized body", `{"email":"x@example.com","name":"` + strings.Repeat("a", api.MaxBodyBytes) + `"}`, 413, "request_too_large", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := f.do(f.staging, "POST", "/user_management/users", c.body)
			if res.status != c.status || res.body["code"] != c.code || res.body["message"] == "" {
				t.Fatalf("got %d %s; want %d %s", res.status, res.raw, c.status, c.code)
			}
			if c.field != "" {
				errs, _ := res.body["errors"].([]any)
				if len(errs) == 0 || errs[0].(map[string]any)["field"] != c.field {
					t.Fatalf("errors = %v, want field %s", res.body["errors"], c.field)
				}
			}
			if got := f.feedLen(); got != before {
				t.Fatalf("a rejected request wrote %d events", got-before)
			}
		})
	}
	list := f.do(f.staging, "GET", "/user_management/users?limit=100", nil)
	if n := len(list.body["data"].([]any)); n != 1 {
		t.Fatalf("%d users after rejected requests, want 1", n)
	}
}

func TestUpdateUser(t *testing.T) {
	f := newFixture(t)
	u := f.createUser(f.staging, map[string]any{"email": "old@example.com", "first_name": "A", "email_verified": true,
		"metadata": map[string]string{"keep": "1", "drop": "2"}})
	id := u["id"].(string)
	f.clock.Advance(time.Minute)
	res := f.do(f.staging, "PUT", "/user_management/users/"+id, map[string]any{"email": "New@Example.com", "first_name": nil,
		"last_name": "B", "metadata": map[string]any{"drop": nil, "add": "3"}, "locale": "en-GB"})
	b := res.body
	if res.status != 200 || b["email"] != "new@example.com" || b["email_verified"] != false || b["first_name"] != nil ||
		b["last_name"] != "B" || b["locale"] != "en-GB" || b["updated_at"] != "2026-03-04T05:07:07.000Z" || b["created_at"] != u["created_at"] {
		t.Fatalf("update = %d %s", res.status, res.raw)
	}
	md := b["metadata"].(map[string]any)
	if len(md) != 2 || md["keep"] != "1" || md["add"] != "3" {
		t.Fatalf("metadata = %v", md)
	}
	// The old email is free again; the new one is taken.
	f.createUser(f.staging, map[string]any{"email": "old@example.com"})
	other := f.createUser(f.staging, map[string]any{"email": "other@example.com"})
	before := f.feedLen()
	res = f.do(f.staging, "PUT", "/user_management/users/"+other["id"].(string), map[string]any{"email": "new@example.com"})
	if res.status != 400 || res.body["code"] != "email_not_available" {
		t.Fatalf("update to a taken email = %d %s", res.status, res.raw)
	}
	for _, body := range []any{map[string]any{"email": nil}, map[string]any{"email_verified": "yes"}, map[string]any{"metadata": map[string]any{"k": 1}}, `{`} {
		if res := f.do(f.staging, "PUT", "/user_management/users/"+id, body); res.status/100 != 4 {
			t.Fatalf("PUT %v = %d %s", body, res.status, res.raw)
		}
	}
	if f.feedLen() != before {
		t.Fatal("rejected updates wrote events")
	}
	if res := f.do(f.staging, "PUT", "/user_management/users/user_01ZZZZZZZZZZZZZZZZZZZZZZZZ", map[string]any{"first_name": "x"}); res.status != 404 {
		t.Fatalf("update of unknown user = %d", res.status)
	}
	// An update that changes nothing writes nothing.
	if res := f.do(f.staging, "PUT", "/user_management/users/"+id, map[string]any{"last_name": "B"}); res.status != 200 || f.feedLen() != before {
		t.Fatalf("no-op update: %d, %d new events", res.status, f.feedLen()-before)
	}
}

func TestDeleteUserFreesItsEmail(t *testing.T) {
	f := newFixture(t)
	u := f.createUser(f.staging, map[string]any{"email": "gone@example.com", "external_id": "gone"})
	id := u["id"].(string)
	if res := f.do(f.staging, "DELETE", "/user_management/users/"+id, nil); res.status != 200 || res.raw != "" {
		t.Fatalf("delete = %d %q", res.status, res.raw)
	}
	for _, p := range []string{"/user_management/users/" + id, "/user_management/users/external_id/gone"} {
		if res := f.do(f.staging, "GET", p, nil); res.status != 404 {
			t.Fatalf("GET %s after delete = %d", p, res.status)
		}
	}
	if res := f.do(f.staging, "DELETE", "/user_management/users/"+id, nil); res.status != 404 {
		t.Fatalf("second delete = %d", res.status)
	}
	again := f.createUser(f.staging, map[string]any{"email": "gone@example.com", "external_id": "gone"})
	if again["id"] == id {
		t.Fatal("recreated user reused the id")
	}
}

func TestListUsersPagination(t *testing.T) {
	f := newFixture(t)
	var ids []string
	for i := range 25 {
		u := f.createUser(f.staging, map[string]any{"email": fmt.Sprintf("u%02d@example.com", i)})
		ids = append(ids, u["id"].(string))
		f.clock.Advance(time.Millisecond)
	}
	page := func(q string) (got []string, before, after any) {
		t.Helper()
		res := f.do(f.staging, "GET", "/user_management/users?"+q, nil)
		if res.status != 200 || res.body["object"] != "list" {
			t.Fatalf("list %s = %d %s", q, res.status, res.raw)
		}
		for _, d := range res.body["data"].([]any) {
			got = append(got, d.(map[string]any)["id"].(string))
		}
		md := res.body["list_metadata"].(map[string]any)
		return got, md["before"], md["after"]
	}
	rev := func(s []string) []string {
		out := append([]string(nil), s...)
		for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
			out[i], out[j] = out[j], out[i]
		}
		return out
	}
	eq := func(name string, got, want []string) {
		t.Helper()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("%s: got %v, want %v", name, got, want)
		}
	}
	desc := rev(ids)
	got, before, after := page("")
	eq("default page", got, desc[:10])
	if before != nil || after != desc[9] {
		t.Fatalf("first page metadata before=%v after=%v", before, after)
	}
	got, before, after = page("after=" + desc[9])
	eq("second page", got, desc[10:20])
	if before != desc[10] || after != desc[19] {
		t.Fatalf("second page metadata before=%v after=%v", before, after)
	}
	got, _, after = page("after=" + desc[19])
	eq("last page", got, desc[20:])
	if after != nil {
		t.Fatalf("last page after=%v", after)
	}
	got, before, after = page("before=" + desc[20])
	eq("back from last page", got, desc[10:20])
	if before != desc[10] || after != desc[19] {
		t.Fatalf("before page metadata before=%v after=%v", before, after)
	}
	got, _, _ = page("order=asc&limit=5")
	eq("ascending", got, ids[:5])
	got, _, _ = page("order=asc&limit=100&after=" + ids[22])
	eq("ascending after", got, ids[23:])
	got, _, _ = page("email=U07@EXAMPLE.com")
	eq("email filter", got, ids[7:8])
	got, _, _ = page("email=nobody@example.com")
	eq("email filter, no match", got, nil)
	for _, q := range []string{"limit=0", "limit=101", "limit=x", "order=up", "after=org_01ZZZZZZZZZZZZZZZZZZZZZZZZ", "after=" + ids[0] + "&before=" + ids[1]} {
		if res := f.do(f.staging, "GET", "/user_management/users?"+q, nil); res.status != 422 || res.body["code"] != "invalid_request_parameters" {
			t.Errorf("list %s = %d %s, want 422", q, res.status, res.raw)
		}
	}
}

func TestEnvironmentsAreIsolated(t *testing.T) {
	f := newFixture(t)
	u := f.createUser(f.staging, map[string]any{"email": "shared@example.com", "external_id": "ext"})
	id := u["id"].(string)
	before := f.feedLen()
	probes := []struct{ method, path string }{
		{"GET", "/user_management/users/" + id},
		{"GET", "/user_management/users/external_id/ext"},
		{"PUT", "/user_management/users/" + id},
		{"DELETE", "/user_management/users/" + id},
	}
	for _, p := range probes {
		if res := f.do(f.production, p.method, p.path, map[string]any{"first_name": "Mallory"}); res.status != 404 {
			t.Errorf("production %s %s = %d %s, want 404", p.method, p.path, res.status, res.raw)
		}
	}
	list := f.do(f.production, "GET", "/user_management/users?email=shared@example.com", nil)
	if n := len(list.body["data"].([]any)); n != 0 {
		t.Fatalf("production lists %d staging users", n)
	}
	if f.feedLen() != before {
		t.Fatal("production probes wrote to staging")
	}
	// The same email and external id are free in production.
	p := f.createUser(f.production, map[string]any{"email": "shared@example.com", "external_id": "ext"})
	if res := f.do(f.staging, "GET", "/user_management/users/"+p["id"].(string), nil); res.status != 404 {
		t.Fatalf("staging reads a production user: %d", res.status)
	}
	if res := f.do(f.staging, "GET", "/user_management/users/"+id, nil); res.body["first_name"] != nil {
		t.Fatalf("staging user changed: %v", res.body)
	}
}

func TestAuthentication(t *testing.T) {
	f := newFixture(t)
	for _, key := range []string{"", "sk_test_unknown", strings.Repeat("x", 500)} {
		res := f.do(key, "GET", "/user_management/users", nil)
		if res.status != 401 || res.body["message"] == "" || !strings.HasPrefix(res.header.Get("Content-Type"), "application/json") {
			t.Errorf("key %.20q: %d %s", key, res.status, res.raw)
		}
	}
	if res := f.do("", "GET", "/health", nil); res.status != 200 {
		t.Fatalf("health = %d", res.status)
	}
	if res := f.do(f.staging, "GET", "/nope", nil); res.status != 404 || res.body["message"] == "" {
		t.Fatalf("unknown route = %d %s", res.status, res.raw)
	}
}

func TestIdempotencyKey(t *testing.T) {
	f := newFixture(t)
	body := map[string]any{"email": "idem@example.com"}
	first := f.do(f.staging, "POST", "/user_management/users", body, "Idempotency-Key", "retry-1")
	again := f.do(f.staging, "POST", "/user_management/users", body, "Idempotency-Key", "retry-1")
	if first.status != 201 || again.status != 201 || first.raw != again.raw || again.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay: %d %s / %d %s", first.status, first.raw, again.status, again.raw)
	}
	before := f.feedLen()
	other := f.do(f.staging, "POST", "/user_management/users", map[string]any{"email": "other@example.com"}, "Idempotency-Key", "retry-1")
	if other.status != 400 || other.body["code"] != "idempotency_key_reused" || f.feedLen() != before {
		t.Fatalf("reuse with another body: %d %s", other.status, other.raw)
	}
	// Keys are per environment.
	if res := f.do(f.production, "POST", "/user_management/users", body, "Idempotency-Key", "retry-1"); res.status != 201 || res.body["id"] == first.body["id"] {
		t.Fatalf("production with the same key: %d %s", res.status, res.raw)
	}
	// A remembered response expires after a day.
	f.clock.Advance(25 * time.Hour)
	res := f.do(f.staging, "POST", "/user_management/users", map[string]any{"email": "later@example.com"}, "Idempotency-Key", "retry-1")
	if res.status != 201 {
		t.Fatalf("expired key: %d %s", res.status, res.raw)
	}
}

// barrierStore holds the first n idempotency lookups until all n have
// arrived, so that n requests pass the replay check before any commits.
type barrierStore struct {
	events.Store
	mu      sync.Mutex
	arrived int
	n       int
	all     chan struct{}
}

func (b *barrierStore) Idempotency(ctx context.Context, env, key string) (events.IdempotencyRecord, error) {
	b.mu.Lock()
	b.arrived++
	if b.arrived == b.n {
		close(b.all)
	}
	wait := b.arrived <= b.n
	b.mu.Unlock()
	if wait {
		<-b.all
	}
	return b.Store.Idempotency(ctx, env, key)
}

func TestConcurrentRequestsWithOneIdempotencyKeyCreateOneUser(t *testing.T) {
	const n = 8
	f := newFixtureOn(t, func(s events.Store) events.Store { return &barrierStore{Store: s, n: n, all: make(chan struct{})} })
	var wg sync.WaitGroup
	ids := make([]any, n)
	statuses := make([]int, n)
	replays := 0
	var mu sync.Mutex
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := f.do(f.staging, "POST", "/user_management/users", map[string]any{"email": "race@example.com"}, "Idempotency-Key", "race")
			ids[i], statuses[i] = res.body["id"], res.status
			mu.Lock()
			if res.header.Get("Idempotent-Replayed") == "true" {
				replays++
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	for i := range n {
		if statuses[i] != 201 || ids[i] != ids[0] {
			t.Fatalf("request %d: %d %v (first %v)", i, statuses[i], ids[i], ids[0])
		}
	}
	if replays != n-1 {
		t.Fatalf("%d replays, want %d", replays, n-1)
	}
	if got := len(f.do(f.staging, "GET", "/user_management/users", nil).body["data"].([]any)); got != 1 {
		t.Fatalf("%d users created", got)
	}
}

// panicStore panics on reads, to prove no panic reaches a client.
type panicStore struct{ events.Store }

func (panicStore) Get(context.Context, string, events.ItemKey) (events.Item, error) { panic("boom") }

func TestPanicsBecome500s(t *testing.T) {
	f := newFixtureOn(t, func(s events.Store) events.Store { return panicStore{s} })
	res := f.do(f.staging, "GET", "/user_management/users", nil)
	if res.status != 500 || res.body["request_id"] != res.header.Get("X-Request-ID") {
		t.Fatalf("panic: %d %s", res.status, res.raw)
	}
}
