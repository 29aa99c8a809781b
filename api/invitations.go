package api

import (
	"net/http"

	"github.com/keywayhq/keyway/app"
	"github.com/keywayhq/keyway/domain"
)

type invitationJSON struct {
	Object              string  `json:"object"`
	ID                  string  `json:"id"`
	Email               string  `json:"email"`
	State               string  `json:"state"`
	AcceptedAt          *string `json:"accepted_at"`
	RevokedAt           *string `json:"revoked_at"`
	ExpiresAt           string  `json:"expires_at"`
	OrganizationID      *string `json:"organization_id"`
	InviterUserID       *string `json:"inviter_user_id"`
	AcceptedUserID      *string `json:"accepted_user_id"`
	RoleSlug            *string `json:"role_slug"`
	Token               string  `json:"token,omitempty"`                 // only when issued: only its hash is kept
	AcceptInvitationURL string  `json:"accept_invitation_url,omitempty"` // likewise
	CreatedAt           string  `json:"created_at"`
	UpdatedAt           string  `json:"updated_at"`
}

func renderInvitation(v any) any {
	i := v.(app.InvitationView)
	return invitationJSON{Object: "invitation", ID: i.ID, Email: i.Email, State: i.State, AcceptedAt: timestampPtr(i.AcceptedAt),
		RevokedAt: timestampPtr(i.RevokedAt), ExpiresAt: timestamp(i.ExpiresAt), OrganizationID: i.OrganizationID,
		InviterUserID: i.InviterUserID, AcceptedUserID: i.AcceptedUserID, RoleSlug: i.RoleSlug, Token: i.Token,
		AcceptInvitationURL: i.AcceptURL, CreatedAt: timestamp(i.CreatedAt), UpdatedAt: timestamp(i.UpdatedAt)}
}

type sendInvitationBody struct {
	Email          *string `json:"email"`
	OrganizationID *string `json:"organization_id"`
	ExpiresInDays  *int    `json:"expires_in_days"`
	InviterUserID  *string `json:"inviter_user_id"`
	RoleSlug       *string `json:"role_slug"`
	Locale         *string `json:"locale"`
}

// nonEmpty turns "" into nil.
func nonEmpty(s *string) *string {
	if s == nil || *s == "" {
		return nil
	}
	return s
}

func (s *Server) sendInvitation(w http.ResponseWriter, r *http.Request, c *call) {
	var b sendInvitationBody
	if err := decode(c.body, &b); err != nil {
		s.writeError(w, c, err)
		return
	}
	if b.Email == nil || *b.Email == "" {
		s.writeError(w, c, domain.InvalidField("email", "required", "email is required."))
		return
	}
	// The response holds the token: it is never stored for replays.
	res, err := s.app.SendInvitation(r.Context(), c.meta(), app.SendInvitationInput{Email: *b.Email, OrganizationID: nonEmpty(b.OrganizationID),
		ExpiresInDays: b.ExpiresInDays, InviterUserID: nonEmpty(b.InviterUserID), RoleSlug: nonEmpty(b.RoleSlug)})
	s.respond(w, c, http.StatusCreated, res, err, renderInvitation)
}

func (s *Server) getInvitation(w http.ResponseWriter, r *http.Request, c *call) {
	res, err := s.app.GetInvitation(r.Context(), c.principal.EnvironmentID, r.PathValue("id"))
	s.respond(w, c, http.StatusOK, res, err, renderInvitation)
}

func (s *Server) getInvitationByToken(w http.ResponseWriter, r *http.Request, c *call) {
	res, err := s.app.GetInvitationByToken(r.Context(), c.principal.EnvironmentID, r.PathValue("token"))
	s.respond(w, c, http.StatusOK, res, err, renderInvitation)
}

func (s *Server) listInvitations(w http.ResponseWriter, r *http.Request, c *call) {
	q := r.URL.Query()
	page, err := pageParams(q, "invitation")
	if err != nil {
		s.writeError(w, c, err)
		return
	}
	res, err := s.app.ListInvitations(r.Context(), c.principal.EnvironmentID, app.ListInvitationsInput{
		Email: q.Get("email"), OrganizationID: q.Get("organization_id"), Page: page})
	if err != nil {
		s.writeError(w, c, err)
		return
	}
	writeList(w, res, renderInvitation)
}

// acceptInvitation and revokeInvitation take an empty body (or {}).
func (s *Server) acceptInvitation(w http.ResponseWriter, r *http.Request, c *call) {
	if err := decode(c.body, &struct{}{}); err != nil {
		s.writeError(w, c, err)
		return
	}
	id := r.PathValue("id")
	s.mutate(w, r, c, http.StatusOK, func(m app.Meta) (any, error) { return s.app.AcceptInvitation(r.Context(), m, id) }, renderInvitation)
}

func (s *Server) revokeInvitation(w http.ResponseWriter, r *http.Request, c *call) {
	if err := decode(c.body, &struct{}{}); err != nil {
		s.writeError(w, c, err)
		return
	}
	id := r.PathValue("id")
	s.mutate(w, r, c, http.StatusOK, func(m app.Meta) (any, error) { return s.app.RevokeInvitation(r.Context(), m, id) }, renderInvitation)
}

func (s *Server) resendInvitation(w http.ResponseWriter, r *http.Request, c *call) {
	var b struct {
		Locale *string `json:"locale"`
	}
	if err := decode(c.body, &b); err != nil {
		s.writeError(w, c, err)
		return
	}
	// A new token is in the response: it is never stored for replays.
	res, err := s.app.ResendInvitation(r.Context(), c.meta(), r.PathValue("id"))
	s.respond(w, c, http.StatusOK, res, err, renderInvitation)
}
