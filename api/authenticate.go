package api

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/keywayhq/keyway/api/authkit"
	"github.com/keywayhq/keyway/app"
	"github.com/keywayhq/keyway/domain"
	"github.com/keywayhq/keyway/domain/session"
)

type authenticateBody struct {
	ClientID        string `json:"client_id"`
	ClientSecret    string `json:"client_secret"`
	GrantType       string `json:"grant_type"`
	Email           string `json:"email"`
	Password        string `json:"password"`
	RefreshToken    string `json:"refresh_token"`
	Code            string `json:"code"`
	PendingToken    string `json:"pending_authentication_token"`
	OrganizationID  string `json:"organization_id"`
	IPAddress       string `json:"ip_address"`
	UserAgent       string `json:"user_agent"`
	InvitationToken string `json:"invitation_token"`
	CodeVerifier    string `json:"code_verifier"`
	RedirectURI     string `json:"redirect_uri"`
}

// oauthError is the OAuth form of an error: {error, error_description}.
func oauthError(code, msg string) error {
	return &domain.Error{Kind: domain.BadRequest, Code: code, Message: msg, Details: map[string]any{"error": code, "error_description": msg}}
}

// authenticate is POST /user_management/authenticate. The SDK sends JSON;
// form-encoded bodies are accepted too.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request, c *call) {
	var b authenticateBody
	isForm := strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") &&
		!strings.HasPrefix(strings.TrimSpace(string(c.body)), "{")
	if isForm {
		form, err := url.ParseQuery(string(c.body))
		if err != nil {
			s.writeError(w, c, oauthError("invalid_request", "The form body could not be parsed."))
			return
		}
		b = authenticateBody{ClientID: form.Get("client_id"), ClientSecret: form.Get("client_secret"), GrantType: form.Get("grant_type"),
			Email: form.Get("email"), Password: form.Get("password"), RefreshToken: form.Get("refresh_token"), Code: form.Get("code"), PendingToken: form.Get("pending_authentication_token"),
			OrganizationID: form.Get("organization_id"), IPAddress: form.Get("ip_address"), UserAgent: form.Get("user_agent"),
			InvitationToken: form.Get("invitation_token"), CodeVerifier: form.Get("code_verifier"), RedirectURI: form.Get("redirect_uri")}
	} else if err := decode(c.body, &b); err != nil {
		s.writeError(w, c, err)
		return
	}
	if c.public {
		// A public client has no secret: it may exchange a code with its
		// PKCE verifier (the code says whether it needs one), and refresh
		// the tokens that gave it.
		if b.GrantType != "refresh_token" && b.GrantType != "authorization_code" {
			msg := "This grant needs the client secret (the API key)."
			s.writeError(w, c, &domain.Error{Kind: domain.Unauthorized, Code: "invalid_client", Message: msg,
				Details: map[string]any{"error": "invalid_client", "error_description": msg}})
			return
		}
		p, err := s.app.ClientPrincipal(r.Context(), b.ClientID)
		if err != nil {
			s.writeError(w, c, oauthError("invalid_client", "The client_id is not known."))
			return
		}
		c.principal = p
	}
	if b.ClientID != c.principal.ClientID {
		s.writeError(w, c, oauthError("invalid_client", "client_id does not belong to this API key's environment."))
		return
	}
	if b.ClientSecret != "" && app.HashAPIKey(b.ClientSecret) != app.HashAPIKey(bearer(r)) {
		s.writeError(w, c, oauthError("invalid_client", "client_secret does not match the API key."))
		return
	}
	// ip_address is the end user's address, as the caller's backend saw it.
	// The connection's own address is that backend, shared by all its users:
	// throttling it would let 50 typos lock everyone out.
	client := app.Client{IP: strings.TrimSpace(b.IPAddress), UserAgent: b.UserAgent, InvitationToken: b.InvitationToken}
	var res app.AuthResult
	var err error
	switch b.GrantType {
	case "password":
		res, err = s.app.AuthenticatePassword(r.Context(), c.meta(), b.Email, b.Password, client)
	case "authorization_code":
		res, err = s.app.ExchangeCode(r.Context(), c.meta(), c.principal,
			app.CodeExchange{Code: b.Code, Verifier: b.CodeVerifier, RedirectURI: b.RedirectURI, SecretOK: !c.public}, client)
	case "refresh_token":
		res, err = s.app.Refresh(r.Context(), c.meta(), b.RefreshToken, b.OrganizationID)
	case "urn:workos:oauth:grant-type:magic-auth:code":
		res, err = s.app.AuthenticateMagicAuth(r.Context(), c.meta(), b.Email, b.Code, client)
	case "urn:workos:oauth:grant-type:email-verification:code":
		res, err = s.app.AuthenticateEmailVerification(r.Context(), c.meta(), b.Code, b.PendingToken, client)
	case "urn:workos:oauth:grant-type:organization-selection":
		res, err = s.app.AuthenticateOrganizationSelection(r.Context(), c.meta(), b.PendingToken, b.OrganizationID, client)
	case "":
		err = oauthError("invalid_request", "grant_type is required.")
	default:
		err = oauthError("unsupported_grant_type", "The grant type "+b.GrantType+" is not supported.")
	}
	if err != nil {
		s.writeError(w, c, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"user": renderUser(res.User), "organization_id": res.OrganizationID,
		"access_token": res.AccessToken, "refresh_token": res.RefreshToken, "authentication_method": res.Method})
}

