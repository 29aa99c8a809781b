package authkit

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/keywayhq/keyway/app"
	"github.com/keywayhq/keyway/domain"
)

// step is the state of one step of a flow, sealed into the form's "state"
// field and bound to that flow.
type step struct {
	Email string `json:"email,omitempty"`
	// The methods the email's policy offers.
	Password  bool   `json:"password,omitempty"`
	MagicAuth bool   `json:"magic_auth,omitempty"`
	Pending   string `json:"pending,omitempty"` // pending_authentication_token
	Orgs      []org  `json:"orgs,omitempty"`
	// The reset page, which has no flow, keeps its environment and token,
	// and the sealed flow the reset was asked from, if the link had one.
	Env   string `json:"env,omitempty"`
	Token string `json:"token,omitempty"`
	Flow  string `json:"flow,omitempty"`
}

type org struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// statePurpose binds a step to its flow (or to the reset page).
func (c *call) statePurpose() string {
	if c.flowToken == "" {
		return "reset"
	}
	return "step:" + c.flowToken
}

func (c *call) sealState(st step) (string, error) {
	return c.keys.seal.seal(c.statePurpose(), st)
}

// openStep opens the flow and the step's state of a POST, or shows the
// expired page and returns false.
func (c *call) openStep() (step, bool) {
	var st step
	if !c.openFlow() {
		return st, false
	}
	if err := c.keys.seal.open(c.statePurpose(), c.form.Get("state"), &st); err != nil {
		c.errorPage(http.StatusBadRequest, msgExpired, false)
		return st, false
	}
	return st, true
}

// Messages of the forms.
const (
	msgTooMany     = "Too many attempts. Try again in a few minutes."
	msgDelivery    = "We couldn't send the email. Try again in a moment."
	msgBadEmail    = "Enter a valid email address."
	msgNoEmail     = "Enter your email address."
	msgWrongCode   = "That code is incorrect."
	msgCodeExpired = "That code has expired. Send a new one."
)

// authorize is GET /user_management/authorize: validate, answer from the
// hosted session when there is one, else send the browser to a form.
func (h *Handler) authorize(c *call) {
	req, err := h.app.ParseAuthorize(c.ctx, c.r.URL.Query())
	if err != nil {
		c.env = req.Env // a known client's errors show its branding
		c.authorizeFailed(err)
		return
	}
	if err := c.startFlow(req); err != nil {
		c.internal(err)
		return
	}
	// HEAD never signs in: it must not spend a code.
	if req.Prompt != "login" && req.ScreenHint != "sign-up" && c.r.Method == http.MethodGet {
		if ck, err := c.r.Cookie(SessionCookie); err == nil && ck.Value != "" {
			res, err := h.app.Authorize(c.ctx, c.meta(), req, ck.Value, c.client())
			de, _ := domain.As(err)
			switch {
			case err == nil && res.RedirectURL != "":
				c.setSession(res.BrowserToken)
				c.redirect(http.StatusFound, res.RedirectURL)
				return
			case de != nil && de.Code == "organization_selection_required" && req.Prompt != "none":
				c.organizations(de, "")
				return
			case de != nil && de.Code == "organization_selection_required":
				c.redirect(http.StatusFound, req.ErrorRedirect("interaction_required", "The user must choose an organization."))
				return
			case de != nil && de.Code == "login_required":
				c.clearSession()
			case err != nil:
				c.log.Warn("authkit: hosted session not usable, asking to sign in", "error", err)
			}
		}
	}
	if req.Prompt == "none" {
		// The app asked not to show any page: the registered redirect URI
		// hears that the user must sign in.
		c.clearSession()
		c.redirect(http.StatusFound, req.ErrorRedirect("login_required", "The user is not signed in."))
		return
	}
	page := "/authkit/sign-in"
	if req.ScreenHint == "sign-up" {
		page = "/authkit/sign-up"
	}
	c.redirect(http.StatusFound, c.flowURL(page))
}

// authorizeFailed shows why an authorize request was refused. It never
// redirects: the redirect URI may be what is wrong.
func (c *call) authorizeFailed(err error) {
	de, ok := domain.As(err)
	if !ok {
		c.internal(err)
		return
	}
	if de.Code == "provider_not_configured" {
		c.render(http.StatusBadRequest, "error", view{Title: "Not configured",
			Message: de.Message + " Ask the app's administrator to set it up, or go back and choose another way to sign in."})
		return
	}
	c.errorPage(http.StatusBadRequest, de.Message+" Go back to the app and try again.", false)
}

func (h *Handler) signInPage(c *call) {
	if c.openFlow() {
		c.render(http.StatusOK, "sign-in", view{Title: "Sign in", Email: c.flow.LoginHint, focus: "email"})
	}
}

// signIn takes the email and shows the methods its policy allows.
func (h *Handler) signIn(c *call) {
	if !c.openFlow() {
		return
	}
	v := view{Title: "Sign in", Email: strings.TrimSpace(c.form.Get("email"))}
	if v.Email == "" {
		v.fail(msgNoEmail, "email")
		c.render(http.StatusBadRequest, "sign-in", v)
		return
	}
	p, ok := c.policy("sign-in", v)
	if ok {
		c.methods(http.StatusOK, step{Email: p.Email, Password: allows(p, app.MethodPassword), MagicAuth: allows(p, app.MethodMagicAuth)}, view{})
	}
}

