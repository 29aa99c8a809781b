package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/keywayhq/keyway/domain"
	"github.com/keywayhq/keyway/domain/browsersession"
	"github.com/keywayhq/keyway/domain/membership"
	"github.com/keywayhq/keyway/domain/session"
	"github.com/keywayhq/keyway/domain/throttle"
	"github.com/keywayhq/keyway/domain/user"
	"github.com/keywayhq/keyway/events"
)

// Read models of sessions: the session, listed by user, and one item per
// refresh token hash ever issued, which leads a presented token to its
// session (old hashes too, so that a replay can be recognised).
const (
	sessionCollection = "session"
	refreshCollection = "refresh_token"
)

func userSessionsPartition(userID string) string { return "sessions#user#" + userID }

// AccessToken is what an access token says; a Signer turns it into an RS256 JWT.
type AccessToken struct {
	Issuer         string
	Subject        string // the user id
	SessionID      string
	ID             string // jti, a bare ULID
	OrganizationID string
	Role           string
	Permissions    []string
	IssuedAt       time.Time
	ExpiresAt      time.Time
}

// Signer signs access tokens and publishes the keys that verify them.
// Each environment has keys of its own, so that one environment's tokens
// never verify against another's JWKS.
type Signer interface {
	Sign(ctx context.Context, env string, t AccessToken) (string, error)
	JWKS(ctx context.Context, env string) ([]byte, error)
}

// DefaultAccessTTL is how long an access token lives.
const DefaultAccessTTL = 5 * time.Minute

// SessionConfig are the session settings.
type SessionConfig struct {
	Issuer       string        // iss of access tokens
	AccessTTL    time.Duration // default 5 minutes
	Lifetime     time.Duration // absolute session lifetime, default 30 days
	RefreshGrace time.Duration // a just-replaced refresh token is refused without revoking, default 10 s
	// BrowserLifetime is how long the hosted pages' own session lasts
	// (default 1 hour): within it, a new authorize skips the credentials.
	BrowserLifetime time.Duration
	// Sign-in attempts per account (default 5) and per client IP (default
	// 50) in 15 minutes; a success clears the account's count.
	AccountAttempts throttle.Policy
	IPAttempts      throttle.Policy
}

func (c SessionConfig) withDefaults() SessionConfig {
	if c.AccessTTL == 0 {
		c.AccessTTL = DefaultAccessTTL
	}
	if c.Lifetime == 0 {
		c.Lifetime = 30 * 24 * time.Hour
	}
	if c.BrowserLifetime == 0 {
		c.BrowserLifetime = browsersession.DefaultLifetime
	}
	if c.RefreshGrace == 0 {
		c.RefreshGrace = 10 * time.Second
	}
	if c.AccountAttempts.Limit == 0 {
		c.AccountAttempts = throttle.Policy{Limit: 5, Window: 15 * time.Minute}
	}
	if c.IPAttempts.Limit == 0 {
		c.IPAttempts = throttle.Policy{Limit: 50, Window: 15 * time.Minute}
	}
	if c.Issuer == "" {
		c.Issuer = "keyway"
	}
	return c
}

// AuthResult is a successful authentication.
type AuthResult struct {
	User           user.User
	OrganizationID *string
	AccessToken    string
	RefreshToken   string
	Method         string // WorkOS authentication_method, e.g. "Password"
	// RedirectURL and BrowserToken are set instead of the tokens when the
	// sign-in answered an authorize request: where to send the browser
	// (redirect_uri with code and state), and the token of the hosted
	// session that was started (empty when one was reused).
	RedirectURL  string
	BrowserToken string
}

// Client describes the caller of an authentication.
type Client struct {
	IP, UserAgent string
	// InvitationToken, if set, accepts that invitation of the user's email
	// before the session starts, in the invitation's organization.
	InvitationToken string
	// Authorize, if set, is the hosted login's authorize request: the sign-in
	// ends with an authorization code for it instead of a session.
	Authorize *AuthorizeRequest
	// browser is the hosted session the sign-in came from, if any.
	browser string
}

func hashToken(t string) string {
	sum := sha256.Sum256([]byte(t))
	return hex.EncodeToString(sum[:])
}

