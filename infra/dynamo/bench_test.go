package dynamo_test

import (
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"

	"github.com/keywayhq/keyway/events"
	"github.com/keywayhq/keyway/events/storetest"
	"github.com/keywayhq/keyway/infra/dynamo"
	"github.com/keywayhq/keyway/test/peers"
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
	ddbLocal.Need(b)
	cc := &countingClient{inner: awshttp.NewBuildableClient()}
	return dynamo.New(peers.DynamoClient(ddbLocal.Peer.URL, cc), tables, time.Now), cc
}

func benchEnv(name string) string { return fmt.Sprintf("bench%s%d", name, time.Now().UnixNano()) }

// warm sends a few dozen appends first: DynamoDB Local's JVM is slow at first.
func warm(b *testing.B, s *dynamo.Store) {
	b.Helper()
	ids := events.NewIDs(time.Now)
	env := benchEnv("warm")
	for i := range 50 {
		if err := s.Append(ctx, storetest.UserAppend(ids, env, i)); err != nil {
			b.Fatal(err)
		}
		if _, err := s.Load(ctx, env, events.StreamName("user", fmt.Sprintf("user_%d", i))); err != nil {
			b.Fatal(err)
		}
	}
}

// countRequests runs bench on a warm store and reports round trips per op.
func countRequests(b *testing.B, bench func(*testing.B, events.Store, string), name string) {
	s, cc := benchStore(b)
	warm(b, s)
	start := cc.n.Load()
	bench(b, s, benchEnv(name))
	b.ReportMetric(float64(cc.n.Load()-start)/float64(b.N), "reqs/op")
}

// BenchmarkAppend: one TransactWriteItems of three actions per op.
func BenchmarkAppend(b *testing.B) { countRequests(b, storetest.BenchAppend, "append") }

// BenchmarkLoad: one consistent Query per op (plus one setup append).
func BenchmarkLoad(b *testing.B) { countRequests(b, storetest.BenchLoad, "load") }
