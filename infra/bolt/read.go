package bolt

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"go.etcd.io/bbolt"

	"github.com/keywayhq/keyway/events"
)

// Load implements events.Store.
func (s *Store) Load(ctx context.Context, env, stream string) ([]events.Envelope, error) {
	if err := readable(ctx, env, stream); err != nil {
		return nil, err
	}
	var out []events.Envelope
	err := s.view(func(b buckets) error {
		return scan(b.streams, prefixRange(streamPrefix(env, stream)), false, func(_, v []byte) (bool, error) {
			e, err := decodeEnvelope(v)
			out = append(out, e)
			return true, err
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Get implements events.Store.
func (s *Store) Get(ctx context.Context, env string, k events.ItemKey) (events.Item, error) {
	if err := readable(ctx, env, k.Collection, k.ID); err != nil {
		return events.Item{}, err
	}
	var it events.Item
	err := s.view(func(b buckets) error {
		var live bool
		var err error
		it, live, err = liveItem(b.items, itemKey(env, k), s.now())
		if err == nil && !live {
			err = events.ErrNotFound
		}
		return err
	})
	return it, err
}

// GetMany implements events.Store. It reads every key in one transaction.
func (s *Store) GetMany(ctx context.Context, env string, keys []events.ItemKey) ([]events.Item, error) {
	if len(keys) > events.MaxGetMany {
		return nil, fmt.Errorf("bolt: GetMany of %d keys, at most %d", len(keys), events.MaxGetMany)
	}
	if err := readable(ctx, append([]string{env}, itemKeyParts(keys)...)...); err != nil {
		return nil, err
	}
	now := s.now()
	out := make([]events.Item, 0, len(keys))
	err := s.view(func(b buckets) error {
		for _, k := range keys {
			it, live, err := liveItem(b.items, itemKey(env, k), now)
			if err != nil {
				return err
			}
			if live {
				out = append(out, it)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// scanPage is how many items ScanItems reads per transaction.
const scanPage = 256

// ScanItems implements events.Store. It reads the items of env in key order,
// scanPage at a time, each page in its own read transaction, and calls fn
// outside any transaction, so that fn may append (a bbolt writer can wait
// for open readers when it grows the file). An item that is neither put nor
// deleted during the scan is seen exactly once.
func (s *Store) ScanItems(ctx context.Context, env string, fn func(events.Item) error) error {
	if err := readable(ctx, env); err != nil {
		return err
	}
	r := prefixRange(prefix(env))
	for {
		var page []events.Item
		var next []byte // the first key after the page; nil at the end
		now := s.now()
		err := s.view(func(b buckets) error {
			return scan(b.items, r, false, func(k, v []byte) (bool, error) {
				if len(page) == scanPage {
					next = bytes.Clone(k)
					return false, nil
				}
				it, err := decodeItem(v)
				if err == nil && events.Live(it.ExpiresAt, now) {
					page = append(page, it)
				}
				return true, err
			})
		})
		if err != nil {
			return err
		}
		for _, it := range page {
			if err := fn(it); err != nil {
				return err
			}
		}
		if next == nil {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		r = r.from(next)
	}
}

// Query implements events.Store. It walks the index entries of the
// partition in sort order and skips expired items.
func (s *Store) Query(ctx context.Context, q events.Query) ([]events.Item, error) {
	if err := readable(ctx, string(q.Index), q.Environment, q.Partition, q.Start); err != nil {
		return nil, err
	}
	now := s.now()
	var out []events.Item
	err := s.view(func(b buckets) error {
		return scan(b.index, queryRange(q), q.Descending, func(k, _ []byte) (bool, error) {
			it, live, err := liveItem(b.items, itemKeyOfIndex(q.Environment, k), now)
			if live {
				out = append(out, it)
			}
			return q.Limit <= 0 || len(out) < q.Limit, err
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// queryRange is the index keys of q's partition after q.Start in the
// direction of travel. Every entry whose sort key is Start begins with
// prefix(..., Start), so that prefix bounds them all out.
func queryRange(q events.Query) keyRange {
	r := prefixRange(prefix(string(q.Index), q.Environment, q.Partition))
	if q.Start == "" {
		return r
	}
	start := prefix(string(q.Index), q.Environment, q.Partition, q.Start)
	if q.Descending {
		return r.until(start)
	}
	return r.from(prefixEnd(start))
}

// Owner implements events.Store.
func (s *Store) Owner(ctx context.Context, env, kind, value string) (string, error) {
	if err := readable(ctx, env, kind, value); err != nil {
		return "", err
	}
	var owner string
	err := s.view(func(b buckets) error {
		v := b.claims.Get(claimKey(env, events.Claim{Kind: kind, Value: value}))
		if v == nil {
			return events.ErrNotFound
		}
		owner = string(v)
		return nil
	})
	return owner, err
}

// Idempotency implements events.Store.
func (s *Store) Idempotency(ctx context.Context, env, key string) (events.IdempotencyRecord, error) {
	if err := readable(ctx, env, key); err != nil {
		return events.IdempotencyRecord{}, err
	}
	var r events.IdempotencyRecord
	err := s.view(func(b buckets) error {
		var live bool
		var err error
		r, live, err = liveIdempotency(b.idem, env, key, s.now())
		if err == nil && !live {
			err = events.ErrNotFound
		}
		return err
	})
	return r, err
}

// Feed implements events.Store. The feed bucket holds, in ID order, the
// streams key of every event.
func (s *Store) Feed(ctx context.Context, q events.FeedQuery) ([]events.Envelope, error) {
	if err := readable(ctx, q.Environment, q.After, q.Before); err != nil {
		return nil, err
	}
	var out []events.Envelope
	err := s.view(func(b buckets) error {
		return scan(b.feed, feedRange(q), q.Descending, func(_, ref []byte) (bool, error) {
			e, err := decodeEnvelope(b.streams.Get(ref))
			out = append(out, e)
			return q.Limit <= 0 || len(out) < q.Limit, err
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// feedRange is the feed keys of q's environment strictly between q.After
// and q.Before; prefix(env, After) is the first key after feedKey(env, After).
func feedRange(q events.FeedQuery) keyRange {
	r := prefixRange(prefix(q.Environment))
	if q.After != "" {
		r = r.from(prefix(q.Environment, q.After))
	}
	if q.Before != "" {
		r = r.until(feedKey(q.Environment, q.Before))
	}
	return r
}

// liveItem reads the item at k; live is false when it is missing or expired.
func liveItem(items *bbolt.Bucket, k []byte, now time.Time) (it events.Item, live bool, err error) {
	v := items.Get(k)
	if v == nil {
		return events.Item{}, false, nil
	}
	it, err = decodeItem(v)
	if err != nil || !events.Live(it.ExpiresAt, now) {
		return events.Item{}, false, err
	}
	return it, true, nil
}

// liveIdempotency reads a record; live is false when it is missing or expired.
func liveIdempotency(idem *bbolt.Bucket, env, key string, now time.Time) (r events.IdempotencyRecord, live bool, err error) {
	v := idem.Get(idemKey(env, key))
	if v == nil {
		return events.IdempotencyRecord{}, false, nil
	}
	r, err = decodeIdempotency(v)
	if err != nil || !events.Live(r.ExpiresAt, now) {
		return events.IdempotencyRecord{}, false, err
	}
	return r, true, nil
}

// readable checks that a read may start: ctx is live and no key part
// contains a NUL byte.
func readable(ctx context.Context, parts ...string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return checkParts(parts...)
}
