// Package storetest is the conformance suite that every events.Store passes,
// in the spirit of Dex's storage/conformance.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keywayhq/keyway/events"
	"github.com/keywayhq/keyway/events/eventstest"
)

// Opener returns a store that reads time from now. Stores opened by one
// Opener may share tables: every subtest uses environments of its own.
type Opener func(t *testing.T, now func() time.Time) events.Store

// Run runs the whole suite against the stores that open returns.
func Run(t *testing.T, open Opener) {
	tests := []struct {
		name string
		fn   func(t *testing.T, h *harness)
	}{
		{"AppendLoadRoundTrip", testAppendLoad},
		{"ConcurrentAppendSameVersion", testConcurrentAppend},
		{"StaleVersionConflicts", testStaleVersion},
		{"ConcurrentClaimsOneWinner", testConcurrentClaims},
		{"FailedClaimWritesNothing", testFailedClaimWritesNothing},
		{"FailedVersionWritesNothing", testFailedVersionWritesNothing},
		{"FailedIdempotencyWritesNothing", testFailedIdempotencyWritesNothing},
		{"ClaimsReleaseAndReclaim", testClaimRelease},
		{"ReadYourWrites", testReadYourWrites},
		{"QueryOrderAndBounds", testQuery},
		{"ExpiredItemsAreHidden", testExpiry},
		{"FeedOrder", testFeed},
		{"EnvironmentIsolation", testIsolation},
		{"InvalidAppendRejected", testInvalidAppend},
		{"StreamChecks", testChecks},
		{"GetMany", testGetMany},
		{"ScanItems", testScanItems},
	}
	var seq atomic.Int64
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clock := eventstest.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 600_000_000, time.UTC))
			s := open(t, clock.Now)
			t.Cleanup(func() { _ = s.Close() })
			n := seq.Add(1)
			h := &harness{
				t: t, s: s, clock: clock, ids: events.NewIDs(clock.Now),
				env:   fmt.Sprintf("env%d_%d_a", time.Now().UnixNano(), n),
				other: fmt.Sprintf("env%d_%d_b", time.Now().UnixNano(), n),
			}
			tc.fn(t, h)
		})
	}
}

type harness struct {
	t          *testing.T
	s          events.Store
	clock      *eventstest.Clock
	ids        *events.IDs
	env, other string
}

var ctx = context.Background()

// event builds the envelope for version v of stream in env.
func (h *harness) event(env, stream string, v int64, typ string) events.Envelope {
	data, _ := json.Marshal(map[string]any{"stream": stream, "version": v})
	return events.Envelope{
		ID: h.ids.ULID(), Environment: env, Stream: stream, Version: v, Type: typ,
		Data: data, OccurredAt: h.clock.Now(), Actor: "api_key_test", RequestID: "req_" + stream,
	}
}

// streamAppend builds n events after version from.
func (h *harness) streamAppend(env, stream string, from int64, n int) events.StreamAppend {
	sa := events.StreamAppend{Stream: stream, ExpectedVersion: from}
	for i := 1; i <= n; i++ {
		sa.Events = append(sa.Events, h.event(env, stream, from+int64(i), "user.updated"))
	}
	return sa
}

func (h *harness) mustAppend(a events.Append) {
	h.t.Helper()
	if err := h.s.Append(ctx, a); err != nil {
		h.t.Fatalf("Append: %v", err)
	}
}

func (h *harness) load(env, stream string) []events.Envelope {
	h.t.Helper()
	evs, err := h.s.Load(ctx, env, stream)
	if err != nil {
		h.t.Fatalf("Load(%s): %v", stream, err)
	}
	return evs
}

func item(collection, id, data string, idx map[events.Index]events.IndexKey) events.Item {
	return events.Item{ItemKey: events.ItemKey{Collection: collection, ID: id}, Data: json.RawMessage(data), Indexes: idx}
}

func (h *harness) assertNoItem(env string, k events.ItemKey) {
	h.t.Helper()
	if _, err := h.s.Get(ctx, env, k); !errors.Is(err, events.ErrNotFound) {
		h.t.Fatalf("Get(%v) = %v, want ErrNotFound", k, err)
	}
}

