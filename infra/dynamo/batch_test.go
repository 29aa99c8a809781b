package dynamo_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
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

// TestGetManyDuplicatesFullBatch asks for MaxGetMany keys, many of them
// repeated, missing or expired, and expects memstore's answer: each live item
// once per time its key is given, in the order of the keys.
func TestGetManyDuplicatesFullBatch(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.Name, func(t *testing.T) {
			client := b.Need(t)
			now := time.Now()
			s := dynamo.New(client, tables, func() time.Time { return now })
			env := benchEnv("getmany")
			var puts []events.Item
			for i := range 40 {
				it := events.Item{ItemKey: events.ItemKey{Collection: "user", ID: fmt.Sprint(i)}, Data: json.RawMessage(fmt.Sprintf(`{"i":%d}`, i)),
					Indexes: map[events.Index]events.IndexKey{events.Index1: {Partition: "users", Sort: fmt.Sprint(i)}}}
				if i%10 == 9 {
					it.ExpiresAt = now.Add(-time.Second)
				}
				puts = append(puts, it)
			}
			if err := s.Append(ctx, events.Append{Environment: env, Puts: puts}); err != nil {
				t.Fatal(err)
			}
			// 100 keys over 50 distinct ones (40 written, 4 of them expired;
			// 10 never written), most given twice, out of order.
			var keys []events.ItemKey
			var want []string
			for i := range events.MaxGetMany {
				n := (i * 7) % 50
				keys = append(keys, events.ItemKey{Collection: "user", ID: fmt.Sprint(n)})
				if n < 40 && n%10 != 9 {
					want = append(want, fmt.Sprintf(`user/%d {"i":%d}`, n, n))
				}
			}
			got, err := s.GetMany(ctx, env, keys)
			if err != nil {
				t.Fatal(err)
			}
			var gotS []string
			for _, it := range got {
				gotS = append(gotS, fmt.Sprintf("%s/%s %s", it.Collection, it.ID, it.Data))
				if it.Indexes[events.Index1].Partition != "users" {
					t.Errorf("item %s lost its index: %+v", it.ID, it.Indexes)
				}
			}
			if strings.Join(gotS, ",") != strings.Join(want, ",") {
				t.Fatalf("GetMany =\n%v\nwant\n%v", gotS, want)
			}
			// The results of a repeated key do not share memory.
			i := indexOfID(got[1:], got[0].ID)
			if i < 0 {
				t.Fatalf("key %s was given twice but returned once", got[0].ID)
			}
			got[0].Data[0] = 'X'
			if got[1+i].Data[0] == 'X' {
				t.Fatal("two results of one key share their Data")
			}
			// The store must deduplicate: a raw BatchGetItem with a repeated key.
			_, err = client.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: map[string]types.KeysAndAttributes{
				tables.State: {Keys: []map[string]types.AttributeValue{
					{"pk": &types.AttributeValueMemberS{Value: env + "#item#user#0"}},
					{"pk": &types.AttributeValueMemberS{Value: env + "#item#user#0"}},
				}},
			}})
			if err == nil || !strings.Contains(err.Error(), "duplicates") {
				t.Errorf("raw BatchGetItem with a duplicate key: %v; DynamoDB rejects them", err)
			}
		})
	}
}

func indexOfID(items []events.Item, id string) int {
	for i, it := range items {
		if it.ID == id {
			return i
		}
	}
	return -1
}

// unprocessor makes BatchGetItem process at most `take` keys per request
// (forwarding only those) and return the rest as UnprocessedKeys, as DynamoDB
// does for large responses or throttled reads; take 0 forwards nothing.
type unprocessor struct {
	inner    aws.HTTPClient
	take     int
	requests atomic.Int64
	keys     atomic.Int64 // keys asked for over all requests
}

