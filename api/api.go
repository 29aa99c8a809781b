// Package api is Keyway's HTTP surface: one http.Handler that speaks the
// WorkOS API (JSON shapes, errors, pagination, API keys, idempotency keys)
// and serves both net/http and API Gateway.
package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/keywayhq/keyway/api/authkit"
	"github.com/keywayhq/keyway/app"
	"github.com/keywayhq/keyway/events"
)

// MaxBodyBytes limits JSON request bodies (security.md: 1 MiB).
const MaxBodyBytes = 1 << 20

// Server routes requests to the app.
type Server struct {
	app *app.App
	log *slog.Logger
	ids *events.IDs
	mux *http.ServeMux
}

// New returns the API as one http.Handler.
func New(a *app.App, log *slog.Logger, now func() time.Time) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if now == nil {
		now = time.Now
	}
	s := &Server{app: a, log: log, ids: events.NewIDs(now), mux: http.NewServeMux()}
	s.routes()
	return s
}

func (s *Server) routes() {
	s.mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	s.handle("POST /user_management/users", s.createUser)
	s.handle("GET /user_management/users", s.listUsers)
	s.handle("GET /user_management/users/{id}", s.getUser)
	s.handle("GET /user_management/users/external_id/{external_id}", s.getUserByExternalID)
	s.handle("PUT /user_management/users/{id}", s.updateUser)
	s.handle("DELETE /user_management/users/{id}", s.deleteUser)

	s.handle("POST /organizations", s.createOrganization)
	s.handle("GET /organizations", s.listOrganizations)
	s.handle("GET /organizations/{id}", s.getOrganization)
	s.handle("GET /organizations/external_id/{external_id}", s.getOrganizationByExternalID)
	s.handle("PUT /organizations/{id}", s.updateOrganization)
	s.handle("DELETE /organizations/{id}", s.deleteOrganization)
	s.handle("POST /organization_domains", s.createDomain)
	s.handle("GET /organization_domains/{id}", s.getDomain)
	s.handle("POST /organization_domains/{id}/verify", s.verifyDomain(false))
	s.handle("DELETE /organization_domains/{id}", s.deleteDomain)

	s.handle("POST /user_management/organization_memberships", s.createMembership)
	s.handle("GET /user_management/organization_memberships", s.listMemberships)
	s.handle("GET /user_management/organization_memberships/{id}", s.getMembership)
	s.handle("PUT /user_management/organization_memberships/{id}", s.updateMembership)
	s.handle("PUT /user_management/organization_memberships/{id}/deactivate", s.membershipStatus(s.app.DeactivateMembership))
	s.handle("PUT /user_management/organization_memberships/{id}/reactivate", s.membershipStatus(s.app.ReactivateMembership))
	s.handle("DELETE /user_management/organization_memberships/{id}", s.deleteMembership)

	s.handle("GET /authorization/roles", s.listRoles)
	s.handle("POST /authorization/roles", s.createRole)
	s.handle("GET /authorization/roles/{slug}", s.getRole)

	s.handle("GET /events", s.listEvents)

	s.handlePublic("POST /user_management/authenticate", s.authenticate)
	s.handle("POST /user_management/magic_auth", s.createMagicAuth)
	s.handle("GET /user_management/magic_auth/{id}", s.getMagicAuth)
	s.handle("POST /user_management/users/{id}/email_verification/send", s.sendEmailVerification)
	s.handle("POST /user_management/users/{id}/email_verification/confirm", s.confirmEmailVerification)
	s.handle("GET /user_management/email_verification/{id}", s.getEmailVerification)
	s.handle("POST /user_management/password_reset", s.createPasswordReset)
	s.handle("GET /user_management/password_reset/{id}", s.getPasswordReset)
	s.handle("POST /user_management/password_reset/confirm", s.confirmPasswordReset)
	s.handle("POST /user_management/invitations", s.sendInvitation)
	s.handle("GET /user_management/invitations", s.listInvitations)
	s.handle("GET /user_management/invitations/{id}", s.getInvitation)
	s.handle("GET /user_management/invitations/by_token/{token}", s.getInvitationByToken)
	s.handle("POST /user_management/invitations/{id}/accept", s.acceptInvitation)
	s.handle("POST /user_management/invitations/{id}/revoke", s.revokeInvitation)
	s.handle("POST /user_management/invitations/{id}/resend", s.resendInvitation)
	// {rest...} rather than {id}/sessions, which would overlap external_id/{external_id}.
	s.handle("GET /user_management/users/{id}/{rest...}", s.userSubresource)
	s.handle("POST /user_management/sessions/revoke", s.revokeSession)
	s.mux.HandleFunc("GET /user_management/sessions/logout", s.logout)
	s.mux.HandleFunc("GET /sso/jwks/{client_id}", s.jwks)

	// The hosted login (AuthKit): the authorize endpoint and its pages.
	kit := authkit.New(s.app, s.log)
	s.mux.Handle("GET /user_management/authorize", kit)
	s.mux.Handle("/authkit/", kit)

	// Keyway's own management API, beyond WorkOS's.
	s.handle("GET /keyway/organizations/{id}/policies", s.getPolicies)
	s.handle("PUT /keyway/organizations/{id}/policies", s.putPolicies)
	s.handle("POST /keyway/organization_domains/{id}/verify_manually", s.verifyDomain(true))
	s.handle("GET /keyway/auth_policy", s.authPolicy)
	s.handle("GET /keyway/settings", s.getSettings)
	s.handle("PUT /keyway/settings", s.putSettings)
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]string{"code": "route_not_found", "message": "No route for " + r.Method + " " + r.URL.Path + "."})
	})
}

