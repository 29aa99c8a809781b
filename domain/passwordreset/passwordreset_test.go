package passwordreset_test

import (
	"testing"
	"time"

	"github.com/keywayhq/keyway/domain"
	"github.com/keywayhq/keyway/domain/passwordreset"
	"github.com/keywayhq/keyway/events"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func reset() passwordreset.Reset {
	return passwordreset.Reset{ID: "password_reset_1", UserID: "user_1", Email: "a@example.com", CreatedAt: t0, ExpiresAt: t0.Add(passwordreset.Lifetime)}
}

func fold(evs ...events.Event) passwordreset.State {
	var s passwordreset.State
	for _, e := range evs {
		s = passwordreset.Evolve(s, e)
	}
	return s
}

func code(err error) string {
	if de, ok := domain.As(err); ok {
		if de.Code == "password_reset_error" {
			return de.Details["errors"].([]map[string]string)[0]["code"]
		}
		return de.Code
	}
	if err != nil {
		return err.Error()
	}
	return ""
}

func TestDecide(t *testing.T) {
	created := passwordreset.Created{Reset: reset(), TokenHash: "h"}
	live := fold(created)
	cases := []struct {
		name  string
		state passwordreset.State
		cmd   any
		event string
		err   string
	}{
		{"create", passwordreset.State{}, passwordreset.Create{Reset: reset(), TokenHash: "h"}, "password_reset.created", ""},
		{"create twice", live, passwordreset.Create{Reset: reset(), TokenHash: "h"}, "", "password_reset_exists"},
		{"create without a hash", passwordreset.State{}, passwordreset.Create{Reset: reset()}, "", "invalid_password_reset"},
		{"use", live, passwordreset.Use{At: t0.Add(59 * time.Minute)}, "password_reset.succeeded", ""},
		{"use at expiry", live, passwordreset.Use{At: t0.Add(passwordreset.Lifetime)}, "", "password_reset_token_expired"},
		{"use twice", fold(created, passwordreset.Used{}), passwordreset.Use{At: t0.Add(time.Minute)}, "", "password_reset_token_used"},
		{"use withdrawn", fold(created, passwordreset.Withdrawn{}), passwordreset.Use{At: t0.Add(time.Minute)}, "", "entity_not_found"},
		{"use unknown", passwordreset.State{}, passwordreset.Use{At: t0}, "", "entity_not_found"},
		{"withdraw", live, passwordreset.Withdraw{At: t0}, "password_reset.withdrawn", ""},
		{"withdraw used is a no-op", fold(created, passwordreset.Used{}), passwordreset.Withdraw{At: t0}, "", ""},
		{"unknown command", live, struct{}{}, "", "unknown_command"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			evs, err := passwordreset.Decide(c.state, c.cmd)
			got := ""
			if len(evs) == 1 {
				got = evs[0].EventType()
			}
			if got != c.event || code(err) != c.err || len(evs) > 1 {
				t.Fatalf("events %v err %v; want %q %q", evs, err, c.event, c.err)
			}
		})
	}
}

func TestEvolve(t *testing.T) {
	s := fold(passwordreset.Created{Reset: reset(), TokenHash: "h"})
	if !s.Exists || s.TokenHash != "h" || s.ID != "password_reset_1" || s.Used || s.Withdrawn {
		t.Fatalf("created: %+v", s)
	}
	if s = passwordreset.Evolve(s, passwordreset.Used{}); !s.Used {
		t.Fatal("used not recorded")
	}
}
