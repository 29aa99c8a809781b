package app

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/keywayhq/keyway/domain"
	"github.com/keywayhq/keyway/domain/password"
	"github.com/keywayhq/keyway/domain/passwordreset"
	"github.com/keywayhq/keyway/domain/session"
	"github.com/keywayhq/keyway/domain/throttle"
	"github.com/keywayhq/keyway/domain/user"
	"github.com/keywayhq/keyway/events"
)

// Read models of password resets: the reset (without its token) until it
// expires, and one item per token hash that leads to the reset.
const (
	passwordResetCollection = "password_reset"
	resetTokenCollection    = "password_reset_token"
)

// resetTokenGrace keeps a token's item past the reset's expiry, so that a
// late confirm is told the token expired rather than that it is unknown.
const resetTokenGrace = passwordreset.Lifetime * 24

// resetSendPolicy limits reset links per address, as magicauth.SendLimit
// does codes.
var resetSendPolicy = throttle.Policy{Limit: 10, Window: 10 * time.Minute}

// DefaultPasswordResetURL is where reset links lead unless KEYWAY_RESET_URL says otherwise.
const DefaultPasswordResetURL = "http://localhost:3000/reset-password"

// LinkMessage is a link to mail (password_reset).
type LinkMessage struct {
	Environment string
	Kind        string // password_reset
	To          string
	URL         string
	Expires     time.Duration
}

// PasswordResetView is a password_reset object; Token and URL are set only
// on creation and are never stored.
type PasswordResetView struct {
	passwordreset.Reset
	Token string
	URL   string
}

func passwordResetKind() kind[passwordreset.State] {
	return kind[passwordreset.State]{passwordreset.Aggregate, passwordreset.Evolve, passwordreset.Decide, nil, projectPasswordReset}
}

// projectPasswordReset is a reset's object and its token item; a withdrawn
// reset shows neither.
func projectPasswordReset(s passwordreset.State) []events.Item {
	if !s.Exists || s.Withdrawn {
		return nil
	}
	it := newItem(passwordResetCollection, s.ID, s.Reset, "", "", "")
	it.ExpiresAt = s.ExpiresAt
	tok := newItem(resetTokenCollection, s.TokenHash, map[string]string{"password_reset_id": s.ID}, "", "", "")
	tok.ExpiresAt = s.ExpiresAt.Add(resetTokenGrace)
	return []events.Item{it, tok}
}

// passwordResetURL is the reset page the link leads to, with the token:
// KEYWAY_RESET_URL if set; else the hosted reset page when the server
// knows its public URL; else DefaultPasswordResetURL.
func (a *App) passwordResetURL(ctx context.Context, env, token string, params url.Values) string {
	base := strings.TrimSpace(os.Getenv("KEYWAY_RESET_URL"))
	extra := url.Values{}
	for k, v := range params {
		extra[k] = v
	}
	if base == "" && a.publicURL != "" {
		if e, err := a.environment(ctx, env); err == nil {
			base = strings.TrimSuffix(a.publicURL, "/") + "/authkit/reset-password"
			extra.Set("client_id", e.ClientID)
		}
	}
	if base == "" {
		base = DefaultPasswordResetURL
	}
	u, err := url.Parse(base)
	if err != nil {
		return base + "?token=" + url.QueryEscape(token) // not absolute: the mail refuses it
	}
	q := u.Query()
	for k, v := range extra {
		q[k] = v
	}
	q.Set("token", token)
	u.RawQuery = q.Encode()
	return u.String()
}

// CreatePasswordReset mails a reset link to the user with the email. The
// token (32 random bytes) is kept only as its SHA-256 hash.
func (a *App) CreatePasswordReset(ctx context.Context, m Meta, email string) (PasswordResetView, error) {
	return a.RequestPasswordReset(ctx, m, email, nil)
}

// RequestPasswordReset is CreatePasswordReset with more query parameters
// on the mailed link: the hosted pages add their sign-in flow, so that the
// reset page can lead back into it.
func (a *App) RequestPasswordReset(ctx context.Context, m Meta, email string, params url.Values) (PasswordResetView, error) {
	if a.mailer == nil {
		return PasswordResetView{}, errors.New("app: no mailer configured")
	}
	addr, err := user.NormalizeEmail("email", email)
	if err != nil {
		return PasswordResetView{}, err
	}
	st, err := a.userByEmail(ctx, m.Env, addr)
	if err != nil {
		return PasswordResetView{}, err
	}
	if !st.Exists {
		return PasswordResetView{}, domain.NotFoundf("entity_not_found", "User not found: '%s'.", addr)
	}
	// The hosted "forgot password" page is public: at most so many links
	// per address and window, so that nobody can flood a mailbox.
	limit := throttleKey{throttleID("password_reset", addr), resetSendPolicy}
	at := a.now()
	if err := a.throttle(ctx, m, []throttleKey{limit}, func(k throttleKey) any { return throttle.Reserve{Policy: k.policy, At: at} }); err != nil {
		return PasswordResetView{}, err
	}
	token, err := randomToken(a.rand, 32)
	if err != nil {
		return PasswordResetView{}, err
	}
	now := a.now()
	r := passwordreset.Reset{ID: a.ids.New("password_reset"), UserID: st.ID, Email: addr, ExpiresAt: now.Add(passwordreset.Lifetime), CreatedAt: now}
	m.Idempotency = nil // the answer holds the token: never stored for replays
	if _, err := execute(ctx, a, m, func() (write, struct{}, error) {
		w, _, err := passwordResetKind().apply(r.ID, passwordreset.State{}, 0, passwordreset.Create{Reset: r, TokenHash: hashToken(token)})
		return w, struct{}{}, err
	}, nil); err != nil {
		return PasswordResetView{}, err
	}
	link := a.passwordResetURL(ctx, m.Env, token, params)
	if err := a.mailer.SendLink(ctx, LinkMessage{Environment: m.Env, Kind: passwordreset.Aggregate, To: addr, URL: link, Expires: passwordreset.Lifetime}); err != nil {
		_, werr := execute(ctx, a, m, func() (write, struct{}, error) {
			w, _, err := passwordResetKind().change(ctx, a, m.Env, r.ID, passwordreset.Withdraw{At: a.now()}, nil)
			return w, struct{}{}, err
		}, nil)
		a.log.Error("password reset email not delivered", "request_id", m.RequestID, "error", err, "withdraw_error", werr)
		return PasswordResetView{}, &domain.Error{Kind: domain.Unavailable, Code: "email_delivery_failed", Message: "The password reset email could not be sent; try again."}
	}
	return PasswordResetView{Reset: r, Token: token, URL: link}, nil
}