// ServeHTTP adds a request id, recovers panics and logs every request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	reqID := "req_" + s.ids.ULID()
	w.Header().Set("X-Request-ID", reqID)
	rec := &statusWriter{ResponseWriter: w}
	log := s.log.With("request_id", reqID)
	c := &call{requestID: reqID, log: log}
	defer func() {
		if v := recover(); v != nil {
			log.Error("panic", "panic", v, "method", r.Method, "path", r.URL.Path)
			if rec.status == 0 {
				writeJSON(rec, http.StatusInternalServerError, map[string]string{"code": "internal_error", "message": "Internal server error.", "request_id": reqID})
			}
		}
		log.Info("request", "method", r.Method, "route", c.route, "path", r.URL.Path, "status", rec.status,
			"duration_ms", float64(time.Since(start).Microseconds())/1000)
	}()
	ctx := context.WithValue(r.Context(), ctxKey{}, c)
	s.mux.ServeHTTP(rec, r.WithContext(ctx))
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

type ctxKey struct{}

// call is what the middleware learned about one request.
type call struct {
	requestID string
	route     string // the matched pattern, for logs
	log       *slog.Logger
	principal app.Principal
	body      []byte
	// public is a call without an API key from a public client (PKCE),
	// which names its environment by client_id; only some grants allow it.
	public      bool
	idemKey     string
	fingerprint string
}

// meta is the app.Meta of this call, without idempotency.
func (c *call) meta() app.Meta {
	return app.Meta{Env: c.principal.EnvironmentID, Actor: c.principal.KeyID, RequestID: c.requestID}
}

type handlerFunc func(w http.ResponseWriter, r *http.Request, c *call)

// handle registers an API-key route: it authenticates, reads the body and
// answers replays of an Idempotency-Key before the handler runs.
func (s *Server) handle(pattern string, h handlerFunc) { s.register(pattern, h, false) }

// handlePublic registers a route that public clients may call without an
// API key (c.public); the handler then finds the environment itself.
func (s *Server) handlePublic(pattern string, h handlerFunc) { s.register(pattern, h, true) }

func (s *Server) register(pattern string, h handlerFunc, public bool) {
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		c := r.Context().Value(ctxKey{}).(*call)
		c.route = r.Pattern
		if public && r.Header.Get("Authorization") == "" {
			c.public = true
		} else {
			p, err := s.app.Authenticate(r.Context(), bearer(r))
			if err != nil {
				s.writeError(w, c, err)
				return
			}
			c.principal = p
			c.log = c.log.With("environment", p.EnvironmentID)
		}
		if r.Method == http.MethodPost || r.Method == http.MethodPut || r.Method == http.MethodPatch {
			body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
			if err != nil {
				var tooBig *http.MaxBytesError
				if errors.As(err, &tooBig) {
					writeJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"code": "request_too_large", "message": "The request body is larger than 1 MiB."})
					return
				}
				writeJSON(w, http.StatusBadRequest, map[string]string{"code": "invalid_request", "message": "The request body could not be read."})
				return
			}
			c.body = body
		}
		if r.Method == http.MethodPost && !c.public {
			if key := r.Header.Get("Idempotency-Key"); key != "" {
				if len(key) > 255 {
					writeJSON(w, http.StatusBadRequest, map[string]string{"code": "invalid_idempotency_key", "message": "Idempotency-Key must be at most 255 characters."})
					return
				}
				c.idemKey, c.fingerprint = key, fingerprint(r, c.body)
				if s.replay(w, r, c) {
					return
				}
			}
		}
		h(w, r, c)
	})
}

// replay answers a request whose Idempotency-Key was seen before.
func (s *Server) replay(w http.ResponseWriter, r *http.Request, c *call) bool {
	rec, err := s.app.Replay(r.Context(), c.principal.EnvironmentID, c.idemKey)
	if errors.Is(err, events.ErrNotFound) {
		return false
	}
	if err != nil {
		s.writeError(w, c, err)
		return true
	}
	if rec.Fingerprint != c.fingerprint {
		writeJSON(w, http.StatusBadRequest, map[string]string{"code": "idempotency_key_reused",
			"message": "This Idempotency-Key was already used with a different request."})
		return true
	}
	w.Header().Set("Idempotent-Replayed", "true")
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(rec.Status)
	_, _ = w.Write(rec.Body)
	return true
}

// mutate runs a write whose response is remembered under the call's
// Idempotency-Key, in the same append as its events.
func (s *Server) mutate(w http.ResponseWriter, r *http.Request, c *call, status int, run func(app.Meta) (any, error), render func(any) any) {
	m := c.meta()
	encode := func(result any) (int, []byte, error) {
		b, err := jsonBody(render(result))
		return status, b, err
	}
	if c.idemKey != "" {
		m.Idempotency = &app.Idempotency{Key: c.idemKey, Fingerprint: c.fingerprint, Render: encode}
	}
	result, err := run(m)
	if errors.Is(err, app.ErrIdempotencyKeyUsed) && s.replay(w, r, c) {
		return
	}
	if err != nil {
		s.writeError(w, c, err)
		return
	}
	code, body, err := encode(result)
	if err != nil {
		s.writeError(w, c, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(body)
}

func fingerprint(r *http.Request, body []byte) string {
	h := sha256.New()
	io.WriteString(h, r.Method+" "+r.URL.Path+"?"+r.URL.RawQuery+"\n")
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

func bearer(r *http.Request) string {
	v := r.Header.Get("Authorization")
	if scheme, token, ok := strings.Cut(v, " "); ok && strings.EqualFold(scheme, "Bearer") {
		return strings.TrimSpace(token)
	}
	return ""
}
