// Package bench measures what listing memberships costs on the embedded
// store and on DynamoDB Local: time per call, and store requests per call
// (DynamoDB round trips, or store calls for the embedded store).
package bench

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"

	"github.com/keywayhq/keyway/app"
	"github.com/keywayhq/keyway/domain/password"
	"github.com/keywayhq/keyway/events"
	"github.com/keywayhq/keyway/infra/bolt"
	"github.com/keywayhq/keyway/infra/dynamo"
	"github.com/keywayhq/keyway/test/peers"
)

var ddbURL string

func TestMain(m *testing.M) {
	flag.Parse()
	if f := flag.Lookup("test.bench"); f == nil || f.Value.String() == "" {
		os.Exit(m.Run()) // no benchmarks asked for: no peer needed
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	ddb, err := peers.StartDynamoDBLocal(ctx)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ddbURL = ddb.URL
	code := m.Run()
	ddb.Stop()
	os.Exit(code)
}

// countingStore counts the store calls the app makes (its requests, as
// DynamoDB round trips count them for the DynamoDB store).
type countingStore struct {
	events.Store
	n atomic.Int64
}

func (c *countingStore) Append(ctx context.Context, a events.Append) error {
	c.n.Add(1)
	return c.Store.Append(ctx, a)
}

func (c *countingStore) Load(ctx context.Context, env, stream string) ([]events.Envelope, error) {
	c.n.Add(1)
	return c.Store.Load(ctx, env, stream)
}

func (c *countingStore) Idempotency(ctx context.Context, env, key string) (events.IdempotencyRecord, error) {
	c.n.Add(1)
	return c.Store.Idempotency(ctx, env, key)
}

func (c *countingStore) Get(ctx context.Context, env string, k events.ItemKey) (events.Item, error) {
	c.n.Add(1)
	return c.Store.Get(ctx, env, k)
}

func (c *countingStore) GetMany(ctx context.Context, env string, keys []events.ItemKey) ([]events.Item, error) {
	c.n.Add(1)
	return c.Store.GetMany(ctx, env, keys)
}

func (c *countingStore) Query(ctx context.Context, q events.Query) ([]events.Item, error) {
	c.n.Add(1)
	return c.Store.Query(ctx, q)
}

func (c *countingStore) Owner(ctx context.Context, env, kind, value string) (string, error) {
	c.n.Add(1)
	return c.Store.Owner(ctx, env, kind, value)
}

// countingHTTP counts DynamoDB round trips.
type countingHTTP struct {
	inner aws.HTTPClient
	n     atomic.Int64
}

func (c *countingHTTP) Do(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.inner.Do(r)
}

// fixture is one environment with an organization of 60 members and a
// user who belongs to 15 organizations.
type fixture struct {
	app      *app.App
	env      string
	orgID    string
	userID   string
	requests func() int64
}

func setup(b *testing.B, store events.Store, requests func() int64) fixture {
	ctx := context.Background()
	a := app.New(app.Config{Store: store, Password: password.Params{MemoryKiB: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}})
	env, err := a.EnsureEnvironment(ctx, app.EnsureEnvironmentInput{Name: "staging", Type: "staging"})
	if err != nil {
		b.Fatal(err)
	}
	m := app.Meta{Env: env.Environment.ID}
	org, err := a.CreateOrganization(ctx, m, app.CreateOrganizationInput{Name: "Big"})
	if err != nil {
		b.Fatal(err)
	}
	var first string
	for i := range 60 {
		u, err := a.CreateUser(ctx, m, app.CreateUserInput{Email: fmt.Sprintf("u%d@example.com", i)})
		if err != nil {
			b.Fatal(err)
		}
		if first == "" {
			first = u.ID
		}
		if _, err := a.CreateMembership(ctx, m, u.ID, org.ID, ""); err != nil {
			b.Fatal(err)
		}
	}
	for i := range 14 {
		o, err := a.CreateOrganization(ctx, m, app.CreateOrganizationInput{Name: fmt.Sprintf("Org %d", i)})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := a.CreateMembership(ctx, m, first, o.ID, "admin"); err != nil {
			b.Fatal(err)
		}
	}
	return fixture{app: a, env: env.Environment.ID, orgID: org.ID, userID: first, requests: requests}
}

// measure runs list b.N times and reports store requests per call.
func measure(b *testing.B, f fixture, list func(context.Context) (int, error)) {
	ctx := context.Background()
	if n, err := list(ctx); err != nil || n != 10 {
		b.Fatalf("a page of %d, %v; want 10", n, err)
	}
	start := f.requests()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := list(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(f.requests()-start)/float64(b.N), "requests/call")
}

func listings(b *testing.B, f fixture) {
	page := app.PageParams{Limit: 10, Order: "desc"}
	b.Run("MembershipsByOrganization", func(b *testing.B) {
		measure(b, f, func(ctx context.Context) (int, error) {
			p, err := f.app.ListMemberships(ctx, f.env, app.ListMembershipsInput{OrganizationID: f.orgID, Page: page})
			return len(p.Data), err
		})
	})
	b.Run("MembershipsByUser", func(b *testing.B) {
		measure(b, f, func(ctx context.Context) (int, error) {
			p, err := f.app.ListMemberships(ctx, f.env, app.ListMembershipsInput{UserID: f.userID, Page: page})
			return len(p.Data), err
		})
	})
	b.Run("UsersByOrganization", func(b *testing.B) {
		measure(b, f, func(ctx context.Context) (int, error) {
			p, err := f.app.ListUsers(ctx, f.env, app.ListUsersInput{OrganizationID: f.orgID, Page: page})
			return len(p.Data), err
		})
	})
}

func BenchmarkListEmbedded(b *testing.B) {
	s, err := bolt.Open(filepath.Join(b.TempDir(), "keyway.db"), time.Now)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	cs := &countingStore{Store: s}
	listings(b, setup(b, cs, cs.n.Load))
}

func BenchmarkListDynamoDB(b *testing.B) {
	tables, err := peers.FreshTables(context.Background(), ddbURL, "bench")
	if err != nil {
		b.Fatal(err)
	}
	ch := &countingHTTP{inner: awshttp.NewBuildableClient()}
	s := dynamo.New(peers.DynamoClient(ddbURL, ch), tables, time.Now)
	listings(b, setup(b, s, ch.n.Load))
}
