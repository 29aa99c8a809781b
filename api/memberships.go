package api

import (
	"context"
	"net/http"

	"github.com/keywayhq/keyway/app"
	"github.com/keywayhq/keyway/domain"
	"github.com/keywayhq/keyway/domain/role"
)

type slugJSON struct {
	Slug string `json:"slug"`
}

type membershipJSON struct {
	Object           string         `json:"object"`
	ID               string         `json:"id"`
	UserID           string         `json:"user_id"`
	OrganizationID   string         `json:"organization_id"`
	OrganizationName string         `json:"organization_name"`
	Status           string         `json:"status"`
	Role             slugJSON       `json:"role"`
	Roles            []slugJSON     `json:"roles"`
	DirectoryManaged bool           `json:"directory_managed"`
	CustomAttributes map[string]any `json:"custom_attributes"`
	CreatedAt        string         `json:"created_at"`
	UpdatedAt        string         `json:"updated_at"`
}

func renderMembership(v any) any {
	m := v.(app.MembershipView)
	return membershipJSON{Object: "organization_membership", ID: m.ID, UserID: m.UserID, OrganizationID: m.OrganizationID,
		OrganizationName: m.OrganizationName, Status: m.Status, Role: slugJSON{m.Role.Slug}, Roles: []slugJSON{{m.Role.Slug}},
		CustomAttributes: map[string]any{}, CreatedAt: timestamp(m.CreatedAt), UpdatedAt: timestamp(m.UpdatedAt)}
}

type roleBody struct {
	RoleSlug  *string  `json:"role_slug"`
	RoleSlugs []string `json:"role_slugs"`
}

// slug picks the one role of role_slug or role_slugs; several are not enabled.
func (b roleBody) slug() (string, error) {
	switch {
	case len(b.RoleSlugs) > 1:
		return "", &domain.Error{Kind: domain.Invalid, Code: "multiple_roles_not_enabled", Message: "Multiple roles are not enabled for this environment.",
			Fields: []domain.FieldError{{Field: "role_slugs", Code: "multiple_roles_not_enabled"}}}
	case len(b.RoleSlugs) == 1:
		return b.RoleSlugs[0], nil
	case b.RoleSlug != nil:
		return *b.RoleSlug, nil
	}
	return "", nil
}

type createMembershipBody struct {
	UserID         *string `json:"user_id"`
	OrganizationID *string `json:"organization_id"`
	roleBody
}

func (s *Server) createMembership(w http.ResponseWriter, r *http.Request, c *call) {
	var b createMembershipBody
	if err := decode(c.body, &b); err != nil {
		s.writeError(w, c, err)
		return
	}
	for field, v := range map[string]*string{"user_id": b.UserID, "organization_id": b.OrganizationID} {
		if v == nil || *v == "" {
			s.writeError(w, c, domain.InvalidField(field, "required", "%s is required.", field))
			return
		}
	}
	slug, err := b.slug()
	if err != nil {
		s.writeError(w, c, err)
		return
	}
	s.mutate(w, r, c, http.StatusCreated, func(m app.Meta) (any, error) {
		return s.app.CreateMembership(r.Context(), m, *b.UserID, *b.OrganizationID, slug)
	}, renderMembership)
}

func (s *Server) updateMembership(w http.ResponseWriter, r *http.Request, c *call) {
	var b roleBody
	if err := decode(c.body, &b); err != nil {
		s.writeError(w, c, err)
		return
	}
	slug, err := b.slug()
	if err == nil && slug == "" {
		err = domain.InvalidField("role_slug", "required", "role_slug is required.")
	}
	if err != nil {
		s.writeError(w, c, err)
		return
	}
	id := r.PathValue("id")
	s.mutate(w, r, c, http.StatusOK, func(m app.Meta) (any, error) { return s.app.UpdateMembership(r.Context(), m, id, slug) }, renderMembership)
}

