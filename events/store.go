package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Store is the event log and its read models. Every backend passes the
// conformance suite in events/storetest.
type Store interface {
	// Append writes everything in a atomically, or nothing. It fails with a
	// *ConflictError when a stream is not at its expected version, a
	// *ClaimError when a unique value is owned by another stream, and
	// ErrIdempotencyKeyUsed when a live idempotency record with the same key exists.
	Append(ctx context.Context, a Append) error
	// Load returns a stream's events in version order; none for a new stream.
	Load(ctx context.Context, env, stream string) ([]Envelope, error)
	// Get returns one read-model item, or ErrNotFound (also when it has expired).
	Get(ctx context.Context, env string, key ItemKey) (Item, error)
	// GetMany returns the live items among keys (at most MaxGetMany), in the
	// order of keys; missing and expired ones are left out.
	GetMany(ctx context.Context, env string, keys []ItemKey) ([]Item, error)
	// ScanItems calls fn for every live read-model item of env, in no
	// particular order; keyway rebuild uses it.
	ScanItems(ctx context.Context, env string, fn func(Item) error) error
	// Query returns read-model items of one index partition in sort order.
	Query(ctx context.Context, q Query) ([]Item, error)
	// Owner returns the stream that holds a unique claim, or ErrNotFound.
	Owner(ctx context.Context, env, kind, value string) (string, error)
	// Idempotency returns a live idempotency record, or ErrNotFound.
	Idempotency(ctx context.Context, env, key string) (IdempotencyRecord, error)
	// Feed returns an environment's events in ID (time) order.
	Feed(ctx context.Context, q FeedQuery) ([]Envelope, error)
	// Close releases the store's resources.
	Close() error
}

// Append is one atomic write.
type Append struct {
	Environment string
	Streams     []StreamAppend
	Checks      []StreamCheck // streams that must still be at a version; nothing is added to them
	Claims      []Claim       // unique values to take; taking one the stream already owns is a no-op
	Releases    []Claim       // unique values to give up; they must be owned by Claim.Owner or free
	Puts        []Item        // read-model items to write (replacing)
	Deletes     []ItemKey     // read-model items to remove
	Idempotency *IdempotencyRecord
}

// StreamAppend adds events to one stream. Events[i].Version must be
// ExpectedVersion+1+i; ExpectedVersion is 0 for a new stream.
type StreamAppend struct {
	Stream          string
	ExpectedVersion int64
	Events          []Envelope
}

// StreamCheck requires a stream to be at exactly Version (0: no events), so
// that a command that read it fails if it changed meanwhile.
type StreamCheck struct {
	Stream  string
	Version int64
}

// MaxGetMany bounds the keys of one GetMany (DynamoDB's BatchGetItem limit).
const MaxGetMany = 100

// Claim is a unique value of a kind ("email", "external_id") within an environment.
type Claim struct {
	Kind  string
	Value string
	Owner string // the owning stream
}

// ItemKey names a read-model item.
type ItemKey struct {
	Collection string // "user", "api_key", ...
	ID         string
}

// Index names one of the secondary indexes of the read models.
type Index string

// The read models have two secondary indexes; each item may place itself in
// one partition of each, with a sort key.
const (
	Index1 Index = "gsi1"
	Index2 Index = "gsi2"
)

// IndexKey places an item in an index partition.
type IndexKey struct {
	Partition string
	Sort      string
}

// Item is one read-model item.
type Item struct {
	ItemKey
	Data      json.RawMessage
	Indexes   map[Index]IndexKey
	ExpiresAt time.Time // zero: never
}

// Query reads one partition of an index.
type Query struct {
	Environment string
	Index       Index
	Partition   string
	// Start, when set, is an exclusive bound in the direction of travel: items
	// sorting after it (ascending) or before it (descending).
	Start      string
	Descending bool
	Limit      int // > 0
}

// IdempotencyRecord remembers the first response to an Idempotency-Key.
type IdempotencyRecord struct {
	Key         string
	Fingerprint string // hash of method, path and body
	Status      int
	Body        []byte
	ExpiresAt   time.Time
}

// FeedQuery reads an environment's events in ID order.
type FeedQuery struct {
	Environment string
	After       string // exclusive lower bound on the event ID
	Before      string // exclusive upper bound on the event ID
	Descending  bool
	Limit       int // > 0
}

// ErrNotFound means no such (live) item, claim or record.
var ErrNotFound = errors.New("events: not found")

// ErrConflict is matched by every *ConflictError.
var ErrConflict = errors.New("events: version conflict")

// ErrClaimed is matched by every *ClaimError.
var ErrClaimed = errors.New("events: unique value claimed")

// ErrIdempotencyKeyUsed means a live idempotency record with the key exists.
var ErrIdempotencyKeyUsed = errors.New("events: idempotency key already used")

// ConflictError reports a stream that was not at the expected version.
type ConflictError struct{ Stream string }

func (e *ConflictError) Error() string {
	return fmt.Sprintf("events: version conflict on stream %s", e.Stream)
}

// Is makes errors.Is(err, ErrConflict) true.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

// ClaimError reports a unique value owned by another stream.
type ClaimError struct{ Kind, Value string }

func (e *ClaimError) Error() string {
	return fmt.Sprintf("events: %s %q is already claimed", e.Kind, e.Value)
}

// Is makes errors.Is(err, ErrClaimed) true.
func (e *ClaimError) Is(target error) bool { return target == ErrClaimed }

// Validate checks the shape of an append before a store writes it.
func (a Append) Validate() error {
	if a.Environment == "" {
		return errors.New("events: append without environment")
	}
	if len(a.Streams) == 0 && len(a.Checks) == 0 && len(a.Puts) == 0 && len(a.Deletes) == 0 && len(a.Claims) == 0 && len(a.Releases) == 0 && a.Idempotency == nil {
		return errors.New("events: empty append")
	}
	seen := map[string]bool{}
	for _, s := range a.Streams {
		if s.Stream == "" || len(s.Events) == 0 {
			return fmt.Errorf("events: stream append %q without events", s.Stream)
		}
		if seen[s.Stream] {
			return fmt.Errorf("events: stream %s appears twice in one append", s.Stream)
		}
		seen[s.Stream] = true
		for i, e := range s.Events {
			if e.Version != s.ExpectedVersion+1+int64(i) || e.Stream != s.Stream || e.Environment != a.Environment || e.ID == "" || e.Type == "" {
				return fmt.Errorf("events: event %d of %s is malformed (version %d, stream %q, env %q)", i, s.Stream, e.Version, e.Stream, e.Environment)
			}
		}
	}
	for _, c := range a.Checks {
		if c.Stream == "" || c.Version < 0 || seen[c.Stream] {
			return fmt.Errorf("events: check of stream %q is empty or repeats a stream of the append", c.Stream)
		}
		seen[c.Stream] = true
	}
	for _, it := range a.Puts {
		if it.Collection == "" || it.ID == "" {
			return errors.New("events: read-model item without collection or id")
		}
	}
	for _, c := range append(append([]Claim(nil), a.Claims...), a.Releases...) {
		if c.Kind == "" || c.Value == "" || c.Owner == "" {
			return errors.New("events: claim without kind, value or owner")
		}
	}
	return nil
}

// Live reports whether an item with the given expiry is still visible at now.
func Live(expiresAt, now time.Time) bool { return expiresAt.IsZero() || now.Before(expiresAt) }
