// Package membership is the organization membership aggregate: one user in
// one organization, with a role and a status.
package membership

import (
	"time"

	"github.com/keywayhq/keyway/domain"
	"github.com/keywayhq/keyway/events"
)

// Aggregate is the stream prefix of memberships.
const Aggregate = "membership"

// Statuses.
const (
	Active   = "active"
	Inactive = "inactive"
	Pending  = "pending"
)

// Role names a membership's role.
type Role struct {
	Slug string `json:"slug"`
}

// Membership is the membership as stored; the API adds the organization's name.
type Membership struct {
	ID             string    `json:"id"`
	UserID         string    `json:"user_id"`
	OrganizationID string    `json:"organization_id"`
	Status         string    `json:"status"`
	Role           Role      `json:"role"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
}

// State is the write model of one membership stream.
type State struct {
	Membership
	Exists  bool
	Deleted bool
}

// Events carry the whole membership, as WorkOS events do, and the
// organization's name at the time (set by the app with Named).
type (
	Created struct {
		Membership       Membership `json:"membership"`
		OrganizationName string     `json:"organization_name,omitempty"`
	}
	Updated struct {
		Membership       Membership `json:"membership"`
		OrganizationName string     `json:"organization_name,omitempty"`
	}
	Deleted struct {
		Membership       Membership `json:"membership"`
		OrganizationName string     `json:"organization_name,omitempty"`
	}
)

// Named returns e with the organization's name, for the event's data.
func Named(e events.Event, name string) events.Event {
	switch e := e.(type) {
	case Created:
		e.OrganizationName = name
		return e
	case Updated:
		e.OrganizationName = name
		return e
	case Deleted:
		e.OrganizationName = name
		return e
	}
	return e
}

func (Created) EventType() string { return "organization_membership.created" }
func (Updated) EventType() string { return "organization_membership.updated" }
func (Deleted) EventType() string { return "organization_membership.deleted" }

// Register adds the membership events to r.
func Register(r *events.Registry) { r.Register(Created{}, Updated{}, Deleted{}) }

// Evolve applies one event to the state.
func Evolve(s State, e events.Event) State {
	switch e := e.(type) {
	case Created:
		s.Membership, s.Exists = e.Membership, true
	case Updated:
		s.Membership = e.Membership
	case Deleted:
		s.Membership, s.Deleted = e.Membership, true
	}
	return s
}

// Commands.
type (
	// Create makes a new membership; the app has checked the user, the
	// organization and the role.
	Create struct {
		ID, UserID, OrganizationID, Role string
		At                               time.Time
	}
	// ChangeRole gives the membership another role.
	ChangeRole struct {
		Role string
		At   time.Time
	}
	// Deactivate makes an active membership inactive.
	Deactivate struct{ At time.Time }
	// Reactivate makes an inactive membership active.
	Reactivate struct{ At time.Time }
	// Delete removes the membership.
	Delete struct{ At time.Time }
)

// ErrNotFound is the 404 of a membership.
func ErrNotFound(id string) error {
	return domain.NotFoundf("entity_not_found", "Organization membership not found: '%s'.", id)
}

// Decide returns the events a command produces.
func Decide(s State, cmd any) ([]events.Event, error) {
	if c, ok := cmd.(Create); ok {
		if s.Exists && !s.Deleted {
			return nil, domain.Errorf(domain.Conflict, "organization_membership_already_exists", "The user is already a member of the organization.")
		}
		m := Membership{ID: c.ID, UserID: c.UserID, OrganizationID: c.OrganizationID, Status: Active, Role: Role{Slug: c.Role}, CreatedAt: c.At, UpdatedAt: c.At}
		return []events.Event{Created{Membership: m}}, nil
	}
	if !s.Exists || s.Deleted {
		return nil, ErrNotFound(s.ID)
	}
	m := s.Membership
	switch c := cmd.(type) {
	case ChangeRole:
		if m.Role.Slug == c.Role {
			return nil, nil
		}
		m.Role, m.UpdatedAt = Role{Slug: c.Role}, c.At
		return []events.Event{Updated{Membership: m}}, nil
	case Deactivate:
		switch m.Status {
		case Pending:
			return nil, domain.Errorf(domain.BadRequest, "cannot_deactivate_pending_organization_membership", "A pending membership cannot be deactivated.")
		case Inactive:
			return nil, nil
		}
		m.Status, m.UpdatedAt = Inactive, c.At
		return []events.Event{Updated{Membership: m}}, nil
	case Reactivate:
		switch m.Status {
		case Pending:
			return nil, domain.Errorf(domain.BadRequest, "cannot_reactivate_pending_organization_membership", "A pending membership cannot be reactivated.")
		case Active:
			return nil, nil
		}
		m.Status, m.UpdatedAt = Active, c.At
		return []events.Event{Updated{Membership: m}}, nil
	case Delete:
		return []events.Event{Deleted{Membership: m}}, nil
	}
	return nil, domain.Errorf(domain.BadRequest, "unknown_command", "unknown membership command %T", cmd)
}
