package session_test

import (
	"errors"
	"testing"
	"time"

	"github.com/keywayhq/keyway/domain"
	"github.com/keywayhq/keyway/domain/session"
	"github.com/keywayhq/keyway/events"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func fold(evs ...events.Event) session.State {
	var s session.State
	for _, e := range evs {
		s = session.Evolve(s, e)
	}
	return s
}

func TestRefreshRotation(t *testing.T) {
	created := session.Created{Session: session.Session{ID: "session_1", UserID: "user_1", Status: session.StatusActive,
		ExpiresAt: t0.Add(24 * time.Hour), CreatedAt: t0}, RefreshHash: "h1"}
	fresh := fold(created)
	rotated := fold(created, session.Refreshed{SessionID: "session_1", RefreshHash: "h2", At: t0.Add(time.Minute)})
	revoked := fold(created, session.Revoked{Session: session.Session{ID: "session_1", Status: session.StatusRevoked}})
	grace := 10 * time.Second
	cases := []struct {
		name      string
		state     session.State
		presented string
		at        time.Time
		want      string // event type, or ""
		invalid   bool   // answers invalid_grant
	}{
		{"current token rotates", fresh, "h1", t0.Add(time.Minute), "session.refreshed", false},
		{"rotated token rotates again", rotated, "h2", t0.Add(2 * time.Minute), "session.refreshed", false},
		{"replay inside the grace window is refused, harmlessly", rotated, "h1", t0.Add(time.Minute + 5*time.Second), "", true},
		{"replay after the grace window revokes", rotated, "h1", t0.Add(time.Minute + 11*time.Second), "session.revoked", true},
		{"an unknown token revokes", rotated, "h0", t0.Add(2 * time.Minute), "session.revoked", true},
		{"a revoked session refuses", revoked, "h1", t0.Add(time.Minute), "", true},
		{"past the absolute lifetime it expires", fresh, "h1", t0.Add(25 * time.Hour), "session.revoked", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			evs, err := session.Decide(c.state, session.Refresh{Presented: c.presented, NewHash: "hn", Grace: grace, At: c.at})
			var de *domain.Error
			if c.invalid != (errors.As(err, &de) && de.Code == "invalid_grant") {
				t.Fatalf("err = %v, want invalid_grant: %v", err, c.invalid)
			}
			got := ""
			if len(evs) == 1 {
				got = evs[0].EventType()
			} else if len(evs) > 1 {
				t.Fatalf("%d events", len(evs))
			}
			if got != c.want {
				t.Fatalf("event %q, want %q", got, c.want)
			}
			if c.want == "session.revoked" {
				s := session.Evolve(c.state, evs[0])
				if s.Status == session.StatusActive || s.EndedAt == nil {
					t.Fatalf("session still active: %+v", s.Session)
				}
			}
		})
	}
	s := session.Evolve(rotated, session.Refreshed{SessionID: "session_1", RefreshHash: "h3", At: t0.Add(3 * time.Minute)})
	if s.RefreshHash != "h3" || s.PreviousHash != "h2" {
		t.Fatalf("rotation state %+v", s)
	}
}
