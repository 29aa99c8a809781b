package api_test

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keywayhq/keyway/app"
	"github.com/keywayhq/keyway/events"
)

// fakeMailer captures the codes and links the app sends; fail makes every send fail.
// Its SendInvitation is in api/invitations_test.go.
type fakeMailer struct {
	mu    sync.Mutex
	codes []app.CodeMessage
	links []app.LinkMessage
	fail  bool
}

func (m *fakeMailer) SendCode(_ context.Context, c app.CodeMessage) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.codes = append(m.codes, c)
	if m.fail {
		return errors.New("fake mailer: down")
	}
	return nil
}

func (m *fakeMailer) SendLink(_ context.Context, l app.LinkMessage) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.links = append(m.links, l)
	if m.fail {
		return errors.New("fake mailer: down")
	}
	return nil
}

func (m *fakeMailer) sentLinks() []app.LinkMessage {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]app.LinkMessage(nil), m.links...)
}

const newPassword = "an entirely different passphrase"

func newResetFixture(t *testing.T) (*fixture, *fakeMailer) {
	m := &fakeMailer{}
	return newFixtureWith(t, fixtureOptions{mailer: m}), m
}

// createReset posts a password reset and returns the object and the token
// from the mailed link.
func (f *fixture) createReset(m *fakeMailer, email string) (obj, string) {
	f.t.Helper()
	n := len(m.sentLinks())
	r := f.must(f.staging, "POST", "/user_management/password_reset", obj{"email": email}, 201)
	links := m.sentLinks()
	if len(links) != n+1 {
		f.t.Fatalf("%d links mailed, want 1", len(links)-n)
	}
	u, err := url.Parse(links[n].URL)
	if err != nil {
		f.t.Fatal(err)
	}
	return r, u.Query().Get("token")
}

func (f *fixture) confirmReset(key, token, pw string) response {
	f.t.Helper()
	return f.do(key, "POST", "/user_management/password_reset/confirm", obj{"token": token, "new_password": pw})
}

// resetErrors is the codes of errors[] of a 400 password_reset_error.
func resetErrors(t *testing.T, res response) []string {
	t.Helper()
	if res.status != 400 || res.body["code"] != "password_reset_error" || res.body["message"] == "" {
		t.Fatalf("got %d %s, want 400 password_reset_error", res.status, res.raw)
	}
	list, _ := res.body["errors"].([]any)
	if len(list) == 0 {
		t.Fatalf("no errors[]: %s", res.raw)
	}
	var out []string
	for _, e := range list {
		out = append(out, e.(obj)["code"].(string))
	}
	return out
}

