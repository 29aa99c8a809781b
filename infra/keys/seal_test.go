package keys

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func newKEK(t *testing.T) []byte {
	t.Helper()
	kek := make([]byte, KEKSize)
	if _, err := rand.Read(kek); err != nil {
		t.Fatal(err)
	}
	return kek
}

func rotatedRing(t *testing.T) *Ring {
	t.Helper()
	ring := NewRing(genKey(t, t0))
	ring.Rotate(genKey(t, t0.Add(time.Hour)), t0.Add(time.Hour), 10*time.Minute)
	return ring
}

func TestSealOpenRoundTrip(t *testing.T) {
	ring := rotatedRing(t)
	kek := newKEK(t)
	blob, err := Seal(ring, kek)
	if err != nil {
		t.Fatal(err)
	}
	// No private key material in the clear.
	for _, k := range ring.Keys() {
		der, _ := x509.MarshalPKCS8PrivateKey(k.Private)
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawURLEncoding} {
			if strings.Contains(string(blob), enc.EncodeToString(der)[:64]) {
				t.Fatal("sealed blob contains the private key in the clear")
			}
		}
	}
	again, _ := Seal(ring, kek)
	if string(again) == string(blob) {
		t.Fatal("two seals are identical: nonce is not random")
	}

	opened, err := Open(blob, kek)
	if err != nil {
		t.Fatal(err)
	}
	want, got := ring.Keys(), opened.Keys()
	if len(got) != len(want) {
		t.Fatalf("opened %d keys, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].ID != want[i].ID || !got[i].CreatedAt.Equal(want[i].CreatedAt) ||
			!got[i].RetireAt.Equal(want[i].RetireAt) || !got[i].Private.Equal(want[i].Private) {
			t.Fatalf("key %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
	at := t0.Add(time.Hour + time.Minute)
	if string(opened.JWKS(at)) != string(ring.JWKS(at)) {
		t.Fatal("JWKS differs after Open")
	}
	tok := mustSign(t, opened, testClaims(at, time.Minute))
	if _, err := ring.Verify(tok, at, testIssuer); err != nil {
		t.Fatalf("token from the opened ring: %v", err)
	}
}

func TestOpenRejects(t *testing.T) {
	ring := rotatedRing(t)
	kek := newKEK(t)
	blob, err := Seal(ring, kek)
	if err != nil {
		t.Fatal(err)
	}
	editEnv := func(f func(map[string]any)) []byte {
		var m map[string]any
		if err := json.Unmarshal(blob, &m); err != nil {
			t.Fatal(err)
		}
		f(m)
		b, _ := json.Marshal(m)
		return b
	}
	flip := func(field string, i int) []byte {
		return editEnv(func(m map[string]any) {
			b, _ := base64.StdEncoding.DecodeString(m[field].(string))
			if i < 0 {
				i += len(b)
			}
			b[i] ^= 1
			m[field] = base64.StdEncoding.EncodeToString(b)
		})
	}
	tests := []struct {
		name    string
		blob    []byte
		kek     []byte
		wantErr error
	}{
		{"wrong KEK", blob, newKEK(t), ErrUnseal},
		{"flipped ciphertext byte", flip("ciphertext", 100), kek, ErrUnseal},
		{"flipped tag byte", flip("ciphertext", -1), kek, ErrUnseal},
		{"flipped nonce byte", flip("nonce", 0), kek, ErrUnseal},
		{"truncated ciphertext", editEnv(func(m map[string]any) {
			b, _ := base64.StdEncoding.DecodeString(m["ciphertext"].(string))
			m["ciphertext"] = base64.StdEncoding.EncodeToString(b[:len(b)-1])
		}), kek, ErrUnseal},
		{"unknown version", editEnv(func(m map[string]any) { m["v"] = 2 }), kek, ErrMalformed},
		{"unknown alg", editEnv(func(m map[string]any) { m["alg"] = "none" }), kek, ErrMalformed},
		{"short nonce", editEnv(func(m map[string]any) { m["nonce"] = "AAAA" }), kek, ErrMalformed},
		{"not JSON", []byte("garbage"), kek, ErrMalformed},
		{"truncated blob", blob[:len(blob)/2], kek, ErrMalformed},
		{"short KEK", blob, kek[:16], ErrKEK},
		{"nil KEK", blob, nil, ErrKEK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Open(tt.blob, tt.kek)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Open = %v, %v; want %v", r, err, tt.wantErr)
			}
		})
	}
	if _, err := Seal(&Ring{}, kek); !errors.Is(err, ErrNoCurrentKey) {
		t.Fatalf("Seal(empty) error = %v", err)
	}
	if _, err := Seal(ring, kek[:31]); !errors.Is(err, ErrKEK) {
		t.Fatalf("Seal(short KEK) error = %v", err)
	}
}

func TestKEK(t *testing.T) {
	raw := newKEK(t)
	std := base64.StdEncoding.EncodeToString(raw)
	for _, s := range []string{std, strings.TrimRight(std, "="), " " + std + "\n"} {
		got, err := ParseKEK(s)
		if err != nil || string(got) != string(raw) {
			t.Fatalf("ParseKEK(%q) = %x, %v", s, got, err)
		}
	}
	for _, bad := range []string{"", "!!!not base64!!!", base64.StdEncoding.EncodeToString(raw[:16])} {
		if _, err := ParseKEK(bad); !errors.Is(err, ErrKEK) {
			t.Fatalf("ParseKEK(%q) error = %v", bad, err)
		}
	}

	t.Setenv(EnvKEK, std)
	if got, err := KEKFromEnv(); err != nil || string(got) != string(raw) {
		t.Fatalf("KEKFromEnv = %x, %v", got, err)
	}
	t.Setenv(EnvKEK, "short")
	if _, err := KEKFromEnv(); !errors.Is(err, ErrKEK) || !strings.Contains(err.Error(), EnvKEK) {
		t.Fatalf("KEKFromEnv(bad) error = %v", err)
	}
	os.Unsetenv(EnvKEK)
	if _, err := KEKFromEnv(); !errors.Is(err, ErrKEK) || !strings.Contains(err.Error(), "not set") {
		t.Fatalf("KEKFromEnv(unset) error = %v", err)
	}
}

func TestFileStore(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "signing-keys.json")
	kek := newKEK(t)
	store := &FileStore{Path: path, KEK: kek}
	var _ Store = store

	if _, err := store.Load(ctx); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Load(missing) error = %v, want ErrNotFound", err)
	}

	// A pre-existing world-readable file is replaced by a 0600 one.
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	ring := rotatedRing(t)
	if err := store.Save(ctx, ring); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Fatalf("file mode = %v, want 0600", perm)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("temporary files left behind: %v", entries)
	}

	loaded, err := store.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := loaded.Keys(), ring.Keys(); len(got) != len(want) || got[0].ID != want[0].ID || !got[0].Private.Equal(want[0].Private) {
		t.Fatalf("loaded ring differs: %+v", got)
	}

	if _, err := (&FileStore{Path: path, KEK: newKEK(t)}).Load(ctx); !errors.Is(err, ErrUnseal) {
		t.Fatalf("Load(wrong KEK) error = %v", err)
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := store.Load(canceled); !errors.Is(err, context.Canceled) {
		t.Fatalf("Load(canceled) error = %v", err)
	}
	if err := store.Save(canceled, ring); !errors.Is(err, context.Canceled) {
		t.Fatalf("Save(canceled) error = %v", err)
	}
	if err := (&FileStore{Path: filepath.Join(t.TempDir(), "no", "such", "dir"), KEK: kek}).Save(ctx, ring); err == nil {
		t.Fatal("Save into a missing directory succeeded")
	}
}
