package events

import (
	"crypto/rand"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"
)

// IDs makes ULIDs that sort in creation order, also within one millisecond.
type IDs struct {
	now     func() time.Time
	mu      sync.Mutex
	entropy *ulid.MonotonicEntropy
}

// NewIDs returns an ID source that reads time from now.
func NewIDs(now func() time.Time) *IDs {
	return &IDs{now: now, entropy: ulid.Monotonic(rand.Reader, 0)}
}

// ULID returns a new bare ULID.
func (g *IDs) ULID() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return ulid.MustNew(ulid.Timestamp(g.now()), g.entropy).String()
}

// New returns prefix + "_" + a new ULID, the WorkOS id shape ("user_01H...").
func (g *IDs) New(prefix string) string { return prefix + "_" + g.ULID() }

// MinULIDAt is the smallest ULID whose time is t; feed range bounds use it.
func MinULIDAt(t time.Time) string {
	var id ulid.ULID
	_ = id.SetTime(ulid.Timestamp(t))
	return id.String()
}
