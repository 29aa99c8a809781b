package authcode

import (
	"testing"
	"time"

	"github.com/keywayhq/keyway/domain"
	"github.com/keywayhq/keyway/events"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

const verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"

func issued(challenge string) State {
	g := Grant{ClientID: "client_1", RedirectURI: "https://app.example.com/cb", CodeChallenge: challenge, UserID: "user_1",
		ExpiresAt: t0.Add(Lifetime), CreatedAt: t0}
	evs, err := Decide(State{}, Issue{Grant: g})
	if err != nil {
		panic(err)
	}
	return fold(State{}, evs)
}

func fold(s State, evs []events.Event) State {
	for _, e := range evs {
		s = Evolve(s, e)
	}
	return s
}

func code(err error) string {
	if de, ok := domain.As(err); ok {
		return de.Code
	}
	return ""
}

// The RFC 7636 appendix B example.
func TestChallenge(t *testing.T) {
	if got := Challenge(verifier); got != "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM" {
		t.Fatalf("Challenge = %s", got)
	}
	if !ValidVerifier(verifier) || ValidVerifier("short") || ValidVerifier(verifier+" ") || !ValidChallenge(Challenge(verifier)) || ValidChallenge("abc") {
		t.Fatal("validators")
	}
}

func TestRedeem(t *testing.T) {
	redeem := Redeem{ClientID: "client_1", SecretOK: true, SessionID: "session_1", At: t0.Add(time.Minute)}
	cases := []struct {
		name      string
		state     State
		cmd       Redeem
		code      string
		eventType string // the one event recorded, if any
	}{
		{"unknown", State{}, redeem, "invalid_grant", ""},
		{"fine", issued(""), redeem, "", "authorization_code.redeemed"},
		{"expired", issued(""), func() Redeem { r := redeem; r.At = t0.Add(Lifetime); return r }(), "invalid_grant", ""},
		{"other client", issued(""), func() Redeem { r := redeem; r.ClientID = "client_2"; return r }(), "invalid_grant", "authorization_code.refused"},
		{"other redirect", issued(""), func() Redeem { r := redeem; r.RedirectURI = "https://evil.example/"; return r }(), "invalid_grant", "authorization_code.refused"},
		{"no secret", issued(""), func() Redeem { r := redeem; r.SecretOK = false; return r }(), "invalid_client", ""},
		{"verifier without challenge", issued(""), func() Redeem { r := redeem; r.Verifier = verifier; return r }(), "invalid_grant", "authorization_code.refused"},
		{"PKCE", issued(Challenge(verifier)), func() Redeem { r := redeem; r.SecretOK, r.Verifier = false, verifier; return r }(), "", "authorization_code.redeemed"},
		{"PKCE wrong verifier", issued(Challenge(verifier)), func() Redeem { r := redeem; r.Verifier = verifier + "x"; return r }(), "invalid_grant", "authorization_code.refused"},
		{"PKCE no verifier", issued(Challenge(verifier)), redeem, "invalid_grant", "authorization_code.refused"},
	}
	for _, c := range cases {
		evs, err := Decide(c.state, c.cmd)
		if code(err) != c.code {
			t.Errorf("%s: err = %v, want %q", c.name, err, c.code)
		}
		if (c.eventType == "") != (len(evs) == 0) || (len(evs) == 1 && evs[0].EventType() != c.eventType) || len(evs) > 1 {
			t.Errorf("%s: events %v, want %q", c.name, evs, c.eventType)
		}
	}
}

func TestReplayAndBurn(t *testing.T) {
	r := Redeem{ClientID: "client_1", SecretOK: true, SessionID: "session_1", At: t0}
	s := issued("")
	evs, err := Decide(s, r)
	if err != nil {
		t.Fatal(err)
	}
	s = fold(s, evs)
	// The second exchange records the replay of session_1, once.
	r.SessionID = "session_2"
	evs, err = Decide(s, r)
	if code(err) != "invalid_grant" || len(evs) != 1 || evs[0].(Replayed).SessionID != "session_1" {
		t.Fatalf("replay = %v %v", evs, err)
	}
	s = fold(s, evs)
	if evs, err = Decide(s, r); code(err) != "invalid_grant" || len(evs) != 0 {
		t.Fatalf("third exchange = %v %v", evs, err)
	}
	// A refused exchange burns the code for good.
	b := issued("")
	evs, _ = Decide(b, Redeem{ClientID: "client_2", SecretOK: true, At: t0})
	b = fold(b, evs)
	if evs, err = Decide(b, Redeem{ClientID: "client_1", SecretOK: true, At: t0}); code(err) != "invalid_grant" || len(evs) != 0 {
		t.Fatalf("after a refusal = %v %v", evs, err)
	}
	if _, err := Decide(issued(""), Issue{}); code(err) != "invalid_grant" {
		t.Fatalf("issue twice: %v", err)
	}
}