func (h *harness) assertOwner(env, kind, value, want string) {
	h.t.Helper()
	got, err := h.s.Owner(ctx, env, kind, value)
	if want == "" {
		if !errors.Is(err, events.ErrNotFound) {
			h.t.Fatalf("Owner(%s %s) = %q, %v; want ErrNotFound", kind, value, got, err)
		}
		return
	}
	if err != nil || got != want {
		h.t.Fatalf("Owner(%s %s) = %q, %v; want %q", kind, value, got, err, want)
	}
}

func testAppendLoad(t *testing.T, h *harness) {
	if evs := h.load(h.env, "user#new"); len(evs) != 0 {
		t.Fatalf("new stream has %d events", len(evs))
	}
	sa := h.streamAppend(h.env, "user#a", 0, 2)
	h.mustAppend(events.Append{Environment: h.env, Streams: []events.StreamAppend{sa}})
	sa2 := h.streamAppend(h.env, "user#a", 2, 1)
	h.mustAppend(events.Append{Environment: h.env, Streams: []events.StreamAppend{sa2}})
	got := h.load(h.env, "user#a")
	want := append(sa.Events, sa2.Events...)
	if len(got) != len(want) {
		t.Fatalf("loaded %d events, want %d", len(got), len(want))
	}
	for i := range want {
		if !sameEnvelope(got[i], want[i]) {
			t.Fatalf("event %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
}

func sameEnvelope(a, b events.Envelope) bool {
	var da, db any
	_ = json.Unmarshal(a.Data, &da)
	_ = json.Unmarshal(b.Data, &db)
	ja, _ := json.Marshal(da)
	jb, _ := json.Marshal(db)
	return a.ID == b.ID && a.Environment == b.Environment && a.Stream == b.Stream && a.Version == b.Version &&
		a.Type == b.Type && a.OccurredAt.Equal(b.OccurredAt) && a.Actor == b.Actor && a.RequestID == b.RequestID &&
		string(ja) == string(jb)
}

func testConcurrentAppend(t *testing.T, h *harness) {
	h.mustAppend(events.Append{Environment: h.env, Streams: []events.StreamAppend{h.streamAppend(h.env, "user#c", 0, 1)}})
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		sa := h.streamAppend(h.env, "user#c", 1, 1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = h.s.Append(ctx, events.Append{Environment: h.env, Streams: []events.StreamAppend{sa}})
		}()
	}
	wg.Wait()
	wins := 0
	for _, err := range errs {
		var ce *events.ConflictError
		switch {
		case err == nil:
			wins++
		case errors.As(err, &ce) && errors.Is(err, events.ErrConflict) && ce.Stream == "user#c":
		default:
			t.Fatalf("unexpected error %v", err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d appends at the same version won, want 1", wins)
	}
	if got := len(h.load(h.env, "user#c")); got != 2 {
		t.Fatalf("stream has %d events, want 2", got)
	}
}

func testStaleVersion(t *testing.T, h *harness) {
	h.mustAppend(events.Append{Environment: h.env, Streams: []events.StreamAppend{h.streamAppend(h.env, "user#s", 0, 3)}})
	for _, expected := range []int64{0, 1, 2, 4} {
		err := h.s.Append(ctx, events.Append{Environment: h.env, Streams: []events.StreamAppend{h.streamAppend(h.env, "user#s", expected, 1)}})
		if !errors.Is(err, events.ErrConflict) {
			t.Fatalf("append at expected version %d of a 3-event stream: %v, want conflict", expected, err)
		}
	}
	if got := len(h.load(h.env, "user#s")); got != 3 {
		t.Fatalf("stream has %d events, want 3", got)
	}
}

func testConcurrentClaims(t *testing.T, h *harness) {
	const n = 12
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		stream := fmt.Sprintf("user#u%d", i)
		a := events.Append{
			Environment: h.env,
			Streams:     []events.StreamAppend{h.streamAppend(h.env, stream, 0, 1)},
			Claims:      []events.Claim{{Kind: "email", Value: "same@example.com", Owner: stream}},
			Puts:        []events.Item{item("user", fmt.Sprintf("u%d", i), `{}`, nil)},
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = h.s.Append(ctx, a)
		}()
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		var ce *events.ClaimError
		switch {
		case err == nil:
			if winner >= 0 {
				t.Fatalf("streams %d and %d both claimed the email", winner, i)
			}
			winner = i
		case errors.As(err, &ce) && ce.Kind == "email" && ce.Value == "same@example.com":
		default:
			t.Fatalf("claim %d: unexpected error %v", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no claim won")
	}
	h.assertOwner(h.env, "email", "same@example.com", fmt.Sprintf("user#u%d", winner))
	for i := range n {
		if i == winner {
			continue
		}
		if evs := h.load(h.env, fmt.Sprintf("user#u%d", i)); len(evs) != 0 {
			t.Fatalf("loser %d has %d events", i, len(evs))
		}
		h.assertNoItem(h.env, events.ItemKey{Collection: "user", ID: fmt.Sprintf("u%d", i)})
	}
}

// doomed is an append with one of everything; the caller makes it fail.
func (h *harness) doomed(stream string, expected int64, claims ...events.Claim) events.Append {
	return events.Append{
		Environment: h.env,
		Streams:     []events.StreamAppend{h.streamAppend(h.env, stream, expected, 2)},
		Claims:      claims,
		Puts: []events.Item{item("user", "doomed", `{"x":1}`, map[events.Index]events.IndexKey{
			events.Index1: {Partition: "users", Sort: "doomed"},
		})},
		Deletes:     []events.ItemKey{{Collection: "user", ID: "keep"}},
		Idempotency: &events.IdempotencyRecord{Key: "idem-doomed", Fingerprint: "f", Status: 201, Body: []byte(`{}`)},
	}
}

// assertDoomedLeftNothing checks that nothing of doomed(stream) was written.
func (h *harness) assertDoomedLeftNothing(stream string, wantEvents int, freeClaims ...string) {
	h.t.Helper()
	if got := len(h.load(h.env, stream)); got != wantEvents {
		h.t.Fatalf("stream %s has %d events after a failed append, want %d", stream, got, wantEvents)
	}
	h.assertNoItem(h.env, events.ItemKey{Collection: "user", ID: "doomed"})
	if _, err := h.s.Get(ctx, h.env, events.ItemKey{Collection: "user", ID: "keep"}); err != nil {
		h.t.Fatalf("a failed append deleted an item: %v", err)
	}
	if items, err := h.s.Query(ctx, events.Query{Environment: h.env, Index: events.Index1, Partition: "users", Limit: 10}); err != nil || len(items) != 0 {
		h.t.Fatalf("index after failed append: %d items, %v", len(items), err)
	}
	for _, v := range freeClaims {
		h.assertOwner(h.env, "email", v, "")
	}
	if _, err := h.s.Idempotency(ctx, h.env, "idem-doomed"); !errors.Is(err, events.ErrNotFound) {
		h.t.Fatalf("idempotency record after failed append: %v", err)
	}
	feed, err := h.s.Feed(ctx, events.FeedQuery{Environment: h.env, Limit: 100})
	if err != nil {
		h.t.Fatal(err)
	}
	for _, e := range feed {
		if e.Stream == stream && e.Version > int64(wantEvents) {
			h.t.Fatalf("feed holds event %s v%d of a failed append", e.Stream, e.Version)
		}
	}
}

func (h *harness) seedKeep() {
	h.mustAppend(events.Append{Environment: h.env, Puts: []events.Item{item("user", "keep", `{}`, nil)}})
}

func testFailedClaimWritesNothing(t *testing.T, h *harness) {
	h.seedKeep()
	h.mustAppend(events.Append{
		Environment: h.env,
		Streams:     []events.StreamAppend{h.streamAppend(h.env, "user#owner", 0, 1)},
		Claims:      []events.Claim{{Kind: "email", Value: "taken@example.com", Owner: "user#owner"}},
	})
	a := h.doomed("user#late", 0,
		events.Claim{Kind: "email", Value: "free@example.com", Owner: "user#late"},
		events.Claim{Kind: "email", Value: "taken@example.com", Owner: "user#late"})
	err := h.s.Append(ctx, a)
	var ce *events.ClaimError
	if !errors.As(err, &ce) || ce.Value != "taken@example.com" {
		t.Fatalf("append with a taken claim: %v, want ClaimError for taken@example.com", err)
	}
	h.assertDoomedLeftNothing("user#late", 0, "free@example.com")
	h.assertOwner(h.env, "email", "taken@example.com", "user#owner")
}

func testFailedVersionWritesNothing(t *testing.T, h *harness) {
	h.seedKeep()
	h.mustAppend(events.Append{Environment: h.env, Streams: []events.StreamAppend{h.streamAppend(h.env, "user#v", 0, 1)}})
	a := h.doomed("user#v", 0, events.Claim{Kind: "email", Value: "v@example.com", Owner: "user#v"})
	// A second, valid stream in the same append must not be written either.
	a.Streams = append(a.Streams, h.streamAppend(h.env, "user#bystander", 0, 1))
	if err := h.s.Append(ctx, a); !errors.Is(err, events.ErrConflict) {
		t.Fatalf("stale append: %v, want conflict", err)
	}
	h.assertDoomedLeftNothing("user#v", 1, "v@example.com")
	if got := len(h.load(h.env, "user#bystander")); got != 0 {
		t.Fatalf("the other stream of a failed append has %d events", got)
	}
}

func testFailedIdempotencyWritesNothing(t *testing.T, h *harness) {
	h.seedKeep()
	rec := events.IdempotencyRecord{Key: "idem-doomed", Fingerprint: "first", Status: 201, Body: []byte(`{"first":true}`), ExpiresAt: h.clock.Now().Add(time.Hour)}
	h.mustAppend(events.Append{Environment: h.env, Idempotency: &rec})
	a := h.doomed("user#i", 0, events.Claim{Kind: "email", Value: "i@example.com", Owner: "user#i"})
	if err := h.s.Append(ctx, a); !errors.Is(err, events.ErrIdempotencyKeyUsed) {
		t.Fatalf("append with a used idempotency key: %v, want ErrIdempotencyKeyUsed", err)
	}
	got, err := h.s.Idempotency(ctx, h.env, "idem-doomed")
	if err != nil || got.Fingerprint != "first" || got.Status != 201 || string(got.Body) != `{"first":true}` {
		t.Fatalf("idempotency record = %+v, %v; want the first one", got, err)
	}
	if evs := h.load(h.env, "user#i"); len(evs) != 0 {
		t.Fatalf("stream has %d events after a failed append", len(evs))
	}
	h.assertNoItem(h.env, events.ItemKey{Collection: "user", ID: "doomed"})
	h.assertOwner(h.env, "email", "i@example.com", "")
}

func testClaimRelease(t *testing.T, h *harness) {
	c := events.Claim{Kind: "external_id", Value: "ext-1", Owner: "user#a"}
	h.mustAppend(events.Append{Environment: h.env, Streams: []events.StreamAppend{h.streamAppend(h.env, "user#a", 0, 1)}, Claims: []events.Claim{c}})
	// Claiming again for the same owner is a no-op.
	h.mustAppend(events.Append{Environment: h.env, Streams: []events.StreamAppend{h.streamAppend(h.env, "user#a", 1, 1)}, Claims: []events.Claim{c}})
	h.assertOwner(h.env, "external_id", "ext-1", "user#a")
	// Another stream may not release it.
	err := h.s.Append(ctx, events.Append{Environment: h.env, Streams: []events.StreamAppend{h.streamAppend(h.env, "user#b", 0, 1)},
		Releases: []events.Claim{{Kind: "external_id", Value: "ext-1", Owner: "user#b"}}})
	if !errors.Is(err, events.ErrClaimed) {
		t.Fatalf("release by a non-owner: %v, want ErrClaimed", err)
	}
	h.assertOwner(h.env, "external_id", "ext-1", "user#a")
	if got := len(h.load(h.env, "user#b")); got != 0 {
		t.Fatalf("failed release wrote %d events", got)
	}
	// Release and claim by another in one go: moving the value.
	h.mustAppend(events.Append{Environment: h.env, Streams: []events.StreamAppend{h.streamAppend(h.env, "user#a", 2, 1)},
		Releases: []events.Claim{c}, Claims: []events.Claim{{Kind: "external_id", Value: "ext-2", Owner: "user#a"}}})
	h.assertOwner(h.env, "external_id", "ext-1", "")
	h.assertOwner(h.env, "external_id", "ext-2", "user#a")
	h.mustAppend(events.Append{Environment: h.env, Streams: []events.StreamAppend{h.streamAppend(h.env, "user#b", 0, 1)},
		Claims: []events.Claim{{Kind: "external_id", Value: "ext-1", Owner: "user#b"}}})
	h.assertOwner(h.env, "external_id", "ext-1", "user#b")
	// Releasing a free value is allowed.
	h.mustAppend(events.Append{Environment: h.env, Releases: []events.Claim{{Kind: "external_id", Value: "never", Owner: "user#a"}}})
}

func testReadYourWrites(t *testing.T, h *harness) {
	idx := map[events.Index]events.IndexKey{events.Index1: {Partition: "users", Sort: "b"}, events.Index2: {Partition: "by-email#x", Sort: "b"}}
	h.mustAppend(events.Append{Environment: h.env, Streams: []events.StreamAppend{h.streamAppend(h.env, "user#b", 0, 1)},
		Puts: []events.Item{item("user", "b", `{"v":1}`, idx)}})
	if got := len(h.load(h.env, "user#b")); got != 1 {
		t.Fatalf("stream read after write: %d events", got)
	}
	it, err := h.s.Get(ctx, h.env, events.ItemKey{Collection: "user", ID: "b"})
	if err != nil || string(it.Data) != `{"v":1}` || it.Indexes[events.Index1] != idx[events.Index1] || it.Indexes[events.Index2] != idx[events.Index2] {
		t.Fatalf("Get after write = %+v, %v", it, err)
	}
	// Replace, moving the item to another Index2 partition.
	h.mustAppend(events.Append{Environment: h.env, Streams: []events.StreamAppend{h.streamAppend(h.env, "user#b", 1, 1)},
		Puts: []events.Item{item("user", "b", `{"v":2}`, map[events.Index]events.IndexKey{events.Index1: {Partition: "users", Sort: "b"}, events.Index2: {Partition: "by-email#y", Sort: "b"}})}})
	it, err = h.s.Get(ctx, h.env, events.ItemKey{Collection: "user", ID: "b"})
	if err != nil || string(it.Data) != `{"v":2}` {
		t.Fatalf("Get after replace = %s, %v", it.Data, err)
	}
	for part, want := range map[string]int{"by-email#x": 0, "by-email#y": 1} {
		items, err := h.s.Query(ctx, events.Query{Environment: h.env, Index: events.Index2, Partition: part, Limit: 10})
		if err != nil || len(items) != want {
			t.Fatalf("Query %s after replace: %d items, %v; want %d", part, len(items), err, want)
		}
	}
	h.mustAppend(events.Append{Environment: h.env, Streams: []events.StreamAppend{h.streamAppend(h.env, "user#b", 2, 1)},
		Deletes: []events.ItemKey{{Collection: "user", ID: "b"}}})
	h.assertNoItem(h.env, events.ItemKey{Collection: "user", ID: "b"})
	if items, _ := h.s.Query(ctx, events.Query{Environment: h.env, Index: events.Index1, Partition: "users", Limit: 10}); len(items) != 0 {
		t.Fatalf("deleted item still in index: %d", len(items))
	}
}

func testQuery(t *testing.T, h *harness) {
	var puts []events.Item
	for _, s := range []string{"c", "a", "e", "b", "d"} {
		puts = append(puts, item("user", s, fmt.Sprintf(`{"id":%q}`, s), map[events.Index]events.IndexKey{events.Index1: {Partition: "users", Sort: s}}))
	}
	puts = append(puts, item("org", "z", `{}`, map[events.Index]events.IndexKey{events.Index1: {Partition: "orgs", Sort: "a"}}))
	h.mustAppend(events.Append{Environment: h.env, Puts: puts})
	cases := []struct {
		q    events.Query
		want string
	}{
		{events.Query{Limit: 10}, "abcde"},
		{events.Query{Limit: 2}, "ab"},
		{events.Query{Limit: 10, Descending: true}, "edcba"},
		{events.Query{Limit: 2, Start: "b"}, "cd"},
		{events.Query{Limit: 10, Start: "c", Descending: true}, "ba"},
		{events.Query{Limit: 10, Start: "e"}, ""},
		{events.Query{Limit: 3, Start: "0"}, "abc"},
	}
	for _, c := range cases {
		c.q.Environment, c.q.Index, c.q.Partition = h.env, events.Index1, "users"
		items, err := h.s.Query(ctx, c.q)
		if err != nil {
			t.Fatal(err)
		}
		got := ""
		for _, it := range items {
			got += it.ID
		}
		if got != c.want {
			t.Errorf("Query(start=%q desc=%v limit=%d) = %q, want %q", c.q.Start, c.q.Descending, c.q.Limit, got, c.want)
		}
	}
}

func testExpiry(t *testing.T, h *harness) {
	exp := h.clock.Now().Add(10 * time.Minute)
	code := item("magic_auth", "code1", `{}`, map[events.Index]events.IndexKey{events.Index1: {Partition: "codes", Sort: "1"}})
	code.ExpiresAt = exp
	rec := events.IdempotencyRecord{Key: "k1", Fingerprint: "f1", Status: 201, Body: []byte(`{}`), ExpiresAt: exp}
	h.mustAppend(events.Append{Environment: h.env, Puts: []events.Item{code}, Idempotency: &rec})
	if _, err := h.s.Get(ctx, h.env, code.ItemKey); err != nil {
		t.Fatalf("live item: %v", err)
	}
	if _, err := h.s.Idempotency(ctx, h.env, "k1"); err != nil {
		t.Fatalf("live record: %v", err)
	}
	h.clock.Advance(10*time.Minute + time.Second)
	h.assertNoItem(h.env, code.ItemKey)
	if items, err := h.s.Query(ctx, events.Query{Environment: h.env, Index: events.Index1, Partition: "codes", Limit: 10}); err != nil || len(items) != 0 {
		t.Fatalf("expired item in query: %d, %v", len(items), err)
	}
	if _, err := h.s.Idempotency(ctx, h.env, "k1"); !errors.Is(err, events.ErrNotFound) {
		t.Fatalf("expired idempotency record: %v, want ErrNotFound", err)
	}
	// An expired record no longer holds its key.
	rec2 := events.IdempotencyRecord{Key: "k1", Fingerprint: "f2", Status: 200, Body: []byte(`{"n":2}`), ExpiresAt: h.clock.Now().Add(time.Hour)}
	h.mustAppend(events.Append{Environment: h.env, Idempotency: &rec2})
	got, err := h.s.Idempotency(ctx, h.env, "k1")
	if err != nil || got.Fingerprint != "f2" {
		t.Fatalf("record after reuse = %+v, %v", got, err)
	}
}

func testFeed(t *testing.T, h *harness) {
	var ids []string
	for i := range 3 {
		for _, s := range []string{"user#f1", "org#f2"} {
			sa := h.streamAppend(h.env, s, int64(i), 1)
			h.mustAppend(events.Append{Environment: h.env, Streams: []events.StreamAppend{sa}})
			ids = append(ids, sa.Events[0].ID)
			h.clock.Advance(time.Millisecond)
		}
	}
	h.mustAppend(events.Append{Environment: h.other, Streams: []events.StreamAppend{h.streamAppend(h.other, "user#f1", 0, 1)}})
	feedIDs := func(q events.FeedQuery) []string {
		q.Environment = h.env
		evs, err := h.s.Feed(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range evs {
			out = append(out, e.ID)
		}
		return out
	}
	eq := func(name string, got, want []string) {
		t.Helper()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("%s: got %v, want %v", name, got, want)
		}
	}
	eq("all", feedIDs(events.FeedQuery{Limit: 100}), ids)
	eq("limit", feedIDs(events.FeedQuery{Limit: 2}), ids[:2])
	eq("after", feedIDs(events.FeedQuery{After: ids[1], Limit: 3}), ids[2:5])
	eq("after+before", feedIDs(events.FeedQuery{After: ids[0], Before: ids[3], Limit: 100}), ids[1:3])
	rev := make([]string, len(ids))
	for i := range ids {
		rev[i] = ids[len(ids)-1-i]
	}
	eq("descending", feedIDs(events.FeedQuery{Descending: true, Limit: 100}), rev)
	eq("descending before", feedIDs(events.FeedQuery{Descending: true, Before: ids[4], Limit: 2}), []string{ids[3], ids[2]})
	eq("time bound", feedIDs(events.FeedQuery{After: "", Before: events.MinULIDAt(h.clock.Now().Add(-3 * time.Millisecond)), Limit: 100}), ids[:3])
}

func testIsolation(t *testing.T, h *harness) {
	h.mustAppend(events.Append{Environment: h.env, Streams: []events.StreamAppend{h.streamAppend(h.env, "user#x", 0, 1)},
		Claims:      []events.Claim{{Kind: "email", Value: "x@example.com", Owner: "user#x"}},
		Puts:        []events.Item{item("user", "x", `{}`, map[events.Index]events.IndexKey{events.Index1: {Partition: "users", Sort: "x"}})},
		Idempotency: &events.IdempotencyRecord{Key: "iso", Fingerprint: "f", Status: 201}})
	if got := len(h.load(h.other, "user#x")); got != 0 {
		t.Fatalf("other environment sees %d events", got)
	}
	h.assertNoItem(h.other, events.ItemKey{Collection: "user", ID: "x"})
	h.assertOwner(h.other, "email", "x@example.com", "")
	if _, err := h.s.Idempotency(ctx, h.other, "iso"); !errors.Is(err, events.ErrNotFound) {
		t.Fatalf("other environment sees the idempotency record: %v", err)
	}
	if items, _ := h.s.Query(ctx, events.Query{Environment: h.other, Index: events.Index1, Partition: "users", Limit: 10}); len(items) != 0 {
		t.Fatalf("other environment's query sees %d items", len(items))
	}
	// The same values are free in the other environment.
	h.mustAppend(events.Append{Environment: h.other, Streams: []events.StreamAppend{h.streamAppend(h.other, "user#x", 0, 1)},
		Claims: []events.Claim{{Kind: "email", Value: "x@example.com", Owner: "user#x"}}})
}

func testInvalidAppend(t *testing.T, h *harness) {
	bad := h.streamAppend(h.env, "user#bad", 0, 2)
	bad.Events[1].Version = 5
	for name, a := range map[string]events.Append{
		"empty":       {Environment: h.env},
		"no env":      {Streams: []events.StreamAppend{h.streamAppend(h.env, "user#bad", 0, 1)}},
		"gap":         {Environment: h.env, Streams: []events.StreamAppend{bad}},
		"wrong env":   {Environment: h.env, Streams: []events.StreamAppend{h.streamAppend(h.other, "user#bad", 0, 1)}},
		"bare claim":  {Environment: h.env, Claims: []events.Claim{{Kind: "email", Value: "v"}}},
		"nameless it": {Environment: h.env, Puts: []events.Item{{}}},
	} {
		if err := h.s.Append(ctx, a); err == nil {
			t.Errorf("%s: invalid append accepted", name)
		}
	}
	if got := len(h.load(h.env, "user#bad")); got != 0 {
		t.Fatalf("invalid append wrote %d events", got)
	}
}

func testChecks(t *testing.T, h *harness) {
	h.seedKeep()
	h.mustAppend(events.Append{Environment: h.env, Streams: []events.StreamAppend{h.streamAppend(h.env, "user#checked", 0, 2)}})
	// A check at the current version passes; so does one of a stream that does not exist, at 0.
	h.mustAppend(events.Append{Environment: h.env, Streams: []events.StreamAppend{h.streamAppend(h.env, "membership#m1", 0, 1)},
		Checks: []events.StreamCheck{{Stream: "user#checked", Version: 2}, {Stream: "organization#none", Version: 0}}})
	if got := len(h.load(h.env, "membership#m1")); got != 1 {
		t.Fatalf("checked append wrote %d events", got)
	}
	if got := len(h.load(h.env, "user#checked")); got != 2 {
		t.Fatalf("a check added events: %d", got)
	}
	// A stale check fails the whole append.
	for _, v := range []int64{0, 1, 3} {
		a := h.doomed("membership#m2", 0, events.Claim{Kind: "email", Value: "m2@example.com", Owner: "membership#m2"})
		a.Checks = []events.StreamCheck{{Stream: "user#checked", Version: v}}
		err := h.s.Append(ctx, a)
		var ce *events.ConflictError
		if !errors.As(err, &ce) || ce.Stream != "user#checked" {
			t.Fatalf("check at version %d of a 2-event stream: %v, want a conflict on user#checked", v, err)
		}
		h.assertDoomedLeftNothing("membership#m2", 0, "m2@example.com")
	}
	// A check alone is a valid append.
	h.mustAppend(events.Append{Environment: h.env, Checks: []events.StreamCheck{{Stream: "user#checked", Version: 2}}})
	if err := h.s.Append(ctx, events.Append{Environment: h.env, Streams: []events.StreamAppend{h.streamAppend(h.env, "user#checked", 2, 1)},
		Checks: []events.StreamCheck{{Stream: "user#checked", Version: 2}}}); err == nil {
		t.Fatal("a stream both appended to and checked was accepted")
	}
}

func testGetMany(t *testing.T, h *harness) {
	short := item("user", "short", `{"n":3}`, nil)
	short.ExpiresAt = h.clock.Now().Add(time.Minute)
	h.mustAppend(events.Append{Environment: h.env, Puts: []events.Item{item("user", "a", `{"n":1}`, nil), item("user", "b", `{"n":2}`, nil), short}})
	h.mustAppend(events.Append{Environment: h.other, Puts: []events.Item{item("user", "c", `{}`, nil)}})
	h.clock.Advance(2 * time.Minute)
	keys := []events.ItemKey{{Collection: "user", ID: "b"}, {Collection: "user", ID: "missing"}, {Collection: "user", ID: "short"},
		{Collection: "user", ID: "c"}, {Collection: "org", ID: "a"}, {Collection: "user", ID: "a"}}
	got, err := h.s.GetMany(ctx, h.env, keys)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != "b" || string(got[0].Data) != `{"n":2}` || got[1].ID != "a" {
		t.Fatalf("GetMany = %+v, want b then a", got)
	}
	if got, err := h.s.GetMany(ctx, h.env, nil); err != nil || len(got) != 0 {
		t.Fatalf("GetMany(nil) = %v, %v", got, err)
	}
	var many []events.ItemKey
	for i := range 150 {
		many = append(many, events.ItemKey{Collection: "user", ID: fmt.Sprint(i)})
	}
	if _, err := h.s.GetMany(ctx, h.env, many[:events.MaxGetMany]); err != nil {
		t.Fatalf("GetMany of %d keys: %v", events.MaxGetMany, err)
	}
	if _, err := h.s.GetMany(ctx, h.env, many); err == nil {
		t.Fatal("GetMany of 150 keys accepted")
	}
}

func testScanItems(t *testing.T, h *harness) {
	want := map[string]string{}
	var puts []events.Item
	for i := range 30 {
		id := fmt.Sprintf("u%02d", i)
		puts = append(puts, item("user", id, fmt.Sprintf(`{"i":%d}`, i), map[events.Index]events.IndexKey{events.Index1: {Partition: "users", Sort: id}}))
		want["user/"+id] = fmt.Sprintf(`{"i":%d}`, i)
	}
	gone := item("code", "x", `{}`, nil)
	gone.ExpiresAt = h.clock.Now().Add(time.Second)
	h.mustAppend(events.Append{Environment: h.env, Puts: append(puts, gone, item("org", "o1", `{"o":1}`, nil))})
	want["org/o1"] = `{"o":1}`
	h.mustAppend(events.Append{Environment: h.other, Puts: []events.Item{item("user", "elsewhere", `{}`, nil)}})
	h.clock.Advance(time.Minute)
	got := map[string]string{}
	err := h.s.ScanItems(ctx, h.env, func(it events.Item) error {
		var v any
		_ = json.Unmarshal(it.Data, &v)
		b, _ := json.Marshal(v)
		got[it.Collection+"/"+it.ID] = string(b)
		if it.Collection == "user" && it.Indexes[events.Index1].Partition != "users" {
			t.Errorf("scanned item %s lost its index", it.ID)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("ScanItems saw %v, want %v", got, want)
	}
	stop := errors.New("stop")
	if err := h.s.ScanItems(ctx, h.env, func(events.Item) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("ScanItems did not return fn's error: %v", err)
	}
}