func allows(p app.AuthPolicy, method string) bool { return slices.Contains(p.Methods, method) }

// policy looks up v.Email's policy. It shows page again for a bad email,
// and the SSO page when the email may not use the hosted forms.
func (c *call) policy(page string, v view) (app.AuthPolicy, bool) {
	p, err := c.h.app.AuthPolicyFor(c.ctx, c.env, v.Email)
	if err != nil {
		if de, ok := domain.As(err); ok && de.Kind == domain.Invalid {
			v.fail(msgBadEmail, "email")
			c.render(http.StatusBadRequest, page, v)
			return p, false
		}
		c.internal(err)
		return p, false
	}
	if p.SSORequired || (!allows(p, app.MethodPassword) && !allows(p, app.MethodMagicAuth)) {
		c.sso(p.Email)
		return p, false
	}
	return p, true
}

// methods is the second step of sign-in: the password, a code, or both.
func (c *call) methods(status int, st step, v view) {
	state, err := c.sealState(step{Email: st.Email, Password: st.Password, MagicAuth: st.MagicAuth})
	if err != nil {
		c.internal(err)
		return
	}
	v.Title, v.Email, v.Password, v.MagicAuth, v.State = "Sign in", st.Email, st.Password, st.MagicAuth, state
	if st.Password {
		v.focus = "password"
	}
	c.render(status, "methods", v)
}

// password is the password sign-in.
func (h *Handler) password(c *call) {
	st, ok := c.openStep()
	if !ok {
		return
	}
	retry := func(status int, msg string) {
		var v view
		v.fail(msg, "password")
		c.methods(status, st, v)
	}
	pw := c.form.Get("password")
	if pw == "" || st.Email == "" {
		retry(http.StatusBadRequest, "Enter your password.")
		return
	}
	res, err := h.app.AuthenticatePassword(c.ctx, c.meta(), st.Email, pw, c.client())
	c.finish(res, err, st.Email, retry)
}

// sendCode mails a Magic Auth code ("Email me a code", "Resend code").
func (h *Handler) sendCode(c *call) {
	st, ok := c.openStep()
	if !ok {
		return
	}
	resend := c.form.Get("resend") != ""
	if err := h.app.SendSignInCode(c.ctx, c.meta(), st.Email); err != nil {
		de, ok := domain.As(err)
		if !ok {
			c.internal(err)
			return
		}
		var v view
		status, msg := mailFailure(de)
		v.fail(msg)
		if resend {
			c.codePage(status, st, v)
		} else {
			c.methods(status, st, v)
		}
		return
	}
	var v view
	if resend {
		v.Notice = "We sent a new code."
	}
	c.codePage(http.StatusOK, st, v)
}

// mailFailure is the status and message of a code that could not be sent.
func mailFailure(de *domain.Error) (int, string) {
	switch de.Kind {
	case domain.TooManyRequests:
		return http.StatusTooManyRequests, msgTooMany
	case domain.Unavailable:
		return http.StatusServiceUnavailable, msgDelivery
	}
	return http.StatusBadRequest, de.Message
}

func (c *call) codePage(status int, st step, v view) {
	c.codeEntry(status, st, v, "Check your email", "code")
}

func (c *call) verifyPage(status int, st step, v view) {
	c.codeEntry(status, st, v, "Verify your email", "verify-email")
}

// codeEntry renders a page that asks for a mailed code, carrying the step.
func (c *call) codeEntry(status int, st step, v view, title, page string) {
	state, err := c.sealState(st)
	if err != nil {
		c.internal(err)
		return
	}
	v.Title, v.Email, v.State, v.focus = title, st.Email, state, "code"
	c.render(status, page, v)
}

// checkCode signs in with a Magic Auth code.
func (h *Handler) checkCode(c *call) {
	c.submitCode(c.codePage, func(st step, code string) (app.AuthResult, error) {
		return h.app.AuthenticateMagicAuth(c.ctx, c.meta(), st.Email, code, c.client())
	})
}

// submitCode reads a mailed code from the form and signs in with grant;
// a missing or refused code shows page again with the error.
func (c *call) submitCode(page func(int, step, view), grant func(step, string) (app.AuthResult, error)) {
	st, ok := c.openStep()
	if !ok {
		return
	}
	retry := func(status int, msg string) {
		var v view
		v.fail(msg, "code")
		page(status, st, v)
	}
	code := cleanCode(c.form.Get("code"))
	if code == "" {
		retry(http.StatusBadRequest, "Enter the code from the email.")
		return
	}
	res, err := grant(st, code)
	c.finish(res, err, st.Email, retry)
}

// cleanCode drops the spaces and dashes people type or paste in codes.
func cleanCode(s string) string {
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' || r == '\t' {
			return -1
		}
		return r
	}, s)
}

