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

// AuthenticatePassword is the password grant. Every attempt is recorded
// as authentication.password_succeeded or _failed.
func (a *App) AuthenticatePassword(ctx context.Context, m Meta, email, pw string, c Client) (AuthResult, error) {
	res, err := a.authenticatePassword(ctx, m, email, pw, c)
	a.recordAttempt(ctx, m, "password", email, c, res, err)
	return res, err
}

func (a *App) authenticatePassword(ctx context.Context, m Meta, email, pw string, c Client) (AuthResult, error) {
	m.Idempotency = nil // answers carry fresh tokens; a retry signs in again
	addr, err := user.NormalizeEmail("email", email)
	if err != nil {
		return AuthResult{}, errInvalidCredentials
	}
	// Reserve an attempt on the account and the IP before checking anything,
	// so that parallel guesses cannot exceed the limits.
	account := throttleKey{throttleID("email", addr), a.sessions.AccountAttempts}
	keys := []throttleKey{account}
	if c.IP != "" {
		keys = append(keys, throttleKey{throttleID("ip", c.IP), a.sessions.IPAttempts})
	}
	at := a.now()
	if err := a.throttle(ctx, m, keys, func(k throttleKey) any { return throttle.Reserve{Policy: k.policy, At: at} }); err != nil {
		return AuthResult{}, err
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
	// A success clears the account's count, and gives the IP back only its
	// own attempt: the IP's failures still count.
	if err := a.throttle(ctx, m, keys, func(k throttleKey) any {
		if k == account {
			return throttle.Clear{At: a.now()}
		}
		return throttle.Release{Reserved: at, At: a.now()}
	}); err != nil {
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
	if err := a.requireVerifiedEmail(ctx, m, st.User, "Password", "password"); err != nil {
		return AuthResult{}, err
	}
	return a.finishSignIn(ctx, m, st.User, "Password", "password", c)
}

func errSSORequired(email string, connections []string) error {
	msg := "This email's organization requires signing in with SSO."
	return &domain.Error{Kind: domain.BadRequest, Code: "sso_required", Message: msg,
		Details: map[string]any{"error": "sso_required", "error_description": msg, "email": email, "connection_ids": connections}}
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

// throttleKey is one throttle stream and its policy.
type throttleKey struct {
	id     string
	policy throttle.Policy
}

// throttle decides a command on every key and appends the events in one write:
// an attempt is reserved on the account and the IP together, or on
// neither, so a key at its limit uses up nothing of the others. A version
// conflict means another attempt or success landed meanwhile; at most the
// limits' worth land in a window, so it retries that often before failing.
func (a *App) throttle(ctx context.Context, m Meta, keys []throttleKey, cmd func(throttleKey) any) error {
	retries := 0
	for _, k := range keys {
		retries += k.policy.Limit
	}
	for {
		_, err := execute(ctx, a, m, func() (write, struct{}, error) {
			var w write
			for _, k := range keys {
				kw, _, err := throttleKind().change(ctx, a, m.Env, k.id, cmd(k), nil)
				if err != nil {
					return write{}, struct{}{}, err
				}
				w = w.merge(kw)
			}
			return w, struct{}{}, nil
		}, nil)
		if retries--; retries < 0 || !errors.Is(err, events.ErrConflict) {
			return err
		}
	}
}

// dummyHash is a real argon2id hash with the current parameters, made once.
func (a *App) dummyHash() password.Hash {
	a.dummyOnce.Do(func() {
		a.dummy, _ = password.New("keyway-dummy-password", a.password, a.rand)
	})
	return a.dummy
}