// tokenStreamID names the stream of an opaque single-use token (a pending
// authentication, an authorization code, a hosted session) by its hash,
// so the token itself is never stored.
func tokenStreamID(token string) string { return hashToken(token)[:40] }

func projectSession(s session.State) []events.Item {
	if !s.Exists {
		return nil
	}
	it := newItem(sessionCollection, s.ID, s.Session, events.Index1, userSessionsPartition(s.UserID), s.ID)
	return []events.Item{it}
}

func sessionKind() kind[session.State] {
	return kind[session.State]{session.Aggregate, session.Evolve, session.Decide, nil, projectSession}
}

// refreshItem leads a refresh token's hash to its session until the session ends.
func refreshItem(hash string, s session.Session) events.Item {
	it := newItem(refreshCollection, hash, map[string]string{"session_id": s.ID}, "", "", "")
	it.ExpiresAt = s.ExpiresAt
	return it
}

// projectSessionLog is what a session's log projects: the session, and the
// item of every refresh token hash it issued that has not expired.
func (a *App) projectSessionLog(envs []events.Envelope) ([]events.Item, error) {
	var hashes []string
	s, err := fold(a, envs, func(s session.State, e events.Event) session.State {
		s = session.Evolve(s, e)
		if s.RefreshHash != "" && (len(hashes) == 0 || hashes[len(hashes)-1] != s.RefreshHash) {
			hashes = append(hashes, s.RefreshHash)
		}
		return s
	})
	items := projectSession(s)
	if s.Exists && a.now().Before(s.ExpiresAt) {
		for _, h := range hashes {
			items = append(items, refreshItem(h, s.Session))
		}
	}
	return items, err
}

// startSession creates a session for u and issues its tokens, or, for a
// hosted sign-in, issues an authorization code.
func (a *App) startSession(ctx context.Context, m Meta, u user.User, orgID *string, method, authMethod string, c Client) (AuthResult, error) {
	if c.Authorize != nil {
		return a.grantCode(ctx, m, u, orgID, method, authMethod, c)
	}
	refresh, err := randomToken(a.rand, 32)
	if err != nil {
		return AuthResult{}, err
	}
	s := a.newSession(u.ID, orgID, authMethod, c)
	res, err := execute(ctx, a, m, func() (write, AuthResult, error) {
		return a.sessionWrite(ctx, m, s, u, refresh, method)
	}, nil)
	if err != nil {
		return AuthResult{}, err
	}
	res.AccessToken, err = a.accessToken(ctx, m.Env, s.ID, u.ID, orgID)
	return res, err
}

// newSession is a new session of userID, not yet written.
func (a *App) newSession(userID string, orgID *string, authMethod string, c Client) session.Session {
	now := a.now()
	return session.Session{ID: a.ids.New("session"), UserID: userID, OrganizationID: orgID, AuthMethod: authMethod,
		IPAddress: optional(c.IP), UserAgent: optional(c.UserAgent), ExpiresAt: now.Add(a.sessions.Lifetime), CreatedAt: now, UpdatedAt: now}
}