// verifyEmail completes email verification with the mailed code.
func (h *Handler) verifyEmail(c *call) {
	c.submitCode(c.verifyPage, func(st step, code string) (app.AuthResult, error) {
		return h.app.AuthenticateEmailVerification(c.ctx, c.meta(), code, st.Pending, c.client())
	})
}

// resendVerification mails a new verification code ("Resend code").
func (h *Handler) resendVerification(c *call) {
	st, ok := c.openStep()
	if !ok {
		return
	}
	var v view
	err := h.app.ResendPendingVerification(c.ctx, c.meta(), st.Pending)
	de, _ := domain.As(err)
	switch {
	case err == nil:
		v.Notice = "We sent a new code."
		c.verifyPage(http.StatusOK, st, v)
	case de == nil:
		c.internal(err)
	case de.Kind == domain.TooManyRequests || de.Kind == domain.Unavailable:
		status, msg := mailFailure(de)
		v.fail(msg)
		c.verifyPage(status, st, v)
	default: // the pending sign-in expired or was used
		c.errorPage(http.StatusBadRequest, "This sign-in has expired. Start over to get a new code.", false)
	}
}

// chooseOrganization signs in to the organization whose button was pressed.
func (h *Handler) chooseOrganization(c *call) {
	st, ok := c.openStep()
	if !ok {
		return
	}
	id := c.form.Get("organization_id")
	if st.Pending == "" || !slices.ContainsFunc(st.Orgs, func(o org) bool { return o.ID == id }) {
		c.errorPage(http.StatusBadRequest, "Choose one of the organizations listed. Go back and try again.", false)
		return
	}
	retry := func(status int, msg string) {
		var v view
		v.fail(msg)
		c.orgPage(status, st, v)
	}
	res, err := h.app.AuthenticateOrganizationSelection(c.ctx, c.meta(), st.Pending, id, c.client())
	c.finish(res, err, st.Email, retry)
}

// organizations shows the choice an organization_selection_required asks for.
func (c *call) organizations(de *domain.Error, email string) {
	st := step{Email: email, Pending: detail(de, "pending_authentication_token")}
	if b, err := json.Marshal(de.Details["organizations"]); err == nil {
		_ = json.Unmarshal(b, &st.Orgs)
	}
	if st.Pending == "" || len(st.Orgs) == 0 {
		c.internal(errors.New("authkit: organization_selection_required without a token or organizations"))
		return
	}
	c.orgPage(http.StatusOK, st, view{})
}

func (c *call) orgPage(status int, st step, v view) {
	state, err := c.sealState(st)
	if err != nil {
		c.internal(err)
		return
	}
	v.Title, v.Orgs, v.State = "Choose an organization", st.Orgs, state
	c.render(status, "organization", v)
}

// sso says the email's organization requires SSO, which is not built yet.
func (c *call) sso(email string) {
	c.render(http.StatusOK, "sso", view{Title: "Single sign-on required", Email: email})
}

// finish ends a grant: the redirect to the app, the next step the app
// asks for, or the form again (retry) with what went wrong.
func (c *call) finish(res app.AuthResult, err error, email string, retry func(status int, msg string)) {
	if err == nil {
		if res.RedirectURL == "" {
			c.internal(errors.New("authkit: sign-in ended without a redirect URL"))
			return
		}
		c.setSession(res.BrowserToken)
		c.redirect(http.StatusSeeOther, res.RedirectURL)
		return
	}
	de, ok := domain.As(err)
	if !ok {
		c.internal(err)
		return
	}
	switch de.Code {
	case "invalid_credentials":
		retry(http.StatusBadRequest, "Incorrect email or password.")
	case "too_many_requests":
		retry(http.StatusTooManyRequests, msgTooMany)
	case "invalid_one_time_code", "email_verification_code_incorrect":
		retry(http.StatusBadRequest, msgWrongCode)
	case "one_time_code_expired":
		retry(http.StatusBadRequest, msgCodeExpired)
	case "email_verification_code_expired":
		retry(http.StatusBadRequest, "That code has expired. Start over to get a new one.")
	case "email_delivery_failed":
		retry(http.StatusServiceUnavailable, msgDelivery)
	case "email_verification_required":
		st := step{Email: firstNonEmpty(detail(de, "email"), email), Pending: detail(de, "pending_authentication_token")}
		if st.Pending == "" {
			c.internal(errors.New("authkit: email_verification_required without a token"))
			return
		}
		c.verifyPage(http.StatusOK, st, view{})
	case "organization_selection_required":
		c.organizations(de, email)
	case "sso_required":
		c.sso(firstNonEmpty(detail(de, "email"), email))
	case "invalid_pending_authentication_token":
		c.render(http.StatusBadRequest, "error", view{Title: "Something went wrong",
			Message: "This sign-in attempt has expired. Start over to sign in.", Back: &link{c.flowURL("/authkit/sign-in"), "Start over"}})
	default:
		c.log.Info("authkit: sign-in refused", "code", de.Code)
		retry(http.StatusBadRequest, de.Message)
	}
}

// detail is a string field of an error's details.
func detail(de *domain.Error, key string) string {
	s, _ := de.Details[key].(string)
	return s
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
