// Package environment is the environment aggregate: staging or production,
// its client id and its API keys (stored only as hashes).
package environment

import (
	"time"

	"github.com/keywayhq/keyway/domain"
	"github.com/keywayhq/keyway/events"
)

// Aggregate is the stream prefix of environments. Environment streams live
// in the System namespace, not in an environment of their own.
const Aggregate = "environment"

// System is the namespace that holds environments and API keys.
const System = "system"

// Types of environment and the API key prefix each uses.
const (
	Staging    = "staging"
	Production = "production"
)

// KeyPrefix returns the API key prefix of an environment type.
func KeyPrefix(typ string) string {
	if typ == Production {
		return "sk_live_"
	}
	return "sk_test_"
}

// Environment is one isolated set of users, organizations and settings.
type Environment struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Type      string    `json:"type"`
	ClientID  string    `json:"client_id"`
	CreatedAt time.Time `json:"created_at"`
	Settings  Settings  `json:"settings"`
}

// APIKey is an API key as stored: never the key itself.
type APIKey struct {
	ID        string    `json:"id"`
	Hash      string    `json:"hash"` // hex SHA-256 of the key
	Hint      string    `json:"hint"` // the prefix and last four characters, for people
	CreatedAt time.Time `json:"created_at"`
}

// State is the write model of one environment stream.
type State struct {
	Environment
	Exists bool
	Keys   []APIKey
	// SettingsSet tells settings never set from settings set to empty.
	SettingsSet bool
}

// Events.
type (
	Created struct {
		Environment Environment `json:"environment"`
	}
	APIKeyAdded struct {
		EnvironmentID string `json:"environment_id"`
		Key           APIKey `json:"key"`
	}
	// SettingsUpdated replaces the hosted-login settings as a whole.
	SettingsUpdated struct {
		EnvironmentID string    `json:"environment_id"`
		Settings      Settings  `json:"settings"`
		At            time.Time `json:"at"`
	}
)

func (Created) EventType() string         { return "environment.created" }
func (APIKeyAdded) EventType() string     { return "environment.api_key_added" }
func (SettingsUpdated) EventType() string { return "environment.settings_updated" }

// Register adds the environment events to r.
func Register(r *events.Registry) { r.Register(Created{}, APIKeyAdded{}, SettingsUpdated{}) }

// Evolve applies one event to the state.
func Evolve(s State, e events.Event) State {
	switch e := e.(type) {
	case Created:
		s.Environment, s.Exists = e.Environment, true
	case APIKeyAdded:
		s.Keys = append(s.Keys, e.Key)
	case SettingsUpdated:
		s.Settings, s.SettingsSet = e.Settings, true
	}
	return s
}

// Create is the command to create an environment with its first key.
type Create struct {
	Environment Environment
	Key         APIKey
}

// AddKey is the command to add an API key.
type AddKey struct{ Key APIKey }

// UpdateSettings replaces the settings; they are validated first.
type UpdateSettings struct {
	Settings Settings
	At       time.Time
}

// Decide returns the events a command produces.
func Decide(s State, cmd any) ([]events.Event, error) {
	switch c := cmd.(type) {
	case Create:
		if s.Exists {
			return nil, domain.Errorf(domain.Conflict, "environment_exists", "Environment %s already exists.", s.Name)
		}
		if c.Environment.Type != Staging && c.Environment.Type != Production {
			return nil, domain.InvalidField("type", "invalid_type", "Environment type must be staging or production.")
		}
		return []events.Event{Created{Environment: c.Environment}, APIKeyAdded{EnvironmentID: c.Environment.ID, Key: c.Key}}, nil
	case AddKey:
		if !s.Exists {
			return nil, domain.NotFoundf("entity_not_found", "Environment not found.")
		}
		for _, k := range s.Keys {
			if k.Hash == c.Key.Hash {
				return nil, nil
			}
		}
		return []events.Event{APIKeyAdded{EnvironmentID: s.ID, Key: c.Key}}, nil
	case UpdateSettings:
		if !s.Exists {
			return nil, domain.NotFoundf("entity_not_found", "Environment not found.")
		}
		set, err := c.Settings.Normalize(s.Type)
		if err != nil {
			return nil, err
		}
		if s.SettingsSet && set.Equal(s.Settings) {
			return nil, nil
		}
		return []events.Event{SettingsUpdated{EnvironmentID: s.ID, Settings: set, At: c.At}}, nil
	}
	return nil, domain.Errorf(domain.BadRequest, "unknown_command", "unknown environment command %T", cmd)
}
