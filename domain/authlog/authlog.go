// Package authlog records authentication attempts as WorkOS events
// (authentication.password_succeeded, authentication.magic_auth_failed, ...).
// Each attempt is a stream of one event, so recording never contends.
package authlog

import (
	"github.com/keywayhq/keyway/events"
)

// Aggregate is the stream prefix; the id is the attempt's own ULID.
const Aggregate = "authentication"

// Attempt is the data of an authentication event.
type Attempt struct {
	Type      string  `json:"type"`   // password, magic_auth, email_verification, ...
	Status    string  `json:"status"` // succeeded or failed
	Email     string  `json:"email"`
	IPAddress *string `json:"ip_address"`
	UserAgent *string `json:"user_agent"`
	UserID    *string `json:"user_id"`
	Error     *Error  `json:"error,omitempty"`
}

// Error says why an attempt failed.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Recorded is an authentication event; its type is
// authentication.<type>_<status>, set when it is made.
type Recorded struct {
	Attempt Attempt `json:"attempt"`
	Name    string  `json:"name"`
}

// EventType is the WorkOS event name.
func (r Recorded) EventType() string { return r.Name }

// New makes the event of an attempt.
func New(a Attempt) Recorded {
	return Recorded{Attempt: a, Name: "authentication." + a.Type + "_" + a.Status}
}

// Names are the event types this package makes.
var Names = []string{
	"authentication.password_succeeded", "authentication.password_failed",
	"authentication.magic_auth_succeeded", "authentication.magic_auth_failed",
	"authentication.email_verification_succeeded",
}

// Register adds the authentication events to r.
func Register(r *events.Registry) {
	for _, n := range Names {
		r.Register(Recorded{Name: n})
	}
}
