package events

import (
	"encoding/json"
	"fmt"
	"reflect"
)

// Event is a typed domain event. Its type name follows WorkOS ("user.created").
type Event interface{ EventType() string }

// Registry maps event type names to the Go types that carry them.
type Registry struct{ types map[string]reflect.Type }

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{types: map[string]reflect.Type{}} }

// Register adds the types of the given sample events. Registering one name
// with two different Go types is a programming error and panics at startup.
func (r *Registry) Register(samples ...Event) {
	for _, s := range samples {
		t := reflect.TypeOf(s)
		if prev, ok := r.types[s.EventType()]; ok && prev != t {
			panic(fmt.Sprintf("events: %q registered as %v and %v", s.EventType(), prev, t))
		}
		r.types[s.EventType()] = t
	}
}

// Known reports whether name is a registered event type.
func (r *Registry) Known(name string) bool { _, ok := r.types[name]; return ok }

// Encode turns a typed event into its JSON data.
func (r *Registry) Encode(e Event) (json.RawMessage, error) {
	if !r.Known(e.EventType()) {
		return nil, fmt.Errorf("events: unregistered event type %q", e.EventType())
	}
	b, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("events: encode %s: %w", e.EventType(), err)
	}
	return b, nil
}

// Decode turns a stored envelope back into its typed event.
func (r *Registry) Decode(env Envelope) (Event, error) {
	t, ok := r.types[env.Type]
	if !ok {
		return nil, fmt.Errorf("events: unknown event type %q in %s v%d", env.Type, env.Stream, env.Version)
	}
	ptr := reflect.New(t)
	if err := json.Unmarshal(env.Data, ptr.Interface()); err != nil {
		return nil, fmt.Errorf("events: decode %s %s v%d: %w", env.Type, env.Stream, env.Version, err)
	}
	return ptr.Elem().Interface().(Event), nil
}