// membershipStatus serves deactivate and reactivate, whose body is {}.
func (s *Server) membershipStatus(change func(context.Context, app.Meta, string) (app.MembershipView, error)) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, c *call) {
		if err := decode(c.body, &struct{}{}); err != nil {
			s.writeError(w, c, err)
			return
		}
		id := r.PathValue("id")
		s.mutate(w, r, c, http.StatusOK, func(m app.Meta) (any, error) { return change(r.Context(), m, id) }, renderMembership)
	}
}

func (s *Server) getMembership(w http.ResponseWriter, r *http.Request, c *call) {
	m, err := s.app.GetMembership(r.Context(), c.principal.EnvironmentID, r.PathValue("id"))
	s.respond(w, c, http.StatusOK, m, err, renderMembership)
}

func (s *Server) deleteMembership(w http.ResponseWriter, r *http.Request, c *call) {
	s.respondEmpty(w, c, http.StatusOK, s.app.DeleteMembership(r.Context(), c.meta(), r.PathValue("id")))
}

func (s *Server) listMemberships(w http.ResponseWriter, r *http.Request, c *call) {
	q := r.URL.Query()
	page, err := pageParams(q, "om")
	if err != nil {
		s.writeError(w, c, err)
		return
	}
	res, err := s.app.ListMemberships(r.Context(), c.principal.EnvironmentID, app.ListMembershipsInput{
		UserID: q.Get("user_id"), OrganizationID: q.Get("organization_id"), Statuses: commaList(q["statuses"]), Page: page})
	if err != nil {
		s.writeError(w, c, err)
		return
	}
	writeList(w, res, renderMembership)
}

type roleJSON struct {
	Object           string   `json:"object"`
	ID               string   `json:"id"`
	Name             string   `json:"name"`
	Slug             string   `json:"slug"`
	Description      *string  `json:"description"`
	Permissions      []string `json:"permissions"`
	ResourceTypeSlug *string  `json:"resource_type_slug"`
	Type             string   `json:"type"`
	CreatedAt        string   `json:"created_at"`
	UpdatedAt        string   `json:"updated_at"`
}

func renderRole(v any) any {
	r := v.(role.Role)
	perms := r.Permissions
	if perms == nil {
		perms = []string{}
	}
	return roleJSON{Object: "role", ID: r.ID, Name: r.Name, Slug: r.Slug, Description: r.Description, Permissions: perms,
		Type: "EnvironmentRole", CreatedAt: timestamp(r.CreatedAt), UpdatedAt: timestamp(r.UpdatedAt)}
}

type createRoleBody struct {
	Slug        *string `json:"slug"`
	Name        *string `json:"name"`
	Description *string `json:"description"`
}

func (s *Server) createRole(w http.ResponseWriter, r *http.Request, c *call) {
	var b createRoleBody
	if err := decode(c.body, &b); err != nil {
		s.writeError(w, c, err)
		return
	}
	if b.Slug == nil || b.Name == nil {
		s.writeError(w, c, domain.InvalidField("slug", "required", "slug and name are required."))
		return
	}
	in := role.Role{Slug: *b.Slug, Name: *b.Name, Description: b.Description}
	s.mutate(w, r, c, http.StatusCreated, func(m app.Meta) (any, error) { return s.app.CreateRole(r.Context(), m, in) }, renderRole)
}

func (s *Server) listRoles(w http.ResponseWriter, r *http.Request, c *call) {
	roles, err := s.app.ListRoles(r.Context(), c.principal.EnvironmentID)
	if err != nil {
		s.writeError(w, c, err)
		return
	}
	data := make([]any, 0, len(roles))
	for _, ro := range roles {
		data = append(data, renderRole(ro))
	}
	writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": data})
}

func (s *Server) getRole(w http.ResponseWriter, r *http.Request, c *call) {
	ro, err := s.app.Role(r.Context(), c.principal.EnvironmentID, r.PathValue("slug"))
	if de, ok := domain.As(err); ok && de.Code == "invalid_role" {
		err = domain.NotFoundf("entity_not_found", "Role not found: '%s'.", r.PathValue("slug"))
	}
	s.respond(w, c, http.StatusOK, ro, err, renderRole)
}
