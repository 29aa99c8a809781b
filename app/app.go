// Package app holds Keyway's use cases: command handlers that load a stream,
// decide, and append (retrying on version conflicts), and queries over the
// read models.
package app

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/keywayhq/keyway/domain"
	"github.com/keywayhq/keyway/domain/authcode"
	"github.com/keywayhq/keyway/domain/authlog"
	"github.com/keywayhq/keyway/domain/browsersession"
	"github.com/keywayhq/keyway/domain/environment"
	"github.com/keywayhq/keyway/domain/invitation"
	"github.com/keywayhq/keyway/domain/magicauth"
	"github.com/keywayhq/keyway/domain/membership"
	"github.com/keywayhq/keyway/domain/organization"
	"github.com/keywayhq/keyway/domain/password"
	"github.com/keywayhq/keyway/domain/passwordreset"
	"github.com/keywayhq/keyway/domain/pending"
	"github.com/keywayhq/keyway/domain/role"
	"github.com/keywayhq/keyway/domain/session"
	"github.com/keywayhq/keyway/domain/throttle"
	"github.com/keywayhq/keyway/domain/user"
	"github.com/keywayhq/keyway/events"
)

// App is the use-case layer. It is safe for concurrent use.
type App struct {
	store           events.Store
	registry        *events.Registry
	now             func() time.Time
	ids             *events.IDs
	rand            io.Reader
	log             *slog.Logger
	password        password.Params
	dns             TXTResolver
	signer          Signer
	mailer          Mailer
	allowUnverified bool
	codeKey         func() ([]byte, error)
	sessions        SessionConfig
	logoutURLs      []string
	inviteURL       string
	publicURL       string
	idemTTL         time.Duration
	keys            *keyCache

	dummyOnce sync.Once
	dummy     password.Hash
}

// Config are App's dependencies.
type Config struct {
	Store    events.Store
	Now      func() time.Time // defaults to time.Now
	Rand     io.Reader        // defaults to crypto/rand
	Logger   *slog.Logger
	Password password.Params // defaults to password.Default
	DNS      TXTResolver     // domain verification; nil disables it
	Signer   Signer          // access tokens and JWKS; nil disables sessions
	Mailer   Mailer          // one-time codes; nil disables Magic Auth
	// AllowUnverifiedSignIn lets users sign in with a password before
	// verifying their email; by default they must verify it first.
	AllowUnverifiedSignIn bool
	// CodeKey is the HMAC key of one-time codes (only their keyed hashes are kept).
	CodeKey  func() ([]byte, error)
	Sessions SessionConfig
	// LogoutURLs are the return_to URLs logout may redirect to.
	LogoutURLs []string
	// InviteURL is the invitation accept page (default DefaultInviteURL).
	InviteURL string
	// PublicURL is the base URL browsers reach Keyway at; it makes reset
	// links lead to the hosted reset page. Empty: DefaultPasswordResetURL.
	PublicURL string
	// IdempotencyTTL is how long an Idempotency-Key is remembered (default 24 h).
	IdempotencyTTL time.Duration
	// APIKeyCacheTTL is how long a resolved API key is cached in memory (default 30 s; negative disables).
	APIKeyCacheTTL time.Duration
}

// New builds the App.
func New(c Config) *App {
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Rand == nil {
		c.Rand = rand.Reader
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Password == (password.Params{}) {
		c.Password = password.Default
	}
	if c.IdempotencyTTL == 0 {
		c.IdempotencyTTL = 24 * time.Hour
	}
	if c.APIKeyCacheTTL == 0 {
		c.APIKeyCacheTTL = 30 * time.Second
	}
	reg := events.NewRegistry()
	user.Register(reg)
	environment.Register(reg)
	organization.Register(reg)
	membership.Register(reg)
	role.Register(reg)
	session.Register(reg)
	throttle.Register(reg)
	magicauth.Register(reg)
	pending.Register(reg)
	authlog.Register(reg)
	invitation.Register(reg)
	passwordreset.Register(reg)
	authcode.Register(reg)
	browsersession.Register(reg)
	now := func() time.Time { return c.Now().UTC().Truncate(time.Millisecond) }
	return &App{
		store: c.Store, registry: reg, now: now, ids: events.NewIDs(now), rand: c.Rand, log: c.Logger,
		password: c.Password, dns: c.DNS, signer: c.Signer, mailer: c.Mailer, allowUnverified: c.AllowUnverifiedSignIn, codeKey: c.CodeKey, sessions: c.Sessions.withDefaults(), logoutURLs: c.LogoutURLs, idemTTL: c.IdempotencyTTL, keys: newKeyCache(c.APIKeyCacheTTL, now), inviteURL: c.InviteURL, publicURL: c.PublicURL,
	}
}

// Registry returns the event types the app knows.
func (a *App) Registry() *events.Registry { return a.registry }

// TXTResolver looks up DNS TXT records; a missing record is (nil, nil).
type TXTResolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
}

// Meta describes who asks, in which environment, and how to remember the answer.
type Meta struct {
	Env         string // environment id
	Actor       string // e.g. the API key id
	RequestID   string
	Idempotency *Idempotency
}

// Idempotency asks a command to store its response under Key, in the same
// append as its events.
type Idempotency struct {
	Key         string
	Fingerprint string
	// Render turns the command's result into the response to replay.
	Render func(result any) (status int, body []byte, err error)
}

