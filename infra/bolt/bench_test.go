package bolt_test

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/keywayhq/keyway/events"
)

// BenchmarkAppend appends, per op, a new stream with one event, one claim
// and one read-model item; every op is one committed (fsynced) transaction.
func BenchmarkAppend(b *testing.B) {
	s := open(b, filepath.Join(b.TempDir(), "keyway.db"), nil)
	ids := events.NewIDs(time.Now)
	appends := make([]events.Append, b.N)
	for i := range appends {
		id := fmt.Sprintf("user_%d", i)
		stream := events.StreamName("user", id)
		appends[i] = events.Append{
			Environment: "dev",
			Streams: []events.StreamAppend{{Stream: stream, Events: []events.Envelope{{
				ID: ids.ULID(), Environment: "dev", Stream: stream, Version: 1, Type: "user.created",
				Data: json.RawMessage(`{"id":"` + id + `","email":"` + id + `@example.com"}`), OccurredAt: time.Now(),
			}}}},
			Claims: []events.Claim{{Kind: "email", Value: id + "@example.com", Owner: stream}},
			Puts: []events.Item{{ItemKey: events.ItemKey{Collection: "user", ID: id}, Data: json.RawMessage(`{"id":"` + id + `"}`),
				Indexes: map[events.Index]events.IndexKey{events.Index1: {Partition: "users", Sort: id}}}},
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if err := s.Append(ctx, appends[i]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoad loads a 10-event stream.
func BenchmarkLoad(b *testing.B) {
	s := open(b, filepath.Join(b.TempDir(), "keyway.db"), nil)
	ids := events.NewIDs(time.Now)
	sa := events.StreamAppend{Stream: "user#a"}
	for v := int64(1); v <= 10; v++ {
		sa.Events = append(sa.Events, events.Envelope{ID: ids.ULID(), Environment: "dev", Stream: "user#a", Version: v,
			Type: "user.updated", Data: json.RawMessage(`{"id":"a","first_name":"Ada"}`), OccurredAt: time.Now()})
	}
	if err := s.Append(ctx, events.Append{Environment: "dev", Streams: []events.StreamAppend{sa}}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		evs, err := s.Load(ctx, "dev", "user#a")
		if err != nil || len(evs) != 10 {
			b.Fatalf("Load = %d events, %v", len(evs), err)
		}
	}
}
