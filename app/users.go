package app

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/keywayhq/keyway/domain"
	"github.com/keywayhq/keyway/domain/password"
	"github.com/keywayhq/keyway/domain/user"
	"github.com/keywayhq/keyway/events"
)

// Read-model names of users.
const (
	userCollection = "user"
	usersPartition = "users" // Index1: every user of an environment, by id
	claimEmail     = "email"
	claimExternal  = "user_external_id"
)

// CreateUserInput is POST /user_management/users.
type CreateUserInput struct {
	Email            string
	Password         *string
	PasswordHash     *string
	PasswordHashType *string
	FirstName        *string
	LastName         *string
	Name             *string
	EmailVerified    bool
	ExternalID       *string
	Metadata         map[string]string
}

// UpdateUserInput is PUT /user_management/users/:id.
type UpdateUserInput struct {
	Email            *string
	EmailVerified    *bool
	FirstName        user.Field[string]
	LastName         user.Field[string]
	Name             user.Field[string]
	Locale           user.Field[string]
	ExternalID       user.Field[string]
	Metadata         map[string]*string
	Password         *string
	PasswordHash     *string
	PasswordHashType *string
}

// CreateUser creates a user; the email and external id are unique per environment.
func (a *App) CreateUser(ctx context.Context, m Meta, in CreateUserInput) (user.User, error) {
	email, err := user.NormalizeEmail("email", in.Email)
	if err != nil {
		return user.User{}, err
	}
	if err := checkUserFields(in.FirstName, in.LastName, in.Name, nil, in.ExternalID); err != nil {
		return user.User{}, err
	}
	if err := domain.CheckMetadata("metadata", in.Metadata); err != nil {
		return user.User{}, err
	}
	hash, err := a.passwordFrom(in.Password, in.PasswordHash, in.PasswordHashType, email)
	if err != nil {
		return user.User{}, err
	}
	cmd := user.Create{ID: a.ids.New("user"), Email: email, EmailVerified: in.EmailVerified, FirstName: in.FirstName,
		LastName: in.LastName, Name: in.Name, ExternalID: in.ExternalID, Metadata: in.Metadata, Password: hash, At: a.now()}
	u, err := execute(ctx, a, m, func() (write, user.User, error) {
		return a.decideUser(ctx, m.Env, cmd.ID, cmd)
	}, func(ce *events.ClaimError) error {
		field, code := claimField(ce)
		return &domain.Error{Kind: domain.Invalid, Code: "user_creation_error", Message: claimMessage(ce),
			Fields: []domain.FieldError{{Field: field, Code: code}}}
	})
	if err != nil {
		return u, err
	}
	a.join(ctx, m, u)
	return u, nil
}

// UpdateUser changes a user.
func (a *App) UpdateUser(ctx context.Context, m Meta, id string, in UpdateUserInput) (user.User, error) {
	cmd := user.Update{EmailVerified: in.EmailVerified, FirstName: in.FirstName, LastName: in.LastName, Name: in.Name,
		Locale: in.Locale, ExternalID: in.ExternalID, Metadata: in.Metadata, At: a.now()}
	if in.Email != nil {
		email, err := user.NormalizeEmail("email", *in.Email)
		if err != nil {
			return user.User{}, err
		}
		cmd.Email = &email
	}
	if err := checkUserFields(in.FirstName.Value, in.LastName.Value, in.Name.Value, in.Locale.Value, in.ExternalID.Value); err != nil {
		return user.User{}, err
	}
	st, _, err := a.loadUser(ctx, m.Env, id)
	if err != nil {
		return user.User{}, err
	}
	if !st.Exists || st.Deleted {
		return user.User{}, user.ErrNotFound(id)
	}
	if err := domain.CheckMetadata("metadata", domain.MergeMetadata(st.Metadata, in.Metadata)); err != nil {
		return user.User{}, err
	}
	email := st.Email
	if cmd.Email != nil {
		email = *cmd.Email
	}
	if cmd.Password, err = a.passwordFrom(in.Password, in.PasswordHash, in.PasswordHashType, email); err != nil {
		return user.User{}, err
	}
	u, err := execute(ctx, a, m, func() (write, user.User, error) {
		return a.decideUser(ctx, m.Env, id, cmd)
	}, func(ce *events.ClaimError) error {
		_, code := claimField(ce)
		return domain.Errorf(domain.BadRequest, code, "%s", claimMessage(ce))
	})
	if err == nil && !(st.EmailVerified && st.Email == u.Email) {
		a.join(ctx, m, u)
	}
	return u, err
}

// DeleteUser deletes a user, frees its email and external id, and removes its memberships.
func (a *App) DeleteUser(ctx context.Context, m Meta, id string) error {
	if !ValidID(id, "user") {
		return user.ErrNotFound(id)
	}
	if _, err := execute(ctx, a, m, func() (write, user.User, error) {
		return a.decideUser(ctx, m.Env, id, user.Delete{At: a.now()})
	}, nil); err != nil {
		// A retried delete finishes a cleanup that an earlier one left undone.
		if st, _, lerr := a.loadUser(ctx, m.Env, id); lerr == nil && st.Deleted {
			if cerr := a.removeMemberships(ctx, m, events.Index1, userMembershipsPartition(id)); cerr != nil {
				return cerr
			}
		}
		return err
	}
	// New memberships of the user are refused from now on (they check the
	// user's stream), so this removes all of them.
	return a.removeMemberships(ctx, m, events.Index1, userMembershipsPartition(id))
}