// ErrIdempotencyKeyUsed is returned when a concurrent request with the same
// Idempotency-Key won; the caller replays the stored response.
var ErrIdempotencyKeyUsed = events.ErrIdempotencyKeyUsed

// write is what a command decided: events per stream and the derived
// claims and read-model changes.
type write struct {
	streams  []streamEvents
	checks   []events.StreamCheck
	claims   []events.Claim
	releases []events.Claim
	puts     []events.Item
	deletes  []events.ItemKey
}

// merge combines two writes into one append.
func (w write) merge(o write) write {
	w.streams = append(w.streams, o.streams...)
	w.checks = append(w.checks, o.checks...)
	w.claims = append(w.claims, o.claims...)
	w.releases = append(w.releases, o.releases...)
	w.puts = append(w.puts, o.puts...)
	w.deletes = append(w.deletes, o.deletes...)
	return w
}

type streamEvents struct {
	stream  string
	version int64 // the version the events were decided on
	events  []events.Event
}

// maxAttempts bounds the optimistic-concurrency retry loop.
const maxAttempts = 5

// execute runs plan, appends what it decided, and retries from the start on
// a version conflict. plan may be called several times and must not have
// side effects. onClaim maps a unique-claim conflict to a domain error.
func execute[R any](ctx context.Context, a *App, m Meta, plan func() (write, R, error), onClaim func(*events.ClaimError) error) (R, error) {
	var zero R
	for attempt := 1; ; attempt++ {
		w, result, err := plan()
		if err != nil {
			return zero, err
		}
		ap, err := a.toAppend(m, w, result)
		if err != nil {
			return zero, err
		}
		if len(ap.Streams) == 0 && ap.Idempotency == nil && len(ap.Puts) == 0 && len(ap.Deletes) == 0 {
			return result, nil // nothing changed
		}
		err = a.store.Append(ctx, ap)
		if err != nil && a.replayWon(ctx, m) {
			// A concurrent request with the same Idempotency-Key committed
			// first; its claims and versions are why this append failed.
			return zero, ErrIdempotencyKeyUsed
		}
		var ce *events.ClaimError
		switch {
		case err == nil:
			return result, nil
		case errors.Is(err, events.ErrConflict) && attempt < maxAttempts:
			continue
		case errors.As(err, &ce) && onClaim != nil:
			return zero, onClaim(ce)
		case errors.Is(err, events.ErrIdempotencyKeyUsed):
			return zero, ErrIdempotencyKeyUsed
		default:
			return zero, fmt.Errorf("app: append: %w", err)
		}
	}
}

func (a *App) toAppend(m Meta, w write, result any) (events.Append, error) {
	ap := events.Append{Environment: m.Env, Checks: w.checks, Claims: w.claims, Releases: w.releases, Puts: w.puts, Deletes: w.deletes}
	now := a.now()
	for _, s := range w.streams {
		if len(s.events) == 0 {
			continue
		}
		sa := events.StreamAppend{Stream: s.stream, ExpectedVersion: s.version}
		for i, e := range s.events {
			data, err := a.registry.Encode(e)
			if err != nil {
				return events.Append{}, err
			}
			sa.Events = append(sa.Events, events.Envelope{
				ID: a.ids.ULID(), Environment: m.Env, Stream: s.stream, Version: s.version + 1 + int64(i),
				Type: e.EventType(), Data: data, OccurredAt: now, Actor: m.Actor, RequestID: m.RequestID,
			})
		}
		ap.Streams = append(ap.Streams, sa)
	}
	if idem := m.Idempotency; idem != nil && idem.Render != nil {
		status, body, err := idem.Render(result)
		if err != nil {
			return events.Append{}, fmt.Errorf("app: render idempotent response: %w", err)
		}
		ap.Idempotency = &events.IdempotencyRecord{Key: idem.Key, Fingerprint: idem.Fingerprint, Status: status, Body: body, ExpiresAt: now.Add(a.idemTTL)}
	}
	return ap, nil
}

// replayWon reports whether a request with m's Idempotency-Key has committed.
func (a *App) replayWon(ctx context.Context, m Meta) bool {
	if m.Idempotency == nil {
		return false
	}
	_, err := a.store.Idempotency(ctx, m.Env, m.Idempotency.Key)
	return err == nil
}

// load folds a stream into its state and returns the stream's version.
func load[S any](ctx context.Context, a *App, env, stream string, evolve func(S, events.Event) S) (S, int64, error) {
	var s S
	envs, err := a.store.Load(ctx, env, stream)
	if err != nil {
		return s, 0, fmt.Errorf("app: load %s: %w", stream, err)
	}
	for _, e := range envs {
		ev, err := a.registry.Decode(e)
		if err != nil {
			return s, 0, err
		}
		s = evolve(s, ev)
	}
	return s, int64(len(envs)), nil
}

// Replay returns the stored response of an Idempotency-Key, or events.ErrNotFound.
func (a *App) Replay(ctx context.Context, env, key string) (events.IdempotencyRecord, error) {
	return a.store.Idempotency(ctx, env, key)
}

// notFound is the domain error for a missing resource of any kind.
func notFound(kind, id string) error {
	return domain.NotFoundf("entity_not_found", "%s not found: '%s'.", kind, id)
}