func (u *unprocessor) Do(r *http.Request) (*http.Response, error) {
	if !strings.HasSuffix(r.Header.Get("X-Amz-Target"), ".BatchGetItem") {
		return u.inner.Do(r)
	}
	u.requests.Add(1)
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	var in struct {
		RequestItems map[string]map[string]json.RawMessage
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, err
	}
	unprocessed := map[string]any{}
	for table, ka := range in.RequestItems {
		var keys []json.RawMessage
		if err := json.Unmarshal(ka["Keys"], &keys); err != nil {
			return nil, err
		}
		u.keys.Add(int64(len(keys)))
		if consistent := string(ka["ConsistentRead"]); consistent != "true" {
			return nil, fmt.Errorf("BatchGetItem of %s with ConsistentRead %q", table, consistent)
		}
		n := min(u.take, len(keys))
		if n < len(keys) {
			rest := map[string]json.RawMessage{}
			for k, v := range ka {
				rest[k] = v
			}
			rest["Keys"], _ = json.Marshal(keys[n:])
			unprocessed[table] = rest
		}
		ka["Keys"], _ = json.Marshal(keys[:n])
		if n == 0 {
			delete(in.RequestItems, table)
		}
	}
	resp := map[string]any{"Responses": map[string]any{}}
	if len(in.RequestItems) > 0 {
		body, _ = json.Marshal(in)
		fwd := r.Clone(r.Context())
		fwd.Body = io.NopCloser(bytes.NewReader(body))
		fwd.ContentLength = int64(len(body))
		fwd.Header.Del("Content-Length")
		// The request was signed with the original body; local peers do not check.
		res, err := u.inner.Do(fwd)
		if err != nil {
			return nil, err
		}
		defer res.Body.Close()
		out, err := io.ReadAll(res.Body)
		if err != nil {
			return nil, err
		}
		if res.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("forwarded BatchGetItem: %s: %s", res.Status, out)
		}
		if err := json.Unmarshal(out, &resp); err != nil {
			return nil, err
		}
	}
	resp["UnprocessedKeys"] = unprocessed
	out, _ := json.Marshal(resp)
	return &http.Response{
		StatusCode: http.StatusOK, Status: "200 OK", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{"Content-Type": {"application/x-amz-json-1.0"},
			"X-Amzn-Requestid": {"injected"}, "Content-Length": {fmt.Sprint(len(out))}},
		Body: io.NopCloser(bytes.NewReader(out)), ContentLength: int64(len(out)), Request: r,
	}, nil
}

func TestGetManyRetriesUnprocessedKeys(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.Name, func(t *testing.T) {
			b.Need(t)
			var inner aws.HTTPClient = awshttp.NewBuildableClient()
			if b == moto {
				inner = &peers.SerialClient{Inner: inner}
			}
			u := &unprocessor{inner: inner, take: 7}
			client := peers.DynamoClient(b.Peer.URL, u, func(o *dynamodb.Options) { o.DisableValidateResponseChecksum = true })
			s := dynamo.New(client, tables, time.Now)
			dynamo.SetRetry(s, 3, time.Millisecond)
			env := benchEnv("unprocessed")
			var puts []events.Item
			var keys []events.ItemKey
			for i := range 30 {
				k := events.ItemKey{Collection: "c", ID: fmt.Sprint(i)}
				puts = append(puts, events.Item{ItemKey: k, Data: json.RawMessage(fmt.Sprintf(`{"i":%d}`, i))})
				keys = append(keys, k, k) // each twice: 30 distinct keys
			}
			if err := s.Append(ctx, events.Append{Environment: env, Puts: puts}); err != nil {
				t.Fatal(err)
			}
			got, err := s.GetMany(ctx, env, keys)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 60 {
				t.Fatalf("GetMany = %d items, want 60", len(got))
			}
			for i, it := range got {
				if it.ID != fmt.Sprint(i/2) || string(it.Data) != fmt.Sprintf(`{"i":%d}`, i/2) {
					t.Fatalf("item %d = %s %s", i, it.ID, it.Data)
				}
			}
			// 30 keys, 7 at a time: 5 requests asking for 30+23+16+9+2 keys.
			if r, k := u.requests.Load(), u.keys.Load(); r != 5 || k != 80 {
				t.Fatalf("%d requests for %d keys, want 5 for 80", r, k)
			}

			// Nothing ever gets through: give up after the retries.
			u.take = 0
			u.requests.Store(0)
			if _, err := s.GetMany(ctx, env, keys); err == nil || !strings.Contains(err.Error(), "unprocessed") {
				t.Fatalf("GetMany with every key unprocessed: %v, want an error", err)
			}
			if r := u.requests.Load(); r != 4 { // 1 try + 3 retries
				t.Fatalf("%d requests, want 4", r)
			}
		})
	}
}

