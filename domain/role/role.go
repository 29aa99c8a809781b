// Package role is the environment role aggregate. Every environment has the
// roles member and admin; more can be created.
package role

import (
	"regexp"
	"time"

	"github.com/keywayhq/keyway/domain"
	"github.com/keywayhq/keyway/events"
)

// Aggregate is the stream prefix of roles.
const Aggregate = "role"

// The roles every environment has; Member is the default of a membership.
const (
	Member = "member"
	Admin  = "admin"
)

// Defaults are the built-in roles, created when first needed.
var Defaults = []struct{ Slug, Name, Description string }{
	{Member, "Member", "The default role of organization members."},
	{Admin, "Admin", "Administers the organization."},
}

// Role is an environment role as the API shows it.
type Role struct {
	ID          string    `json:"id"`
	Slug        string    `json:"slug"`
	Name        string    `json:"name"`
	Description *string   `json:"description"`
	Permissions []string  `json:"permissions"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// State is the write model of one role stream.
type State struct {
	Role
	Exists bool
}

// Created is the event of a new role.
type Created struct {
	Role Role `json:"role"`
}

func (Created) EventType() string { return "role.created" }

// Register adds the role events to r.
func Register(r *events.Registry) { r.Register(Created{}) }

// Evolve applies one event to the state.
func Evolve(s State, e events.Event) State {
	if c, ok := e.(Created); ok {
		s.Role, s.Exists = c.Role, true
	}
	return s
}

// Create is the command to create a role.
type Create struct{ Role Role }

var slugPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_:-]{0,63}$`)

// CheckSlug validates a role slug: lower-case letters, digits, -, _ and :.
func CheckSlug(field, slug string) error {
	if !slugPattern.MatchString(slug) {
		return domain.InvalidField(field, "invalid_slug", "%s must be 1 to 64 lower-case letters, digits, '-', '_' or ':'.", field)
	}
	return nil
}

// Decide returns the events a command produces.
func Decide(s State, cmd any) ([]events.Event, error) {
	c, ok := cmd.(Create)
	if !ok {
		return nil, domain.Errorf(domain.BadRequest, "unknown_command", "unknown role command %T", cmd)
	}
	if s.Exists {
		return nil, domain.Errorf(domain.Conflict, "role_slug_conflict", "A role with slug %s already exists.", c.Role.Slug)
	}
	if c.Role.Permissions == nil {
		c.Role.Permissions = []string{}
	}
	return []events.Event{Created{Role: c.Role}}, nil
}
