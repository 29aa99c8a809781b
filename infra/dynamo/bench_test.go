package dynamo_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"

	"github.com/keywayhq/keyway/events"
	"github.com/keywayhq/keyway/infra/dynamo"
)

// countingClient counts the HTTP requests (network round trips) the SDK sends.
type countingClient struct {
	inner aws.HTTPClient
	n     atomic.Int64
}

func (c *countingClient) Do(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.inner.Do(r)
}

// benchStore is a store on DynamoDB Local whose requests are counted.
func benchStore(b *testing.B) (*dynamo.Store, *countingClient) {
	b.Helper()
	ddbLocal.need(b)
	cc := &countingClient{inner: awshttp.NewBuildableClient()}
	return dynamo.New(newClient(ddbLocal.peer.URL, cc), tables, time.Now), cc
}

func benchEnv(name string) string { return fmt.Sprintf("bench%s%d", name, time.Now().UnixNano()) }

func newUserAppend(ids *events.IDs, env string, i int) events.Append {
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

// warm sends a few dozen appends first: DynamoDB Local's JVM is slow at first.
func warm(b *testing.B, s *dynamo.Store) {
	b.Helper()
	ids := events.NewIDs(time.Now)
	env := benchEnv("warm")
	for i := range 50 {
		if err := s.Append(ctx, newUserAppend(ids, env, i)); err != nil {
			b.Fatal(err)
		}
		if _, err := s.Load(ctx, env, events.StreamName("user", fmt.Sprintf("user_%d", i))); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppend appends, per op, a new stream with one event, one claim
// and one read-model item: one TransactWriteItems of three actions.
func BenchmarkAppend(b *testing.B) {
	s, cc := benchStore(b)
	warm(b, s)
	ids := events.NewIDs(time.Now)
	env := benchEnv("append")
	appends := make([]events.Append, b.N)
	for i := range appends {
		appends[i] = newUserAppend(ids, env, i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := cc.n.Load()
	for i := range b.N {
		if err := s.Append(ctx, appends[i]); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(cc.n.Load()-start)/float64(b.N), "reqs/op")
}

// BenchmarkLoad loads a 10-event stream (one consistent Query).
func BenchmarkLoad(b *testing.B) {
	s, cc := benchStore(b)
	warm(b, s)
	ids := events.NewIDs(time.Now)
	env := benchEnv("load")
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
	start := cc.n.Load()
	for range b.N {
		evs, err := s.Load(ctx, env, "user#a")
		if err != nil || len(evs) != 10 {
			b.Fatalf("Load = %d events, %v", len(evs), err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(cc.n.Load()-start)/float64(b.N), "reqs/op")
}
