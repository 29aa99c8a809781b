package dynamo_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/keywayhq/keyway/events"
	"github.com/keywayhq/keyway/events/storetest"
	"github.com/keywayhq/keyway/infra/dynamo"
	"github.com/keywayhq/keyway/test/peers"
)

var ctx = context.Background()

var (
	ddbLocal, moto *peers.DynamoBackend
	tables         = dynamo.DefaultTables()
)

func TestMain(m *testing.M) {
	flag.Parse()
	sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	ddbLocal, moto = peers.StartDynamoBackends(sctx)
	for _, b := range backends() {
		if b.Err == nil {
			if err := dynamo.Bootstrap(sctx, b.Client, tables); err != nil {
				b.Err = fmt.Errorf("bootstrap on %s: %w", b.Name, err)
			}
		}
	}
	cancel()
	code := m.Run()
	for _, b := range backends() {
		b.Stop()
	}
	os.Exit(code)
}

func backends() []*peers.DynamoBackend { return []*peers.DynamoBackend{ddbLocal, moto} }

func TestConformance(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.Name, func(t *testing.T) {
			client := b.Need(t)
			storetest.Run(t, func(t *testing.T, now func() time.Time) events.Store {
				return dynamo.New(client, tables, now)
			})
		})
	}
}

// reasonStripper removes CancellationReasons from TransactionCanceledException
// answers, as some emulators do, to exercise the store's re-reading fallback.
type reasonStripper struct {
	inner    aws.HTTPClient
	stripped atomic.Int64
}

func (r *reasonStripper) Do(req *http.Request) (*http.Response, error) {
	resp, err := r.inner.Do(req)
	if err != nil || resp.StatusCode < 400 || !strings.HasSuffix(req.Header.Get("X-Amz-Target"), ".TransactWriteItems") {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if json.Unmarshal(body, &m) == nil && m["CancellationReasons"] != nil {
		delete(m, "CancellationReasons")
		body, _ = json.Marshal(m)
		r.stripped.Add(1)
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	resp.Header.Del("Content-Length")
	resp.Header.Del("X-Amz-Crc32")
	return resp, nil
}

// TestConformanceWithoutCancellationReasons runs the suite against DynamoDB
// Local with the reasons removed from every cancelled transaction.
func TestConformanceWithoutCancellationReasons(t *testing.T) {
	ddbLocal.Need(t)
	rs := &reasonStripper{inner: awshttp.NewBuildableClient()}
	// The stripper rewrites bodies, so the CRC32 header no longer matches.
	client := peers.DynamoClient(ddbLocal.Peer.URL, rs, func(o *dynamodb.Options) { o.DisableValidateResponseChecksum = true })
	storetest.Run(t, func(t *testing.T, now func() time.Time) events.Store {
		return dynamo.New(client, tables, now)
	})
	if rs.stripped.Load() == 0 {
		t.Fatal("no cancellation reasons were stripped; the fallback was not exercised")
	}
}

func TestBootstrapIdempotent(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.Name, func(t *testing.T) {
			client := b.Need(t)
			n := time.Now().UnixNano()
			tt := dynamo.Tables{Events: fmt.Sprintf("boot-events-%d", n), State: fmt.Sprintf("boot-state-%d", n)}
			for i := range 3 {
				if err := dynamo.Bootstrap(ctx, client, tt); err != nil {
					t.Fatalf("Bootstrap #%d: %v", i+1, err)
				}
			}
			checkTables(t, client, tt)
			// The shared tables were bootstrapped in TestMain; again is fine.
			if err := dynamo.Bootstrap(ctx, client, tables); err != nil {
				t.Fatalf("Bootstrap of existing tables: %v", err)
			}
		})
	}
}

func TestBootstrapRejectsForeignLayout(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.Name, func(t *testing.T) {
			client := b.Need(t)
			n := time.Now().UnixNano()
			tt := dynamo.Tables{Events: fmt.Sprintf("foreign-events-%d", n), State: fmt.Sprintf("foreign-state-%d", n)}
			_, err := client.CreateTable(ctx, &dynamodb.CreateTableInput{
				TableName:            aws.String(tt.Events),
				BillingMode:          types.BillingModePayPerRequest,
				AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("id"), AttributeType: types.ScalarAttributeTypeS}},
				KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("id"), KeyType: types.KeyTypeHash}},
			})
			if err != nil {
				t.Fatal(err)
			}
			if err := dynamo.Bootstrap(ctx, client, tt); err == nil || !strings.Contains(err.Error(), "key schema") {
				t.Fatalf("Bootstrap over a foreign table: %v, want a key schema error", err)
			}
		})
	}
}

