// Package password hashes and checks passwords: argon2id for new ones (PHC
// strings, OWASP parameters), bcrypt and argon2 for imported hashes, and the
// strength policy of security.md.
package password

import (
	"bytes"
	"crypto/subtle"
	_ "embed"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// Params are argon2id cost parameters.
type Params struct {
	MemoryKiB uint32
	Time      uint32
	Threads   uint8
	SaltLen   int
	KeyLen    uint32
}

// Default is the OWASP floor for argon2id: m=19456 KiB, t=2, p=1.
var Default = Params{MemoryKiB: 19456, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}

// Length limits (ASVS 6.2.1, 6.2.9).
const (
	MinLength = 8
	MaxLength = 128
)

// Hash types that can be stored.
const (
	TypeArgon2id = "argon2id" // Keyway's own hashes
	TypeBcrypt   = "bcrypt"
	TypeArgon2   = "argon2" // imported PHC argon2id or argon2i
)

// Hash is a stored password hash and the scheme that made it.
type Hash struct {
	Type string `json:"type"`
	Hash string `json:"hash"`
}

// New hashes a password with argon2id, reading the salt from rand.
func New(pw string, p Params, rand io.Reader) (Hash, error) {
	salt := make([]byte, p.SaltLen)
	if _, err := io.ReadFull(rand, salt); err != nil {
		return Hash{}, fmt.Errorf("password: salt: %w", err)
	}
	key := argon2.IDKey([]byte(pw), salt, p.Time, p.MemoryKiB, p.Threads, p.KeyLen)
	b64 := base64.RawStdEncoding
	return Hash{Type: TypeArgon2id, Hash: fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.MemoryKiB, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key))}, nil
}

// Import validates a hash made elsewhere (WorkOS password_hash + password_hash_type).
func Import(typ, hash string) (Hash, error) {
	switch typ {
	case TypeBcrypt:
		if _, err := bcrypt.Cost([]byte(hash)); err != nil {
			return Hash{}, errors.New("not a valid bcrypt hash")
		}
		return Hash{Type: TypeBcrypt, Hash: hash}, nil
	case TypeArgon2:
		if _, err := parsePHC(hash); err != nil {
			return Hash{}, err
		}
		return Hash{Type: TypeArgon2, Hash: hash}, nil
	default:
		return Hash{}, fmt.Errorf("password_hash_type %q is not supported; use bcrypt or argon2", typ)
	}
}

// Verify reports whether pw matches h, in time independent of where they differ.
func Verify(h Hash, pw string) bool {
	switch h.Type {
	case TypeBcrypt:
		return bcrypt.CompareHashAndPassword([]byte(h.Hash), []byte(pw)) == nil
	case TypeArgon2id, TypeArgon2:
		ph, err := parsePHC(h.Hash)
		if err != nil {
			return false
		}
		var key []byte
		if ph.variant == "argon2id" {
			key = argon2.IDKey([]byte(pw), ph.salt, ph.p.Time, ph.p.MemoryKiB, ph.p.Threads, uint32(len(ph.key)))
		} else {
			key = argon2.Key([]byte(pw), ph.salt, ph.p.Time, ph.p.MemoryKiB, ph.p.Threads, uint32(len(ph.key)))
		}
		return subtle.ConstantTimeCompare(key, ph.key) == 1
	}
	return false
}

// NeedsRehash reports whether h should be replaced by a hash with params p.
func NeedsRehash(h Hash, p Params) bool {
	if h.Type != TypeArgon2id {
		return true
	}
	ph, err := parsePHC(h.Hash)
	return err != nil || ph.variant != "argon2id" || ph.p.MemoryKiB < p.MemoryKiB || ph.p.Time < p.Time
}

type phc struct {
	variant string
	p       Params
	salt    []byte
	key     []byte
}

func parsePHC(s string) (phc, error) {
	// $argon2id$v=19$m=19456,t=2,p=1$salt$key
	parts := strings.Split(s, "$")
	bad := errors.New("not a valid argon2 PHC string")
	if len(parts) != 6 || parts[0] != "" || (parts[1] != "argon2id" && parts[1] != "argon2i") {
		return phc{}, bad
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return phc{}, bad
	}
	var out phc
	out.variant = parts[1]
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &out.p.MemoryKiB, &out.p.Time, &out.p.Threads); err != nil {
		return phc{}, bad
	}
	if out.p.MemoryKiB < 8 || out.p.MemoryKiB > 1<<21 || out.p.Time < 1 || out.p.Time > 64 || out.p.Threads < 1 {
		return phc{}, bad
	}
	var err1, err2 error
	out.salt, err1 = base64.RawStdEncoding.DecodeString(parts[4])
	out.key, err2 = base64.RawStdEncoding.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(out.salt) < 8 || len(out.key) < 16 || len(out.key) > 128 {
		return phc{}, bad
	}
	return out, nil
}

//go:embed common.txt
var commonList []byte

var common = sync.OnceValue(func() map[string]bool {
	m := map[string]bool{}
	for _, line := range bytes.Split(commonList, []byte("\n")) {
		if w := strings.TrimSpace(string(line)); w != "" && !strings.HasPrefix(w, "#") {
			m[strings.ToLower(w)] = true
		}
	}
	return m
})

// Problem is one reason a password is too weak, as in WorkOS's
// password_strength_error errors[].
type Problem struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Check applies the strength policy; an empty result means the password is acceptable.
func Check(pw string, email string) []Problem {
	var out []Problem
	n := utf8.RuneCountInString(pw)
	switch {
	case n < MinLength:
		out = append(out, Problem{"password_too_short", fmt.Sprintf("Password must be at least %d characters.", MinLength)})
	case n > MaxLength:
		out = append(out, Problem{"password_too_long", fmt.Sprintf("Password must be at most %d characters.", MaxLength)})
	}
	lower := strings.ToLower(pw)
	if common()[lower] {
		out = append(out, Problem{"password_too_common", "Password is too common; choose one that is harder to guess."})
	}
	if local, _, ok := strings.Cut(strings.ToLower(email), "@"); ok && len(local) >= 4 && strings.Contains(lower, local) {
		out = append(out, Problem{"password_contains_email", "Password must not contain the email address."})
	}
	return out
}
