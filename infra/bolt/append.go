package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	"go.etcd.io/bbolt"

	"github.com/keywayhq/keyway/events"
)

// Append implements events.Store. It runs in one read-write transaction:
// checkAppend reads the conditions and writeAppend writes; any error rolls
// the whole transaction back.
func (s *Store) Append(ctx context.Context, a events.Append) error {
	if err := a.Validate(); err != nil {
		return err
	}
	if err := checkParts(appendParts(a)...); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.update(func(b buckets) error {
		if err := checkAppend(b, a, s.now()); err != nil {
			return err
		}
		return writeAppend(b, a)
	})
}

// checkAppend checks, in memstore's order, that every stream is at its
// expected version, that every checked stream is at its version, that no
// claim or release touches a value another stream owns, and that no live
// idempotency record holds the key. It writes nothing.
func checkAppend(b buckets, a events.Append, now time.Time) error {
	for _, sa := range a.Streams {
		if err := checkVersion(b.streams, a.Environment, sa.Stream, sa.ExpectedVersion); err != nil {
			return err
		}
	}
	for _, c := range a.Checks {
		if err := checkVersion(b.streams, a.Environment, c.Stream, c.Version); err != nil {
			return err
		}
	}
	for _, c := range append(append([]events.Claim(nil), a.Claims...), a.Releases...) {
		if owner := b.claims.Get(claimKey(a.Environment, c)); owner != nil && string(owner) != c.Owner {
			return &events.ClaimError{Kind: c.Kind, Value: c.Value}
		}
	}
	if r := a.Idempotency; r != nil {
		_, live, err := liveIdempotency(b.idem, a.Environment, r.Key, now)
		if err != nil {
			return err
		}
		if live {
			return events.ErrIdempotencyKeyUsed
		}
	}
	return nil
}

// checkVersion fails with a *events.ConflictError when stream is not at
// version want (0: no events).
func checkVersion(streams *bbolt.Bucket, env, stream string, want int64) error {
	v, err := lastVersion(streams, env, stream)
	if err != nil {
		return err
	}
	if v != want {
		return &events.ConflictError{Stream: stream}
	}
	return nil
}

// lastVersion returns the version of a stream's last event; 0 for a new stream.
func lastVersion(streams *bbolt.Bucket, env, stream string) (int64, error) {
	p := streamPrefix(env, stream)
	k, _ := seekBefore(streams.Cursor(), prefixEnd(p))
	if k == nil || !bytes.HasPrefix(k, p) {
		return 0, nil
	}
	if len(k) != len(p)+8 {
		return 0, fmt.Errorf("bolt: malformed event key %q", k)
	}
	return int64(binary.BigEndian.Uint64(k[len(p):])), nil
}

// writeAppend writes everything in a; checkAppend has passed.
func writeAppend(b buckets, a events.Append) error {
	for _, sa := range a.Streams {
		if err := writeEvents(b, a.Environment, sa); err != nil {
			return err
		}
	}
	for _, c := range a.Releases {
		if err := del(b.claims, claimKey(a.Environment, c)); err != nil {
			return err
		}
	}
	for _, c := range a.Claims {
		if err := put(b.claims, claimKey(a.Environment, c), []byte(c.Owner)); err != nil {
			return err
		}
	}
	// Deletes before puts: an item both put and deleted ends up present.
	for _, k := range a.Deletes {
		if err := deleteItem(b, a.Environment, k); err != nil {
			return err
		}
	}
	for _, it := range a.Puts {
		if err := putItem(b, a.Environment, it); err != nil {
			return err
		}
	}
	if r := a.Idempotency; r != nil {
		return putIdempotency(b.idem, a.Environment, *r)
	}
	return nil
}

// writeEvents stores the events of sa and adds them to the feed.
func writeEvents(b buckets, env string, sa events.StreamAppend) error {
	for _, e := range sa.Events {
		v, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("bolt: encode event %s v%d: %w", e.Stream, e.Version, err)
		}
		k := eventKey(env, sa.Stream, e.Version)
		if err := put(b.streams, k, v); err != nil {
			return err
		}
		if err := put(b.feed, feedKey(env, e.ID), k); err != nil {
			return err
		}
	}
	return nil
}

// putItem writes it, replacing any item with its key and that item's index
// entries.
func putItem(b buckets, env string, it events.Item) error {
	if err := deleteItem(b, env, it.ItemKey); err != nil {
		return err
	}
	v, err := encodeItem(it)
	if err != nil {
		return err
	}
	if err := put(b.items, itemKey(env, it.ItemKey), v); err != nil {
		return err
	}
	for idx, ik := range it.Indexes {
		if err := put(b.index, indexKey(idx, env, ik, it.ItemKey), []byte{}); err != nil {
			return err
		}
	}
	return nil
}

// deleteItem removes an item and its index entries; a missing item is fine.
func deleteItem(b buckets, env string, k events.ItemKey) error {
	ik := itemKey(env, k)
	v := b.items.Get(ik)
	if v == nil {
		return nil
	}
	old, err := decodeItem(v)
	if err != nil {
		return err
	}
	for idx, entry := range old.Indexes {
		if err := del(b.index, indexKey(idx, env, entry, k)); err != nil {
			return err
		}
	}
	return del(b.items, ik)
}

// putIdempotency writes an idempotency record, replacing an expired one.
func putIdempotency(idem *bbolt.Bucket, env string, r events.IdempotencyRecord) error {
	v, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("bolt: encode idempotency record: %w", err)
	}
	return put(idem, idemKey(env, r.Key), v)
}

// put writes one key; bbolt keeps k and v until the transaction ends.
func put(b *bbolt.Bucket, k, v []byte) error {
	if err := b.Put(k, v); err != nil {
		return fmt.Errorf("bolt: put %q: %w", k, err)
	}
	return nil
}

// del removes one key; a missing key is fine.
func del(b *bbolt.Bucket, k []byte) error {
	if err := b.Delete(k); err != nil {
		return fmt.Errorf("bolt: delete %q: %w", k, err)
	}
	return nil
}
