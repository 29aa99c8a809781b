package bolt_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keywayhq/keyway/events"
	"github.com/keywayhq/keyway/events/eventstest"
	"github.com/keywayhq/keyway/events/storetest"
	"github.com/keywayhq/keyway/infra/bolt"
)

var ctx = context.Background()

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, now func() time.Time) events.Store {
		return open(t, filepath.Join(t.TempDir(), "keyway.db"), now)
	})
}

func open(t testing.TB, path string, now func() time.Time) *bolt.Store {
	t.Helper()
	s, err := bolt.Open(path, now)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// seed is an append with one of everything, in environment "dev".
func seed(ids *events.IDs, now time.Time) events.Append {
	ev := func(v int64) events.Envelope {
		return events.Envelope{ID: ids.ULID(), Environment: "dev", Stream: "user#a", Version: v, Type: "user.created",
			Data: json.RawMessage(`{"v":1}`), OccurredAt: now}
	}
	return events.Append{
		Environment: "dev",
		Streams:     []events.StreamAppend{{Stream: "user#a", Events: []events.Envelope{ev(1), ev(2)}}},
		Claims:      []events.Claim{{Kind: "email", Value: "a@example.com", Owner: "user#a"}},
		Puts: []events.Item{{ItemKey: events.ItemKey{Collection: "user", ID: "a"}, Data: json.RawMessage(`{"id":"a"}`),
			Indexes: map[events.Index]events.IndexKey{events.Index1: {Partition: "users", Sort: "a"}}}},
		Idempotency: &events.IdempotencyRecord{Key: "k", Fingerprint: "f", Status: 201, Body: []byte(`{}`), ExpiresAt: now.Add(time.Hour)},
	}
}

func TestReopenKeepsData(t *testing.T) {
	clock := eventstest.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	path := filepath.Join(t.TempDir(), "data", "keyway.db")
	s, err := bolt.Open(path, clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Append(ctx, seed(events.NewIDs(clock.Now), clock.Now())); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open(t, path, clock.Now)
	if evs, err := s.Load(ctx, "dev", "user#a"); err != nil || len(evs) != 2 || evs[1].Version != 2 || string(evs[0].Data) != `{"v":1}` {
		t.Fatalf("Load after reopen = %+v, %v", evs, err)
	}
	if feed, err := s.Feed(ctx, events.FeedQuery{Environment: "dev", Limit: 10}); err != nil || len(feed) != 2 {
		t.Fatalf("Feed after reopen = %d events, %v", len(feed), err)
	}
	if it, err := s.Get(ctx, "dev", events.ItemKey{Collection: "user", ID: "a"}); err != nil || string(it.Data) != `{"id":"a"}` {
		t.Fatalf("Get after reopen = %+v, %v", it, err)
	}
	if items, err := s.Query(ctx, events.Query{Environment: "dev", Index: events.Index1, Partition: "users", Limit: 10}); err != nil || len(items) != 1 {
		t.Fatalf("Query after reopen = %d items, %v", len(items), err)
	}
	if owner, err := s.Owner(ctx, "dev", "email", "a@example.com"); err != nil || owner != "user#a" {
		t.Fatalf("Owner after reopen = %q, %v", owner, err)
	}
	if r, err := s.Idempotency(ctx, "dev", "k"); err != nil || r.Status != 201 {
		t.Fatalf("Idempotency after reopen = %+v, %v", r, err)
	}
	// Versions continue where they were.
	err = s.Append(ctx, events.Append{Environment: "dev", Streams: []events.StreamAppend{{Stream: "user#a", Events: []events.Envelope{
		{ID: events.NewIDs(clock.Now).ULID(), Environment: "dev", Stream: "user#a", Version: 1, Type: "user.updated"}}}}})
	if !errors.Is(err, events.ErrConflict) {
		t.Fatalf("append at version 0 after reopen: %v, want conflict", err)
	}
}

func TestSecondOpenFailsWithinTimeout(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keyway.db")
	open(t, path, nil)
	start := time.Now()
	s, err := bolt.Open(path, nil)
	if err == nil {
		_ = s.Close()
		t.Fatal("second Open of a file in use succeeded")
	}
	if !strings.Contains(err.Error(), "data dir in use by another keyway process") {
		t.Fatalf("second Open: %v, want a data-dir-in-use error", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("second Open took %s", d)
	}
}

func TestFilePermissions(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	open(t, filepath.Join(dir, "keyway.db"), nil)
	for path, want := range map[string]os.FileMode{dir: 0o700, filepath.Join(dir, "keyway.db"): 0o600} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got&^want != 0 {
			t.Errorf("%s has mode %o, want at most %o", path, got, want)
		}
	}
}

func TestPutWinsOverDeleteOfSameItem(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "keyway.db"), nil)
	k := events.ItemKey{Collection: "user", ID: "a"}
	idx := map[events.Index]events.IndexKey{events.Index1: {Partition: "users", Sort: "a"}}
	for range 2 { // the second round also replaces an existing item
		err := s.Append(ctx, events.Append{Environment: "dev", Deletes: []events.ItemKey{k},
			Puts: []events.Item{{ItemKey: k, Data: json.RawMessage(`{}`), Indexes: idx}}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Get(ctx, "dev", k); err != nil {
			t.Fatalf("Get after put+delete: %v", err)
		}
		if items, err := s.Query(ctx, events.Query{Environment: "dev", Index: events.Index1, Partition: "users", Limit: 10}); err != nil || len(items) != 1 {
			t.Fatalf("Query after put+delete = %d items, %v", len(items), err)
		}
	}
}

func TestNULInKeyRejected(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "keyway.db"), nil)
	err := s.Append(ctx, events.Append{Environment: "dev", Claims: []events.Claim{{Kind: "email", Value: "a\x00b", Owner: "user#a"}}})
	if err == nil {
		t.Fatal("claim with a NUL byte accepted")
	}
	if _, err := s.Owner(ctx, "dev\x00email", "a", "b"); err == nil || errors.Is(err, events.ErrNotFound) {
		t.Fatalf("Owner with a NUL byte: %v, want a key error", err)
	}
}