func TestPasswordReset(t *testing.T) {
	f, m := newResetFixture(t)
	alice := f.newUser("alice@example.com")
	s1, s2 := f.signIn("alice@example.com", goodPassword), f.signIn("alice@example.com", goodPassword)
	before := f.feedLen()

	r, token := f.createReset(m, "Alice@Example.com")
	id, _ := r["id"].(string)
	if !app.ValidID(id, "password_reset") || r["object"] != "password_reset" || r["user_id"] != alice || r["email"] != "alice@example.com" ||
		r["created_at"] != t0 || r["expires_at"] != f.clock.Now().Add(time.Hour).UTC().Format("2006-01-02T15:04:05.000Z") {
		t.Fatalf("password_reset = %v", r)
	}
	if _, ok := r["updated_at"]; ok {
		t.Fatal("password_reset has updated_at")
	}
	// The token: at least 128 bits, in the response and the mailed link, which
	// leads to the default reset page.
	link := m.sentLinks()[0]
	if len(token) < 26 || r["password_reset_token"] != token || r["password_reset_url"] != link.URL ||
		link.URL != "http://localhost:3000/reset-password?token="+token || link.To != "alice@example.com" ||
		link.Kind != "password_reset" || link.Expires != time.Hour || link.Environment != f.stagingEnv {
		t.Fatalf("token %q, response %v, link %+v", token, r, link)
	}
	// One attempt on the address's send limit, then the reset.
	if got := f.newEvents(before); strings.Join(got, ",") != "throttle.attempted,password_reset.created" {
		t.Fatalf("events of the create: %v", got)
	}

	// GET shows the reset without its token or URL.
	g := f.must(f.staging, "GET", "/user_management/password_reset/"+id, nil, 200)
	if g["id"] != id || g["user_id"] != alice || g["expires_at"] != r["expires_at"] {
		t.Fatalf("GET = %v", g)
	}
	for _, k := range []string{"password_reset_token", "password_reset_url"} {
		if _, ok := g[k]; ok {
			t.Fatalf("GET shows %s: %v", k, g)
		}
	}
	f.rejected(f.staging, "GET", "/user_management/password_reset/password_reset_01ZZZZZZZZZZZZZZZZZZZZZZZZ", nil, 404, "entity_not_found")
	f.rejected(f.staging, "GET", "/user_management/password_reset/nope", nil, 404, "entity_not_found")

	// Confirm.
	before = f.feedLen()
	res := f.confirmReset(f.staging, token, newPassword)
	if res.status != 200 {
		t.Fatalf("confirm = %d %s", res.status, res.raw)
	}
	if u := res.body["user"].(obj); u["id"] != alice || u["object"] != "user" || u["email_verified"] != true {
		t.Fatalf("confirm user = %v", u)
	}
	got := strings.Join(f.newEvents(before), ",")
	if !strings.HasPrefix(got, "password_reset.succeeded,user.password_set") || strings.Count(got, "session.revoked") != 2 {
		t.Fatalf("events of the confirm: %s", got)
	}

	// The old password fails, the new one works.
	if res := f.password("alice@example.com", goodPassword); res.status != 400 || res.body["code"] != "invalid_credentials" {
		t.Fatalf("old password: %d %s", res.status, res.raw)
	}
	s3 := f.signIn("alice@example.com", newPassword)

	// Every earlier session is revoked and its refresh token is dead; the new one works.
	for _, s := range []signedIn{s1, s2} {
		f.oauthFailed(f.refresh(f.staging, s.refresh), "invalid_grant")
		if st := f.sessionStatus(alice, s.sid()); st != "revoked" {
			t.Fatalf("session %s is %s", s.sid(), st)
		}
	}
	f.refreshed(f.staging, s3.refresh)

	// Single use.
	if codes := resetErrors(t, f.rejected(f.staging, "POST", "/user_management/password_reset/confirm", obj{"token": token, "new_password": "yet another long passphrase"}, 400, "password_reset_error")); codes[0] != "password_reset_token_used" {
		t.Fatalf("second confirm: %v", codes)
	}
	f.signIn("alice@example.com", newPassword)

	// Neither the token nor any password is in any event or read model.
	f.noSecrets(token, goodPassword, newPassword, "yet another long passphrase")

	// The read models are what the log projects.
	if st, err := f.app.Rebuild(context.Background(), f.stagingEnv); err != nil || st.Written != 0 || st.Deleted != 0 {
		t.Fatalf("rebuild changed the read models: %+v %v", st, err)
	}
}

// noSecrets fails if any event or read model of either environment holds one of the strings.
func (f *fixture) noSecrets(secrets ...string) {
	f.t.Helper()
	for _, env := range []string{f.stagingEnv, f.prodEnv} {
		for _, e := range f.feed(env) {
			for _, s := range secrets {
				if strings.Contains(string(e.Data), s) {
					f.t.Fatalf("event %s holds %q: %s", e.Type, s, e.Data)
				}
			}
		}
		items, err := f.app.LiveItems(context.Background(), env)
		if err != nil {
			f.t.Fatal(err)
		}
		for k, it := range items {
			for _, s := range secrets {
				if strings.Contains(string(it.Data), s) || strings.Contains(k.ID, s) {
					f.t.Fatalf("item %v holds %q", k, s)
				}
			}
		}
	}
}

func TestPasswordResetVerifiesEmail(t *testing.T) {
	f, m := newResetFixture(t)
	bob := f.createUser(f.staging, obj{"email": "bob@example.com", "password": goodPassword})["id"].(string)
	_, token := f.createReset(m, "bob@example.com")
	res := f.confirmReset(f.staging, token, newPassword)
	if res.status != 200 || res.body["user"].(obj)["email_verified"] != true {
		t.Fatalf("confirm = %d %s", res.status, res.raw)
	}
	if u := f.must(f.staging, "GET", "/user_management/users/"+bob, nil, 200); u["email_verified"] != true {
		t.Fatalf("user = %v", u)
	}
}

