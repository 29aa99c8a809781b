package authkit

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/keywayhq/keyway/app"
	"github.com/keywayhq/keyway/domain"
)

func (h *Handler) signUpPage(c *call) {
	if c.openFlow() {
		c.render(http.StatusOK, "sign-up", view{Title: "Create your account", Email: c.flow.LoginHint, focus: "first_name"})
	}
}

// signUp creates the user, then signs in with the new password, which
// usually asks to verify the email first.
func (h *Handler) signUp(c *call) {
	if !c.openFlow() {
		return
	}
	f := c.form
	v := view{Title: "Create your account", FirstName: strings.TrimSpace(f.Get("first_name")),
		LastName: strings.TrimSpace(f.Get("last_name")), Email: strings.TrimSpace(f.Get("email"))}
	if v.Email == "" {
		v.fail(msgNoEmail, "email")
		c.render(http.StatusBadRequest, "sign-up", v)
		return
	}
	p, ok := c.policy("sign-up", v)
	if !ok {
		return
	}
	if !allows(p, app.MethodPassword) {
		mv := view{Notice: "Your organization signs in with a code sent by email instead of a password."}
		c.methods(http.StatusOK, step{Email: p.Email, MagicAuth: true}, mv)
		return
	}
	pw := f.Get("password")
	if pw == "" {
		v.fail("Enter a password.", "password")
		c.render(http.StatusBadRequest, "sign-up", v)
		return
	}
	in := app.CreateUserInput{Email: v.Email, Password: &pw, FirstName: optional(v.FirstName), LastName: optional(v.LastName)}
	if _, err := h.app.CreateUser(c.ctx, c.meta(), in); err != nil {
		c.signUpFailed(v, err)
		return
	}
	st := step{Email: p.Email, Password: true, MagicAuth: allows(p, app.MethodMagicAuth)}
	res, err := h.app.AuthenticatePassword(c.ctx, c.meta(), p.Email, pw, c.client())
	c.finish(res, err, p.Email, func(status int, msg string) {
		var mv view
		mv.fail(msg, "password")
		c.methods(status, st, mv)
	})
}

// signUpFailed shows the sign-up form again with what CreateUser refused.
func (c *call) signUpFailed(v view, err error) {
	de, ok := domain.As(err)
	if !ok {
		c.internal(err)
		return
	}
	switch {
	case de.Code == "password_strength_error":
		ps := problems(de)
		if len(ps) == 0 {
			v.fail(de.Message, "password")
		}
		for _, p := range ps {
			v.fail(p.Message, "password")
		}
	case hasField(de, "email", "email_not_available"):
		v.fail("An account with this email already exists.", "email")
		// The link leads to sign-in with the email filled in.
		flow := c.flow
		flow.LoginHint = v.Email
		if token, err := c.keys.seal.seal("flow", flow); err == nil {
			v.ErrorLink = &link{"/authkit/sign-in?flow=" + token, "Go to the sign-in page"}
		}
	case de.Kind == domain.Invalid && len(de.Fields) > 0:
		for _, f := range de.Fields {
			switch f.Field {
			case "email":
				v.fail(msgBadEmail, "email")
			case "first_name":
				v.fail("First name is too long or has characters that aren't allowed.", "first_name")
			case "last_name":
				v.fail("Last name is too long or has characters that aren't allowed.", "last_name")
			default:
				v.fail(de.Message)
			}
		}
	default:
		v.fail(de.Message)
	}
	c.render(http.StatusBadRequest, "sign-up", v)
}

// problem is one entry of an error's errors[] (password strength, reset).
type problem struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func problems(de *domain.Error) []problem {
	var out []problem
	if b, err := json.Marshal(de.Details["errors"]); err == nil {
		_ = json.Unmarshal(b, &out)
	}
	return out
}

func hasField(de *domain.Error, field, code string) bool {
	for _, f := range de.Fields {
		if f.Field == field && f.Code == code {
			return true
		}
	}
	return false
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
