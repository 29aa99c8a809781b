package keys

import (
	"crypto/rsa"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/oklog/ulid/v2"
)

// Leeway is the clock-skew allowance Verify applies to exp, nbf and iat.
const Leeway = 30 * time.Second

// ErrUnknownKey is returned by Verify when the token's kid is missing or is
// not among the ring's published keys.
var ErrUnknownKey = errors.New("keys: token kid is not a published key")

// ErrClaims is returned by Sign when required claims are missing or invalid.
var ErrClaims = errors.New("keys: invalid access-token claims")

// Actor is the "act" claim of an impersonation session.
type Actor struct {
	// Subject is the impersonator's email address.
	Subject string `json:"sub"`
}

// Claims are the claims of a WorkOS-compatible access token. ID (jti) is a
// bare ULID supplied by the caller; Issuer, Subject (user ID), SessionID,
// ExpiresAt and IssuedAt are required by Sign.
type Claims struct {
	jwt.RegisteredClaims
	SessionID      string   `json:"sid"`
	OrganizationID string   `json:"org_id,omitempty"`
	Role           string   `json:"role,omitempty"`
	Roles          []string `json:"roles,omitempty"`
	Permissions    []string `json:"permissions"`
	Entitlements   []string `json:"entitlements,omitempty"`
	FeatureFlags   []string `json:"feature_flags,omitempty"`
	// Actor is set on impersonation sessions.
	Actor *Actor `json:"act,omitempty"`
}

// validateForSign checks the claims Sign insists on.
func (c Claims) validateForSign() error {
	switch {
	case c.Issuer == "":
		return fmt.Errorf("%w: iss is empty", ErrClaims)
	case c.Subject == "":
		return fmt.Errorf("%w: sub is empty", ErrClaims)
	case c.SessionID == "":
		return fmt.Errorf("%w: sid is empty", ErrClaims)
	case c.ExpiresAt == nil:
		return fmt.Errorf("%w: exp is missing", ErrClaims)
	case c.IssuedAt == nil:
		return fmt.Errorf("%w: iat is missing", ErrClaims)
	case !c.ExpiresAt.After(c.IssuedAt.Time):
		return fmt.Errorf("%w: exp is not after iat", ErrClaims)
	}
	if _, err := ulid.ParseStrict(c.ID); err != nil {
		return fmt.Errorf("%w: jti %q is not a bare ULID: %w", ErrClaims, c.ID, err)
	}
	return nil
}

// Sign returns c as an RS256 JWT signed with the ring's current key, with
// header {"alg":"RS256","typ":"JWT","kid":<current kid>}. A nil Permissions
// is encoded as [] rather than null.
func (r *Ring) Sign(c Claims) (string, error) {
	k, ok := r.Current()
	if !ok || k.Private == nil {
		return "", fmt.Errorf("keys: sign: %w", ErrNoCurrentKey)
	}
	if err := c.validateForSign(); err != nil {
		return "", fmt.Errorf("keys: sign: %w", err)
	}
	if c.Permissions == nil {
		c.Permissions = []string{}
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, c)
	tok.Header["kid"] = k.ID
	s, err := tok.SignedString(k.Private)
	if err != nil {
		return "", fmt.Errorf("keys: sign: %w", err)
	}
	return s, nil
}

// Verify checks token and returns its claims. Only RS256 is accepted; the key
// is chosen by the header kid among the keys published at now (an unknown or
// missing kid fails with [ErrUnknownKey]); exp is required and exp, nbf and
// iat are checked against now with [Leeway]; iss must equal issuer, which
// must not be empty. Errors wrap the jwt package's sentinels (for example
// jwt.ErrTokenExpired, jwt.ErrTokenSignatureInvalid, jwt.ErrTokenInvalidIssuer).
func (r *Ring) Verify(token string, now time.Time, issuer string) (Claims, error) {
	if issuer == "" {
		return Claims{}, errors.New("keys: verify token: expected issuer is empty")
	}
	pubs := make(map[string]*rsa.PublicKey)
	for _, k := range r.Published(now) {
		pubs[k.ID] = &k.Private.PublicKey
	}
	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodRS256.Alg()}),
		jwt.WithTimeFunc(func() time.Time { return now }),
		jwt.WithLeeway(Leeway),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithIssuer(issuer),
		jwt.WithStrictDecoding(),
	)
	var c Claims
	_, err := parser.ParseWithClaims(token, &c, func(t *jwt.Token) (any, error) {
		// WithValidMethods already enforces this; keep the key type tied to it.
		if t.Method != jwt.SigningMethodRS256 {
			return nil, fmt.Errorf("unexpected signing method %v", t.Header["alg"])
		}
		kid, _ := t.Header["kid"].(string)
		pub, ok := pubs[kid]
		if !ok || kid == "" {
			return nil, fmt.Errorf("%w: %q", ErrUnknownKey, kid)
		}
		return pub, nil
	})
	if err != nil {
		return Claims{}, fmt.Errorf("keys: verify token: %w", err)
	}
	return c, nil
}
