// Package bolt is the embedded events.Store: the event log, the read models,
// the unique claims and the idempotency records of every environment, in one
// bbolt file. It backs local runs (`keyway serve`).
//
// Each Append is one bbolt read-write transaction that checks every condition
// before it writes anything; a failed check or write rolls the transaction
// back, so an Append is written completely or not at all. bbolt runs one
// writer at a time, which serialises Appends; reads run concurrently.
//
// Keys join their parts with NUL bytes so that byte order is the order of
// the parts; parts containing NUL are therefore rejected.
package bolt

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"go.etcd.io/bbolt"
	bberrors "go.etcd.io/bbolt/errors"

	"github.com/keywayhq/keyway/events"
)

// lockTimeout bounds how long Open waits for the file lock that another
// process holds.
const lockTimeout = 2 * time.Second

// The buckets of the store file, with their keys (parts joined by NUL; see
// keys.go) and values.
const (
	bucketStreams = "streams"     // env\0stream\0version -> JSON events.Envelope
	bucketFeed    = "feed"        // env\0eventID -> streams key of the event
	bucketItems   = "items"       // env\0collection\0id -> JSON itemRecord
	bucketIndex   = "index"       // index\0env\0partition\0sort\0collection\0id -> empty
	bucketClaims  = "claims"      // env\0kind\0value -> owning stream
	bucketIdem    = "idempotency" // env\0key -> JSON events.IdempotencyRecord
)

// Store is the bbolt-backed events.Store. It is safe for concurrent use.
type Store struct {
	db  *bbolt.DB
	now func() time.Time
}

var _ events.Store = (*Store)(nil)

// Open opens the store file at path, creating it (mode 0600) and its parent
// directories (mode 0700) when missing. now is the clock that decides which
// items and idempotency records have expired; nil means time.Now. When
// another process holds the file, Open fails after a short timeout with an
// error saying the data dir is in use.
func Open(path string, now func() time.Time) (*Store, error) {
	if now == nil {
		now = time.Now
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("bolt: create data dir: %w", err)
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: lockTimeout})
	if errors.Is(err, bberrors.ErrTimeout) {
		return nil, fmt.Errorf("bolt: data dir in use by another keyway process (%s stayed locked for %s): %w", path, lockTimeout, err)
	}
	if err != nil {
		return nil, fmt.Errorf("bolt: open %s: %w", path, err)
	}
	if err := createBuckets(db); err != nil {
		_ = db.Close()
		return nil, err
	}
	return &Store{db: db, now: now}, nil
}

// createBuckets makes sure every bucket of the store file exists.
func createBuckets(db *bbolt.DB) error {
	names := []string{bucketStreams, bucketFeed, bucketItems, bucketIndex, bucketClaims, bucketIdem}
	err := db.Update(func(tx *bbolt.Tx) error {
		for _, name := range names {
			if _, err := tx.CreateBucketIfNotExists([]byte(name)); err != nil {
				return fmt.Errorf("bucket %s: %w", name, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("bolt: create buckets: %w", err)
	}
	return nil
}

// Close implements events.Store. It waits for running transactions.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("bolt: close: %w", err)
	}
	return nil
}

// buckets are the buckets of one transaction.
type buckets struct {
	streams, feed, items, index, claims, idem *bbolt.Bucket
}

// bucketsOf returns the buckets of tx; Open has created them all.
func bucketsOf(tx *bbolt.Tx) buckets {
	b := func(name string) *bbolt.Bucket { return tx.Bucket([]byte(name)) }
	return buckets{
		streams: b(bucketStreams), feed: b(bucketFeed), items: b(bucketItems),
		index: b(bucketIndex), claims: b(bucketClaims), idem: b(bucketIdem),
	}
}

// update runs fn in a read-write transaction and commits it when fn
// succeeds. fn's own errors are returned as they are, so that callers can
// match the events error types.
func (s *Store) update(fn func(b buckets) error) error {
	tx, err := s.db.Begin(true)
	if err != nil {
		return fmt.Errorf("bolt: begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	if err := fn(bucketsOf(tx)); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("bolt: commit: %w", err)
	}
	return nil
}

// view runs fn in a read-only transaction.
func (s *Store) view(fn func(b buckets) error) error {
	return s.db.View(func(tx *bbolt.Tx) error { return fn(bucketsOf(tx)) })
}