func TestPasswordResetExpires(t *testing.T) {
	f, m := newResetFixture(t)
	f.newUser("alice@example.com")
	r, token := f.createReset(m, "alice@example.com")
	f.clock.Advance(time.Hour + time.Second)
	if codes := resetErrors(t, f.rejected(f.staging, "POST", "/user_management/password_reset/confirm", obj{"token": token, "new_password": newPassword}, 400, "password_reset_error")); codes[0] != "password_reset_token_expired" {
		t.Fatalf("expired confirm: %v", codes)
	}
	f.rejected(f.staging, "GET", "/user_management/password_reset/"+r["id"].(string), nil, 404, "entity_not_found")
	f.signIn("alice@example.com", goodPassword)
	// Long after, the token is simply unknown.
	f.clock.Advance(30 * 24 * time.Hour)
	f.rejected(f.staging, "POST", "/user_management/password_reset/confirm", obj{"token": token, "new_password": newPassword}, 404, "entity_not_found")
}

func TestPasswordResetRefusals(t *testing.T) {
	f, m := newResetFixture(t)
	f.newUser("alice@example.com")
	s := f.signIn("alice@example.com", goodPassword)
	_, token := f.createReset(m, "alice@example.com")
	const confirm = "/user_management/password_reset/confirm"

	// A weak password: 400 with the reasons, nothing written, the token still good.
	res := f.rejected(f.staging, "POST", confirm, obj{"token": token, "new_password": "short"}, 400, "password_reset_error")
	if codes := resetErrors(t, res); codes[0] != "password_too_short" {
		t.Fatalf("weak password: %v", codes)
	}
	resetErrors(t, f.rejected(f.staging, "POST", confirm, obj{"token": token, "new_password": "my alice@example.com password"}, 400, "password_reset_error"))
	f.refreshed(f.staging, s.refresh)

	// Unknown tokens and emails, missing fields.
	f.rejected(f.staging, "POST", confirm, obj{"token": "not-a-token", "new_password": newPassword}, 404, "entity_not_found")
	f.rejected(f.staging, "POST", confirm, obj{"token": "", "new_password": newPassword}, 404, "entity_not_found")
	f.rejected(f.staging, "POST", confirm, obj{"token": strings.Repeat("a", 500), "new_password": newPassword}, 404, "entity_not_found")
	f.rejected(f.staging, "POST", confirm, obj{"new_password": newPassword}, 422, "invalid_request_parameters")
	f.rejected(f.staging, "POST", confirm, obj{"token": token}, 422, "invalid_request_parameters")
	n := len(m.sentLinks())
	f.rejected(f.staging, "POST", "/user_management/password_reset", obj{"email": "nobody@example.com"}, 404, "entity_not_found")
	f.rejected(f.staging, "POST", "/user_management/password_reset", obj{}, 422, "invalid_request_parameters")
	f.rejected(f.staging, "POST", "/user_management/password_reset", obj{"email": "not an email"}, 422, "")
	if len(m.sentLinks()) != n {
		t.Fatal("a refused reset sent mail")
	}

	// The token still works after all that.
	if res := f.confirmReset(f.staging, token, newPassword); res.status != 200 {
		t.Fatalf("confirm = %d %s", res.status, res.raw)
	}
}

func TestPasswordResetTenancy(t *testing.T) {
	f, m := newResetFixture(t)
	f.newUser("alice@example.com")
	r, token := f.createReset(m, "alice@example.com")
	id := r["id"].(string)
	f.rejected(f.production, "GET", "/user_management/password_reset/"+id, nil, 404, "entity_not_found")
	f.rejected(f.production, "POST", "/user_management/password_reset/confirm", obj{"token": token, "new_password": newPassword}, 404, "entity_not_found")
	f.rejected(f.production, "POST", "/user_management/password_reset", obj{"email": "alice@example.com"}, 404, "entity_not_found")
	f.must(f.staging, "GET", "/user_management/password_reset/"+id, nil, 200)
	if res := f.confirmReset(f.staging, token, newPassword); res.status != 200 {
		t.Fatalf("confirm = %d %s", res.status, res.raw)
	}
}

