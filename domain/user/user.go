// Package user is the user aggregate: its state, the commands that change
// it, the events they produce, and the rules on emails, names and metadata.
package user

import (
	"time"

	"github.com/keywayhq/keyway/domain"
	"github.com/keywayhq/keyway/domain/password"
	"github.com/keywayhq/keyway/events"
)

// Aggregate is the stream prefix of users.
const Aggregate = "user"

// User is the user as the API shows it.
type User struct {
	ID                string            `json:"id"`
	Email             string            `json:"email"`
	EmailVerified     bool              `json:"email_verified"`
	FirstName         *string           `json:"first_name"`
	LastName          *string           `json:"last_name"`
	Name              *string           `json:"name"`
	ProfilePictureURL *string           `json:"profile_picture_url"`
	LastSignInAt      *time.Time        `json:"last_sign_in_at"`
	Locale            *string           `json:"locale"`
	ExternalID        *string           `json:"external_id"`
	Metadata          map[string]string `json:"metadata"`
	CreatedAt         time.Time         `json:"created_at"`
	UpdatedAt         time.Time         `json:"updated_at"`
}

// State is the write model of one user stream.
type State struct {
	User
	Exists   bool
	Deleted  bool
	Password *password.Hash
}

// Events. Created, Updated and Deleted carry the whole user, as WorkOS
// events do; PasswordSet is internal and never leaves Keyway.
type (
	Created struct {
		User User `json:"user"`
	}
	Updated struct {
		User User `json:"user"`
	}
	Deleted struct {
		User User `json:"user"`
	}
	PasswordSet struct {
		Hash password.Hash `json:"hash"`
		At   time.Time     `json:"at"`
	}
)

func (Created) EventType() string     { return "user.created" }
func (Updated) EventType() string     { return "user.updated" }
func (Deleted) EventType() string     { return "user.deleted" }
func (PasswordSet) EventType() string { return "user.password_set" }

// Register adds the user events to r.
func Register(r *events.Registry) { r.Register(Created{}, Updated{}, Deleted{}, PasswordSet{}) }

// Evolve applies one event to the state.
func Evolve(s State, e events.Event) State {
	switch e := e.(type) {
	case Created:
		s.User, s.Exists = e.User, true
	case Updated:
		s.User = e.User
	case Deleted:
		s.User, s.Deleted = e.User, true
	case PasswordSet:
		h := e.Hash
		s.Password = &h
	}
	return s
}

// Create is the command to create a user. The app layer has already
// normalized Email and hashed or imported the password.
type Create struct {
	ID            string
	Email         string
	EmailVerified bool
	FirstName     *string
	LastName      *string
	Name          *string
	Locale        *string
	ExternalID    *string
	Metadata      map[string]string
	Password      *password.Hash
	At            time.Time
}

// Field is an optional update of a nullable field: absent, null, or a value.
type Field[T any] struct {
	Set   bool
	Value *T // nil when set to null
}

// Update is the command to change a user; unset fields stay as they are.
type Update struct {
	Email         *string
	EmailVerified *bool
	FirstName     Field[string]
	LastName      Field[string]
	Name          Field[string]
	Locale        Field[string]
	ExternalID    Field[string]
	Metadata      map[string]*string // a nil value deletes the key
	Password      *password.Hash
	At            time.Time
}

// Delete is the command to delete a user.
type Delete struct{ At time.Time }

// SignIn records a successful sign-in (last_sign_in_at).
type SignIn struct{ At time.Time }

// SignInResolution is how precise last_sign_in_at is.
const SignInResolution = time.Hour

// ErrNotFound is the WorkOS 404 for a user.
func ErrNotFound(id string) error {
	return domain.NotFoundf("entity_not_found", "User not found: '%s'.", id)
}

// Decide returns the events a command produces, or a domain error.
func Decide(s State, cmd any) ([]events.Event, error) {
	switch c := cmd.(type) {
	case Create:
		if s.Exists {
			return nil, domain.Errorf(domain.Conflict, "user_already_exists", "User %s already exists.", c.ID)
		}
		md := c.Metadata
		if md == nil {
			md = map[string]string{}
		}
		u := User{ID: c.ID, Email: c.Email, EmailVerified: c.EmailVerified, FirstName: c.FirstName, LastName: c.LastName,
			Name: c.Name, Locale: c.Locale, ExternalID: c.ExternalID, Metadata: md, CreatedAt: c.At, UpdatedAt: c.At}
		out := []events.Event{Created{User: u}}
		if c.Password != nil {
			out = append(out, PasswordSet{Hash: *c.Password, At: c.At})
		}
		return out, nil
	case Update:
		if !s.Exists || s.Deleted {
			return nil, ErrNotFound(s.ID)
		}
		u := s.User
		u.Metadata = domain.MergeMetadata(u.Metadata, c.Metadata)
		if c.Email != nil {
			if *c.Email != u.Email {
				u.EmailVerified = false
			}
			u.Email = *c.Email
		}
		if c.EmailVerified != nil {
			u.EmailVerified = *c.EmailVerified
		}
		apply(&u.FirstName, c.FirstName)
		apply(&u.LastName, c.LastName)
		apply(&u.Name, c.Name)
		apply(&u.Locale, c.Locale)
		apply(&u.ExternalID, c.ExternalID)
		var out []events.Event
		if !sameUser(u, s.User) {
			u.UpdatedAt = c.At
			out = append(out, Updated{User: u})
		}
		if c.Password != nil {
			out = append(out, PasswordSet{Hash: *c.Password, At: c.At})
		}
		return out, nil
	case Delete:
		if !s.Exists || s.Deleted {
			return nil, ErrNotFound(s.ID)
		}
		return []events.Event{Deleted{User: s.User}}, nil
	case SignIn:
		if !s.Exists || s.Deleted {
			return nil, ErrNotFound(s.ID)
		}
		// last_sign_in_at moves at most once per SignInResolution, so that
		// frequent sign-ins do not grow the user's stream without bound.
		if s.LastSignInAt != nil && c.At.Sub(*s.LastSignInAt) < SignInResolution {
			return nil, nil
		}
		u := s.User
		at := c.At
		u.LastSignInAt, u.UpdatedAt = &at, c.At
		return []events.Event{Updated{User: u}}, nil
	}
	return nil, domain.Errorf(domain.BadRequest, "unknown_command", "unknown user command %T", cmd)
}

func apply(dst **string, f Field[string]) {
	if f.Set {
		*dst = f.Value
	}
}

func sameUser(a, b User) bool {
	eq := domain.SameString
	return a.Email == b.Email && a.EmailVerified == b.EmailVerified && eq(a.FirstName, b.FirstName) && eq(a.LastName, b.LastName) &&
		eq(a.Name, b.Name) && eq(a.Locale, b.Locale) && eq(a.ExternalID, b.ExternalID) && domain.SameMetadata(a.Metadata, b.Metadata)
}
