// Package passwordreset is the password reset aggregate: one stream per
// reset, named by its id. Only the SHA-256 hash of the emailed token is
// kept; a reset is used once, within Lifetime.
package passwordreset

import (
	"time"

	"github.com/keywayhq/keyway/domain"
	"github.com/keywayhq/keyway/events"
)

// Aggregate is the stream prefix; the id is the reset's id (password_reset_<ULID>).
const Aggregate = "password_reset"

// Lifetime of a reset (security.md: short-lived; WorkOS does not state one).
const Lifetime = time.Hour

// Reset is a password reset as the API shows it, without its token.
type Reset struct {
	ID        string    `json:"id"`
	UserID    string    `json:"user_id"`
	Email     string    `json:"email"`
	ExpiresAt time.Time `json:"expires_at"`
	CreatedAt time.Time `json:"created_at"`
}

// State is the write model of one reset.
type State struct {
	Reset
	TokenHash string
	Exists    bool
	Used      bool
	Withdrawn bool // never delivered: it is not shown either
}

// Events. Created carries only the token's hash, never the token.
type (
	Created struct {
		Reset     Reset  `json:"password_reset"`
		TokenHash string `json:"token_hash"`
	}
	Used struct {
		ResetID string    `json:"password_reset_id"`
		UserID  string    `json:"user_id"`
		At      time.Time `json:"at"`
	}
	// Withdrawn ends a reset whose email could not be sent.
	Withdrawn struct {
		ResetID string    `json:"password_reset_id"`
		At      time.Time `json:"at"`
	}
)

func (Created) EventType() string   { return "password_reset.created" }
func (Used) EventType() string      { return "password_reset.succeeded" }
func (Withdrawn) EventType() string { return "password_reset.withdrawn" }

// Register adds the reset events to r.
func Register(r *events.Registry) { r.Register(Created{}, Used{}, Withdrawn{}) }

// Evolve applies one event to the state.
func Evolve(s State, e events.Event) State {
	switch e := e.(type) {
	case Created:
		s.Reset, s.TokenHash, s.Exists = e.Reset, e.TokenHash, true
	case Used:
		s.Used = true
	case Withdrawn:
		s.Withdrawn = true
	}
	return s
}

// Commands.
type (
	// Create starts a reset; Reset.ExpiresAt is set by the caller.
	Create struct {
		Reset     Reset
		TokenHash string
	}
	// Use spends the reset, once, before it expires.
	Use struct{ At time.Time }
	// Withdraw ends a reset that was never delivered.
	Withdraw struct{ At time.Time }
)

// ErrNotFound is the 404 of an unknown (or withdrawn) token.
func ErrNotFound() error {
	return domain.NotFoundf("entity_not_found", "Password reset token not found.")
}

// ErrReset is WorkOS's 400 password_reset_error with its errors[].
func ErrReset(code, msg string) error {
	return &domain.Error{Kind: domain.BadRequest, Code: "password_reset_error", Message: msg,
		Details: map[string]any{"errors": []map[string]string{{"code": code, "message": msg}}}}
}

// ErrUsed and ErrExpired are the 400s of a spent or stale token.
func ErrUsed() error {
	return ErrReset("password_reset_token_used", "The password reset token was already used.")
}

func ErrExpired() error {
	return ErrReset("password_reset_token_expired", "The password reset token has expired.")
}

// Usable reports why s cannot be used at t, or nil.
func Usable(s State, at time.Time) error {
	switch {
	case !s.Exists || s.Withdrawn:
		return ErrNotFound()
	case s.Used:
		return ErrUsed()
	case !at.Before(s.ExpiresAt):
		return ErrExpired()
	}
	return nil
}

// Decide returns the events a command produces.
func Decide(s State, cmd any) ([]events.Event, error) {
	switch c := cmd.(type) {
	case Create:
		if s.Exists {
			return nil, domain.Errorf(domain.Conflict, "password_reset_exists", "Password reset %s already exists.", c.Reset.ID)
		}
		if c.TokenHash == "" || c.Reset.UserID == "" || !c.Reset.ExpiresAt.After(c.Reset.CreatedAt) {
			return nil, domain.Errorf(domain.BadRequest, "invalid_password_reset", "A password reset needs a token hash, a user and a future expiry.")
		}
		return []events.Event{Created{Reset: c.Reset, TokenHash: c.TokenHash}}, nil
	case Use:
		if err := Usable(s, c.At); err != nil {
			return nil, err
		}
		return []events.Event{Used{ResetID: s.ID, UserID: s.UserID, At: c.At}}, nil
	case Withdraw:
		if !s.Exists || s.Used || s.Withdrawn {
			return nil, nil
		}
		return []events.Event{Withdrawn{ResetID: s.ID, At: c.At}}, nil
	}
	return nil, domain.Errorf(domain.BadRequest, "unknown_command", "unknown password reset command %T", cmd)
}
