package user_test

import (
	"errors"
	"testing"
	"time"

	"github.com/keywayhq/keyway/domain"
	"github.com/keywayhq/keyway/domain/password"
	"github.com/keywayhq/keyway/domain/user"
	"github.com/keywayhq/keyway/events"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func str(s string) *string { return &s }

func fold(evs ...events.Event) user.State {
	var s user.State
	for _, e := range evs {
		s = user.Evolve(s, e)
	}
	return s
}

func TestDecide(t *testing.T) {
	alice := user.User{ID: "user_1", Email: "a@example.com", EmailVerified: true, FirstName: str("A"), Metadata: map[string]string{"k": "v"}, CreatedAt: t0, UpdatedAt: t0}
	existing := fold(user.Created{User: alice})
	deleted := fold(user.Created{User: alice}, user.Deleted{User: alice})
	hash := &password.Hash{Type: "bcrypt", Hash: "$2a$..."}
	t1 := t0.Add(time.Hour)
	cases := []struct {
		name  string
		state user.State
		cmd   any
		want  []string // event types
		kind  domain.Kind
		check func(t *testing.T, evs []events.Event)
	}{
		{name: "create", cmd: user.Create{ID: "user_1", Email: "a@example.com", At: t0}, want: []string{"user.created"},
			check: func(t *testing.T, evs []events.Event) {
				u := evs[0].(user.Created).User
				if u.Metadata == nil || !u.CreatedAt.Equal(t0) || !u.UpdatedAt.Equal(t0) {
					t.Errorf("created %+v", u)
				}
			}},
		{name: "create with password", cmd: user.Create{ID: "user_1", Email: "a@example.com", Password: hash, At: t0}, want: []string{"user.created", "user.password_set"}},
		{name: "create twice", state: existing, cmd: user.Create{ID: "user_1", Email: "a@example.com"}, kind: domain.Conflict},
		{name: "update names", state: existing, cmd: user.Update{FirstName: user.Field[string]{Set: true}, LastName: user.Field[string]{Set: true, Value: str("L")}, At: t1},
			want: []string{"user.updated"}, check: func(t *testing.T, evs []events.Event) {
				u := evs[0].(user.Updated).User
				if u.FirstName != nil || *u.LastName != "L" || !u.UpdatedAt.Equal(t1) || !u.CreatedAt.Equal(t0) || u.Metadata["k"] != "v" {
					t.Errorf("updated %+v", u)
				}
			}},
		{name: "email change unverifies", state: existing, cmd: user.Update{Email: str("b@example.com"), At: t1}, want: []string{"user.updated"},
			check: func(t *testing.T, evs []events.Event) {
				if u := evs[0].(user.Updated).User; u.EmailVerified || u.Email != "b@example.com" {
					t.Errorf("updated %+v", u)
				}
			}},
		{name: "metadata null deletes", state: existing, cmd: user.Update{Metadata: map[string]*string{"k": nil, "n": str("1")}, At: t1}, want: []string{"user.updated"},
			check: func(t *testing.T, evs []events.Event) {
				if md := evs[0].(user.Updated).User.Metadata; len(md) != 1 || md["n"] != "1" {
					t.Errorf("metadata %v", md)
				}
			}},
		{name: "no-op update", state: existing, cmd: user.Update{FirstName: user.Field[string]{Set: true, Value: str("A")}, At: t1}, want: nil},
		{name: "password only", state: existing, cmd: user.Update{Password: hash, At: t1}, want: []string{"user.password_set"}},
		{name: "update missing", cmd: user.Update{At: t1}, kind: domain.NotFound},
		{name: "update deleted", state: deleted, cmd: user.Update{At: t1}, kind: domain.NotFound},
		{name: "delete", state: existing, cmd: user.Delete{At: t1}, want: []string{"user.deleted"}},
		{name: "delete twice", state: deleted, cmd: user.Delete{At: t1}, kind: domain.NotFound},
		{name: "first sign-in", state: existing, cmd: user.SignIn{At: t1}, want: []string{"user.updated"}},
		{name: "sign-in within the hour", state: fold(user.Created{User: alice}, user.Updated{User: signedIn(alice, t1)}),
			cmd: user.SignIn{At: t1.Add(59 * time.Minute)}, want: nil},
		{name: "sign-in an hour later", state: fold(user.Created{User: alice}, user.Updated{User: signedIn(alice, t1)}),
			cmd: user.SignIn{At: t1.Add(time.Hour)}, want: []string{"user.updated"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			evs, err := user.Decide(c.state, c.cmd)
			if c.kind != 0 {
				var de *domain.Error
				if !errors.As(err, &de) || de.Kind != c.kind {
					t.Fatalf("err = %v, want kind %d", err, c.kind)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var types []string
			for _, e := range evs {
				types = append(types, e.EventType())
			}
			if len(types) != len(c.want) {
				t.Fatalf("events %v, want %v", types, c.want)
			}
			for i := range types {
				if types[i] != c.want[i] {
					t.Fatalf("events %v, want %v", types, c.want)
				}
			}
			if c.check != nil {
				c.check(t, evs)
			}
		})
	}
}

func signedIn(u user.User, at time.Time) user.User {
	u.LastSignInAt = &at
	return u
}

func TestEvolveKeepsThePassword(t *testing.T) {
	h := password.Hash{Type: "argon2id", Hash: "$argon2id$..."}
	s := fold(user.Created{User: user.User{ID: "user_1"}}, user.PasswordSet{Hash: h}, user.Updated{User: user.User{ID: "user_1", Email: "x@example.com"}})
	if s.Password == nil || *s.Password != h || s.Email != "x@example.com" || !s.Exists {
		t.Fatalf("state %+v", s)
	}
}

func TestNormalizeEmail(t *testing.T) {
	for in, want := range map[string]string{
		" Alice@Example.COM ":    "alice@example.com",
		"a.b+tag@sub.example.io": "a.b+tag@sub.example.io",
		"e\u0301@example.com":    "\u00e9@example.com", // NFC
	} {
		got, err := user.NormalizeEmail("email", in)
		if err != nil || got != want {
			t.Errorf("NormalizeEmail(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "plain", "a@b", "a@.example.com", "a@example..com", "a b@example.com", "A <a@example.com>", "a@example.com\r\nBcc: x@y.z", "@example.com"} {
		if _, err := user.NormalizeEmail("email", bad); err == nil {
			t.Errorf("NormalizeEmail(%q) accepted", bad)
		}
	}
}
