// Package session is the session aggregate: a signed-in user's session,
// its rotating refresh token (kept only as a hash), and its end.
package session

import (
	"time"

	"github.com/keywayhq/keyway/domain"
	"github.com/keywayhq/keyway/events"
)

// Aggregate is the stream prefix of sessions.
const Aggregate = "session"

// Statuses.
const (
	StatusActive  = "active"
	StatusRevoked = "revoked"
	StatusExpired = "expired"
)

// Session is the session as the API shows it.
type Session struct {
	ID             string     `json:"id"`
	UserID         string     `json:"user_id"`
	OrganizationID *string    `json:"organization_id"`
	AuthMethod     string     `json:"auth_method"`
	IPAddress      *string    `json:"ip_address"`
	UserAgent      *string    `json:"user_agent"`
	Status         string     `json:"status"`
	ExpiresAt      time.Time  `json:"expires_at"`
	EndedAt        *time.Time `json:"ended_at"`
	CreatedAt      time.Time  `json:"created_at"`
	UpdatedAt      time.Time  `json:"updated_at"`
}

// State is the write model of one session stream.
type State struct {
	Session
	Exists bool
	// RefreshHash is the hash of the one refresh token that works now;
	// PreviousHash the one it replaced, at RotatedAt.
	RefreshHash  string
	PreviousHash string
	RotatedAt    time.Time
}

// Events. Refreshed is internal: it carries token hashes.
type (
	Created struct {
		Session     Session `json:"session"`
		RefreshHash string  `json:"refresh_hash"`
	}
	Refreshed struct {
		SessionID      string    `json:"session_id"`
		RefreshHash    string    `json:"refresh_hash"`
		OrganizationID *string   `json:"organization_id"`
		At             time.Time `json:"at"`
	}
	Revoked struct {
		Session Session `json:"session"`
		Reason  string  `json:"reason"`
	}
)

func (Created) EventType() string   { return "session.created" }
func (Refreshed) EventType() string { return "session.refreshed" }
func (Revoked) EventType() string   { return "session.revoked" }

// Register adds the session events to r.
func Register(r *events.Registry) { r.Register(Created{}, Refreshed{}, Revoked{}) }

// Evolve applies one event to the state.
func Evolve(s State, e events.Event) State {
	switch e := e.(type) {
	case Created:
		s.Session, s.Exists, s.RefreshHash = e.Session, true, e.RefreshHash
	case Refreshed:
		s.PreviousHash, s.RefreshHash, s.RotatedAt = s.RefreshHash, e.RefreshHash, e.At
		s.OrganizationID, s.UpdatedAt = e.OrganizationID, e.At
	case Revoked:
		s.Session = e.Session
	}
	return s
}

// Create starts a session.
type Create struct {
	Session     Session
	RefreshHash string
}

// Refresh rotates the refresh token. Presented is the hash of the token the
// client sent; NewHash replaces it. A replay of the token just replaced is
// refused without harm within Grace (a benign race between two tabs);
// after that, or for any older token, it revokes the session (ASVS 10.4.5).
type Refresh struct {
	Presented      string
	NewHash        string
	OrganizationID *string
	Grace          time.Duration
	At             time.Time
}

// Revoke ends a session.
type Revoke struct {
	Reason string
	At     time.Time
}

// ErrInvalidGrant is the OAuth error of a dead refresh token.
func ErrInvalidGrant(msg string) error {
	return &domain.Error{Kind: domain.BadRequest, Code: "invalid_grant", Message: msg, Details: map[string]any{"error": "invalid_grant", "error_description": msg}}
}

// Reasons a session is revoked.
const (
	ReasonRevoked       = "revoked"
	ReasonReuse         = "refresh_token_reuse"
	ReasonExpired       = "expired"
	ReasonUserDeleted   = "user_deleted"
	ReasonPasswordReset = "password_reset"
	ReasonMembership    = "membership_deactivated"
)

// Decide returns the events a command produces. A refresh that fails by
// revoking the session returns both the events and the error: the app
// appends the events and then answers with the error.
func Decide(s State, cmd any) ([]events.Event, error) {
	if c, ok := cmd.(Create); ok {
		if s.Exists {
			return nil, domain.Errorf(domain.Conflict, "session_exists", "Session %s already exists.", c.Session.ID)
		}
		c.Session.Status = StatusActive
		return []events.Event{Created{Session: c.Session, RefreshHash: c.RefreshHash}}, nil
	}
	if !s.Exists {
		return nil, domain.NotFoundf("entity_not_found", "Session not found: '%s'.", s.ID)
	}
	switch c := cmd.(type) {
	case Refresh:
		if s.Status != StatusActive {
			return nil, ErrInvalidGrant("The refresh token is no longer valid.")
		}
		if !c.At.Before(s.ExpiresAt) {
			return []events.Event{revoke(s, ReasonExpired, StatusExpired, c.At)}, ErrInvalidGrant("The session has expired.")
		}
		switch c.Presented {
		case s.RefreshHash:
			return []events.Event{Refreshed{SessionID: s.ID, RefreshHash: c.NewHash, OrganizationID: c.OrganizationID, At: c.At}}, nil
		case s.PreviousHash:
			if c.At.Sub(s.RotatedAt) <= c.Grace {
				return nil, ErrInvalidGrant("The refresh token was just used.")
			}
		}
		return []events.Event{revoke(s, ReasonReuse, StatusRevoked, c.At)}, ErrInvalidGrant("The refresh token was already used; the session is revoked.")
	case Revoke:
		if s.Status != StatusActive {
			return nil, nil
		}
		return []events.Event{revoke(s, c.Reason, StatusRevoked, c.At)}, nil
	}
	return nil, domain.Errorf(domain.BadRequest, "unknown_command", "unknown session command %T", cmd)
}

func revoke(s State, reason, status string, at time.Time) Revoked {
	ss := s.Session
	ss.Status, ss.EndedAt, ss.UpdatedAt = status, &at, at
	return Revoked{Session: ss, Reason: reason}
}
