package api

import (
	"net/http"

	"github.com/keywayhq/keyway/app"
	"github.com/keywayhq/keyway/domain"
)

type magicAuthJSON struct {
	Object    string `json:"object"`
	ID        string `json:"id"`
	UserID    string `json:"user_id"`
	Email     string `json:"email"`
	ExpiresAt string `json:"expires_at"`
	Code      string `json:"code,omitempty"`
	CreatedAt string `json:"created_at"`
	UpdatedAt string `json:"updated_at"`
}

func renderMagicAuth(v any) any {
	m := v.(app.MagicAuthView)
	return magicAuthJSON{Object: "magic_auth", ID: m.ID, UserID: m.UserID, Email: m.Email, ExpiresAt: timestamp(m.ExpiresAt),
		Code: m.CodeValue, CreatedAt: timestamp(m.CreatedAt), UpdatedAt: timestamp(m.UpdatedAt)}
}

func (s *Server) createMagicAuth(w http.ResponseWriter, r *http.Request, c *call) {
	email, err := emailBody(c.body)
	if err != nil {
		s.writeError(w, c, err)
		return
	}
	res, err := s.app.CreateMagicAuth(r.Context(), c.meta(), email)
	s.respond(w, c, http.StatusCreated, res, err, renderMagicAuth)
}

func (s *Server) getMagicAuth(w http.ResponseWriter, r *http.Request, c *call) {
	res, err := s.app.GetMagicAuth(r.Context(), c.principal.EnvironmentID, r.PathValue("id"))
	s.respond(w, c, http.StatusOK, res, err, renderMagicAuth)
}

type emailVerificationJSON struct {
	Object    string `json:"object"`
	ID        string `json:"id"`
	UserID    string `json:"user_id"`
	Email     string `json:"email"`
	ExpiresAt string `json:"expires_at"`
	CreatedAt string `json:"created_at"`
	UpdatedAt string `json:"updated_at"`
}

func (s *Server) sendEmailVerification(w http.ResponseWriter, r *http.Request, c *call) {
	if err := decode(c.body, &struct{}{}); err != nil {
		s.writeError(w, c, err)
		return
	}
	u, err := s.app.SendEmailVerification(r.Context(), c.meta(), r.PathValue("id"))
	s.respond(w, c, http.StatusOK, u, err, wrapUser)
}

func (s *Server) confirmEmailVerification(w http.ResponseWriter, r *http.Request, c *call) {
	var b struct {
		Code *string `json:"code"`
	}
	if err := decode(c.body, &b); err != nil {
		s.writeError(w, c, err)
		return
	}
	if b.Code == nil {
		s.writeError(w, c, domain.InvalidField("code", "required", "code is required."))
		return
	}
	u, err := s.app.ConfirmEmailVerification(r.Context(), c.meta(), r.PathValue("id"), *b.Code)
	s.respond(w, c, http.StatusOK, u, err, wrapUser)
}

// wrapUser is the {"user": ...} body of the email verification calls.
func wrapUser(v any) any { return map[string]any{"user": renderUser(v)} }

func (s *Server) getEmailVerification(w http.ResponseWriter, r *http.Request, c *call) {
	ev, err := s.app.GetEmailVerification(r.Context(), c.principal.EnvironmentID, r.PathValue("id"))
	s.respond(w, c, http.StatusOK, ev, err, renderEmailVerification)
}

func renderEmailVerification(v any) any {
	e := v.(app.EmailVerificationView)
	return emailVerificationJSON{Object: "email_verification", ID: e.ID, UserID: e.UserID, Email: e.Email,
		ExpiresAt: timestamp(e.ExpiresAt), CreatedAt: timestamp(e.CreatedAt), UpdatedAt: timestamp(e.UpdatedAt)}
}

// emailBody reads the {"email"} body of the calls that mail a code or a link.
func emailBody(body []byte) (string, error) {
	var b struct {
		Email *string `json:"email"`
	}
	if err := decode(body, &b); err != nil {
		return "", err
	}
	if b.Email == nil {
		return "", domain.InvalidField("email", "required", "email is required.")
	}
	return *b.Email, nil
}
