package api

import (
	"net/http"

	"github.com/keywayhq/keyway/app"
	"github.com/keywayhq/keyway/domain"
)

type passwordResetJSON struct {
	Object             string `json:"object"`
	ID                 string `json:"id"`
	UserID             string `json:"user_id"`
	Email              string `json:"email"`
	PasswordResetToken string `json:"password_reset_token,omitempty"`
	PasswordResetURL   string `json:"password_reset_url,omitempty"`
	ExpiresAt          string `json:"expires_at"`
	CreatedAt          string `json:"created_at"`
}

func renderPasswordReset(v any) any {
	p := v.(app.PasswordResetView)
	return passwordResetJSON{Object: "password_reset", ID: p.ID, UserID: p.UserID, Email: p.Email, PasswordResetToken: p.Token,
		PasswordResetURL: p.URL, ExpiresAt: timestamp(p.ExpiresAt), CreatedAt: timestamp(p.CreatedAt)}
}

func (s *Server) createPasswordReset(w http.ResponseWriter, r *http.Request, c *call) {
	email, err := emailBody(c.body)
	if err != nil {
		s.writeError(w, c, err)
		return
	}
	res, err := s.app.CreatePasswordReset(r.Context(), c.meta(), email)
	s.respond(w, c, http.StatusCreated, res, err, renderPasswordReset)
}

func (s *Server) getPasswordReset(w http.ResponseWriter, r *http.Request, c *call) {
	res, err := s.app.GetPasswordReset(r.Context(), c.principal.EnvironmentID, r.PathValue("id"))
	s.respond(w, c, http.StatusOK, res, err, renderPasswordReset)
}

func (s *Server) confirmPasswordReset(w http.ResponseWriter, r *http.Request, c *call) {
	var b struct {
		Token       *string `json:"token"`
		NewPassword *string `json:"new_password"`
	}
	if err := decode(c.body, &b); err != nil {
		s.writeError(w, c, err)
		return
	}
	if b.Token == nil {
		s.writeError(w, c, domain.InvalidField("token", "required", "token is required."))
		return
	}
	if b.NewPassword == nil {
		s.writeError(w, c, domain.InvalidField("new_password", "required", "new_password is required."))
		return
	}
	u, err := s.app.ConfirmPasswordReset(r.Context(), c.meta(), *b.Token, *b.NewPassword)
	s.respond(w, c, http.StatusOK, u, err, wrapUser)
}
