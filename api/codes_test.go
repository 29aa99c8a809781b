package api_test

import (
	"context"
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