// decideUser loads a user stream, decides cmd, and derives the claims and
// read-model writes from the state before and after.
func (a *App) decideUser(ctx context.Context, env, id string, cmd any) (write, user.User, error) {
	w, after, err := userKind().change(ctx, a, env, id, cmd, func(s user.State) user.State {
		if _, creating := cmd.(user.Create); !creating {
			s.ID = id // so that not-found errors name it
		}
		return s
	})
	return w, after.User, err
}

// userClaims are the unique values a user holds.
func userClaims(s user.State) []claimKey {
	if !s.Exists || s.Deleted {
		return nil
	}
	out := []claimKey{{claimEmail, s.Email}}
	if s.ExternalID != nil {
		out = append(out, claimKey{claimExternal, *s.ExternalID})
	}
	return out
}

// projectUser is a user's read model.
func projectUser(s user.State) []events.Item {
	if !s.Exists || s.Deleted {
		return nil
	}
	return []events.Item{newItem(userCollection, s.ID, s.User, events.Index1, usersPartition, s.ID)}
}

func (a *App) loadUser(ctx context.Context, env, id string) (user.State, int64, error) {
	return userKind().load(ctx, a, env, id)
}

// GetUser reads a user from its read model.
func (a *App) GetUser(ctx context.Context, env, id string) (user.User, error) {
	if !ValidID(id, "user") {
		return user.User{}, user.ErrNotFound(id)
	}
	return a.userByID(ctx, env, id)
}

func (a *App) userByID(ctx context.Context, env, id string) (user.User, error) {
	return getJSON[user.User](ctx, a, env, userCollection, id, user.ErrNotFound(id))
}

// GetUserByExternalID finds a user by its external id.
func (a *App) GetUserByExternalID(ctx context.Context, env, externalID string) (user.User, error) {
	owner, err := a.store.Owner(ctx, env, claimExternal, externalID)
	if errors.Is(err, events.ErrNotFound) {
		return user.User{}, domain.NotFoundf("entity_not_found", "User not found with external ID '%s'.", externalID)
	}
	if err != nil {
		return user.User{}, fmt.Errorf("app: external id lookup: %w", err)
	}
	return a.userByID(ctx, env, strings.TrimPrefix(owner, user.Aggregate+"#"))
}

// ListUsersInput filters and pages GET /user_management/users.
type ListUsersInput struct {
	Email          string
	OrganizationID string
	Page           PageParams
}

// ListUsers lists an environment's users, newest first unless Order is asc.
func (a *App) ListUsers(ctx context.Context, env string, in ListUsersInput) (Page[user.User], error) {
	if in.Email != "" {
		return a.usersByEmail(ctx, env, in.Email)
	}
	if in.OrganizationID != "" {
		return a.usersOfOrganization(ctx, env, in.OrganizationID, in.Page)
	}
	return listPage(ctx, a, env, events.Index1, usersPartition, in.Page, decodeJSON[user.User])
}

func (a *App) usersByEmail(ctx context.Context, env, raw string) (Page[user.User], error) {
	page := Page[user.User]{Data: []user.User{}}
	email, err := user.NormalizeEmail("email", raw)
	if err != nil {
		return page, nil // no user can have an invalid email
	}
	owner, err := a.store.Owner(ctx, env, claimEmail, email)
	if errors.Is(err, events.ErrNotFound) {
		return page, nil
	}
	if err != nil {
		return page, fmt.Errorf("app: email lookup: %w", err)
	}
	u, err := a.userByID(ctx, env, strings.TrimPrefix(owner, user.Aggregate+"#"))
	if err != nil {
		if _, ok := domain.As(err); ok {
			return page, nil
		}
		return page, err
	}
	page.Data = append(page.Data, u)
	return page, nil
}

func checkUserFields(first, last, name, locale, externalID *string) error {
	for _, c := range []struct {
		field string
		v     *string
		max   int
	}{{"first_name", first, user.MaxNameLength}, {"last_name", last, user.MaxNameLength}, {"name", name, user.MaxNameLength}, {"locale", locale, user.MaxLocaleLength}} {
		if err := domain.CheckText(c.field, c.v, c.max); err != nil {
			return err
		}
	}
	return domain.CheckExternalID("external_id", externalID)
}

// passwordFrom hashes a new password or imports an existing hash.
func (a *App) passwordFrom(pw, hash, hashType *string, email string) (*password.Hash, error) {
	switch {
	case pw != nil && hash != nil:
		return nil, domain.InvalidField("password", "conflicting_fields", "Provide either password or password_hash, not both.")
	case pw != nil:
		if problems := password.Check(*pw, email); len(problems) > 0 {
			return nil, &domain.Error{Kind: domain.BadRequest, Code: "password_strength_error",
				Message: "Password does not meet strength requirements.", Details: map[string]any{"errors": problems}}
		}
		h, err := password.New(*pw, a.password, a.rand)
		if err != nil {
			return nil, err
		}
		return &h, nil
	case hash != nil:
		if hashType == nil {
			return nil, domain.InvalidField("password_hash_type", "required", "password_hash_type is required with password_hash.")
		}
		h, err := password.Import(*hashType, *hash)
		if err != nil {
			return nil, domain.InvalidField("password_hash", "invalid_password_hash", "%s", err.Error())
		}
		return &h, nil
	case hashType != nil:
		return nil, domain.InvalidField("password_hash", "required", "password_hash is required with password_hash_type.")
	}
	return nil, nil
}

func claimField(ce *events.ClaimError) (field, code string) {
	if ce.Kind == claimExternal {
		return "external_id", "external_id_already_used"
	}
	return "email", "email_not_available"
}

func claimMessage(ce *events.ClaimError) string {
	if ce.Kind == claimExternal {
		return "The external ID is already used by another user."
	}
	return "The email address is already used by another user."
}