func TestDescribeTables(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.Name, func(t *testing.T) { checkTables(t, b.Need(t), tables) })
	}
}

// checkTables verifies the live tables against the layout the SAM template
// and the LocalStack init script declare.
func checkTables(t *testing.T, client *dynamodb.Client, tt dynamo.Tables) {
	t.Helper()
	type want struct {
		name   string
		keys   string
		attrs  map[string]types.ScalarAttributeType
		gsis   map[string]string
		stream types.StreamViewType
	}
	for _, w := range []want{
		{tt.Events, "pk:HASH sk:RANGE",
			map[string]types.ScalarAttributeType{"pk": "S", "sk": "N", "feed_pk": "S", "feed_sk": "S"},
			map[string]string{"feed": "feed_pk:HASH feed_sk:RANGE"}, types.StreamViewTypeNewImage},
		{tt.State, "pk:HASH",
			map[string]types.ScalarAttributeType{"pk": "S", "gsi1pk": "S", "gsi1sk": "S", "gsi2pk": "S", "gsi2sk": "S"},
			map[string]string{"gsi1": "gsi1pk:HASH gsi1sk:RANGE", "gsi2": "gsi2pk:HASH gsi2sk:RANGE"}, types.StreamViewTypeNewAndOldImages},
	} {
		out, err := client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(w.name)})
		if err != nil {
			t.Fatalf("DescribeTable %s: %v", w.name, err)
		}
		td := out.Table
		if td.TableStatus != types.TableStatusActive {
			t.Errorf("%s: status %s", w.name, td.TableStatus)
		}
		if got := keys(td.KeySchema); got != w.keys {
			t.Errorf("%s: keys %q, want %q", w.name, got, w.keys)
		}
		gotAttrs := map[string]types.ScalarAttributeType{}
		for _, a := range td.AttributeDefinitions {
			gotAttrs[aws.ToString(a.AttributeName)] = a.AttributeType
		}
		if fmt.Sprint(gotAttrs) != fmt.Sprint(w.attrs) {
			t.Errorf("%s: attributes %v, want %v", w.name, gotAttrs, w.attrs)
		}
		gotGSIs := map[string]string{}
		for _, g := range td.GlobalSecondaryIndexes {
			gotGSIs[aws.ToString(g.IndexName)] = keys(g.KeySchema)
			if g.Projection == nil || g.Projection.ProjectionType != types.ProjectionTypeAll {
				t.Errorf("%s: index %s projection %+v, want ALL", w.name, aws.ToString(g.IndexName), g.Projection)
			}
		}
		if fmt.Sprint(gotGSIs) != fmt.Sprint(w.gsis) {
			t.Errorf("%s: indexes %v, want %v", w.name, gotGSIs, w.gsis)
		}
		if len(td.LocalSecondaryIndexes) != 0 {
			t.Errorf("%s: unexpected local indexes", w.name)
		}
		if ss := td.StreamSpecification; ss == nil || !aws.ToBool(ss.StreamEnabled) || ss.StreamViewType != w.stream {
			t.Errorf("%s: stream %+v, want enabled %s", w.name, ss, w.stream)
		}
		if aws.ToString(td.LatestStreamArn) == "" {
			t.Errorf("%s: no stream ARN", w.name)
		}
		if bm := td.BillingModeSummary; bm == nil || bm.BillingMode != types.BillingModePayPerRequest {
			t.Errorf("%s: billing mode %+v, want PAY_PER_REQUEST", w.name, bm)
		}
	}
	ttl, err := client.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(tt.State)})
	if err != nil {
		t.Fatalf("DescribeTimeToLive: %v", err)
	}
	if d := ttl.TimeToLiveDescription; d == nil || aws.ToString(d.AttributeName) != dynamo.TTLAttribute ||
		(d.TimeToLiveStatus != types.TimeToLiveStatusEnabled && d.TimeToLiveStatus != types.TimeToLiveStatusEnabling) {
		t.Errorf("%s: TTL %+v, want enabled on %q", tt.State, d, dynamo.TTLAttribute)
	}
}

func keys(ks []types.KeySchemaElement) string {
	var parts []string
	for _, k := range ks {
		parts = append(parts, aws.ToString(k.AttributeName)+":"+string(k.KeyType))
	}
	return strings.Join(parts, " ")
}