// TestChecksCountTowardMaxActions: a check at Version > 0 takes two actions,
// one at 0 takes one.
func TestChecksCountTowardMaxActions(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.Name, func(t *testing.T) {
			s := dynamo.New(b.Need(t), tables, time.Now)
			env := benchEnv("checklimit")
			a := events.Append{Environment: env}
			for i := range 50 {
				a.Checks = append(a.Checks, events.StreamCheck{Stream: fmt.Sprintf("user#%d", i), Version: 0})
				a.Puts = append(a.Puts, events.Item{ItemKey: events.ItemKey{Collection: "c", ID: fmt.Sprint(i)}, Data: json.RawMessage(`{}`)})
			}
			if err := s.Append(ctx, a); err != nil {
				t.Fatalf("50 checks at 0 + 50 puts: %v", err)
			}
			a = events.Append{Environment: env}
			for i := range 50 {
				a.Checks = append(a.Checks, events.StreamCheck{Stream: fmt.Sprintf("user#%d", i), Version: 1})
			}
			a.Puts = []events.Item{{ItemKey: events.ItemKey{Collection: "c", ID: "x"}, Data: json.RawMessage(`{}`)}}
			if err := s.Append(ctx, a); err == nil || !strings.Contains(err.Error(), "101") {
				t.Fatalf("50 checks at 1 + 1 put: %v, want an error about 101 actions", err)
			}
		})
	}
}

// TestCheckConflictRetried injects TransactionConflict on the actions of a
// stream check and expects retries, then a ConflictError on that stream.
func TestCheckConflictRetried(t *testing.T) {
	c := ddbLocal.Need(t)
	ids := events.NewIDs(time.Now)
	// Actions: 0 event put, 1 check at version 2, 2 check at version 1, 3 claim, 4 read-model put.
	for _, tc := range []struct {
		name   string
		at     int
		inject int64
		ok     bool
	}{
		{"NextThenSuccess", 1, 3, true},
		{"CurrentThenSuccess", 2, 3, true},
		{"NextExhausted", 1, 1000, false},
		{"CurrentExhausted", 2, 1000, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := benchEnv("checkconflict")
			setup := dynamo.New(c, tables, time.Now)
			org := storetest.UserAppend(ids, env, 0)
			org.Claims, org.Puts = nil, nil
			if err := setup.Append(ctx, org); err != nil {
				t.Fatal(err)
			}
			checked := org.Streams[0].Stream

			inj := &conflictInjector{inner: awshttp.NewBuildableClient(), at: tc.at, tokens: map[string]bool{}}
			inj.left.Store(tc.inject)
			s := dynamo.New(peers.DynamoClient(ddbLocal.Peer.URL, inj), tables, time.Now)
			dynamo.SetRetry(s, 4, time.Millisecond)
			a := storetest.UserAppend(ids, env, 1)
			a.Checks = []events.StreamCheck{{Stream: checked, Version: 1}}
			err := s.Append(ctx, a)
			var ce *events.ConflictError
			switch {
			case tc.ok && err != nil:
				t.Fatalf("Append after %d injected conflicts: %v", inj.injected.Load(), err)
			case !tc.ok && (!errors.As(err, &ce) || ce.Stream != checked):
				t.Fatalf("Append after %d injected conflicts: %v, want a conflict on %s", inj.injected.Load(), err, checked)
			}
			if got, want := inj.injected.Load(), min(tc.inject, 5); got != want {
				t.Fatalf("%d conflicts injected, want %d", got, want)
			}
			if evs, err := s.Load(ctx, env, checked); err != nil || len(evs) != 1 {
				t.Fatalf("checked stream has %d events, %v", len(evs), err)
			}
		})
	}
}
