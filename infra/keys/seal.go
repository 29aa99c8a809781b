package keys

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

// EnvKEK names the environment variable holding the key-encryption key:
// 32 bytes, base64-encoded.
const EnvKEK = "KEYWAY_KEY_ENCRYPTION_KEY"

// KEKSize is the key-encryption key length in bytes (AES-256).
const KEKSize = 32

const (
	sealVersion = 1
	sealAlg     = "A256GCM"
	// sealAAD binds the ciphertext to this format and version.
	sealAAD = "keyway/infra/keys ring v1 A256GCM"
)

var (
	// ErrKEK is returned for a missing or malformed key-encryption key.
	ErrKEK = errors.New("keys: invalid key-encryption key")
	// ErrUnseal is returned when a sealed ring cannot be decrypted: the
	// key-encryption key is wrong or the blob was tampered with.
	ErrUnseal = errors.New("keys: cannot decrypt key ring: wrong key-encryption key or tampered blob")
	// ErrMalformed is returned when a sealed blob or its decrypted contents
	// are not a valid key ring.
	ErrMalformed = errors.New("keys: malformed sealed key ring")
)

// sealedBlob is the outer, unencrypted envelope. It is JSON text so that it
// can be stored as-is in a string-valued store such as SSM Parameter Store.
type sealedBlob struct {
	V          int    `json:"v"`
	Alg        string `json:"alg"`
	Nonce      []byte `json:"nonce"`
	Ciphertext []byte `json:"ciphertext"`
}

// ringDoc is the plaintext sealed inside sealedBlob.
type ringDoc struct {
	Current string   `json:"current"`
	Keys    []keyDoc `json:"keys"`
}

type keyDoc struct {
	ID        string    `json:"kid"`
	CreatedAt time.Time `json:"created_at"`
	RetireAt  time.Time `json:"retire_at"`
	PKCS8     []byte    `json:"pkcs8"`
}

// ParseKEK decodes a base64 (standard alphabet, padded or not) 32-byte
// key-encryption key.
func ParseKEK(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, fmt.Errorf("%w: empty", ErrKEK)
	}
	kek, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		var err2 error
		if kek, err2 = base64.RawStdEncoding.DecodeString(s); err2 != nil {
			return nil, fmt.Errorf("%w: not base64: %w", ErrKEK, err)
		}
	}
	if len(kek) != KEKSize {
		return nil, fmt.Errorf("%w: %d bytes, want %d", ErrKEK, len(kek), KEKSize)
	}
	return kek, nil
}

// KEKFromEnv reads the key-encryption key from $KEYWAY_KEY_ENCRYPTION_KEY
// (see [ParseKEK]). Generate one with `openssl rand -base64 32`.
func KEKFromEnv() ([]byte, error) {
	v, ok := os.LookupEnv(EnvKEK)
	if !ok {
		return nil, fmt.Errorf("%w: %s is not set", ErrKEK, EnvKEK)
	}
	kek, err := ParseKEK(v)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", EnvKEK, err)
	}
	return kek, nil
}

func newAEAD(kek []byte) (cipher.AEAD, error) {
	if len(kek) != KEKSize {
		return nil, fmt.Errorf("%w: %d bytes, want %d", ErrKEK, len(kek), KEKSize)
	}
	block, err := aes.NewCipher(kek)
	if err != nil {
		return nil, fmt.Errorf("keys: AES cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("keys: GCM: %w", err)
	}
	return aead, nil
}

// Seal encrypts every key in ring (private keys as PKCS#8 DER in a JSON
// document) with AES-256-GCM under kek and a random nonce, returning a JSON
// envelope safe to store anywhere.
func Seal(ring *Ring, kek []byte) ([]byte, error) {
	aead, err := newAEAD(kek)
	if err != nil {
		return nil, err
	}
	keys := ring.Keys()
	if len(keys) == 0 || keys[0].Private == nil {
		return nil, fmt.Errorf("keys: seal: %w", ErrNoCurrentKey)
	}
	doc := ringDoc{Current: keys[0].ID, Keys: make([]keyDoc, 0, len(keys))}
	for _, k := range keys {
		if k.Private == nil {
			return nil, fmt.Errorf("keys: seal: key %q has no private key", k.ID)
		}
		der, err := x509.MarshalPKCS8PrivateKey(k.Private)
		if err != nil {
			return nil, fmt.Errorf("keys: seal: marshal key %q: %w", k.ID, err)
		}
		doc.Keys = append(doc.Keys, keyDoc{ID: k.ID, CreatedAt: k.CreatedAt.UTC(), RetireAt: k.RetireAt.UTC(), PKCS8: der})
	}
	plain, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("keys: seal: encode ring: %w", err)
	}
	defer clear(plain)
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("keys: seal: nonce: %w", err)
	}
	out, err := json.Marshal(sealedBlob{
		V:          sealVersion,
		Alg:        sealAlg,
		Nonce:      nonce,
		Ciphertext: aead.Seal(nil, nonce, plain, []byte(sealAAD)),
	})
	if err != nil {
		return nil, fmt.Errorf("keys: seal: encode envelope: %w", err)
	}
	return out, nil
}

