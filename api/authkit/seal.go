package authkit

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// sealTTL is how long a sealed flow or step stays usable.
const sealTTL = 30 * time.Minute

// maxSealedLen bounds what open decodes; forms are limited to 64 KiB anyway.
const maxSealedLen = 48 << 10

// errSealed is any sealed value that is tampered with, foreign or expired.
var errSealed = errors.New("authkit: sealed value is invalid or expired")

// sealer encrypts small JSON values with AES-256-GCM for the pages' URLs
// and hidden fields. The additional data names what a value is for (and,
// for a step, its flow), so that one value cannot stand in for another.
type sealer struct {
	aead cipher.AEAD
	now  func() time.Time
}

func newSealer(key []byte, now func() time.Time) (*sealer, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("authkit: seal key is %d bytes, want 32", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("authkit: seal key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("authkit: seal key: %w", err)
	}
	return &sealer{aead: aead, now: now}, nil
}

// envelope is the plaintext: the value and when it stops being accepted.
type envelope struct {
	Expires int64           `json:"exp"` // Unix milliseconds
	Value   json.RawMessage `json:"v"`
}

// seal returns base64url(nonce || AES-GCM(JSON{exp, v})).
func (s *sealer) seal(purpose string, v any) (string, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("authkit: seal: %w", err)
	}
	plain, err := json.Marshal(envelope{Expires: s.now().Add(sealTTL).UnixMilli(), Value: body})
	if err != nil {
		return "", fmt.Errorf("authkit: seal: %w", err)
	}
	nonce := make([]byte, s.aead.NonceSize())
	rand.Read(nonce)
	return base64.RawURLEncoding.EncodeToString(s.aead.Seal(nonce, nonce, plain, []byte(purpose))), nil
}

// open decrypts a sealed value into v; anything wrong is errSealed.
func (s *sealer) open(purpose, token string, v any) error {
	if token == "" || len(token) > maxSealedLen {
		return errSealed
	}
	raw, err := base64.RawURLEncoding.DecodeString(token)
	n := s.aead.NonceSize()
	if err != nil || len(raw) < n+s.aead.Overhead() {
		return errSealed
	}
	plain, err := s.aead.Open(nil, raw[:n], raw[n:], []byte(purpose))
	if err != nil {
		return errSealed
	}
	var env envelope
	if err := json.Unmarshal(plain, &env); err != nil || s.now().UnixMilli() >= env.Expires {
		return errSealed
	}
	if err := json.Unmarshal(env.Value, v); err != nil {
		return errSealed
	}
	return nil
}
