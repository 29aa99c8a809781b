// Package invitation is the invitation aggregate: one stream per
// invitation, holding its state and the SHA-256 hash of its current token
// (never the token itself).
package invitation

import (
	"time"

	"github.com/keywayhq/keyway/domain"
	"github.com/keywayhq/keyway/events"
)

// Aggregate is the stream prefix of invitations.
const Aggregate = "invitation"

// States, as WorkOS names them.
const (
	Pending  = "pending"
	Accepted = "accepted"
	Expired  = "expired"
	Revoked  = "revoked"
)

// Bounds of expires_in_days.
const (
	DefaultDays = 7
	MinDays     = 1
	MaxDays     = 30
)

// Invitation is an invitation as the API shows it, without its token.
// State is the recorded state; StateAt computes it against the clock.
type Invitation struct {
	ID             string     `json:"id"`
	Email          string     `json:"email"`
	State          string     `json:"state"`
	AcceptedAt     *time.Time `json:"accepted_at"`
	RevokedAt      *time.Time `json:"revoked_at"`
	ExpiresAt      time.Time  `json:"expires_at"`
	OrganizationID *string    `json:"organization_id"`
	InviterUserID  *string    `json:"inviter_user_id"`
	AcceptedUserID *string    `json:"accepted_user_id"`
	RoleSlug       *string    `json:"role_slug"`
	CreatedAt      time.Time  `json:"created_at"`
	UpdatedAt      time.Time  `json:"updated_at"`
}

// StateAt is the state at now: a pending invitation past its expiry is expired.
func (i Invitation) StateAt(now time.Time) string {
	if i.State == Pending && !now.Before(i.ExpiresAt) {
		return Expired
	}
	return i.State
}

// State is the write model of one invitation stream.
type State struct {
	Invitation
	Exists    bool
	TokenHash string // SHA-256 (hex) of the current token
}

// Events carry the whole invitation, as WorkOS events do. Created and
// Resent also carry the new token's hash, never the token.
type (
	Created struct {
		Invitation Invitation `json:"invitation"`
		TokenHash  string     `json:"token_hash"`
	}
	AcceptedEvent struct {
		Invitation Invitation `json:"invitation"`
	}
	RevokedEvent struct {
		Invitation Invitation `json:"invitation"`
	}
	Resent struct {
		Invitation Invitation `json:"invitation"`
		TokenHash  string     `json:"token_hash"`
	}
	// ExpiredEvent records that a pending invitation ran out, when a new
	// invitation for the same email and organization replaces it.
	ExpiredEvent struct {
		Invitation Invitation `json:"invitation"`
	}
)

func (Created) EventType() string       { return "invitation.created" }
func (AcceptedEvent) EventType() string { return "invitation.accepted" }
func (RevokedEvent) EventType() string  { return "invitation.revoked" }
func (Resent) EventType() string        { return "invitation.resent" }
func (ExpiredEvent) EventType() string  { return "invitation.expired" }

// Register adds the invitation events to r.
func Register(r *events.Registry) {
	r.Register(Created{}, AcceptedEvent{}, RevokedEvent{}, Resent{}, ExpiredEvent{})
}

// Evolve applies one event to the state.
func Evolve(s State, e events.Event) State {
	switch e := e.(type) {
	case Created:
		s.Invitation, s.Exists, s.TokenHash = e.Invitation, true, e.TokenHash
	case Resent:
		s.Invitation, s.TokenHash = e.Invitation, e.TokenHash
	case AcceptedEvent:
		s.Invitation = e.Invitation
	case RevokedEvent:
		s.Invitation = e.Invitation
	case ExpiredEvent:
		s.Invitation = e.Invitation
	}
	return s
}

// Commands.
type (
	// Create opens a pending invitation.
	Create struct {
		Invitation Invitation
		TokenHash  string
	}
	// Accept marks a pending invitation accepted, by UserID if known.
	Accept struct {
		UserID *string
		At     time.Time
	}
	// Revoke withdraws a pending invitation.
	Revoke struct{ At time.Time }
	// Resend replaces the token of a pending invitation.
	Resend struct {
		TokenHash string
		At        time.Time
	}
	// Expire records the expiry of a pending invitation past its expiry.
	Expire struct{ At time.Time }
)

// ErrNotFound is the 404 of an unknown invitation.
func ErrNotFound(id string) error {
	return domain.NotFoundf("entity_not_found", "Invitation not found: '%s'.", id)
}

func errNotPending(id string) error {
	return domain.Errorf(domain.BadRequest, "invite_not_pending", "The invitation %s is not pending.", id)
}

// Decide returns the events a command produces.
func Decide(s State, cmd any) ([]events.Event, error) {
	if c, ok := cmd.(Create); ok {
		if s.Exists {
			return nil, domain.Errorf(domain.Conflict, "invitation_exists", "The invitation %s already exists.", c.Invitation.ID)
		}
		inv := c.Invitation
		inv.State, inv.AcceptedAt, inv.RevokedAt, inv.AcceptedUserID = Pending, nil, nil, nil
		return []events.Event{Created{Invitation: inv, TokenHash: c.TokenHash}}, nil
	}
	if !s.Exists {
		return nil, ErrNotFound(s.ID)
	}
	inv := s.Invitation
	switch c := cmd.(type) {
	case Accept:
		if inv.StateAt(c.At) != Pending {
			return nil, errNotPending(inv.ID)
		}
		at := c.At
		inv.State, inv.AcceptedAt, inv.AcceptedUserID, inv.UpdatedAt = Accepted, &at, c.UserID, c.At
		return []events.Event{AcceptedEvent{Invitation: inv}}, nil
	case Revoke:
		if inv.StateAt(c.At) != Pending {
			return nil, errNotPending(inv.ID)
		}
		at := c.At
		inv.State, inv.RevokedAt, inv.UpdatedAt = Revoked, &at, c.At
		return []events.Event{RevokedEvent{Invitation: inv}}, nil
	case Resend:
		switch inv.StateAt(c.At) {
		case Expired:
			return nil, domain.Errorf(domain.BadRequest, "invite_expired", "The invitation %s has expired.", inv.ID)
		case Revoked:
			return nil, domain.Errorf(domain.BadRequest, "invite_revoked", "The invitation %s was revoked.", inv.ID)
		case Accepted:
			return nil, domain.Errorf(domain.BadRequest, "invite_accepted", "The invitation %s was already accepted.", inv.ID)
		}
		inv.UpdatedAt = c.At
		return []events.Event{Resent{Invitation: inv, TokenHash: c.TokenHash}}, nil
	case Expire:
		if inv.State != Pending || inv.StateAt(c.At) != Expired {
			return nil, nil
		}
		inv.State, inv.UpdatedAt = Expired, c.At
		return []events.Event{ExpiredEvent{Invitation: inv}}, nil
	}
	return nil, domain.Errorf(domain.BadRequest, "unknown_command", "unknown invitation command %T", cmd)
}
