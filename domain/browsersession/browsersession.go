// Package browsersession is the hosted login's own short session: the
// browser that signed in on the hosted pages keeps a cookie, so that the
// next authorize within the session skips entering credentials again. The
// cookie holds an opaque token; the stream is named by its hash.
package browsersession

import (
	"time"

	"github.com/keywayhq/keyway/domain"
	"github.com/keywayhq/keyway/events"
)

// Aggregate is the stream prefix; the id is the token's hash.
const Aggregate = "browser_session"

// DefaultLifetime of a hosted session.
const DefaultLifetime = time.Hour

// Session is one browser's sign-in on the hosted pages.
type Session struct {
	ID         string    `json:"id"`
	UserID     string    `json:"user_id"`
	Method     string    `json:"method"`      // WorkOS authentication_method
	AuthMethod string    `json:"auth_method"` // auth_method of the sessions it grants
	ExpiresAt  time.Time `json:"expires_at"`
	CreatedAt  time.Time `json:"created_at"`
	Ended      bool      `json:"ended"`
}

// State is the write model of one hosted session.
type State struct {
	Session
	Exists bool
}

// Events.
type (
	Started struct {
		Session Session `json:"session"`
	}
	Ended struct {
		Reason string    `json:"reason"`
		At     time.Time `json:"at"`
	}
)

func (Started) EventType() string { return "browser_session.started" }
func (Ended) EventType() string   { return "browser_session.ended" }

// Register adds the events to r.
func Register(r *events.Registry) { r.Register(Started{}, Ended{}) }

// Evolve applies one event to the state.
func Evolve(s State, e events.Event) State {
	switch e := e.(type) {
	case Started:
		s.Session, s.Exists = e.Session, true
	case Ended:
		s.Ended = true
	}
	return s
}

// Commands.
type (
	Start struct{ Session Session }
	End   struct {
		Reason string
		At     time.Time
	}
)

// Active reports whether the session still signs the browser in at t.
func (s State) Active(t time.Time) bool { return s.Exists && !s.Ended && t.Before(s.ExpiresAt) }

// Decide returns the events a command produces.
func Decide(s State, cmd any) ([]events.Event, error) {
	switch c := cmd.(type) {
	case Start:
		if s.Exists {
			return nil, domain.Errorf(domain.Conflict, "session_exists", "The hosted session already exists.")
		}
		return []events.Event{Started{Session: c.Session}}, nil
	case End:
		if !s.Exists || s.Ended {
			return nil, nil
		}
		return []events.Event{Ended{Reason: c.Reason, At: c.At}}, nil
	}
	return nil, domain.Errorf(domain.BadRequest, "unknown_command", "unknown browser session command %T", cmd)
}
