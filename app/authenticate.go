package app

import (
	"context"
	"errors"
	"strings"

	"github.com/keywayhq/keyway/domain"
	"github.com/keywayhq/keyway/domain/password"
	"github.com/keywayhq/keyway/domain/throttle"
	"github.com/keywayhq/keyway/domain/user"
	"github.com/keywayhq/keyway/events"
)

// errInvalidCredentials is the same for an unknown email and a wrong password.
var errInvalidCredentials = &domain.Error{Kind: domain.BadRequest, Code: "invalid_credentials", Message: "Invalid credentials."}

// AuthenticatePassword is the password grant.
func (a *App) AuthenticatePassword(ctx context.Context, m Meta, email, pw string, c Client) (AuthResult, error) {
	m.Idempotency = nil // answers carry fresh tokens; a retry signs in again
	addr, err := user.NormalizeEmail("email", email)
	if err != nil {
		return AuthResult{}, errInvalidCredentials
	}
	// Reserve an attempt on the account and the IP before checking anything,
	// so that parallel guesses cannot exceed the limits.
	account := throttleID("email", addr)
	if err := a.reserve(ctx, m, account, a.sessions.AccountAttempts); err != nil {
		return AuthResult{}, err
	}
	if c.IP != "" {
		if err := a.reserve(ctx, m, throttleID("ip", c.IP), a.sessions.IPAttempts); err != nil {
			return AuthResult{}, err
		}
	}
	st, err := a.userByEmail(ctx, m.Env, addr)
	if err != nil {
		return AuthResult{}, err
	}
	if !st.Exists || st.Password == nil {
		// Hash a dummy so an unknown account takes as long as a wrong password.
		password.Verify(a.dummyHash(), pw)
		return AuthResult{}, errInvalidCredentials
	}
	if !password.Verify(*st.Password, pw) {
		return AuthResult{}, errInvalidCredentials
	}
	if err := a.clear(ctx, m, account); err != nil {
		return AuthResult{}, err
	}
	if password.NeedsRehash(*st.Password, a.password) {
		a.rehash(ctx, m, st.ID, pw)
	}
	policy, err := a.AuthPolicyFor(ctx, m.Env, addr)
	if err != nil {
		return AuthResult{}, err
	}
	if policy.SSORequired {
		return AuthResult{}, errSSORequired(addr, policy.ConnectionIDs)
	}
	orgID, err := a.soleOrganization(ctx, m.Env, st.ID)
	if err != nil {
		return AuthResult{}, err
	}
	return a.startSession(ctx, m, st.User, orgID, "Password", "password", c)
}

func errSSORequired(email string, connections []string) error {
	msg := "This email's organization requires signing in with SSO."
	return &domain.Error{Kind: domain.BadRequest, Code: "sso_required", Message: msg,
		Details: map[string]any{"error": "sso_required", "error_description": msg, "email": email, "connection_ids": connections}}
}

// soleOrganization is the organization of a user's only active membership.
func (a *App) soleOrganization(ctx context.Context, env, userID string) (*string, error) {
	page, err := a.ListMemberships(ctx, env, ListMembershipsInput{UserID: userID, Page: PageParams{Limit: 2, Order: "asc"}})
	if err != nil || len(page.Data) != 1 {
		return nil, err
	}
	id := page.Data[0].OrganizationID
	return &id, nil
}

func (a *App) userByEmail(ctx context.Context, env, email string) (user.State, error) {
	owner, err := a.store.Owner(ctx, env, claimEmail, email)
	if errors.Is(err, events.ErrNotFound) {
		return user.State{}, nil
	}
	if err != nil {
		return user.State{}, err
	}
	st, _, err := a.loadUser(ctx, env, strings.TrimPrefix(owner, user.Aggregate+"#"))
	if st.Deleted {
		return user.State{}, err
	}
	return st, err
}

// rehash replaces a hash made with older parameters; a failure only logs,
// since the sign-in itself succeeded.
func (a *App) rehash(ctx context.Context, m Meta, id, pw string) {
	h, err := password.New(pw, a.password, a.rand)
	if err == nil {
		_, err = execute(ctx, a, m, func() (write, struct{}, error) {
			w, _, err := a.decideUser(ctx, m.Env, id, user.Update{Password: &h, At: a.now()})
			return w, struct{}{}, err
		}, nil)
	}
	if err != nil {
		a.log.Warn("password rehash failed", "user_id", id, "error", err)
	}
}

func throttleID(kind, key string) string { return kind + "_" + hashToken(key)[:32] }

func throttleKind() kind[throttle.State] {
	return kind[throttle.State]{throttle.Aggregate, throttle.Evolve, throttle.Decide, nil, func(throttle.State) []events.Item { return nil }}
}

func (a *App) reserve(ctx context.Context, m Meta, id string, p throttle.Policy) error {
	_, err := execute(ctx, a, m, func() (write, struct{}, error) {
		w, _, err := throttleKind().change(ctx, a, m.Env, id, throttle.Reserve{Policy: p, At: a.now()}, nil)
		return w, struct{}{}, err
	}, nil)
	return err
}

func (a *App) clear(ctx context.Context, m Meta, id string) error {
	_, err := execute(ctx, a, m, func() (write, struct{}, error) {
		w, _, err := throttleKind().change(ctx, a, m.Env, id, throttle.Clear{At: a.now()}, nil)
		return w, struct{}{}, err
	}, nil)
	return err
}

// dummyHash is a real argon2id hash with the current parameters, made once.
func (a *App) dummyHash() password.Hash {
	a.dummyOnce.Do(func() {
		a.dummy, _ = password.New("keyway-dummy-password", a.password, a.rand)
	})
	return a.dummy
}
