// Package memstore is the in-memory events.Store, for unit tests.
package memstore

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/keywayhq/keyway/events"
)

// Store keeps everything in maps behind one mutex, so each Append is atomic.
type Store struct {
	now func() time.Time

	mu      sync.Mutex
	streams map[string][]events.Envelope // env + "\x00" + stream
	feed    map[string][]events.Envelope // env -> events in ID order
	items   map[string]events.Item       // env + "\x00" + collection + "\x00" + id
	claims  map[string]string            // env + "\x00" + kind + "\x00" + value -> owner
	idem    map[string]events.IdempotencyRecord
}

// New returns an empty store that reads time from now.
func New(now func() time.Time) *Store {
	return &Store{
		now:     now,
		streams: map[string][]events.Envelope{},
		feed:    map[string][]events.Envelope{},
		items:   map[string]events.Item{},
		claims:  map[string]string{},
		idem:    map[string]events.IdempotencyRecord{},
	}
}

func key(parts ...string) string { return strings.Join(parts, "\x00") }

// Append implements events.Store.
func (s *Store) Append(ctx context.Context, a events.Append) error {
	if err := a.Validate(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	// Check every condition first, then write: nothing is written on failure.
	for _, sa := range a.Streams {
		if int64(len(s.streams[key(a.Environment, sa.Stream)])) != sa.ExpectedVersion {
			return &events.ConflictError{Stream: sa.Stream}
		}
	}
	for _, c := range a.Checks {
		if int64(len(s.streams[key(a.Environment, c.Stream)])) != c.Version {
			return &events.ConflictError{Stream: c.Stream}
		}
	}
	for _, c := range a.Claims {
		if owner, ok := s.claims[key(a.Environment, c.Kind, c.Value)]; ok && owner != c.Owner {
			return &events.ClaimError{Kind: c.Kind, Value: c.Value}
		}
	}
	for _, c := range a.Releases {
		if owner, ok := s.claims[key(a.Environment, c.Kind, c.Value)]; ok && owner != c.Owner {
			return &events.ClaimError{Kind: c.Kind, Value: c.Value}
		}
	}
	if r := a.Idempotency; r != nil {
		if old, ok := s.idem[key(a.Environment, r.Key)]; ok && events.Live(old.ExpiresAt, now) {
			return events.ErrIdempotencyKeyUsed
		}
	}

	for _, sa := range a.Streams {
		k := key(a.Environment, sa.Stream)
		s.streams[k] = append(s.streams[k], sa.Events...)
		feed := s.feed[a.Environment]
		for _, e := range sa.Events { // IDs mostly arrive in order: this is usually an append
			i := sort.Search(len(feed), func(i int) bool { return feed[i].ID > e.ID })
			feed = slices.Insert(feed, i, e)
		}
		s.feed[a.Environment] = feed
	}
	for _, c := range a.Releases {
		delete(s.claims, key(a.Environment, c.Kind, c.Value))
	}
	for _, c := range a.Claims {
		s.claims[key(a.Environment, c.Kind, c.Value)] = c.Owner
	}
	for _, d := range a.Deletes {
		delete(s.items, key(a.Environment, d.Collection, d.ID))
	}
	for _, it := range a.Puts {
		s.items[key(a.Environment, it.Collection, it.ID)] = cloneItem(it)
	}
	if r := a.Idempotency; r != nil {
		s.idem[key(a.Environment, r.Key)] = *r
	}
	return nil
}

func cloneItem(it events.Item) events.Item {
	it.Data = append([]byte(nil), it.Data...)
	idx := make(map[events.Index]events.IndexKey, len(it.Indexes))
	for k, v := range it.Indexes {
		idx[k] = v
	}
	it.Indexes = idx
	return it
}

// Load implements events.Store.
func (s *Store) Load(ctx context.Context, env, stream string) ([]events.Envelope, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]events.Envelope(nil), s.streams[key(env, stream)]...), nil
}

// Get implements events.Store.
func (s *Store) Get(ctx context.Context, env string, k events.ItemKey) (events.Item, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	it, ok := s.items[key(env, k.Collection, k.ID)]
	if !ok || !events.Live(it.ExpiresAt, s.now()) {
		return events.Item{}, events.ErrNotFound
	}
	return cloneItem(it), nil
}

// GetMany implements events.Store.
func (s *Store) GetMany(ctx context.Context, env string, keys []events.ItemKey) ([]events.Item, error) {
	if len(keys) > events.MaxGetMany {
		return nil, fmt.Errorf("memstore: GetMany of %d keys, at most %d", len(keys), events.MaxGetMany)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	out := make([]events.Item, 0, len(keys))
	for _, k := range keys {
		if it, ok := s.items[key(env, k.Collection, k.ID)]; ok && events.Live(it.ExpiresAt, now) {
			out = append(out, cloneItem(it))
		}
	}
	return out, nil
}

// ScanItems implements events.Store.
func (s *Store) ScanItems(ctx context.Context, env string, fn func(events.Item) error) error {
	s.mu.Lock()
	now := s.now()
	var items []events.Item
	for k, it := range s.items {
		if strings.HasPrefix(k, env+"\x00") && events.Live(it.ExpiresAt, now) {
			items = append(items, cloneItem(it))
		}
	}
	s.mu.Unlock()
	for _, it := range items {
		if err := fn(it); err != nil {
			return err
		}
	}
	return nil
}

// Query implements events.Store.
func (s *Store) Query(ctx context.Context, q events.Query) ([]events.Item, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	prefix := q.Environment + "\x00"
	var out []events.Item
	for k, it := range s.items {
		if !strings.HasPrefix(k, prefix) || !events.Live(it.ExpiresAt, now) {
			continue
		}
		ik, ok := it.Indexes[q.Index]
		if !ok || ik.Partition != q.Partition {
			continue
		}
		if q.Start != "" && ((!q.Descending && ik.Sort <= q.Start) || (q.Descending && ik.Sort >= q.Start)) {
			continue
		}
		out = append(out, cloneItem(it))
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].Indexes[q.Index].Sort, out[j].Indexes[q.Index].Sort
		if q.Descending {
			return a > b
		}
		return a < b
	})
	if q.Limit > 0 && len(out) > q.Limit {
		out = out[:q.Limit]
	}
	return out, nil
}

// Owner implements events.Store.
func (s *Store) Owner(ctx context.Context, env, kind, value string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	owner, ok := s.claims[key(env, kind, value)]
	if !ok {
		return "", events.ErrNotFound
	}
	return owner, nil
}

// Idempotency implements events.Store.
func (s *Store) Idempotency(ctx context.Context, env, k string) (events.IdempotencyRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.idem[key(env, k)]
	if !ok || !events.Live(r.ExpiresAt, s.now()) {
		return events.IdempotencyRecord{}, events.ErrNotFound
	}
	return r, nil
}

// Feed implements events.Store.
func (s *Store) Feed(ctx context.Context, q events.FeedQuery) ([]events.Envelope, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	all := s.feed[q.Environment]
	var out []events.Envelope
	for i := range all {
		e := all[i]
		if q.Descending {
			e = all[len(all)-1-i]
		}
		if (q.After != "" && e.ID <= q.After) || (q.Before != "" && e.ID >= q.Before) {
			continue
		}
		out = append(out, e)
		if q.Limit > 0 && len(out) == q.Limit {
			break
		}
	}
	return out, nil
}

// Close implements events.Store.
func (s *Store) Close() error { return nil }
