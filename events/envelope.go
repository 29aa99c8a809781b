package events

import (
	"encoding/json"
	"time"
)

// Envelope is one stored event.
type Envelope struct {
	ID          string          `json:"id"` // a bare ULID; time-ordered
	Environment string          `json:"environment"`
	Stream      string          `json:"stream"`  // "<aggregate>#<id>", e.g. "user#user_01H..."
	Version     int64           `json:"version"` // 1 for the first event of a stream
	Type        string          `json:"type"`    // WorkOS naming, e.g. "user.created"
	Data        json.RawMessage `json:"data"`
	OccurredAt  time.Time       `json:"occurred_at"`
	Actor       string          `json:"actor,omitempty"`
	RequestID   string          `json:"request_id,omitempty"`
}

// StreamName joins an aggregate kind and an id into a stream name.
func StreamName(aggregate, id string) string { return aggregate + "#" + id }