// sessionWrite creates session s with its refresh token, and records the
// user's sign-in; the result lacks only the access token.
func (a *App) sessionWrite(ctx context.Context, m Meta, s session.Session, u user.User, refresh, method string) (write, AuthResult, error) {
	hash := hashToken(refresh)
	w, after, err := sessionKind().apply(s.ID, session.State{}, 0, session.Create{Session: s, RefreshHash: hash})
	if err != nil {
		return write{}, AuthResult{}, err
	}
	w.puts = append(w.puts, refreshItem(hash, after.Session))
	// The user signs in: last_sign_in_at.
	uw, signedIn, err := a.decideUser(ctx, m.Env, u.ID, user.SignIn{At: s.CreatedAt})
	if err != nil {
		return write{}, AuthResult{}, err
	}
	return w.merge(uw), AuthResult{User: signedIn, OrganizationID: s.OrganizationID, RefreshToken: refresh, Method: method}, nil
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// accessToken signs a short-lived access token for the session.
func (a *App) accessToken(ctx context.Context, env, sessionID, userID string, orgID *string) (string, error) {
	if a.signer == nil {
		return "", errors.New("app: no token signer configured")
	}
	now := a.now()
	t := AccessToken{Issuer: a.sessions.Issuer, Subject: userID, SessionID: sessionID, ID: a.ids.ULID(), Permissions: []string{},
		IssuedAt: now, ExpiresAt: now.Add(a.sessions.AccessTTL)}
	if orgID != nil {
		t.OrganizationID = *orgID
		if id, err := a.membershipOf(ctx, env, userID, *orgID); err == nil && id != "" {
			if ms, err := a.GetMembership(ctx, env, id); err == nil {
				t.Role = ms.Role.Slug
			}
		}
	}
	return a.signer.Sign(ctx, env, t)
}

// Refresh rotates a refresh token: the old one stops working, and a replay
// of it after the grace window revokes the session. orgID switches the
// session to another organization the user is an active member of.
func (a *App) Refresh(ctx context.Context, m Meta, token, orgID string) (AuthResult, error) {
	dead := session.ErrInvalidGrant("The refresh token is invalid or expired.")
	if token == "" || len(token) > 200 {
		return AuthResult{}, dead
	}
	hash := hashToken(token)
	ref, err := getJSON[map[string]string](ctx, a, m.Env, refreshCollection, hash, dead)
	if err != nil {
		return AuthResult{}, err
	}
	sessionID := ref["session_id"]
	newToken, err := randomToken(a.rand, 32)
	if err != nil {
		return AuthResult{}, err
	}
	newHash := hashToken(newToken)
	m.Idempotency = nil // a replayed refresh must not return live tokens
	var refused error
	res, err := execute(ctx, a, m, func() (write, AuthResult, error) {
		refused = nil
		st, v, err := sessionKind().load(ctx, a, m.Env, sessionID)
		if err != nil {
			return write{}, AuthResult{}, err
		}
		u, err := a.userByID(ctx, m.Env, st.UserID)
		if err != nil { // the user was deleted
			return write{}, AuthResult{}, dead
		}
		target := st.OrganizationID
		if orgID != "" {
			target = &orgID
		}
		if target != nil {
			if err := a.requireActiveMembership(ctx, m.Env, u.ID, *target); err != nil {
				return write{}, AuthResult{}, err
			}
		}
		w, after, err := sessionKind().apply(sessionID, st, v, session.Refresh{Presented: hash, NewHash: newHash, OrganizationID: target,
			Grace: a.sessions.RefreshGrace, At: a.now()})
		if err != nil {
			if len(w.streams) == 0 || len(w.streams[0].events) == 0 {
				return write{}, AuthResult{}, err
			}
			refused = err // revoke, then answer with the error
			return w, AuthResult{}, nil
		}
		w.puts = append(w.puts, refreshItem(newHash, after.Session))
		return w, AuthResult{User: u, OrganizationID: target, RefreshToken: newToken, Method: methodName(st.AuthMethod)}, nil
	}, nil)
	if err != nil {
		return AuthResult{}, err
	}
	if refused != nil {
		return AuthResult{}, refused
	}
	res.AccessToken, err = a.accessToken(ctx, m.Env, sessionID, res.User.ID, res.OrganizationID)
	return res, err
}

func (a *App) requireActiveMembership(ctx context.Context, env, userID, orgID string) error {
	no := &domain.Error{Kind: domain.BadRequest, Code: "organization_membership_not_found",
		Message: "The user is not an active member of the organization.",
		Details: map[string]any{"error": "organization_membership_not_found", "error_description": "The user is not an active member of the organization."}}
	id, err := a.membershipOf(ctx, env, userID, orgID)
	if err != nil {
		return err
	}
	if id == "" {
		return no
	}
	ms, err := getJSON[membership.Membership](ctx, a, env, membershipCollection, id, no)
	if err != nil {
		return err
	}
	if ms.Status != membership.Active {
		return no
	}
	return nil
}

// methodName maps a session's auth_method to WorkOS authentication_method.
func methodName(authMethod string) string {
	switch authMethod {
	case "password":
		return "Password"
	case "magic_code":
		return "MagicAuth"
	case "sso":
		return "SSO"
	}
	return "Password"
}

// RevokeSession ends a session; its refresh token stops working at once.
func (a *App) RevokeSession(ctx context.Context, m Meta, id string) (session.Session, error) {
	if !ValidID(id, "session") {
		return session.Session{}, domain.NotFoundf("entity_not_found", "Session not found: '%s'.", id)
	}
	return execute(ctx, a, m, func() (write, session.Session, error) {
		w, after, err := sessionKind().change(ctx, a, m.Env, id, session.Revoke{Reason: session.ReasonRevoked, At: a.now()}, func(s session.State) session.State {
			s.ID = id
			return s
		})
		return w, after.Session, err
	}, nil)
}

// ListSessions lists a user's sessions, newest first by default.
func (a *App) ListSessions(ctx context.Context, env, userID string, p PageParams) (Page[session.Session], error) {
	if !ValidID(userID, "user") {
		return Page[session.Session]{}, user.ErrNotFound(userID)
	}
	if _, err := a.userByID(ctx, env, userID); err != nil {
		return Page[session.Session]{}, err
	}
	page, err := listPage(ctx, a, env, events.Index1, userSessionsPartition(userID), p, decodeJSON[session.Session])
	now := a.now()
	for i, s := range page.Data {
		if s.Status == session.StatusActive && !now.Before(s.ExpiresAt) {
			page.Data[i].Status = session.StatusExpired
		}
	}
	return page, err
}

// JWKS is the public keys that verify access tokens, for a client id of an
// environment; an unknown client id is not found.
func (a *App) JWKS(ctx context.Context, clientID string) ([]byte, error) {
	owner, err := a.store.Owner(ctx, "system", claimClientID, clientID)
	if err != nil {
		if errors.Is(err, events.ErrNotFound) {
			return nil, domain.NotFoundf("entity_not_found", "Client not found: '%s'.", clientID)
		}
		return nil, fmt.Errorf("app: client lookup: %w", err)
	}
	if a.signer == nil {
		return nil, errors.New("app: no token signer configured")
	}
	return a.signer.JWKS(ctx, strings.TrimPrefix(owner, "environment#"))
}

// LogoutRedirect revokes a session and returns where to send the browser:
// return_to when it is allowed, else the first allowed URL.
func (a *App) LogoutRedirect(ctx context.Context, m Meta, sessionID, returnTo string) (string, error) {
	target := ""
	if len(a.logoutURLs) > 0 {
		target = a.logoutURLs[0]
	} else if set, err := a.HostedSettings(ctx, m.Env); err == nil && len(set.LogoutURLs) > 0 {
		target = set.LogoutURLs[0]
	}
	if returnTo != "" {
		ok, err := a.logoutAllowed(ctx, m.Env, returnTo)
		if err != nil {
			return "", err
		}
		if !ok {
			// Checked before revoking: a refused logout changes nothing.
			return "", &domain.Error{Kind: domain.Invalid, Code: "invalid_return_to", Message: "return_to is not an allowed logout redirect.",
				Fields: []domain.FieldError{{Field: "return_to", Code: "invalid_return_to"}}}
		}
		target = returnTo
	}
	if _, err := a.RevokeSession(ctx, m, sessionID); err != nil {
		return "", err
	}
	return target, nil
}

// clientIDOK reports whether a client id names the caller's environment.
func clientIDOK(p Principal, clientID string) bool {
	return strings.TrimSpace(clientID) == p.ClientID
}

// SessionEnvironment finds the environment a session belongs to, for the
// logout URL, which carries no API key.
func (a *App) SessionEnvironment(ctx context.Context, sessionID string) (string, error) {
	notFound := domain.NotFoundf("entity_not_found", "Session not found: '%s'.", sessionID)
	if !ValidID(sessionID, "session") {
		return "", notFound
	}
	envs, err := a.ListEnvironments(ctx)
	if err != nil {
		return "", err
	}
	keys := []events.ItemKey{{Collection: sessionCollection, ID: sessionID}}
	for _, e := range envs {
		items, err := a.store.GetMany(ctx, e.ID, keys)
		if err != nil {
			return "", err
		}
		if len(items) > 0 {
			return e.ID, nil
		}
	}
	return "", notFound
}
