package authkit

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/keywayhq/keyway/app"
	"github.com/keywayhq/keyway/domain"
)

const (
	msgBadResetLink  = "This password reset link is invalid. Request a new one from the app."
	msgUsedResetLink = "This password reset link has expired or was already used. Request a new one from the app."
)

func (h *Handler) forgotPage(c *call) {
	if c.openFlow() {
		c.render(http.StatusOK, "forgot-password", view{Title: "Reset your password", focus: "email"})
	}
}

// forgot mails a reset link. Its answer is the same whether or not an
// account has the email.
func (h *Handler) forgot(c *call) {
	if !c.openFlow() {
		return
	}
	v := view{Title: "Reset your password", Email: strings.TrimSpace(c.form.Get("email"))}
	if v.Email == "" {
		v.fail(msgNoEmail, "email")
		c.render(http.StatusBadRequest, "forgot-password", v)
		return
	}
	// The link carries the flow, so that the reset page can lead back to it.
	_, err := h.app.RequestPasswordReset(c.ctx, c.meta(), v.Email, url.Values{"flow": {c.flowToken}})
	if de, ok := domain.As(err); ok {
		switch de.Kind {
		case domain.Invalid:
			v.fail(msgBadEmail, "email")
			c.render(http.StatusBadRequest, "forgot-password", v)
			return
		case domain.NotFound: // answered like a sent link
		default:
			// Only an existing account can hit the send limit or fail
			// delivery: saying so would tell that it exists.
			c.log.Warn("authkit: password reset link not sent", "code", de.Code)
		}
	} else if err != nil {
		c.internal(err)
		return
	}
	c.render(http.StatusOK, "sent", view{Title: "Check your email", Email: v.Email})
}

// resetPage is the form the mailed link opens:
// /authkit/reset-password?client_id=...&token=...
func (h *Handler) resetPage(c *call) {
	q := c.r.URL.Query()
	env, err := h.app.ClientEnvironment(c.ctx, q.Get("client_id"))
	if err != nil {
		if _, ok := domain.As(err); !ok {
			c.internal(err)
			return
		}
		c.errorPage(http.StatusBadRequest, msgBadResetLink, false)
		return
	}
	c.env = env.ID
	token := q.Get("token")
	if token == "" || len(token) > 200 {
		c.errorPage(http.StatusBadRequest, msgBadResetLink, false)
		return
	}
	st := step{Env: env.ID, Token: token}
	if c.signInAgain(env.ID, q.Get("flow")) != nil {
		st.Flow = q.Get("flow")
	}
	c.resetForm(http.StatusOK, st, view{})
}

// signInAgain is the link back into the sign-in flow a reset was asked
// from, while that flow is still valid and of the same environment.
func (c *call) signInAgain(env, flow string) *link {
	var req app.AuthorizeRequest
	if flow == "" || c.keys.seal.open("flow", flow, &req) != nil || req.Env != env {
		return nil
	}
	return &link{Href: "/authkit/sign-in?" + url.Values{"flow": {flow}}.Encode(), Text: "Sign in with your new password"}
}

func (c *call) resetForm(status int, st step, v view) {
	state, err := c.sealState(st)
	if err != nil {
		c.internal(err)
		return
	}
	v.Title, v.State, v.focus = "Choose a new password", state, "password"
	c.render(status, "reset-password", v)
}

// reset sets the new password.
func (h *Handler) reset(c *call) {
	var st step
	if err := c.keys.seal.open(c.statePurpose(), c.form.Get("state"), &st); err != nil || st.Env == "" || st.Token == "" {
		c.errorPage(http.StatusBadRequest, "This page has expired. Open the link in the email again.", false)
		return
	}
	c.env = st.Env
	var v view
	pw := c.form.Get("password")
	if pw == "" {
		v.fail("Enter a new password.", "password")
		c.resetForm(http.StatusBadRequest, st, v)
		return
	}
	_, err := h.app.ConfirmPasswordReset(c.ctx, c.meta(), st.Token, pw)
	if err == nil {
		c.render(http.StatusOK, "done", view{Title: "Password changed", Back: c.signInAgain(st.Env, st.Flow)})
		return
	}
	de, ok := domain.As(err)
	if !ok {
		c.internal(err)
		return
	}
	if de.Kind == domain.NotFound {
		c.errorPage(http.StatusBadRequest, msgBadResetLink, false)
		return
	}
	ps := problems(de)
	for _, p := range ps {
		if strings.HasPrefix(p.Code, "password_reset_token") {
			c.errorPage(http.StatusBadRequest, msgUsedResetLink, false)
			return
		}
	}
	if len(ps) == 0 {
		v.fail(de.Message, "password")
	}
	for _, p := range ps {
		v.fail(p.Message, "password")
	}
	c.resetForm(http.StatusBadRequest, st, v)
}
