// Package authkit serves the hosted AuthKit pages: the browser side of
// GET /user_management/authorize (sign in, sign up, codes, email
// verification, organization choice, password reset), rendered on the
// server from embedded templates.
//
// The validated authorize request (the "flow") and each step's state
// travel sealed with AES-256-GCM in the URL and hidden fields; every POST
// carries a signed double-submit CSRF token.
package authkit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/keywayhq/keyway/app"
)

// Handler serves the hosted pages. It is safe for concurrent use.
type Handler struct {
	app    *app.App
	log    *slog.Logger
	now    func() time.Time
	pages  pages
	assets assets
	routes map[string]route

	// origin refuses cross-origin POSTs by Sec-Fetch-Site, or by Origin
	// against Host in browsers without it. (Pages are no-referrer, so a
	// same-origin form POST may carry "Origin: null" beside Sec-Fetch-Site.)
	origin *http.CrossOriginProtection

	mu   sync.Mutex
	keys *keys // derived on first use, then kept
}

// route is what one path answers to; a nil method is not allowed.
type route struct {
	get, post func(*call)
}

// keys are the secrets of the pages, derived from the app's code key.
type keys struct {
	seal *sealer
	csrf []byte
}

// New returns the pages' handler, to be mounted for
// GET /user_management/authorize and /authkit/.
func New(a *app.App, log *slog.Logger) *Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := &Handler{app: a, log: log, now: time.Now, pages: parsePages(), assets: loadAssets(), origin: http.NewCrossOriginProtection()}
	h.routes = map[string]route{
		"/user_management/authorize":   {get: h.authorize},
		"/authkit/sign-in":             {get: h.signInPage, post: h.signIn},
		"/authkit/password":            {post: h.password},
		"/authkit/magic-auth":          {post: h.sendCode},
		"/authkit/magic-auth/verify":   {post: h.checkCode},
		"/authkit/sign-up":             {get: h.signUpPage, post: h.signUp},
		"/authkit/verify-email":        {post: h.verifyEmail},
		"/authkit/verify-email/resend": {post: h.resendVerification},
		"/authkit/organization":        {post: h.chooseOrganization},
		"/authkit/forgot-password":     {get: h.forgotPage, post: h.forgot},
		"/authkit/reset-password":      {get: h.resetPage, post: h.reset},
	}
	return h
}

func (h *Handler) secrets() (*keys, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.keys != nil {
		return h.keys, nil
	}
	flowKey, err := h.app.HostedKey("flow")
	if err != nil {
		return nil, fmt.Errorf("authkit: flow key: %w", err)
	}
	csrfKey, err := h.app.HostedKey("csrf")
	if err != nil {
		return nil, fmt.Errorf("authkit: csrf key: %w", err)
	}
	s, err := newSealer(flowKey, func() time.Time { return h.now() })
	if err != nil {
		return nil, err
	}
	h.keys = &keys{seal: s, csrf: csrfKey}
	return h.keys, nil
}

// call is one request to the pages.
type call struct {
	h     *Handler
	w     *writer
	r     *http.Request
	ctx   context.Context
	reqID string
	log   *slog.Logger
	keys  *keys
	form  url.Values // a POST's fields

	flow      app.AuthorizeRequest
	flowToken string // the sealed flow, "" on pages outside one
	env       string // the environment whose branding shows

	csrfValue string
}

// writer remembers whether the response has started, so a recovered panic
// knows whether it can still answer.
type writer struct {
	http.ResponseWriter
	started bool
}

func (w *writer) WriteHeader(code int) {
	w.started = true
	w.ResponseWriter.WriteHeader(code)
}

func (w *writer) Write(b []byte) (int, error) {
	w.started = true
	return w.ResponseWriter.Write(b)
}

