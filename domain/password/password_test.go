package password_test

import (
	"crypto/rand"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/keywayhq/keyway/domain/password"
)

func TestArgon2idMeetsTheOWASPFloor(t *testing.T) {
	h, err := password.New("correct horse battery staple", password.Default, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if h.Type != password.TypeArgon2id || !strings.HasPrefix(h.Hash, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash %+v", h)
	}
	if !password.Verify(h, "correct horse battery staple") || password.Verify(h, "correct horse battery stapler") {
		t.Fatal("verify")
	}
	if password.NeedsRehash(h, password.Default) {
		t.Fatal("fresh hash needs rehash")
	}
	weak, _ := password.New("pw-pw-pw-pw", password.Params{MemoryKiB: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, rand.Reader)
	if !password.NeedsRehash(weak, password.Default) || !password.Verify(weak, "pw-pw-pw-pw") {
		t.Fatal("weak parameters should verify and need a rehash")
	}
	other, _ := password.New("correct horse battery staple", password.Default, rand.Reader)
	if other.Hash == h.Hash {
		t.Fatal("two hashes share a salt")
	}
}

func TestImport(t *testing.T) {
	b, _ := bcrypt.GenerateFromPassword([]byte("imported secret"), bcrypt.MinCost)
	h, err := password.Import("bcrypt", string(b))
	if err != nil || !password.Verify(h, "imported secret") || password.Verify(h, "other") || !password.NeedsRehash(h, password.Default) {
		t.Fatalf("bcrypt import: %+v %v", h, err)
	}
	a, _ := password.New("argon secret", password.Params{MemoryKiB: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, rand.Reader)
	h, err = password.Import("argon2", a.Hash)
	if err != nil || !password.Verify(h, "argon secret") {
		t.Fatalf("argon2 import: %v", err)
	}
	for typ, hash := range map[string]string{"bcrypt": "$2a$10$short", "argon2": "$argon2id$v=19$m=1,t=1,p=1$x$y", "md5": "x", "ssha": "{SSHA}x"} {
		if _, err := password.Import(typ, hash); err == nil {
			t.Errorf("Import(%s, %s) accepted", typ, hash)
		}
	}
}

func TestCheck(t *testing.T) {
	for pw, want := range map[string]string{
		"short":                       "password_too_short",
		strings.Repeat("x", 129):      "password_too_long",
		"Password123":                 "password_too_common",
		"qwertyuiop":                  "password_too_common",
		"alice-rules-everything":      "password_contains_email",
		"a perfectly fine passphrase": "",
		strings.Repeat("é", 64):       "",
	} {
		problems := password.Check(pw, "alice@example.com")
		got := ""
		if len(problems) > 0 {
			got = problems[0].Code
		}
		if got != want {
			t.Errorf("Check(%.20q) = %v, want %s", pw, problems, want)
		}
	}
}
