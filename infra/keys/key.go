package keys

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"slices"
	"sync"
	"time"
)

// KeyBits is the RSA modulus size used by [Generate] and the minimum accepted
// by [Open].
const KeyBits = 2048

// kidLength is how many characters of the base64url RFC 7638 thumbprint make
// up a key ID (16 characters = 96 bits).
const kidLength = 16

// ErrNoCurrentKey is returned when a ring has no current signing key.
var ErrNoCurrentKey = errors.New("keys: ring has no current signing key")

// Key is one RSA signing key.
type Key struct {
	// ID is the JWS "kid": a prefix of the key's RFC 7638 thumbprint.
	ID string
	// Private is the RSA private key.
	Private *rsa.PrivateKey
	// CreatedAt is when the key was generated.
	CreatedAt time.Time
	// RetireAt is zero while the key is current. Once it has been rotated out,
	// the key stays published (and accepted by Verify) until RetireAt.
	RetireAt time.Time
}

// Generate makes a new RSA-2048 key whose ID is derived from its public key
// (see [KeyID]). A nil random uses crypto/rand.Reader; note that since Go 1.26
// crypto/rsa ignores the reader unless GODEBUG=cryptocustomrand=1.
func Generate(random io.Reader, now time.Time) (Key, error) {
	if random == nil {
		random = rand.Reader
	}
	priv, err := rsa.GenerateKey(random, KeyBits)
	if err != nil {
		return Key{}, fmt.Errorf("keys: generate RSA key: %w", err)
	}
	return Key{ID: KeyID(&priv.PublicKey), Private: priv, CreatedAt: now.UTC()}, nil
}

// Thumbprint returns the RFC 7638 JWK SHA-256 thumbprint of an RSA public key,
// base64url-encoded without padding (43 characters).
func Thumbprint(pub *rsa.PublicKey) string {
	// RFC 7638 §3.2: required members only, lexicographic order, no whitespace.
	canonical := `{"e":"` + b64(big.NewInt(int64(pub.E)).Bytes()) +
		`","kty":"RSA","n":"` + b64(pub.N.Bytes()) + `"}`
	sum := sha256.Sum256([]byte(canonical))
	return b64(sum[:])
}

// KeyID returns the key ID used for pub: the first 16 characters of its
// [Thumbprint].
func KeyID(pub *rsa.PublicKey) string {
	return Thumbprint(pub)[:kidLength]
}

// published reports whether k is still served in the JWKS and accepted by
// Verify at now.
func (k Key) published(now time.Time) bool {
	return k.RetireAt.IsZero() || now.Before(k.RetireAt)
}

// Ring is the set of signing keys: one current key that signs new tokens,
// plus older keys that stay published until the tokens they signed have
// expired. The zero value is an empty ring; it is safe for concurrent use and
// must not be copied after first use.
type Ring struct {
	mu sync.RWMutex
	// keys[0] is the current key (RetireAt zero); the rest are retiring keys,
	// newest first.
	keys []Key
}

// NewRing returns a ring whose current key is k.
func NewRing(k Key) *Ring {
	r := &Ring{}
	r.Rotate(k, k.CreatedAt, 0)
	return r
}

// Rotate makes k the current signing key. The previous current key gets
// RetireAt = now + tokenTTL, so tokens it signed still verify until they
// expire, and keys whose RetireAt has passed are dropped. An empty k.ID is
// filled in from the public key.
func (r *Ring) Rotate(k Key, now time.Time, tokenTTL time.Duration) {
	if k.ID == "" && k.Private != nil {
		k.ID = KeyID(&k.Private.PublicKey)
	}
	k.RetireAt = time.Time{}
	r.mu.Lock()
	defer r.mu.Unlock()
	next := make([]Key, 0, len(r.keys)+1)
	next = append(next, k)
	for i, old := range r.keys {
		if i == 0 && old.RetireAt.IsZero() {
			old.RetireAt = now.Add(max(tokenTTL, 0)).UTC()
		}
		if old.ID != k.ID && old.published(now) {
			next = append(next, old)
		}
	}
	r.keys = next
}

// Current returns the current signing key, if any.
func (r *Ring) Current() (Key, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if len(r.keys) == 0 {
		return Key{}, false
	}
	return r.keys[0], true
}

// Keys returns every key held by the ring, current first, including retiring
// keys whose RetireAt may already have passed (they are dropped on the next
// Rotate).
func (r *Ring) Keys() []Key {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return slices.Clone(r.keys)
}

// Published returns the keys served in the JWKS and accepted by Verify at
// now: the current key and the retiring keys whose RetireAt is after now.
func (r *Ring) Published(now time.Time) []Key {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]Key, 0, len(r.keys))
	for _, k := range r.keys {
		if k.published(now) && k.Private != nil {
			out = append(out, k)
		}
	}
	return out
}

// JWK is one public key in a JWKS document.
type JWK struct {
	Alg string `json:"alg"`
	Kty string `json:"kty"`
	Use string `json:"use"`
	Kid string `json:"kid"`
	N   string `json:"n"`
	E   string `json:"e"`
}

// JWKSet is the JWKS document served at GET /sso/jwks/:client_id.
type JWKSet struct {
	Keys []JWK `json:"keys"`
}

// PublicJWK returns the public half of k as an RS256 signing JWK.
func (k Key) PublicJWK() JWK {
	pub := &k.Private.PublicKey
	return JWK{
		Alg: "RS256",
		Kty: "RSA",
		Use: "sig",
		Kid: k.ID,
		N:   b64(pub.N.Bytes()),
		E:   b64(big.NewInt(int64(pub.E)).Bytes()),
	}
}

// JWKS returns the JSON JWKS document for the keys published at now, current
// key first: {"keys":[{"alg":"RS256","kty":"RSA","use":"sig","kid","n","e"}]}.
// An empty ring yields {"keys":[]}.
func (r *Ring) JWKS(now time.Time) []byte {
	set := JWKSet{Keys: []JWK{}}
	for _, k := range r.Published(now) {
		set.Keys = append(set.Keys, k.PublicJWK())
	}
	// Marshalling a struct of strings cannot fail.
	b, _ := json.Marshal(set)
	return b
}

// b64 is base64url without padding, as JOSE requires.
func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
