package bolt

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/keywayhq/keyway/events"
)

// itemRecord is the stored JSON of a read-model item.
type itemRecord struct {
	Collection string                           `json:"collection"`
	ID         string                           `json:"id"`
	Data       json.RawMessage                  `json:"data,omitempty"`
	Indexes    map[events.Index]events.IndexKey `json:"indexes,omitempty"`
	ExpiresAt  time.Time                        `json:"expires_at,omitzero"`
}

// encodeItem returns the stored JSON of it. Its Data must be valid JSON.
func encodeItem(it events.Item) ([]byte, error) {
	b, err := json.Marshal(itemRecord{
		Collection: it.Collection, ID: it.ID, Data: it.Data, Indexes: it.Indexes, ExpiresAt: it.ExpiresAt,
	})
	if err != nil {
		return nil, fmt.Errorf("bolt: encode item %s/%s: %w", it.Collection, it.ID, err)
	}
	return b, nil
}

// decodeItem reads the stored JSON of an item.
func decodeItem(b []byte) (events.Item, error) {
	var r itemRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return events.Item{}, fmt.Errorf("bolt: decode item: %w", err)
	}
	return events.Item{
		ItemKey: events.ItemKey{Collection: r.Collection, ID: r.ID},
		Data:    r.Data, Indexes: r.Indexes, ExpiresAt: r.ExpiresAt,
	}, nil
}

// decodeEnvelope reads the stored JSON of an event.
func decodeEnvelope(b []byte) (events.Envelope, error) {
	var e events.Envelope
	if err := json.Unmarshal(b, &e); err != nil {
		return events.Envelope{}, fmt.Errorf("bolt: decode event: %w", err)
	}
	return e, nil
}

// decodeIdempotency reads the stored JSON of an idempotency record.
func decodeIdempotency(b []byte) (events.IdempotencyRecord, error) {
	var r events.IdempotencyRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return events.IdempotencyRecord{}, fmt.Errorf("bolt: decode idempotency record: %w", err)
	}
	return r, nil
}
