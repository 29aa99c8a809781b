package api_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/keywayhq/keyway/events"
)

// TestParallelWrongCodesNeverPassTheLimit: each wrong try is appended at
// the code stream's expected version, so 20 simultaneous guesses record
// at most 5 tries, and the code is dead afterwards.
func TestParallelWrongCodesNeverPassTheLimit(t *testing.T) {
	m := &fakeMailer{}
	f := newFixtureWith(t, fixtureOptions{mailer: m})
	res := f.do(f.staging, "POST", "/user_management/magic_auth", map[string]any{"email": "guess@example.com"})
	if res.status != 201 {
		t.Fatalf("magic auth: %d %s", res.status, res.raw)
	}
	m.mu.Lock()
	code := m.codes[len(m.codes)-1].Code
	m.mu.Unlock()
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	grant := func(c string) response {
		return f.do(f.staging, "POST", "/user_management/authenticate", map[string]any{"client_id": f.stagingClient,
			"grant_type": "urn:workos:oauth:grant-type:magic-auth:code", "email": "guess@example.com", "code": c})
	}
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if r := grant(wrong); r.status != 400 || r.body["code"] != "invalid_one_time_code" {
				t.Errorf("wrong code: %d %s", r.status, r.raw)
			}
		}()
	}
	wg.Wait()
	evs, err := f.store.Feed(context.Background(), events.FeedQuery{Environment: f.stagingEnv, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	tries := 0
	for _, e := range evs {
		if e.Type == "one_time_code.failed" {
			tries++
		}
	}
	if tries != 5 {
		t.Fatalf("%d wrong tries recorded, want exactly 5", tries)
	}
	if r := grant(code); r.status != 400 || r.body["code"] != "invalid_one_time_code" {
		t.Fatalf("the right code after 5 wrong tries: %d %s", r.status, r.raw)
	}
}

// TestEventsOfCodesAndLinks: GET /events names issued codes as WorkOS does
// and never shows a code, a token or a hash.
func TestEventsOfCodesAndLinks(t *testing.T) {
	m := &fakeMailer{}
	f := newFixtureWith(t, fixtureOptions{mailer: m})
	f.createUser(f.staging, map[string]any{"email": "ev@example.com", "password": "a long enough passphrase"})
	if r := f.do(f.staging, "POST", "/user_management/magic_auth", map[string]any{"email": "ev@example.com"}); r.status != 201 {
		t.Fatalf("magic auth: %d %s", r.status, r.raw)
	}
	if r := f.do(f.staging, "POST", "/user_management/password_reset", map[string]any{"email": "ev@example.com"}); r.status != 201 {
		t.Fatalf("password reset: %d %s", r.status, r.raw)
	}
	res := f.do(f.staging, "GET", "/events?events=magic_auth.created,password_reset.created", nil)
	data, _ := res.body["data"].([]any)
	if res.status != 200 || len(data) != 2 {
		t.Fatalf("events: %d %s", res.status, res.raw)
	}
	m.mu.Lock()
	code := m.codes[0].Code
	m.mu.Unlock()
	for i, want := range []string{"magic_auth", "password_reset"} {
		e := data[i].(map[string]any)
		d := e["data"].(map[string]any)
		if e["event"] != want+".created" || d["object"] != want || d["code"] != nil || d["password_reset_token"] != nil {
			t.Fatalf("event %d: %v", i, e)
		}
	}
	if strings.Contains(res.raw, code) || strings.Contains(res.raw, "hash") {
		t.Fatalf("GET /events shows a secret: %s", res.raw)
	}
}

// TestAuthenticationEvents: sign-ins are recorded as WorkOS authentication events.
func TestAuthenticationEvents(t *testing.T) {
	f := newFixture(t)
	u := f.createUser(f.staging, map[string]any{"email": "audit@example.com", "password": "a long enough passphrase", "email_verified": true})
	f.password("audit@example.com", "not the password")
	f.signIn("audit@example.com", "a long enough passphrase")
	res := f.do(f.staging, "GET", "/events?events=authentication.password_failed,authentication.password_succeeded", nil)
	data, _ := res.body["data"].([]any)
	if res.status != 200 || len(data) != 2 {
		t.Fatalf("events: %d %s", res.status, res.raw)
	}
	failed, ok := data[0].(map[string]any), data[1].(map[string]any)
	fd, od := failed["data"].(map[string]any), ok["data"].(map[string]any)
	if failed["event"] != "authentication.password_failed" || fd["status"] != "failed" || fd["email"] != "audit@example.com" ||
		fd["error"].(map[string]any)["code"] != "invalid_credentials" || fd["user_id"] != nil {
		t.Fatalf("failed event: %v", failed)
	}
	if ok["event"] != "authentication.password_succeeded" || od["status"] != "succeeded" || od["user_id"] != u["id"] || od["type"] != "password" {
		t.Fatalf("succeeded event: %v", ok)
	}
	if strings.Contains(res.raw, "passphrase") {
		t.Fatal("an event holds the password")
	}
}
