package boot

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/keywayhq/keyway/app"
	"github.com/keywayhq/keyway/domain/environment"
	"github.com/keywayhq/keyway/events"
	"github.com/keywayhq/keyway/infra/keys"
)

// Each environment's signing key ring is kept sealed in the store, in that
// environment's namespace, so that every instance (keyway serve, each
// Lambda) signs and publishes the same keys, and no environment's tokens
// verify against another's JWKS. It is a secret, not a read model: rebuild
// leaves it alone.
var ringKey = events.ItemKey{Collection: app.SigningKeysCollection, ID: "ring"}

// ringReload is how often an instance rereads the ring, to pick up rotations.
const ringReload = time.Minute

// RingSigner implements app.Signer with a keys.Ring per environment, sealed under a KEK.
type RingSigner struct {
	store events.Store
	kek   func() ([]byte, error)
	now   func() time.Time

	mu    sync.Mutex
	rings map[string]cachedRing
}

type cachedRing struct {
	ring   *keys.Ring
	loaded time.Time
}

// NewRingSigner returns a signer whose ring lives in store, sealed with the
// key kek returns (asked for only when a token is first signed).
func NewRingSigner(store events.Store, kek func() ([]byte, error), now func() time.Time) *RingSigner {
	return &RingSigner{store: store, kek: kek, now: now, rings: map[string]cachedRing{}}
}

// Sign implements app.Signer.
func (s *RingSigner) Sign(ctx context.Context, env string, t app.AccessToken) (string, error) {
	r, err := s.current(ctx, env)
	if err != nil {
		return "", err
	}
	c := keys.Claims{
		RegisteredClaims: jwt.RegisteredClaims{Issuer: t.Issuer, Subject: t.Subject, ID: t.ID,
			IssuedAt: jwt.NewNumericDate(t.IssuedAt), ExpiresAt: jwt.NewNumericDate(t.ExpiresAt)},
		SessionID: t.SessionID, OrganizationID: t.OrganizationID, Role: t.Role, Permissions: t.Permissions,
	}
	if t.Role != "" {
		c.Roles = []string{t.Role}
	}
	return r.Sign(c)
}

// JWKS implements app.Signer.
func (s *RingSigner) JWKS(ctx context.Context, env string) ([]byte, error) {
	r, err := s.current(ctx, env)
	if err != nil {
		return nil, err
	}
	return r.JWKS(s.now()), nil
}

// Verify checks an access token against the ring (for tests and tools).
func (s *RingSigner) Verify(ctx context.Context, env, token, issuer string) (keys.Claims, error) {
	r, err := s.current(ctx, env)
	if err != nil {
		return keys.Claims{}, err
	}
	return r.Verify(token, s.now(), issuer)
}

// Rotate adds a new current key; the old one stays published for tokenTTL.
func (s *RingSigner) Rotate(ctx context.Context, env string, tokenTTL time.Duration) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.load(ctx, env)
	if errors.Is(err, keys.ErrNotFound) { // no key yet: the first one is the rotation
		if r, err = s.create(ctx, env); err != nil {
			return "", err
		}
		s.rings[env] = cachedRing{r, s.now()}
		k, _ := r.Current()
		return k.ID, nil
	}
	if err != nil {
		return "", err
	}
	k, err := keys.Generate(rand.Reader, s.now())
	if err != nil {
		return "", err
	}
	r.Rotate(k, s.now(), tokenTTL+keys.Leeway)
	if err := s.save(ctx, env, r, false); err != nil {
		return "", err
	}
	s.rings[env] = cachedRing{r, s.now()}
	return k.ID, nil
}

func (s *RingSigner) current(ctx context.Context, env string) (*keys.Ring, error) {
	if env == "" || env == environment.System {
		return nil, errors.New("boot: signing keys belong to an environment")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.rings[env]; ok && s.now().Sub(c.loaded) < ringReload {
		return c.ring, nil
	}
	r, err := s.load(ctx, env)
	if errors.Is(err, keys.ErrNotFound) {
		r, err = s.create(ctx, env)
	}
	if err != nil {
		return nil, err
	}
	s.rings[env] = cachedRing{r, s.now()}
	return r, nil
}

func (s *RingSigner) load(ctx context.Context, env string) (*keys.Ring, error) {
	kek, err := s.kek()
	if err != nil {
		return nil, err
	}
	it, err := s.store.Get(ctx, env, ringKey)
	if errors.Is(err, events.ErrNotFound) {
		return nil, keys.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("boot: read signing keys: %w", err)
	}
	var blob []byte
	if err := jsonString(it.Data, &blob); err != nil {
		return nil, err
	}
	return keys.Open(blob, kek)
}

// create makes the first key. A unique claim decides between instances
// that start at once; the loser reads the winner's ring.
func (s *RingSigner) create(ctx context.Context, env string) (*keys.Ring, error) {
	k, err := keys.Generate(rand.Reader, s.now())
	if err != nil {
		return nil, err
	}
	r := keys.NewRing(k)
	err = s.save(ctx, env, r, true)
	if errors.Is(err, events.ErrClaimed) {
		return s.load(ctx, env)
	}
	return r, err
}

func (s *RingSigner) save(ctx context.Context, env string, r *keys.Ring, first bool) error {
	kek, err := s.kek()
	if err != nil {
		return err
	}
	blob, err := keys.Seal(r, kek)
	if err != nil {
		return err
	}
	data, err := jsonBytes(blob)
	if err != nil {
		return err
	}
	a := events.Append{Environment: env, Puts: []events.Item{{ItemKey: ringKey, Data: data}}}
	if first {
		a.Claims = []events.Claim{{Kind: "signing_keys", Value: "ring", Owner: "keyway"}}
	}
	if err := s.store.Append(ctx, a); err != nil {
		return fmt.Errorf("boot: save signing keys: %w", err)
	}
	return nil
}

// KEKFromSettings returns the key-encryption key: KEYWAY_KEY_ENCRYPTION_KEY
// (base64, 32 bytes); else derived from the Secrets Manager secret named by
// KEYWAY_KEY_ENCRYPTION_KEY_SECRET (what template.yaml sets up); else, for
// the embedded store only, a key generated once into the data directory (0600).
func KEKFromSettings(s Settings) func() ([]byte, error) {
	var once sync.Once
	var kek []byte
	var err error
	return func() ([]byte, error) {
		once.Do(func() {
			if v := strings.TrimSpace(os.Getenv(keys.EnvKEK)); v != "" {
				kek, err = keys.ParseKEK(v)
				return
			}
			if id := kekSecretID(); id != "" {
				kek, err = secretKEK(id)
				return
			}
			if s.Store != StoreEmbedded {
				err = fmt.Errorf("%s or %s is required with the %s store", keys.EnvKEK, EnvKEKSecret, s.Store)
				return
			}
			kek, err = localKEK(filepath.Join(s.DataDir, "kek"))
		})
		return kek, err
	}
}

func localKEK(path string) ([]byte, error) {
	if b, err := os.ReadFile(path); err == nil {
		return keys.ParseKEK(strings.TrimSpace(string(b)))
	}
	kek := make([]byte, keys.KEKSize)
	if _, err := rand.Read(kek); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, []byte(base64.StdEncoding.EncodeToString(kek)), 0o600); err != nil {
		return nil, fmt.Errorf("boot: write %s: %w", path, err)
	}
	return kek, nil
}
