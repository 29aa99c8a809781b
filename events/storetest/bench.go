package storetest

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/keywayhq/keyway/events"
)

// UserAppend is the append a user creation makes: a new stream with one
// event, one email claim and one read-model item.
func UserAppend(ids *events.IDs, env string, i int) events.Append {
	id := fmt.Sprintf("user_%d", i)
	stream := events.StreamName("user", id)
	return events.Append{
		Environment: env,
		Streams: []events.StreamAppend{{Stream: stream, Events: []events.Envelope{{
			ID: ids.ULID(), Environment: env, Stream: stream, Version: 1, Type: "user.created",
			Data: json.RawMessage(`{"id":"` + id + `","email":"` + id + `@example.com"}`), OccurredAt: time.Now(),
		}}}},
		Claims: []events.Claim{{Kind: "email", Value: id + "@example.com", Owner: stream}},
		Puts: []events.Item{{ItemKey: events.ItemKey{Collection: "user", ID: id}, Data: json.RawMessage(`{"id":"` + id + `"}`),
			Indexes: map[events.Index]events.IndexKey{events.Index1: {Partition: "users", Sort: id}}}},
	}
}

// BenchAppend measures one UserAppend per op on s, in environment env.
func BenchAppend(b *testing.B, s events.Store, env string) {
	ids := events.NewIDs(time.Now)
	appends := make([]events.Append, b.N)
	for i := range appends {
		appends[i] = UserAppend(ids, env, i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if err := s.Append(ctx, appends[i]); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
}

// BenchLoad measures loading a 10-event stream per op on s, in environment env.
func BenchLoad(b *testing.B, s events.Store, env string) {
	ids := events.NewIDs(time.Now)
	sa := events.StreamAppend{Stream: "user#a"}
	for v := int64(1); v <= 10; v++ {
		sa.Events = append(sa.Events, events.Envelope{ID: ids.ULID(), Environment: env, Stream: "user#a", Version: v,
			Type: "user.updated", Data: json.RawMessage(`{"id":"a","first_name":"Ada"}`), OccurredAt: time.Now()})
	}
	if err := s.Append(ctx, events.Append{Environment: env, Streams: []events.StreamAppend{sa}}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		evs, err := s.Load(ctx, env, "user#a")
		if err != nil || len(evs) != 10 {
			b.Fatalf("Load = %d events, %v", len(evs), err)
		}
	}
	b.StopTimer()
}
