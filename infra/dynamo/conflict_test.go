package dynamo_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
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

// conflictInjector answers the first `left` TransactWriteItems requests
// itself, without forwarding them, with the TransactionCanceledException that
// DynamoDB sends when concurrent transactions touch the same item: reason
// TransactionConflict at index `at`, "None" elsewhere. Neither peer produces
// such reasons by itself (both serialize transactions).
type conflictInjector struct {
	inner    aws.HTTPClient
	at       int
	left     atomic.Int64
	injected atomic.Int64
	mu       sync.Mutex
	tokens   map[string]bool // ClientRequestTokens of the injected requests
}

func (c *conflictInjector) Do(r *http.Request) (*http.Response, error) {
	if !strings.HasSuffix(r.Header.Get("X-Amz-Target"), ".TransactWriteItems") || c.left.Add(-1) < 0 {
		return c.inner.Do(r)
	}
	c.injected.Add(1)
	var in struct {
		TransactItems      []json.RawMessage
		ClientRequestToken string
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.tokens[in.ClientRequestToken] = true
	c.mu.Unlock()
	reasons := make([]map[string]string, len(in.TransactItems))
	codes := make([]string, len(in.TransactItems))
	for i := range reasons {
		reasons[i], codes[i] = map[string]string{"Code": "None"}, "None"
		if i == c.at {
			reasons[i] = map[string]string{"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}
			codes[i] = "TransactionConflict"
		}
	}
	msg := fmt.Sprintf("Transaction cancelled, please refer cancellation reasons for specific reasons [%s]", strings.Join(codes, ", "))
	out, _ := json.Marshal(map[string]any{
		"__type":              "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
		"Message":             msg,
		"CancellationReasons": reasons,
	})
	return &http.Response{
		StatusCode: http.StatusBadRequest, Status: "400 Bad Request", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{"Content-Type": {"application/x-amz-json-1.0"},
			"X-Amzn-Requestid": {"injected"}, "Content-Length": {fmt.Sprint(len(out))}},
		Body: io.NopCloser(bytes.NewReader(out)), ContentLength: int64(len(out)), Request: r,
	}, nil
}

func TestTransactionConflictRetried(t *testing.T) {
	ddbLocal.Need(t)
	ids := events.NewIDs(time.Now)
	// Actions of newUserAppend: 0 event put, 1 claim put, 2 read-model put.
	for _, tc := range []struct {
		name    string
		at      int
		inject  int64
		wantErr func(error) bool
	}{
		{"ClaimConflictThenSuccess", 1, 3, func(err error) bool { return err == nil }},
		{"EventConflictThenSuccess", 0, 3, func(err error) bool { return err == nil }},
		{"ClaimConflictExhausted", 1, 1000, func(err error) bool {
			var ce *events.ClaimError
			return errors.As(err, &ce) && ce.Kind == "email"
		}},
		{"EventConflictExhausted", 0, 1000, func(err error) bool {
			var ce *events.ConflictError
			return errors.As(err, &ce) && strings.HasPrefix(ce.Stream, "user#")
		}},
		{"ItemConflictExhausted", 2, 1000, func(err error) bool {
			return err != nil && !errors.Is(err, events.ErrConflict) && !errors.Is(err, events.ErrClaimed)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inj := &conflictInjector{inner: awshttp.NewBuildableClient(), at: tc.at, tokens: map[string]bool{}}
			inj.left.Store(tc.inject)
			s := dynamo.New(peers.DynamoClient(ddbLocal.Peer.URL, inj), tables, time.Now)
			dynamo.SetRetry(s, 4, time.Millisecond)
			env := benchEnv("conflict")
			a := storetest.UserAppend(ids, env, 1)
			err := s.Append(ctx, a)
			if !tc.wantErr(err) {
				t.Fatalf("Append after %d injected conflicts: %v", inj.injected.Load(), err)
			}
			want := min(tc.inject, 5) // 1 try + 4 retries
			if got := inj.injected.Load(); got != want {
				t.Fatalf("%d conflicts injected, want %d", got, want)
			}
			// Each attempt after a cancellation is a new request, with a new token.
			if len(inj.tokens) != int(want) || inj.tokens[""] {
				t.Fatalf("client request tokens %v over %d attempts", inj.tokens, want)
			}
			evs, lerr := s.Load(ctx, env, a.Streams[0].Stream)
			if lerr != nil || (err == nil) != (len(evs) == 1) {
				t.Fatalf("Load = %d events, %v (append: %v)", len(evs), lerr, err)
			}
		})
	}
}
