// Package authcode is the authorization code of the hosted login: issued
// when the hosted pages have authenticated a user, exchanged once by the
// app for a session. A code is bound to the client, the redirect URI and,
// when the app sent one, a PKCE S256 challenge (RFC 7636). Its stream is
// named by the code's hash, so the code itself is never stored.
package authcode

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"time"

	"github.com/keywayhq/keyway/domain"
	"github.com/keywayhq/keyway/events"
)

// Aggregate is the stream prefix; the id is the code's hash.
const Aggregate = "authorization_code"

// Lifetime of a code (security.md: 10 minutes or less).
const Lifetime = 10 * time.Minute

// Grant is what a code stands for.
type Grant struct {
	ClientID       string    `json:"client_id"`
	RedirectURI    string    `json:"redirect_uri"`
	CodeChallenge  string    `json:"code_challenge,omitempty"` // S256, base64url
	UserID         string    `json:"user_id"`
	OrganizationID *string   `json:"organization_id"`
	Method         string    `json:"method"`      // WorkOS authentication_method
	AuthMethod     string    `json:"auth_method"` // the session's auth_method
	IPAddress      string    `json:"ip_address,omitempty"`
	UserAgent      string    `json:"user_agent,omitempty"`
	ExpiresAt      time.Time `json:"expires_at"`
	CreatedAt      time.Time `json:"created_at"`
}

// State is the write model of one code.
type State struct {
	Grant
	Exists bool
	// SessionID is the session the exchange started; set once redeemed.
	SessionID string
	Redeemed  bool
	Replayed  bool // a second exchange was tried, and the session revoked
	Burned    bool // a failed exchange used the code up
}

// Events.
type (
	Issued struct {
		Grant Grant `json:"grant"`
	}
	Redeemed struct {
		SessionID string    `json:"session_id"`
		At        time.Time `json:"at"`
	}
	// Replayed records a second exchange; the session the first one
	// started is revoked with it (RFC 6749 §4.1.2).
	Replayed struct {
		SessionID string    `json:"session_id"`
		At        time.Time `json:"at"`
	}
	// Refused records an exchange with the wrong client, redirect URI or
	// verifier; the code cannot be used after it.
	Refused struct {
		Reason string    `json:"reason"`
		At     time.Time `json:"at"`
	}
)

func (Issued) EventType() string   { return "authorization_code.issued" }
func (Redeemed) EventType() string { return "authorization_code.redeemed" }
func (Replayed) EventType() string { return "authorization_code.replayed" }
func (Refused) EventType() string  { return "authorization_code.refused" }

// Register adds the events to r.
func Register(r *events.Registry) { r.Register(Issued{}, Redeemed{}, Replayed{}, Refused{}) }

// Evolve applies one event to the state.
func Evolve(s State, e events.Event) State {
	switch e := e.(type) {
	case Issued:
		s.Grant, s.Exists = e.Grant, true
	case Redeemed:
		s.Redeemed, s.SessionID = true, e.SessionID
	case Replayed:
		s.Replayed = true
	case Refused:
		s.Burned = true
	}
	return s
}

// Commands.
type (
	Issue struct{ Grant Grant }
	// Redeem exchanges the code. RedirectURI is checked when the client
	// sends one. Verifier is the PKCE code_verifier; SecretOK says the
	// client authenticated with its secret (the API key).
	Redeem struct {
		ClientID    string
		RedirectURI string
		Verifier    string
		SecretOK    bool
		SessionID   string // the session the exchange would start
		At          time.Time
	}
)

// ErrInvalidGrant is the OAuth error of a bad, used or expired code.
func ErrInvalidGrant(msg string) error {
	return &domain.Error{Kind: domain.BadRequest, Code: "invalid_grant", Message: msg, Details: map[string]any{"error": "invalid_grant", "error_description": msg}}
}

func errInvalidClient(msg string) error {
	return &domain.Error{Kind: domain.BadRequest, Code: "invalid_client", Message: msg, Details: map[string]any{"error": "invalid_client", "error_description": msg}}
}

// Challenge is the S256 challenge of a verifier: base64url(sha256(verifier)).
func Challenge(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// ValidVerifier reports whether v is an RFC 7636 code_verifier: 43 to 128
// unreserved characters.
func ValidVerifier(v string) bool {
	if len(v) < 43 || len(v) > 128 {
		return false
	}
	for _, c := range v {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
			return false
		}
	}
	return true
}

// ValidChallenge reports whether c is an S256 code_challenge: 43
// base64url characters.
func ValidChallenge(c string) bool {
	if len(c) != 43 {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(c)
	return err == nil
}

// Decide returns the events a command produces. A refused or replayed
// exchange returns events and an error together: the caller appends them
// and answers with the error.
func Decide(s State, cmd any) ([]events.Event, error) {
	switch c := cmd.(type) {
	case Issue:
		if s.Exists {
			return nil, ErrInvalidGrant("The authorization code is already in use.")
		}
		return []events.Event{Issued{Grant: c.Grant}}, nil
	case Redeem:
		dead := ErrInvalidGrant("The authorization code is invalid, expired or already used.")
		switch {
		case !s.Exists || s.Burned || s.Replayed:
			return nil, dead
		case s.Redeemed:
			return []events.Event{Replayed{SessionID: s.SessionID, At: c.At}}, dead
		case !c.At.Before(s.ExpiresAt):
			return nil, dead
		}
		refuse := func(reason string, err error) ([]events.Event, error) {
			return []events.Event{Refused{Reason: reason, At: c.At}}, err
		}
		if c.ClientID != s.ClientID {
			return refuse("client_id", dead)
		}
		if c.RedirectURI != "" && c.RedirectURI != s.RedirectURI {
			return refuse("redirect_uri", ErrInvalidGrant("redirect_uri does not match the authorization request."))
		}
		if s.CodeChallenge != "" {
			if c.Verifier == "" {
				return refuse("code_verifier", ErrInvalidGrant("code_verifier is required for this code."))
			}
			if subtle.ConstantTimeCompare([]byte(Challenge(c.Verifier)), []byte(s.CodeChallenge)) != 1 {
				return refuse("code_verifier", ErrInvalidGrant("code_verifier does not match the code_challenge."))
			}
		} else {
			if c.Verifier != "" {
				return refuse("code_verifier", ErrInvalidGrant("This code was issued without a code_challenge."))
			}
			if !c.SecretOK {
				// Not a refusal of the code: a public client may not use it at all.
				return nil, errInvalidClient("This code was issued without PKCE: exchange it with the client secret.")
			}
		}
		return []events.Event{Redeemed{SessionID: c.SessionID, At: c.At}}, nil
	}
	return nil, domain.Errorf(domain.BadRequest, "unknown_command", "unknown authorization code command %T", cmd)
}