// GetPasswordReset reads a password_reset object; its token is not kept.
func (a *App) GetPasswordReset(ctx context.Context, env, id string) (PasswordResetView, error) {
	nf := domain.NotFoundf("entity_not_found", "Password reset not found: '%s'.", id)
	if !ValidID(id, "password_reset") {
		return PasswordResetView{}, nf
	}
	r, err := getJSON[passwordreset.Reset](ctx, a, env, passwordResetCollection, id, nf)
	return PasswordResetView{Reset: r}, err
}

// ConfirmPasswordReset spends a reset token once: it sets the new password,
// marks the email verified (the link proves the mailbox) and revokes every
// session of the user, so that their refresh tokens stop working.
func (a *App) ConfirmPasswordReset(ctx context.Context, m Meta, token, newPassword string) (user.User, error) {
	m.Idempotency = nil
	if token == "" || len(token) > 200 {
		return user.User{}, passwordreset.ErrNotFound()
	}
	ref, err := getJSON[map[string]string](ctx, a, m.Env, resetTokenCollection, hashToken(token), passwordreset.ErrNotFound())
	if err != nil {
		return user.User{}, err
	}
	id := ref["password_reset_id"]
	st, _, err := passwordResetKind().load(ctx, a, m.Env, id)
	if err != nil {
		return user.User{}, err
	}
	if err := passwordreset.Usable(st, a.now()); err != nil {
		return user.User{}, err
	}
	if problems := password.Check(newPassword, st.Email); len(problems) > 0 {
		return user.User{}, &domain.Error{Kind: domain.BadRequest, Code: "password_reset_error",
			Message: "Password does not meet strength requirements.", Details: map[string]any{"errors": problems}}
	}
	h, err := password.New(newPassword, a.password, a.rand)
	if err != nil {
		return user.User{}, err
	}
	verified := true
	u, err := execute(ctx, a, m, func() (write, user.User, error) {
		// The Used event is appended at the reset stream's expected
		// version: of two parallel confirms, one wins and the other
		// retries into ErrUsed.
		st, v, err := passwordResetKind().load(ctx, a, m.Env, id)
		if err != nil {
			return write{}, user.User{}, err
		}
		w, _, err := passwordResetKind().apply(id, st, v, passwordreset.Use{At: a.now()})
		if err != nil {
			return write{}, user.User{}, err
		}
		uw, u, err := a.decideUser(ctx, m.Env, st.UserID, user.Update{Password: &h, EmailVerified: &verified, At: a.now()})
		if err != nil {
			return write{}, user.User{}, err
		}
		return w.merge(uw), u, nil
	}, nil)
	if err != nil {
		return user.User{}, err
	}
	if err := a.revokeUserSessions(ctx, m, u.ID, session.ReasonPasswordReset); err != nil {
		return user.User{}, fmt.Errorf("app: revoke sessions after password reset: %w", err)
	}
	if err := a.endBrowserSessions(ctx, m, u.ID, session.ReasonPasswordReset); err != nil {
		return user.User{}, fmt.Errorf("app: end hosted sessions after password reset: %w", err)
	}
	return u, nil
}

// revokeUserSessions revokes every active session of a user, a batch per append.
func (a *App) revokeUserSessions(ctx context.Context, m Meta, userID, reason string) error {
	q := events.Query{Environment: m.Env, Index: events.Index1, Partition: userSessionsPartition(userID), Limit: cleanupBatch}
	return a.inBatches(ctx, m, q, func(items []events.Item) (write, error) {
		var all write
		for _, it := range items {
			s, err := decodeJSON[session.Session](it)
			if err != nil {
				return write{}, err
			}
			if s.Status != session.StatusActive {
				continue
			}
			w, _, err := sessionKind().change(ctx, a, m.Env, s.ID, session.Revoke{Reason: reason, At: a.now()}, nil)
			if err != nil {
				return write{}, err
			}
			all = all.merge(w)
		}
		return all, nil
	})
}

// inBatches pages through q and appends, for each page, what batch
// derives from its items (nothing, for a page with nothing to change).
func (a *App) inBatches(ctx context.Context, m Meta, q events.Query, batch func([]events.Item) (write, error)) error {
	m.Idempotency = nil
	for {
		items, err := a.store.Query(ctx, q)
		if err != nil {
			return fmt.Errorf("app: query %s: %w", q.Partition, err)
		}
		if len(items) == 0 {
			return nil
		}
		q.Start = items[len(items)-1].Indexes[q.Index].Sort
		if _, err := execute(ctx, a, m, func() (write, struct{}, error) {
			w, err := batch(items)
			return w, struct{}{}, err
		}, nil); err != nil {
			return err
		}
	}
}
