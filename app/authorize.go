package app

import (
	"context"
	"net/url"
	"slices"
	"strings"

	"github.com/keywayhq/keyway/domain"
	"github.com/keywayhq/keyway/domain/authcode"
	"github.com/keywayhq/keyway/domain/browsersession"
	"github.com/keywayhq/keyway/domain/session"
	"github.com/keywayhq/keyway/domain/user"
	"github.com/keywayhq/keyway/events"
)

// AuthorizeRequest is a validated GET /user_management/authorize: what the
// hosted pages sign the user in for, and where the code goes.
type AuthorizeRequest struct {
	Env                 string `json:"env"`
	ClientID            string `json:"client_id"`
	RedirectURI         string `json:"redirect_uri"`
	State               string `json:"state,omitempty"`
	Provider            string `json:"provider,omitempty"`
	ConnectionID        string `json:"connection_id,omitempty"`
	OrganizationID      string `json:"organization_id,omitempty"`
	ScreenHint          string `json:"screen_hint,omitempty"`
	LoginHint           string `json:"login_hint,omitempty"`
	DomainHint          string `json:"domain_hint,omitempty"`
	Prompt              string `json:"prompt,omitempty"`
	InvitationToken     string `json:"invitation_token,omitempty"`
	CodeChallenge       string `json:"code_challenge,omitempty"`
	CodeChallengeMethod string `json:"code_challenge_method,omitempty"`
}

// Limits of authorize parameters.
const (
	maxStateLen = 2048
	maxHintLen  = 320
)

func authorizeError(code, format string, args ...any) error {
	e := domain.Errorf(domain.BadRequest, code, format, args...)
	e.Details = map[string]any{"error": code, "error_description": e.Message}
	return e
}

// ParseAuthorize validates the query of GET /user_management/authorize.
// Its errors are never sent to the redirect URI: an unknown client or an
// unregistered URI must not become an open redirect, and the pages show
// every other error to the user instead.
func (a *App) ParseAuthorize(ctx context.Context, q url.Values) (AuthorizeRequest, error) {
	for k, v := range q {
		if len(v) > 1 && k != "provider_scopes" {
			return AuthorizeRequest{}, authorizeError("invalid_request", "The parameter %s is given more than once.", k)
		}
	}
	r := AuthorizeRequest{ClientID: q.Get("client_id"), RedirectURI: q.Get("redirect_uri"), State: q.Get("state"),
		Provider: q.Get("provider"), ConnectionID: q.Get("connection_id"), OrganizationID: q.Get("organization_id"),
		ScreenHint: q.Get("screen_hint"), LoginHint: strings.TrimSpace(q.Get("login_hint")), DomainHint: q.Get("domain_hint"),
		Prompt: q.Get("prompt"), InvitationToken: q.Get("invitation_token"),
		CodeChallenge: q.Get("code_challenge"), CodeChallengeMethod: q.Get("code_challenge_method")}
	if r.ClientID == "" {
		return r, authorizeError("invalid_client", "client_id is required.")
	}
	env, err := a.ClientEnvironment(ctx, r.ClientID)
	if err != nil {
		if _, ok := domain.As(err); ok {
			return r, authorizeError("invalid_client", "The client_id %q is not known.", r.ClientID)
		}
		return r, err
	}
	r.Env = env.ID
	if r.RedirectURI == "" {
		return r, authorizeError("invalid_redirect_uri", "redirect_uri is required.")
	}
	if !slices.Contains(env.Settings.RedirectURIs, r.RedirectURI) {
		return r, authorizeError("invalid_redirect_uri", "The redirect_uri %q is not registered for this application.", r.RedirectURI)
	}
	// The redirect URI is trusted from here on; the other errors are still
	// shown as pages, since the app cannot do better with them than the user.
	if rt := q.Get("response_type"); rt != "" && rt != "code" {
		return r, authorizeError("unsupported_response_type", "response_type must be code.")
	}
	if len(r.State) > maxStateLen {
		return r, authorizeError("invalid_request", "state is longer than %d characters.", maxStateLen)
	}
	if len(r.LoginHint) > maxHintLen || len(r.DomainHint) > maxHintLen || len(r.InvitationToken) > 200 {
		return r, authorizeError("invalid_request", "login_hint, domain_hint or invitation_token is too long.")
	}
	switch r.ScreenHint {
	case "", "sign-in", "sign-up":
	default:
		return r, authorizeError("invalid_request", "screen_hint must be sign-in or sign-up.")
	}
	switch r.Prompt {
	case "", "login", "consent", "select_account", "none":
	default:
		return r, authorizeError("invalid_request", "prompt must be login, consent, select_account or none.")
	}
	if r.CodeChallenge != "" || r.CodeChallengeMethod != "" {
		if r.CodeChallengeMethod != "S256" {
			return r, authorizeError("invalid_request", "code_challenge_method must be S256.")
		}
		if !authcode.ValidChallenge(r.CodeChallenge) {
			return r, authorizeError("invalid_request", "code_challenge must be 43 base64url characters (S256).")
		}
	}
	if r.OrganizationID != "" && !ValidID(r.OrganizationID, "org") {
		return r, authorizeError("invalid_request", "organization_id is not an organization id.")
	}
	if r.Provider == "" && r.ConnectionID == "" && r.OrganizationID == "" {
		return r, authorizeError("invalid_request", "One of provider, connection_id or organization_id is required.")
	}
	if r.ConnectionID != "" {
		return r, authorizeError("provider_not_configured", "SSO connections are not configured for this environment yet.")
	}
	switch {
	case r.Provider == "" || r.Provider == "authkit":
	case strings.HasSuffix(r.Provider, "OAuth"):
		return r, authorizeError("provider_not_configured", "Sign-in with %s is not configured for this environment yet.", r.Provider)
	default:
		return r, authorizeError("invalid_request", "The provider %q is not supported.", r.Provider)
	}
	return r, nil
}