func TestTableInputsMatchLayout(t *testing.T) {
	in := dynamo.TableInputs(dynamo.Tables{Events: "e", State: "s"})
	if len(in) != 2 || aws.ToString(in[0].TableName) != "e" || aws.ToString(in[1].TableName) != "s" {
		t.Fatalf("TableInputs = %+v", in)
	}
	for _, ti := range in {
		if ti.BillingMode != types.BillingModePayPerRequest || ti.StreamSpecification == nil {
			t.Errorf("%s: billing %s stream %+v", aws.ToString(ti.TableName), ti.BillingMode, ti.StreamSpecification)
		}
	}
	if in[0].StreamSpecification.StreamViewType != types.StreamViewTypeNewImage ||
		in[1].StreamSpecification.StreamViewType != types.StreamViewTypeNewAndOldImages {
		t.Error("stream view types")
	}
	if dynamo.TTLAttribute != "ttl" {
		t.Errorf("TTLAttribute = %q", dynamo.TTLAttribute)
	}
}

func TestTablesFromEnv(t *testing.T) {
	t.Setenv(dynamo.EventsTableEnv, "")
	t.Setenv(dynamo.StateTableEnv, "")
	if got := dynamo.TablesFromEnv(); got != (dynamo.Tables{Events: "keyway-events", State: "keyway-state"}) || got != dynamo.DefaultTables() {
		t.Fatalf("defaults = %+v", got)
	}
	t.Setenv(dynamo.EventsTableEnv, "prod-events")
	t.Setenv(dynamo.StateTableEnv, "prod-state")
	if got := dynamo.TablesFromEnv(); got != (dynamo.Tables{Events: "prod-events", State: "prod-state"}) {
		t.Fatalf("from env = %+v", got)
	}
}

// TestItemLayout writes through the store and reads the raw items, which
// other components (stream consumers, the SAM template's TTL) rely on.
func TestItemLayout(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.Name, func(t *testing.T) {
			client := b.Need(t)
			now := time.Date(2026, 1, 2, 3, 4, 5, 600_000_000, time.UTC)
			s := dynamo.New(client, tables, func() time.Time { return now })
			env := fmt.Sprintf("layout%d", time.Now().UnixNano())
			exp := now.Add(time.Hour + 1500*time.Microsecond)
			e := events.Envelope{ID: events.NewIDs(func() time.Time { return now }).ULID(), Environment: env, Stream: "user#u1", Version: 1,
				Type: "user.created", Data: json.RawMessage(`{"id":"u1"}`), OccurredAt: now.In(time.FixedZone("x", 3600)), Actor: "api_key_1", RequestID: "req_1"}
			err := s.Append(ctx, events.Append{
				Environment: env,
				Streams:     []events.StreamAppend{{Stream: "user#u1", Events: []events.Envelope{e}}},
				Claims:      []events.Claim{{Kind: "email", Value: "u1@example.com", Owner: "user#u1"}},
				Puts: []events.Item{{ItemKey: events.ItemKey{Collection: "user", ID: "u1"}, Data: json.RawMessage(`{"id":"u1"}`), ExpiresAt: exp,
					Indexes: map[events.Index]events.IndexKey{events.Index2: {Partition: "by-email#u1@example.com", Sort: "u1"}}}},
				Idempotency: &events.IdempotencyRecord{Key: "k", Fingerprint: "fp", Status: 201, Body: []byte("{}"), ExpiresAt: exp},
			})
			if err != nil {
				t.Fatal(err)
			}
			get := func(table string, key map[string]types.AttributeValue) map[string]types.AttributeValue {
				t.Helper()
				out, err := client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: key, ConsistentRead: aws.Bool(true)})
				if err != nil || out.Item == nil {
					t.Fatalf("GetItem %v: %v, %v", key, out, err)
				}
				return out.Item
			}
			s_ := func(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
			n_ := func(v string) types.AttributeValue { return &types.AttributeValueMemberN{Value: v} }
			check := func(item map[string]types.AttributeValue, want map[string]types.AttributeValue, absent ...string) {
				t.Helper()
				for k, w := range want {
					if fmt.Sprintf("%#v", item[k]) != fmt.Sprintf("%#v", w) {
						t.Errorf("attribute %s = %#v, want %#v", k, item[k], w)
					}
				}
				for _, k := range absent {
					if _, ok := item[k]; ok {
						t.Errorf("attribute %s present", k)
					}
				}
			}
			ev := get(tables.Events, map[string]types.AttributeValue{"pk": s_(env + "#user#u1"), "sk": n_("1")})
			check(ev, map[string]types.AttributeValue{
				"id": s_(e.ID), "type": s_("user.created"), "data": s_(`{"id":"u1"}`), "occurred_at": s_("2026-01-02T03:04:05.6Z"),
				"actor": s_("api_key_1"), "request_id": s_("req_1"), "env": s_(env), "stream": s_("user#u1"),
				"feed_pk": s_(env), "feed_sk": s_(e.ID),
			})
			expMs := fmt.Sprint(exp.UnixMilli())
			expS := fmt.Sprint(exp.Unix() + 1) // rounded up
			it := get(tables.State, map[string]types.AttributeValue{"pk": s_(env + "#item#user#u1")})
			check(it, map[string]types.AttributeValue{
				"data": s_(`{"id":"u1"}`), "gsi2pk": s_(env + "#by-email#u1@example.com"), "gsi2sk": s_("u1"),
				"expires_at": n_(expMs), "ttl": n_(expS),
			}, "gsi1pk", "gsi1sk")
			cl := get(tables.State, map[string]types.AttributeValue{"pk": s_(env + "#unique#email#u1@example.com")})
			check(cl, map[string]types.AttributeValue{"owner": s_("user#u1")})
			id := get(tables.State, map[string]types.AttributeValue{"pk": s_(env + "#idem#k")})
			check(id, map[string]types.AttributeValue{"fingerprint": s_("fp"), "status": n_("201"),
				"body": &types.AttributeValueMemberB{Value: []byte("{}")}, "expires_at": n_(expMs), "ttl": n_(expS)})
		})
	}
}