type sessionJSON struct {
	Object         string  `json:"object"`
	ID             string  `json:"id"`
	UserID         string  `json:"user_id"`
	OrganizationID *string `json:"organization_id"`
	IPAddress      *string `json:"ip_address"`
	UserAgent      *string `json:"user_agent"`
	AuthMethod     string  `json:"auth_method"`
	Status         string  `json:"status"`
	ExpiresAt      string  `json:"expires_at"`
	EndedAt        *string `json:"ended_at"`
	CreatedAt      string  `json:"created_at"`
	UpdatedAt      string  `json:"updated_at"`
}

func renderSession(v any) any {
	ss := v.(session.Session)
	return sessionJSON{Object: "session", ID: ss.ID, UserID: ss.UserID, OrganizationID: ss.OrganizationID, IPAddress: ss.IPAddress,
		UserAgent: ss.UserAgent, AuthMethod: ss.AuthMethod, Status: ss.Status, ExpiresAt: timestamp(ss.ExpiresAt),
		EndedAt: timestampPtr(ss.EndedAt), CreatedAt: timestamp(ss.CreatedAt), UpdatedAt: timestamp(ss.UpdatedAt)}
}

// userSubresource serves GET /user_management/users/:id/sessions.
func (s *Server) userSubresource(w http.ResponseWriter, r *http.Request, c *call) {
	if r.PathValue("rest") != "sessions" {
		writeJSON(w, http.StatusNotFound, map[string]string{"code": "route_not_found", "message": "No route for " + r.Method + " " + r.URL.Path + "."})
		return
	}
	s.listSessions(w, r, c)
}

func (s *Server) listSessions(w http.ResponseWriter, r *http.Request, c *call) {
	page, err := pageParams(r.URL.Query(), "session")
	if err != nil {
		s.writeError(w, c, err)
		return
	}
	res, err := s.app.ListSessions(r.Context(), c.principal.EnvironmentID, r.PathValue("id"), page)
	if err != nil {
		s.writeError(w, c, err)
		return
	}
	writeList(w, res, renderSession)
}

func (s *Server) revokeSession(w http.ResponseWriter, r *http.Request, c *call) {
	var b struct {
		SessionID *string `json:"session_id"`
	}
	if err := decode(c.body, &b); err != nil {
		s.writeError(w, c, err)
		return
	}
	if b.SessionID == nil {
		s.writeError(w, c, domain.InvalidField("session_id", "required", "session_id is required."))
		return
	}
	_, err := s.app.RevokeSession(r.Context(), c.meta(), *b.SessionID)
	s.respondEmpty(w, c, http.StatusOK, err)
}

// logout is opened by the browser, without an API key: the session id says
// which environment it belongs to.
func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	c := r.Context().Value(ctxKey{}).(*call)
	q := r.URL.Query()
	env, err := s.app.SessionEnvironment(r.Context(), q.Get("session_id"))
	if err != nil {
		s.writeError(w, c, err)
		return
	}
	target, err := s.app.LogoutRedirect(r.Context(), app.Meta{Env: env, Actor: "logout", RequestID: c.requestID}, q.Get("session_id"), q.Get("return_to"))
	if err != nil {
		s.writeError(w, c, err)
		return
	}
	// The browser signs out of the hosted pages too, so that the next
	// authorize asks for credentials again.
	if ck, err := r.Cookie(authkit.SessionCookie); err == nil {
		if err := s.app.EndBrowserSession(r.Context(), env, ck.Value); err != nil {
			s.writeError(w, c, err)
			return
		}
	}
	authkit.ClearSessionCookie(w, r)
	if target == "" {
		writeJSON(w, http.StatusOK, map[string]string{"message": "Signed out."})
		return
	}
	http.Redirect(w, r, target, http.StatusFound)
}

// jwks is public and answers exactly 200, as jose requires.
func (s *Server) jwks(w http.ResponseWriter, r *http.Request) {
	c := r.Context().Value(ctxKey{}).(*call)
	body, err := s.app.JWKS(r.Context(), r.PathValue("client_id"))
	if err != nil {
		s.writeError(w, c, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}
