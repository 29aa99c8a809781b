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
	var b struct {
		Email *string `json:"email"`
	}
	if err := decode(c.body, &b); err != nil {
		s.writeError(w, c, err)
		return
	}
	if b.Email == nil {
		s.writeError(w, c, domain.InvalidField("email", "required", "email is required."))
		return
	}
	res, err := s.app.CreateMagicAuth(r.Context(), c.meta(), *b.Email)
	s.respond(w, c, http.StatusCreated, res, err, renderMagicAuth)
}

func (s *Server) getMagicAuth(w http.ResponseWriter, r *http.Request, c *call) {
	res, err := s.app.GetMagicAuth(r.Context(), c.principal.EnvironmentID, r.PathValue("id"))
	s.respond(w, c, http.StatusOK, res, err, renderMagicAuth)
}