func TestAppendLimits(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.Name, func(t *testing.T) {
			s := dynamo.New(b.Need(t), tables, time.Now)
			env := fmt.Sprintf("limits%d", time.Now().UnixNano())
			ids := events.NewIDs(time.Now)
			a := events.Append{Environment: env}
			for i := range 101 {
				a.Puts = append(a.Puts, events.Item{ItemKey: events.ItemKey{Collection: "c", ID: fmt.Sprint(i)}, Data: json.RawMessage(`{}`)})
			}
			if err := s.Append(ctx, a); err == nil || !strings.Contains(err.Error(), "100") {
				t.Fatalf("101 actions: %v, want an error", err)
			}
			// A Put and a Delete of one key: the Put wins (one action).
			a = events.Append{Environment: env,
				Puts:    []events.Item{{ItemKey: events.ItemKey{Collection: "c", ID: "x"}, Data: json.RawMessage(`{"v":1}`)}, {ItemKey: events.ItemKey{Collection: "c", ID: "x"}, Data: json.RawMessage(`{"v":2}`)}},
				Deletes: []events.ItemKey{{Collection: "c", ID: "x"}, {Collection: "c", ID: "y"}, {Collection: "c", ID: "y"}}}
			if err := s.Append(ctx, a); err != nil {
				t.Fatal(err)
			}
			if it, err := s.Get(ctx, env, events.ItemKey{Collection: "c", ID: "x"}); err != nil || string(it.Data) != `{"v":2}` {
				t.Fatalf("Get = %s, %v", it.Data, err)
			}
			// Claim and release of one value in one append.
			c := events.Claim{Kind: "email", Value: "m@example.com", Owner: "user#m"}
			ev := events.Envelope{ID: ids.ULID(), Environment: env, Stream: "user#m", Version: 1, Type: "user.created", Data: json.RawMessage(`{}`), OccurredAt: time.Now()}
			if err := s.Append(ctx, events.Append{Environment: env, Streams: []events.StreamAppend{{Stream: "user#m", Events: []events.Envelope{ev}}},
				Claims: []events.Claim{c}, Releases: []events.Claim{c}}); err != nil {
				t.Fatal(err)
			}
			if o, err := s.Owner(ctx, env, "email", "m@example.com"); err != nil || o != "user#m" {
				t.Fatalf("Owner = %q, %v", o, err)
			}
			other := events.Claim{Kind: "email", Value: "m@example.com", Owner: "user#n"}
			err := s.Append(ctx, events.Append{Environment: env, Releases: []events.Claim{c}, Claims: []events.Claim{other}})
			var ce *events.ClaimError
			if !errors.As(err, &ce) || ce.Value != "m@example.com" {
				t.Fatalf("release by owner + claim by other of a held value: %v, want ClaimError", err)
			}
			if err := s.Append(ctx, events.Append{Environment: "a#b", Puts: a.Puts[:1]}); err == nil {
				t.Fatal("environment with '#' accepted")
			}
		})
	}
}