// ServeHTTP routes to the pages and recovers panics as a 500 page.
func (h *Handler) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	reqID := rw.Header().Get("X-Request-ID")
	if reqID == "" {
		b := make([]byte, 12)
		rand.Read(b)
		reqID = "req_" + hex.EncodeToString(b)
		rw.Header().Set("X-Request-ID", reqID)
	}
	c := &call{h: h, w: &writer{ResponseWriter: rw}, r: r, ctx: r.Context(), reqID: reqID, log: h.log.With("request_id", reqID)}
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			c.log.Error("authkit: panic", "panic", v, "method", r.Method, "path", r.URL.Path)
			if !c.w.started {
				c.errorPage(http.StatusInternalServerError, msgInternal, true)
			}
		}
	}()
	securityHeaders(rw.Header(), "", "", "")
	if name, ok := strings.CutPrefix(r.URL.Path, "/authkit/assets/"); ok {
		h.assets.serve(c.w, r, name)
		return
	}
	rt, ok := h.routes[r.URL.Path]
	if !ok {
		c.errorPage(http.StatusNotFound, "This page doesn't exist. Go back to the app and try again.", false)
		return
	}
	k, err := h.secrets()
	if err != nil {
		c.internal(err)
		return
	}
	c.keys = k
	switch {
	case (r.Method == http.MethodGet || r.Method == http.MethodHead) && rt.get != nil:
		rt.get(c)
	case r.Method == http.MethodPost && rt.post != nil:
		if c.readPost() {
			rt.post(c)
		}
	default:
		allow := "POST"
		if rt.get != nil {
			allow = "GET, HEAD"
			if rt.post != nil {
				allow += ", POST"
			}
		}
		rw.Header().Set("Allow", allow)
		c.errorPage(http.StatusMethodNotAllowed, "This page can't be opened directly. Go back to the app and try again.", false)
	}
}

// readPost reads the form and checks its CSRF token and Origin before the
// handler may do anything; it answers and returns false when they fail.
func (c *call) readPost() bool {
	form, err := readForm(c.w, c.r)
	switch {
	case err == errFormTooLarge:
		c.errorPage(http.StatusRequestEntityTooLarge, "The form was too large. Go back and try again.", false)
		return false
	case err != nil:
		c.errorPage(http.StatusBadRequest, "The form could not be read. Go back and try again.", false)
		return false
	}
	c.form = form
	if !c.csrfOK() || c.h.origin.Check(c.r) != nil {
		c.errorPage(http.StatusForbidden, msgCSRF, false)
		return false
	}
	return true
}

// Messages of the error page.
const (
	msgExpired  = "This sign-in link has expired. Go back to the app and try again."
	msgCSRF     = "Your session expired or the form was tampered with. Go back and try again."
	msgInternal = "An unexpected error occurred on our side. Try again in a moment."
)

// openFlow opens the sealed flow (from the query on GET, the form on
// POST), or shows the expired page and returns false.
func (c *call) openFlow() bool {
	token := c.r.URL.Query().Get("flow")
	if c.form != nil {
		token = c.form.Get("flow")
	}
	var req app.AuthorizeRequest
	if err := c.keys.seal.open("flow", token, &req); err != nil || req.Env == "" || req.RedirectURI == "" {
		c.errorPage(http.StatusBadRequest, msgExpired, false)
		return false
	}
	c.flow, c.flowToken, c.env = req, token, req.Env
	return true
}

// startFlow seals a freshly validated authorize request.
func (c *call) startFlow(req app.AuthorizeRequest) error {
	token, err := c.keys.seal.seal("flow", req)
	if err != nil {
		return err
	}
	c.flow, c.flowToken, c.env = req, token, req.Env
	return nil
}

// flowURL is a page of the current flow.
func (c *call) flowURL(path string) string {
	return path + "?" + url.Values{"flow": {c.flowToken}}.Encode()
}

// meta is the app.Meta of a page action.
func (c *call) meta() app.Meta {
	return app.Meta{Env: c.env, Actor: "authkit", RequestID: c.reqID}
}

// client describes the browser, which here is the end user itself.
func (c *call) client() app.Client {
	ip, _, err := net.SplitHostPort(c.r.RemoteAddr)
	if err != nil {
		ip = c.r.RemoteAddr
	}
	req := c.flow
	return app.Client{IP: ip, UserAgent: c.r.UserAgent(), InvitationToken: req.InvitationToken, Authorize: &req}
}

// redirect answers with a redirect; after a POST, use 303.
func (c *call) redirect(status int, to string) {
	c.w.Header().Set("Location", to)
	c.w.WriteHeader(status)
}

func (c *call) setSession(token string) {
	if token != "" {
		http.SetCookie(c.w, cookie(c.r, SessionCookie, token, "/", sessionMaxAge))
	}
}

func (c *call) clearSession() { ClearSessionCookie(c.w, c.r) }

// ClearSessionCookie deletes the hosted session's cookie (sign-out).
func ClearSessionCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, cookie(r, SessionCookie, "", "/", -1))
}

// internal logs an unexpected error and shows the 500 page with the request id.
func (c *call) internal(err error) {
	c.log.Error("authkit: request failed", "method", c.r.Method, "path", c.r.URL.Path, "error", err)
	c.errorPage(http.StatusInternalServerError, msgInternal, true)
}
