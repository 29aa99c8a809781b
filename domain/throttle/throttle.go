// Package throttle limits sign-in attempts per account and per client IP.
// An attempt is reserved by appending an event at the stream's expected
// version before the password is checked, so parallel attempts cannot
// exceed the limit (Zitadel GHSA-7h8m-vrxx-vr4m came from counting first and
// appending without a version).
package throttle

import (
	"slices"
	"time"

	"github.com/keywayhq/keyway/domain"
	"github.com/keywayhq/keyway/events"
)

// Aggregate is the stream prefix of throttles; the id is a hash of the key.
const Aggregate = "throttle"

// Policy is how many attempts a key may make in a window.
type Policy struct {
	Limit  int
	Window time.Duration
}

// State is the recent attempts not yet cleared by a success.
type State struct{ Attempts []time.Time }

// Events.
type (
	Attempted struct {
		At time.Time `json:"at"`
	}
	Cleared struct {
		At time.Time `json:"at"`
	}
	// Released gives back the attempt reserved at Reserved, after it succeeded.
	Released struct {
		Reserved time.Time `json:"reserved"`
		At       time.Time `json:"at"`
	}
)

func (Attempted) EventType() string { return "throttle.attempted" }
func (Cleared) EventType() string   { return "throttle.cleared" }
func (Released) EventType() string  { return "throttle.released" }

// Register adds the throttle events to r.
func Register(r *events.Registry) { r.Register(Attempted{}, Cleared{}, Released{}) }

// Evolve applies one event to the state.
func Evolve(s State, e events.Event) State {
	switch e := e.(type) {
	case Attempted:
		s.Attempts = append(append([]time.Time(nil), s.Attempts...), e.At)
	case Cleared:
		s.Attempts = nil
	case Released:
		if i := slices.IndexFunc(s.Attempts, e.Reserved.Equal); i >= 0 {
			s.Attempts = slices.Delete(slices.Clone(s.Attempts), i, i+1)
		}
	}
	return s
}

// Reserve is the command to take one attempt; Clear ends the count after a
// success; Release gives back one successful attempt, reserved at Reserved,
// and leaves the others' failures counted.
type (
	Reserve struct {
		Policy Policy
		At     time.Time
	}
	Clear   struct{ At time.Time }
	Release struct{ Reserved, At time.Time }
)

// ErrTooManyAttempts is the 429 of a throttled key; RetryAfter says when to try again.
func ErrTooManyAttempts(retryAfter time.Duration) error {
	return &domain.Error{Kind: domain.TooManyRequests, Code: "too_many_requests",
		Message: "Too many sign-in attempts. Try again later.", Details: map[string]any{"error": "too_many_requests", "retry_after_seconds": int(retryAfter.Seconds()) + 1}}
}

// Decide returns the events a command produces.
func Decide(s State, cmd any) ([]events.Event, error) {
	switch c := cmd.(type) {
	case Reserve:
		var recent []time.Time
		for _, t := range s.Attempts {
			if c.At.Sub(t) < c.Policy.Window {
				recent = append(recent, t)
			}
		}
		if len(recent) >= c.Policy.Limit {
			return nil, ErrTooManyAttempts(c.Policy.Window - c.At.Sub(recent[0]))
		}
		return []events.Event{Attempted{At: c.At}}, nil
	case Clear:
		if len(s.Attempts) == 0 {
			return nil, nil
		}
		return []events.Event{Cleared{At: c.At}}, nil
	case Release:
		if !slices.ContainsFunc(s.Attempts, c.Reserved.Equal) {
			return nil, nil
		}
		return []events.Event{Released{Reserved: c.Reserved, At: c.At}}, nil
	}
	return nil, domain.Errorf(domain.BadRequest, "unknown_command", "unknown throttle command %T", cmd)
}
