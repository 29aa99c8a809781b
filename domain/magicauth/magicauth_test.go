package magicauth_test

import (
	"testing"
	"time"

	"github.com/keywayhq/keyway/domain"
	"github.com/keywayhq/keyway/domain/magicauth"
	"github.com/keywayhq/keyway/events"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func issued(at time.Time, hash string) magicauth.Issued {
	return magicauth.Issued{Code: magicauth.Code{ID: "magic_auth_1", Email: "a@example.com", CreatedAt: at, ExpiresAt: at.Add(magicauth.Lifetime)}, Hash: hash}
}

func fold(evs ...events.Event) magicauth.State {
	var s magicauth.State
	for _, e := range evs {
		s = magicauth.Evolve(s, e)
	}
	return s
}

func code(err error) string {
	if de, ok := domain.As(err); ok {
		return de.Code
	}
	return ""
}

func TestAttempts(t *testing.T) {
	live := fold(issued(t0, "good"))
	fiveWrong := live
	for range magicauth.MaxTries {
		fiveWrong = magicauth.Evolve(fiveWrong, magicauth.Failed{})
	}
	cases := []struct {
		name  string
		state magicauth.State
		hash  string
		at    time.Time
		event string
		err   string
	}{
		{"right code", live, "good", t0.Add(time.Minute), "one_time_code.consumed", ""},
		{"wrong code counts a try", live, "bad", t0.Add(time.Minute), "one_time_code.failed", "invalid_one_time_code"},
		{"expired", live, "good", t0.Add(magicauth.Lifetime), "", "one_time_code_expired"},
		{"after 5 wrong tries even the right code fails", fiveWrong, "good", t0.Add(time.Minute), "", "invalid_one_time_code"},
		{"single use", fold(issued(t0, "good"), magicauth.Consumed{}), "good", t0.Add(time.Minute), "", "invalid_one_time_code"},
		{"withdrawn", fold(issued(t0, "good"), magicauth.Withdrawn{}), "good", t0.Add(time.Minute), "", "invalid_one_time_code"},
		{"no code", magicauth.State{}, "good", t0, "", "invalid_one_time_code"},
		{"a new code replaces the old", fold(issued(t0, "old"), issued(t0.Add(time.Second), "new")), "old", t0.Add(time.Minute), "one_time_code.failed", "invalid_one_time_code"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			evs, err := magicauth.Decide(c.state, magicauth.Attempt{Hash: c.hash, At: c.at})
			got := ""
			if len(evs) == 1 {
				got = evs[0].EventType()
			}
			if got != c.event || code(err) != c.err {
				t.Fatalf("events %q err %v; want %q %q", got, err, c.event, c.err)
			}
		})
	}
}

func TestSendLimit(t *testing.T) {
	var s magicauth.State
	for i := range magicauth.SendLimit {
		at := t0.Add(time.Duration(i) * time.Second)
		evs, err := magicauth.Decide(s, magicauth.Issue{Code: magicauth.Code{ID: "c", CreatedAt: at, ExpiresAt: at.Add(magicauth.Lifetime)}, Hash: "h"})
		if err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
		s = magicauth.Evolve(s, evs[0])
	}
	if _, err := magicauth.Decide(s, magicauth.Issue{Code: magicauth.Code{CreatedAt: t0.Add(time.Minute)}}); code(err) != "too_many_requests" {
		t.Fatalf("send over the limit: %v", err)
	}
	if _, err := magicauth.Decide(s, magicauth.Issue{Code: magicauth.Code{CreatedAt: t0.Add(magicauth.SendWindow + 10*time.Second)}}); err != nil {
		t.Fatalf("send after the window: %v", err)
	}
}
