// Package pending is the pending authentication: a sign-in that passed its
// first factor and waits for one more step (verify the email, choose an
// organization). Its token is opaque; the stream is named by its hash, and
// it can be used once, before it expires.
package pending

import (
	"time"

	"github.com/keywayhq/keyway/domain"
	"github.com/keywayhq/keyway/events"
)

// Aggregate is the stream prefix; the id is the token's hash.
const Aggregate = "pending_auth"

// Lifetime of a pending authentication.
const Lifetime = 10 * time.Minute

// Steps a pending authentication waits for.
const (
	StepEmailVerification     = "email_verification"
	StepOrganizationSelection = "organization_selection"
)

// Auth is a pending authentication.
type Auth struct {
	UserID     string    `json:"user_id"`
	Email      string    `json:"email"`
	Step       string    `json:"step"`
	Method     string    `json:"method"`      // WorkOS authentication_method once done
	AuthMethod string    `json:"auth_method"` // the session's auth_method
	ExpiresAt  time.Time `json:"expires_at"`
}

// State is the write model of one pending authentication.
type State struct {
	Auth
	Exists, Used bool
}

// Events.
type (
	Started struct {
		Auth Auth `json:"auth"`
	}
	Used struct {
		At time.Time `json:"at"`
	}
)

func (Started) EventType() string { return "pending_authentication.started" }
func (Used) EventType() string    { return "pending_authentication.used" }

// Register adds the events to r.
func Register(r *events.Registry) { r.Register(Started{}, Used{}) }

// Evolve applies one event to the state.
func Evolve(s State, e events.Event) State {
	switch e := e.(type) {
	case Started:
		s.Auth, s.Exists = e.Auth, true
	case Used:
		s.Used = true
	}
	return s
}

// Commands.
type (
	Start struct{ Auth Auth }
	// Use completes the step; Step must be the one the token waits for.
	Use struct {
		Step string
		At   time.Time
	}
)

// ErrInvalid is the error of a bad, used or expired pending token.
func ErrInvalid() error {
	return domain.Errorf(domain.BadRequest, "invalid_pending_authentication_token", "The pending authentication token is invalid or expired.")
}

// Decide returns the events a command produces.
func Decide(s State, cmd any) ([]events.Event, error) {
	switch c := cmd.(type) {
	case Start:
		if s.Exists {
			return nil, ErrInvalid()
		}
		return []events.Event{Started{Auth: c.Auth}}, nil
	case Use:
		if !s.Exists || s.Used || s.Step != c.Step || !c.At.Before(s.ExpiresAt) {
			return nil, ErrInvalid()
		}
		return []events.Event{Used{At: c.At}}, nil
	}
	return nil, domain.Errorf(domain.BadRequest, "unknown_command", "unknown pending command %T", cmd)
}
