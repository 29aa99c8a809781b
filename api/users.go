package api

import (
	"net/http"

	"github.com/keywayhq/keyway/app"
	"github.com/keywayhq/keyway/domain"
	"github.com/keywayhq/keyway/domain/user"
)

// userJSON is the WorkOS user object.
type userJSON struct {
	Object            string            `json:"object"`
	ID                string            `json:"id"`
	Email             string            `json:"email"`
	EmailVerified     bool              `json:"email_verified"`
	FirstName         *string           `json:"first_name"`
	LastName          *string           `json:"last_name"`
	Name              *string           `json:"name"`
	ProfilePictureURL *string           `json:"profile_picture_url"`
	LastSignInAt      *string           `json:"last_sign_in_at"`
	Locale            *string           `json:"locale"`
	ExternalID        *string           `json:"external_id"`
	Metadata          map[string]string `json:"metadata"`
	CreatedAt         string            `json:"created_at"`
	UpdatedAt         string            `json:"updated_at"`
}

func renderUser(v any) any {
	u := v.(user.User)
	md := u.Metadata
	if md == nil {
		md = map[string]string{}
	}
	return userJSON{Object: "user", ID: u.ID, Email: u.Email, EmailVerified: u.EmailVerified, FirstName: u.FirstName,
		LastName: u.LastName, Name: u.Name, ProfilePictureURL: u.ProfilePictureURL, LastSignInAt: timestampPtr(u.LastSignInAt),
		Locale: u.Locale, ExternalID: u.ExternalID, Metadata: md, CreatedAt: timestamp(u.CreatedAt), UpdatedAt: timestamp(u.UpdatedAt)}
}

type createUserBody struct {
	Email            *string           `json:"email"`
	Password         *string           `json:"password"`
	PasswordHash     *string           `json:"password_hash"`
	PasswordHashType *string           `json:"password_hash_type"`
	FirstName        *string           `json:"first_name"`
	LastName         *string           `json:"last_name"`
	Name             *string           `json:"name"`
	EmailVerified    *bool             `json:"email_verified"`
	ExternalID       *string           `json:"external_id"`
	Metadata         map[string]string `json:"metadata"`
}

func (s *Server) createUser(w http.ResponseWriter, r *http.Request, c *call) {
	var b createUserBody
	if err := decode(c.body, &b); err != nil {
		s.writeError(w, c, err)
		return
	}
	if b.Email == nil {
		s.writeError(w, c, domain.InvalidField("email", "required", "email is required."))
		return
	}
	in := app.CreateUserInput{Email: *b.Email, Password: b.Password, PasswordHash: b.PasswordHash, PasswordHashType: b.PasswordHashType,
		FirstName: b.FirstName, LastName: b.LastName, Name: b.Name, EmailVerified: b.EmailVerified != nil && *b.EmailVerified,
		ExternalID: b.ExternalID, Metadata: b.Metadata}
	s.mutate(w, r, c, http.StatusCreated, func(m app.Meta) (any, error) { return s.app.CreateUser(r.Context(), m, in) }, renderUser)
}

type updateUserBody struct {
	Email            opt[string]        `json:"email"`
	EmailVerified    opt[bool]          `json:"email_verified"`
	FirstName        opt[string]        `json:"first_name"`
	LastName         opt[string]        `json:"last_name"`
	Name             opt[string]        `json:"name"`
	Locale           opt[string]        `json:"locale"`
	ExternalID       opt[string]        `json:"external_id"`
	Metadata         map[string]*string `json:"metadata"`
	Password         *string            `json:"password"`
	PasswordHash     *string            `json:"password_hash"`
	PasswordHashType *string            `json:"password_hash_type"`
}

func (s *Server) updateUser(w http.ResponseWriter, r *http.Request, c *call) {
	var b updateUserBody
	if err := decode(c.body, &b); err != nil {
		s.writeError(w, c, err)
		return
	}
	id := r.PathValue("id")
	if !app.ValidID(id, "user") {
		s.writeError(w, c, user.ErrNotFound(id))
		return
	}
	for field, o := range map[string]bool{"email": b.Email.Set && b.Email.Value == nil, "email_verified": b.EmailVerified.Set && b.EmailVerified.Value == nil} {
		if o {
			s.writeError(w, c, domain.InvalidField(field, "invalid_type", "%s cannot be null.", field))
			return
		}
	}
	in := app.UpdateUserInput{Email: b.Email.Value, EmailVerified: b.EmailVerified.Value, FirstName: field(b.FirstName),
		LastName: field(b.LastName), Name: field(b.Name), Locale: field(b.Locale), ExternalID: field(b.ExternalID),
		Metadata: b.Metadata, Password: b.Password, PasswordHash: b.PasswordHash, PasswordHashType: b.PasswordHashType}
	s.mutate(w, r, c, http.StatusOK, func(m app.Meta) (any, error) { return s.app.UpdateUser(r.Context(), m, id, in) }, renderUser)
}

func field(o opt[string]) user.Field[string] { return user.Field[string]{Set: o.Set, Value: o.Value} }

func (s *Server) getUser(w http.ResponseWriter, r *http.Request, c *call) {
	u, err := s.app.GetUser(r.Context(), c.principal.EnvironmentID, r.PathValue("id"))
	if err != nil {
		s.writeError(w, c, err)
		return
	}
	writeJSON(w, http.StatusOK, renderUser(u))
}

func (s *Server) getUserByExternalID(w http.ResponseWriter, r *http.Request, c *call) {
	u, err := s.app.GetUserByExternalID(r.Context(), c.principal.EnvironmentID, r.PathValue("external_id"))
	if err != nil {
		s.writeError(w, c, err)
		return
	}
	writeJSON(w, http.StatusOK, renderUser(u))
}

func (s *Server) deleteUser(w http.ResponseWriter, r *http.Request, c *call) {
	id := r.PathValue("id")
	if !app.ValidID(id, "user") {
		s.writeError(w, c, user.ErrNotFound(id))
		return
	}
	if err := s.app.DeleteUser(r.Context(), c.meta(), id); err != nil {
		s.writeError(w, c, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request, c *call) {
	q := r.URL.Query()
	page, err := pageParams(q, "user")
	if err != nil {
		s.writeError(w, c, err)
		return
	}
	res, err := s.app.ListUsers(r.Context(), c.principal.EnvironmentID, app.ListUsersInput{Email: q.Get("email"), OrganizationID: q.Get("organization_id"), Page: page})
	if err != nil {
		s.writeError(w, c, err)
		return
	}
	writeList(w, res, renderUser)
}