func TestPasswordResetParallelConfirms(t *testing.T) {
	f, m := newResetFixture(t)
	alice := f.newUser("alice@example.com")
	_, token := f.createReset(m, "alice@example.com")
	const n = 12
	out := race(n, func(i int) response {
		return f.confirmReset(f.staging, token, newPassword+strings.Repeat("!", i))
	})
	won := -1
	for i, res := range out {
		switch {
		case res.status == 200 && won < 0:
			won = i
		case res.status == 400 && res.body["code"] == "password_reset_error":
		default:
			t.Fatalf("confirm %d: %d %s (winner %d)", i, res.status, res.raw, won)
		}
	}
	if won < 0 || f.countType("password_reset.succeeded") != 1 || f.countType("user.password_set") != 2 {
		t.Fatalf("winner %d, %d successes, %d password sets", won, f.countType("password_reset.succeeded"), f.countType("user.password_set"))
	}
	f.signIn("alice@example.com", newPassword+strings.Repeat("!", won))
	_ = alice
}

func TestPasswordResetMailFailure(t *testing.T) {
	f, m := newResetFixture(t)
	f.newUser("alice@example.com")
	m.fail = true
	f.do(f.staging, "POST", "/user_management/password_reset", obj{"email": "alice@example.com"})
	res := f.do(f.staging, "POST", "/user_management/password_reset", obj{"email": "alice@example.com"}, "Idempotency-Key", "reset-1")
	if res.status != 503 || res.body["code"] != "email_delivery_failed" || res.body["password_reset_token"] != nil {
		t.Fatalf("failed send = %d %s", res.status, res.raw)
	}
	if f.countType("password_reset.withdrawn") != 2 {
		t.Fatalf("%d withdrawn, want 2", f.countType("password_reset.withdrawn"))
	}
	// The undelivered token does not work, and nothing of it is shown.
	u, _ := url.Parse(m.sentLinks()[1].URL)
	f.rejected(f.staging, "POST", "/user_management/password_reset/confirm", obj{"token": u.Query().Get("token"), "new_password": newPassword}, 404, "entity_not_found")
	items, err := f.app.LiveItems(context.Background(), f.stagingEnv)
	if err != nil {
		t.Fatal(err)
	}
	for k := range items {
		if strings.HasPrefix(k.Collection, "password_reset") {
			t.Fatalf("a withdrawn reset left %v", k)
		}
	}

	// A delivered reset answered under an Idempotency-Key is never stored for replays.
	m.fail = false
	res = f.do(f.staging, "POST", "/user_management/password_reset", obj{"email": "alice@example.com"}, "Idempotency-Key", "reset-2")
	if res.status != 201 {
		t.Fatalf("create = %d %s", res.status, res.raw)
	}
	if _, err := f.app.Replay(context.Background(), f.stagingEnv, "reset-2"); !errors.Is(err, events.ErrNotFound) {
		t.Fatalf("an idempotency record holds the reset token: %v", err)
	}
	again := f.do(f.staging, "POST", "/user_management/password_reset", obj{"email": "alice@example.com"}, "Idempotency-Key", "reset-2")
	if again.header.Get("Idempotent-Replayed") != "" || again.body["password_reset_token"] == res.body["password_reset_token"] {
		t.Fatalf("replayed a reset token: %s", again.raw)
	}
}

// Reset links are limited to 10 per address in 10 minutes, so that the
// public forgot-password page cannot flood a mailbox; other addresses are
// not affected, and the window moves on.
func TestPasswordResetSendLimit(t *testing.T) {
	f, m := newResetFixture(t)
	f.newUser("alice@example.com")
	f.newUser("bob@example.com")
	for range 10 {
		f.createReset(m, "alice@example.com")
	}
	sent := len(m.sentLinks())
	res := f.rejected(f.staging, "POST", "/user_management/password_reset", obj{"email": "alice@example.com"}, 429, "too_many_requests")
	if res.header.Get("Retry-After") == "" || len(m.sentLinks()) != sent {
		t.Fatalf("limited reset = %d %s, %d links mailed", res.status, res.raw, len(m.sentLinks())-sent)
	}
	f.createReset(m, "bob@example.com")
	f.clock.Advance(10*time.Minute + time.Second)
	f.createReset(m, "alice@example.com")
}
