// Package magicauth is the one-time code aggregate of Magic Auth and email
// verification: one stream per purpose and email holds the current code
// (as a keyed hash only), its tries, and the recent sends.
package magicauth

import (
	"crypto/subtle"
	"time"

	"github.com/keywayhq/keyway/domain"
	"github.com/keywayhq/keyway/events"
)

// Aggregate is the stream prefix; the id is a hash of purpose and email.
const Aggregate = "code"

// Rules (security.md: one-time codes).
const (
	Lifetime   = 10 * time.Minute
	MaxTries   = 5
	SendLimit  = 10
	SendWindow = 10 * time.Minute
)

// Code is a code as the API shows it, without the code itself.
type Code struct {
	ID        string    `json:"id"`
	UserID    string    `json:"user_id"`
	Email     string    `json:"email"`
	ExpiresAt time.Time `json:"expires_at"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// State is the write model of one code stream.
type State struct {
	Current   *Code
	Kind      string // of the current code
	Hash      string // keyed hash of the current code
	Tries     int
	Consumed  bool // used or withdrawn
	Withdrawn bool // never delivered: it is not shown either
	Sends     []time.Time
}

// Events. Issued carries only the keyed hash, never the code.
type (
	Issued struct {
		Code Code   `json:"code"`
		Hash string `json:"hash"`
		Kind string `json:"kind"` // magic_auth or email_verification
	}
	Failed struct {
		CodeID string    `json:"code_id"`
		At     time.Time `json:"at"`
	}
	Consumed struct {
		CodeID string    `json:"code_id"`
		At     time.Time `json:"at"`
	}
	// Withdrawn ends a code that could not be delivered.
	Withdrawn struct {
		CodeID string    `json:"code_id"`
		At     time.Time `json:"at"`
	}
)

func (Issued) EventType() string    { return "one_time_code.issued" }
func (Failed) EventType() string    { return "one_time_code.failed" }
func (Consumed) EventType() string  { return "one_time_code.consumed" }
func (Withdrawn) EventType() string { return "one_time_code.withdrawn" }

// Register adds the code events to r.
func Register(r *events.Registry) { r.Register(Issued{}, Failed{}, Consumed{}, Withdrawn{}) }

// Evolve applies one event to the state.
func Evolve(s State, e events.Event) State {
	switch e := e.(type) {
	case Issued:
		c := e.Code
		s.Current, s.Kind, s.Hash, s.Tries, s.Consumed, s.Withdrawn = &c, e.Kind, e.Hash, 0, false, false
		s.Sends = append(append([]time.Time(nil), s.Sends...), c.CreatedAt)
	case Failed:
		s.Tries++
	case Consumed:
		s.Consumed = true
	case Withdrawn:
		s.Consumed, s.Withdrawn = true, true
	}
	return s
}

// Commands.
type (
	// Issue replaces the current code with a new one.
	Issue struct {
		Code Code
		Hash string
		Kind string
	}
	// Attempt checks a presented code's keyed hash.
	Attempt struct {
		Hash string
		At   time.Time
	}
	// Withdraw ends the code CodeID.
	Withdraw struct {
		CodeID string
		At     time.Time
	}
)

// Errors, as WorkOS names them.
func errInvalid() error {
	return domain.Errorf(domain.BadRequest, "invalid_one_time_code", "The code is invalid.")
}

func errExpired() error {
	return domain.Errorf(domain.BadRequest, "one_time_code_expired", "The code has expired.")
}

// Decide returns the events a command produces. A wrong code returns the
// Failed event and the error together: the app appends, then answers.
func Decide(s State, cmd any) ([]events.Event, error) {
	switch c := cmd.(type) {
	case Issue:
		n := 0
		for _, t := range s.Sends {
			if c.Code.CreatedAt.Sub(t) < SendWindow {
				n++
			}
		}
		if n >= SendLimit {
			return nil, &domain.Error{Kind: domain.TooManyRequests, Code: "too_many_requests",
				Message: "Too many codes were sent to this email. Try again later.", Details: map[string]any{"retry_after_seconds": int(SendWindow.Seconds())}}
		}
		return []events.Event{Issued{Code: c.Code, Hash: c.Hash, Kind: c.Kind}}, nil
	case Attempt:
		if s.Current == nil || s.Consumed || s.Tries >= MaxTries {
			return nil, errInvalid()
		}
		if !c.At.Before(s.Current.ExpiresAt) {
			return nil, errExpired()
		}
		if subtle.ConstantTimeCompare([]byte(c.Hash), []byte(s.Hash)) != 1 {
			return []events.Event{Failed{CodeID: s.Current.ID, At: c.At}}, errInvalid()
		}
		return []events.Event{Consumed{CodeID: s.Current.ID, At: c.At}}, nil
	case Withdraw:
		if s.Current == nil || s.Current.ID != c.CodeID || s.Consumed {
			return nil, nil
		}
		return []events.Event{Withdrawn{CodeID: c.CodeID, At: c.At}}, nil
	}
	return nil, domain.Errorf(domain.BadRequest, "unknown_command", "unknown code command %T", cmd)
}