func TestScanItemsPagesAndAllowsAppends(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "keyway.db"), nil)
	const n = 1000 // several pages
	var puts []events.Item
	for i := range n {
		puts = append(puts, events.Item{ItemKey: events.ItemKey{Collection: "user", ID: fmt.Sprintf("u%04d", i)}, Data: json.RawMessage(`{}`)})
	}
	if err := s.Append(ctx, events.Append{Environment: "dev", Puts: puts}); err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	err := s.ScanItems(ctx, "dev", func(it events.Item) error {
		seen[it.ID]++
		// fn may write: ScanItems holds no transaction while it runs.
		return s.Append(ctx, events.Append{Environment: "other", Puts: []events.Item{{ItemKey: it.ItemKey, Data: json.RawMessage(`{}`)}}})
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != n {
		t.Fatalf("ScanItems saw %d items, want %d", len(seen), n)
	}
	for id, c := range seen {
		if c != 1 {
			t.Fatalf("ScanItems saw %s %d times", id, c)
		}
	}
}

func TestNULInNewKeyPartsRejected(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "keyway.db"), nil)
	err := s.Append(ctx, events.Append{Environment: "dev", Checks: []events.StreamCheck{{Stream: "user#a\x00b"}}})
	if err == nil || errors.Is(err, events.ErrConflict) {
		t.Fatalf("check of a stream with a NUL byte: %v, want a key error", err)
	}
	if _, err := s.GetMany(ctx, "dev", []events.ItemKey{{Collection: "user", ID: "a\x00b"}}); err == nil {
		t.Fatal("GetMany with a NUL byte accepted")
	}
	if err := s.ScanItems(ctx, "dev\x00user", func(events.Item) error { return nil }); err == nil {
		t.Fatal("ScanItems with a NUL byte accepted")
	}
}