// redirect is the URL that hands the code to the app.
func (r AuthorizeRequest) redirect(code string) string {
	u, _ := url.Parse(r.RedirectURI) // validated when it was registered
	q := u.Query()
	q.Set("code", code)
	if r.State != "" {
		q.Set("state", r.State)
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// ErrorRedirect is the URL that tells the app an authorize request ended
// without a sign-in (OpenID Connect's prompt=none errors), with its state.
func (r AuthorizeRequest) ErrorRedirect(code, description string) string {
	u, _ := url.Parse(r.RedirectURI)
	q := u.Query()
	q.Set("error", code)
	q.Set("error_description", description)
	if r.State != "" {
		q.Set("state", r.State)
	}
	u.RawQuery = q.Encode()
	return u.String()
}

func authcodeKind() kind[authcode.State] {
	return kind[authcode.State]{authcode.Aggregate, authcode.Evolve, authcode.Decide, nil, func(authcode.State) []events.Item { return nil }}
}

// Read models of hosted sessions: one per live session, listed by user, so
// that a password reset can end them.
const browserSessionCollection = "browser_session"

func userBrowserSessionsPartition(userID string) string { return "browser_sessions#user#" + userID }

func projectBrowserSession(s browsersession.State) []events.Item {
	if !s.Exists || s.Ended {
		return nil
	}
	it := newItem(browserSessionCollection, s.ID, s.Session, events.Index1, userBrowserSessionsPartition(s.UserID), s.ID)
	it.ExpiresAt = s.ExpiresAt
	return []events.Item{it}
}

func browserKind() kind[browsersession.State] {
	return kind[browsersession.State]{browsersession.Aggregate, browsersession.Evolve, browsersession.Decide, nil, projectBrowserSession}
}

// grantCode ends a hosted sign-in: it issues an authorization code for
// the authorize request, and starts a hosted session unless the sign-in
// came from one, in the same append.
func (a *App) grantCode(ctx context.Context, m Meta, u user.User, orgID *string, method, authMethod string, c Client) (AuthResult, error) {
	req := c.Authorize
	code, err := randomToken(a.rand, 32)
	if err != nil {
		return AuthResult{}, err
	}
	browser := ""
	if c.browser == "" {
		if browser, err = randomToken(a.rand, 32); err != nil {
			return AuthResult{}, err
		}
	}
	now := a.now()
	g := authcode.Grant{ClientID: req.ClientID, RedirectURI: req.RedirectURI, CodeChallenge: req.CodeChallenge, UserID: u.ID,
		OrganizationID: orgID, Method: method, AuthMethod: authMethod, IPAddress: c.IP, UserAgent: c.UserAgent,
		ExpiresAt: now.Add(authcode.Lifetime), CreatedAt: now}
	m.Idempotency = nil
	_, err = execute(ctx, a, m, func() (write, struct{}, error) {
		w, _, err := authcodeKind().apply(tokenStreamID(code), authcode.State{}, 0, authcode.Issue{Grant: g})
		if err != nil || browser == "" {
			return w, struct{}{}, err
		}
		id := tokenStreamID(browser)
		bs := browsersession.Session{ID: id, UserID: u.ID, Method: method, AuthMethod: authMethod,
			ExpiresAt: now.Add(a.sessions.BrowserLifetime), CreatedAt: now}
		bw, _, err := browserKind().apply(id, browsersession.State{}, 0, browsersession.Start{Session: bs})
		return w.merge(bw), struct{}{}, err
	}, nil)
	if err != nil {
		return AuthResult{}, err
	}
	return AuthResult{User: u, OrganizationID: orgID, Method: method, RedirectURL: req.redirect(code), BrowserToken: browser}, nil
}

// errLoginRequired says the browser has no live hosted session.
var errLoginRequired = &domain.Error{Kind: domain.BadRequest, Code: "login_required", Message: "The user must sign in.",
	Details: map[string]any{"error": "login_required", "error_description": "The user must sign in."}}

// Authorize answers an authorize request from the browser's hosted session
// (its cookie's token), without asking for credentials again. No live
// session is login_required; otherwise it ends like a hosted sign-in, with
// a code, or with organization_selection_required.
func (a *App) Authorize(ctx context.Context, m Meta, req AuthorizeRequest, token string, c Client) (AuthResult, error) {
	if token == "" || len(token) > 200 {
		return AuthResult{}, errLoginRequired
	}
	st, _, err := browserKind().load(ctx, a, m.Env, tokenStreamID(token))
	if err != nil {
		return AuthResult{}, err
	}
	if !st.Active(a.now()) {
		return AuthResult{}, errLoginRequired
	}
	u, err := a.userByID(ctx, m.Env, st.UserID)
	if err != nil {
		if _, ok := domain.As(err); ok {
			return AuthResult{}, errLoginRequired
		}
		return AuthResult{}, err
	}
	c.Authorize, c.browser = &req, token
	if c.InvitationToken == "" {
		c.InvitationToken = req.InvitationToken
	}
	return a.finishSignIn(ctx, m, u, st.Method, st.AuthMethod, c)
}

// EndBrowserSession ends a hosted session (sign-out); an unknown or
// ended one is a no-op.
func (a *App) EndBrowserSession(ctx context.Context, env, token string) error {
	if token == "" || len(token) > 200 {
		return nil
	}
	m := Meta{Env: env, Actor: "logout"}
	_, err := execute(ctx, a, m, func() (write, struct{}, error) {
		st, v, err := browserKind().load(ctx, a, env, tokenStreamID(token))
		if err != nil || !st.Exists {
			return write{}, struct{}{}, err
		}
		w, _, err := browserKind().apply(tokenStreamID(token), st, v, browsersession.End{Reason: "signed_out", At: a.now()})
		return w, struct{}{}, err
	}, nil)
	return err
}

// endBrowserSessions ends every live hosted session of a user, so that a
// password reset signs the browser out too.
func (a *App) endBrowserSessions(ctx context.Context, m Meta, userID, reason string) error {
	q := events.Query{Environment: m.Env, Index: events.Index1, Partition: userBrowserSessionsPartition(userID), Limit: cleanupBatch}
	return a.inBatches(ctx, m, q, func(items []events.Item) (write, error) {
		var all write
		for _, it := range items {
			w, _, err := browserKind().change(ctx, a, m.Env, it.ID, browsersession.End{Reason: reason, At: a.now()}, nil)
			if err != nil {
				return write{}, err
			}
			all = all.merge(w)
		}
		return all, nil
	})
}

// CodeExchange is the authorization_code grant's request.
type CodeExchange struct {
	Code        string
	Verifier    string
	RedirectURI string
	// SecretOK says the client authenticated with its secret (the API key).
	SecretOK bool
}

// ExchangeCode is the authorization_code grant: the code becomes a session,
// once. A second exchange fails and revokes the session the first one
// started (RFC 6749 §4.1.2); a wrong client, redirect URI or verifier
// fails and uses the code up.
func (a *App) ExchangeCode(ctx context.Context, m Meta, p Principal, in CodeExchange, c Client) (AuthResult, error) {
	dead := authcode.ErrInvalidGrant("The authorization code is invalid, expired or already used.")
	if in.Code == "" || len(in.Code) > 200 {
		return AuthResult{}, dead
	}
	if in.Verifier != "" && !authcode.ValidVerifier(in.Verifier) {
		return AuthResult{}, authcode.ErrInvalidGrant("code_verifier must be 43 to 128 unreserved characters.")
	}
	refresh, err := randomToken(a.rand, 32)
	if err != nil {
		return AuthResult{}, err
	}
	id := tokenStreamID(in.Code)
	m.Idempotency = nil
	var refused error
	var s session.Session
	res, err := execute(ctx, a, m, func() (write, AuthResult, error) {
		refused = nil
		st, v, err := authcodeKind().load(ctx, a, m.Env, id)
		if err != nil {
			return write{}, AuthResult{}, err
		}
		c := c
		c.IP, c.UserAgent = firstNonEmpty(c.IP, st.IPAddress), firstNonEmpty(c.UserAgent, st.UserAgent)
		s = a.newSession(st.UserID, st.OrganizationID, st.AuthMethod, c)
		w, _, err := authcodeKind().apply(id, st, v, authcode.Redeem{ClientID: p.ClientID, RedirectURI: in.RedirectURI,
			Verifier: in.Verifier, SecretOK: in.SecretOK, SessionID: s.ID, At: a.now()})
		if err != nil {
			if len(w.streams) == 0 || len(w.streams[0].events) == 0 {
				return write{}, AuthResult{}, err
			}
			refused = err
			if st.Redeemed { // a replay: revoke what the first exchange issued
				sw, _, serr := sessionKind().change(ctx, a, m.Env, st.SessionID, session.Revoke{Reason: session.ReasonRevoked, At: a.now()}, nil)
				if serr != nil {
					return write{}, AuthResult{}, serr
				}
				w = w.merge(sw)
			}
			return w, AuthResult{}, nil
		}
		u, err := a.userByID(ctx, m.Env, st.UserID)
		if err != nil {
			return write{}, AuthResult{}, dead // the user was deleted meanwhile
		}
		if st.OrganizationID != nil {
			if err := a.requireActiveMembership(ctx, m.Env, u.ID, *st.OrganizationID); err != nil {
				return write{}, AuthResult{}, err
			}
		}
		sw, res, err := a.sessionWrite(ctx, m, s, u, refresh, st.Method)
		return w.merge(sw), res, err
	}, nil)
	if err != nil {
		return AuthResult{}, err
	}
	if refused != nil {
		return AuthResult{}, refused
	}
	res.AccessToken, err = a.accessToken(ctx, m.Env, s.ID, res.User.ID, res.OrganizationID)
	return res, err
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
