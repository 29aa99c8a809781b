package app

import (
	"context"
	"errors"
	"strings"

	"github.com/keywayhq/keyway/domain"
	"github.com/keywayhq/keyway/domain/role"
	"github.com/keywayhq/keyway/events"
)

// Read-model names of roles: one item per slug, listed in creation order.
const (
	roleCollection = "role"
	rolesPartition = "roles"
)

func projectRole(s role.State) []events.Item {
	if !s.Exists {
		return nil
	}
	return []events.Item{newItem(roleCollection, s.Slug, s.Role, events.Index1, rolesPartition, s.ID)}
}

// Role returns an environment role by slug; an unknown slug is 422
// invalid_role. The built-in roles are created when first asked for.
func (a *App) Role(ctx context.Context, env, slug string) (role.Role, error) {
	r, err := getJSON[role.Role](ctx, a, env, roleCollection, slug, errUnknownRole(slug))
	if err == nil || !isDefaultRole(slug) {
		return r, err
	}
	if _, derr := domain.As(err); !derr {
		return r, err
	}
	if err := a.ensureDefaultRoles(ctx, env); err != nil {
		return role.Role{}, err
	}
	return getJSON[role.Role](ctx, a, env, roleCollection, slug, errUnknownRole(slug))
}

// checkRole reports whether a membership may have the role slug. The
// built-in roles exist even before they are stored, so that checking one
// writes nothing, whatever becomes of the request.
func (a *App) checkRole(ctx context.Context, env, slug string) error {
	if isDefaultRole(slug) {
		return nil
	}
	_, err := getJSON[role.Role](ctx, a, env, roleCollection, slug, errUnknownRole(slug))
	return err
}

func errUnknownRole(slug string) error {
	return &domain.Error{Kind: domain.Invalid, Code: "invalid_role", Message: "The role '" + slug + "' does not exist.",
		Fields: []domain.FieldError{{Field: "role_slug", Code: "invalid_role"}}}
}

func isDefaultRole(slug string) bool {
	for _, d := range role.Defaults {
		if d.Slug == slug {
			return true
		}
	}
	return false
}

// ensureDefaultRoles creates the built-in roles that are missing.
func (a *App) ensureDefaultRoles(ctx context.Context, env string) error {
	for _, d := range role.Defaults {
		desc := d.Description
		_, err := a.createRole(ctx, Meta{Env: env, Actor: "keyway"}, role.Role{Slug: d.Slug, Name: d.Name, Description: &desc})
		var de *domain.Error
		if err != nil && !(errors.As(err, &de) && de.Code == "role_slug_conflict") {
			return err
		}
	}
	return nil
}

// CreateRole creates an environment role. The built-in slugs are taken,
// also before the built-in roles are stored.
func (a *App) CreateRole(ctx context.Context, m Meta, r role.Role) (role.Role, error) {
	if isDefaultRole(r.Slug) {
		return role.Role{}, domain.Errorf(domain.Conflict, "role_slug_conflict", "A role with slug %s already exists.", r.Slug)
	}
	return a.createRole(ctx, m, r)
}

func (a *App) createRole(ctx context.Context, m Meta, r role.Role) (role.Role, error) {
	if err := role.CheckSlug("slug", r.Slug); err != nil {
		return role.Role{}, err
	}
	r.Name = strings.TrimSpace(r.Name)
	if r.Name == "" {
		return role.Role{}, domain.InvalidField("name", "required", "name is required.")
	}
	if err := domain.CheckText("name", &r.Name, 256); err != nil {
		return role.Role{}, err
	}
	if err := domain.CheckText("description", r.Description, 1024); err != nil {
		return role.Role{}, err
	}
	r.ID, r.CreatedAt, r.UpdatedAt = a.ids.New("role"), a.now(), a.now()
	res, err := execute(ctx, a, m, func() (write, role.Role, error) {
		w, after, err := roleKind().change(ctx, a, m.Env, r.Slug, role.Create{Role: r}, nil)
		return w, after.Role, err
	}, nil)
	if errors.Is(err, events.ErrConflict) {
		return role.Role{}, domain.Errorf(domain.Conflict, "role_slug_conflict", "A role with slug %s already exists.", r.Slug)
	}
	return res, err
}

// ListRoles lists the environment's roles, oldest first.
func (a *App) ListRoles(ctx context.Context, env string) ([]role.Role, error) {
	if err := a.ensureDefaultRoles(ctx, env); err != nil {
		return nil, err
	}
	var out []role.Role
	start := ""
	for {
		items, err := a.store.Query(ctx, events.Query{Environment: env, Index: events.Index1, Partition: rolesPartition, Start: start, Limit: 100})
		if err != nil {
			return nil, err
		}
		for _, it := range items {
			r, err := decodeJSON[role.Role](it)
			if err != nil {
				return nil, err
			}
			out = append(out, r)
		}
		if len(items) < 100 {
			return out, nil
		}
		start = items[len(items)-1].Indexes[events.Index1].Sort
	}
}