// Open decrypts a blob made by [Seal]. A wrong kek or any change to the blob
// fails with [ErrUnseal]; an unreadable envelope or an invalid ring inside it
// fails with [ErrMalformed].
func Open(blob, kek []byte) (*Ring, error) {
	aead, err := newAEAD(kek)
	if err != nil {
		return nil, err
	}
	var env sealedBlob
	if err := json.Unmarshal(blob, &env); err != nil {
		return nil, fmt.Errorf("%w: envelope: %w", ErrMalformed, err)
	}
	if env.V != sealVersion || env.Alg != sealAlg {
		return nil, fmt.Errorf("%w: unsupported envelope v=%d alg=%q", ErrMalformed, env.V, env.Alg)
	}
	if len(env.Nonce) != aead.NonceSize() {
		return nil, fmt.Errorf("%w: nonce is %d bytes, want %d", ErrMalformed, len(env.Nonce), aead.NonceSize())
	}
	plain, err := aead.Open(nil, env.Nonce, env.Ciphertext, []byte(sealAAD))
	if err != nil {
		return nil, fmt.Errorf("%w (%w)", ErrUnseal, err)
	}
	defer clear(plain)
	var doc ringDoc
	if err := json.Unmarshal(plain, &doc); err != nil {
		return nil, fmt.Errorf("%w: ring: %w", ErrMalformed, err)
	}
	keys, err := doc.decode()
	if err != nil {
		return nil, err
	}
	return &Ring{keys: keys}, nil
}

// decode validates the ring document and parses its keys.
func (doc ringDoc) decode() ([]Key, error) {
	if len(doc.Keys) == 0 {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, ErrNoCurrentKey)
	}
	if doc.Keys[0].ID != doc.Current || !doc.Keys[0].RetireAt.IsZero() {
		return nil, fmt.Errorf("%w: current key %q is not first or is retiring", ErrMalformed, doc.Current)
	}
	seen := make(map[string]bool, len(doc.Keys))
	keys := make([]Key, 0, len(doc.Keys))
	for i, kd := range doc.Keys {
		if kd.ID == "" || seen[kd.ID] {
			return nil, fmt.Errorf("%w: empty or duplicate kid %q", ErrMalformed, kd.ID)
		}
		seen[kd.ID] = true
		if i > 0 && kd.RetireAt.IsZero() {
			return nil, fmt.Errorf("%w: non-current key %q has no retire_at", ErrMalformed, kd.ID)
		}
		parsed, err := x509.ParsePKCS8PrivateKey(kd.PKCS8)
		if err != nil {
			return nil, fmt.Errorf("%w: key %q: %w", ErrMalformed, kd.ID, err)
		}
		priv, ok := parsed.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("%w: key %q is %T, want RSA", ErrMalformed, kd.ID, parsed)
		}
		if priv.N.BitLen() < KeyBits {
			return nil, fmt.Errorf("%w: key %q is %d bits, want at least %d", ErrMalformed, kd.ID, priv.N.BitLen(), KeyBits)
		}
		keys = append(keys, Key{ID: kd.ID, Private: priv, CreatedAt: kd.CreatedAt, RetireAt: kd.RetireAt})
	}
	return keys, nil
}
