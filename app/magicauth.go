package app

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/keywayhq/keyway/domain"
	"github.com/keywayhq/keyway/domain/magicauth"
	"github.com/keywayhq/keyway/domain/user"
	"github.com/keywayhq/keyway/events"
)

// magicAuthCollection holds the magic_auth objects (without their codes).
const magicAuthCollection = "magic_auth"

// Mailer sends the one-time codes and links.
type Mailer interface {
	SendCode(ctx context.Context, m CodeMessage) error
	SendLink(ctx context.Context, m LinkMessage) error
	SendInvitation(ctx context.Context, m InvitationMessage) error
}

// CodeMessage is a code to mail.
type CodeMessage struct {
	Environment string
	Kind        string // magic_auth or email_verification
	To          string
	Code        string
	Expires     time.Duration
}

// MagicAuthView is a magic_auth object; Code is set only on creation.
type MagicAuthView struct {
	magicauth.Code
	CodeValue string
}

func codeKind() kind[magicauth.State] {
	return kind[magicauth.State]{magicauth.Aggregate, magicauth.Evolve, magicauth.Decide, nil, projectCode}
}

// projectCode is the magic_auth or email_verification object of the current
// code, kept until it expires (after use too) unless it was withdrawn.
func projectCode(s magicauth.State) []events.Item {
	if s.Current == nil || s.Withdrawn {
		return nil
	}
	collection := magicAuthCollection
	if s.Kind == emailVerificationCollection {
		collection = emailVerificationCollection
	}
	it := newItem(collection, s.Current.ID, *s.Current, "", "", "")
	it.ExpiresAt = s.Current.ExpiresAt
	return []events.Item{it}
}

// codeStream names the code stream of one purpose and email.
func codeStream(purpose, email string) string {
	return purpose + "_" + hashToken(purpose + "\x00" + email)[:32]
}

// hashCode is the keyed hash (HMAC-SHA256 with the server's code key) that
// is all Keyway keeps of a code.
func (a *App) hashCode(stream, code string) (string, error) {
	if a.codeKey == nil {
		return "", errors.New("app: no code key configured")
	}
	key, err := a.codeKey()
	if err != nil {
		return "", err
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(stream + "\x00" + code))
	return hex.EncodeToString(mac.Sum(nil)), nil
}

// sixDigits draws a uniform 6-digit code from rand.
func sixDigits(rand io.Reader) (string, error) {
	var b [4]byte
	for {
		if _, err := io.ReadFull(rand, b[:]); err != nil {
			return "", fmt.Errorf("app: code: %w", err)
		}
		// Reject the top of the range so every code is equally likely.
		if n := binary.BigEndian.Uint32(b[:]); n < 4_294_000_000 {
			return fmt.Sprintf("%06d", n%1_000_000), nil
		}
	}
}

// CreateMagicAuth mails a 6-digit code to an email; the first Magic Auth
// for an unknown email creates its user.
func (a *App) CreateMagicAuth(ctx context.Context, m Meta, email string) (MagicAuthView, error) {
	if a.mailer == nil {
		return MagicAuthView{}, errors.New("app: no mailer configured")
	}
	addr, err := user.NormalizeEmail("email", email)
	if err != nil {
		return MagicAuthView{}, err
	}
	// The response holds the code, so it is never stored for replays.
	m.Idempotency = nil
	u, err := a.userOrNew(ctx, m, addr)
	if err != nil {
		return MagicAuthView{}, err
	}
	c, value, err := a.issueCode(ctx, m, "magic_auth", magicAuthCollection, addr, u.ID)
	if err != nil {
		return MagicAuthView{}, err
	}
	return MagicAuthView{Code: c, CodeValue: value}, nil
}

// issueCode makes a new code of a kind (magic_auth, email_verification)
// for an email, replacing the previous one, and mails it. A code that
// could not be mailed is withdrawn at once.
func (a *App) issueCode(ctx context.Context, m Meta, kind, collection, email, userID string) (magicauth.Code, string, error) {
	if a.mailer == nil {
		return magicauth.Code{}, "", errors.New("app: no mailer configured")
	}
	value, err := sixDigits(a.rand)
	if err != nil {
		return magicauth.Code{}, "", err
	}
	stream := codeStream(kind, email)
	hash, err := a.hashCode(stream, value)
	if err != nil {
		return magicauth.Code{}, "", err
	}
	now := a.now()
	c := magicauth.Code{ID: a.ids.New(kind), UserID: userID, Email: email, ExpiresAt: now.Add(magicauth.Lifetime), CreatedAt: now, UpdatedAt: now}
	m.Idempotency = nil // the answer may hold the code: never stored for replays
	if _, err := execute(ctx, a, m, func() (write, struct{}, error) {
		w, _, err := codeKind().change(ctx, a, m.Env, stream, magicauth.Issue{Code: c, Hash: hash, Kind: kind}, nil)
		return w, struct{}{}, err
	}, nil); err != nil {
		return magicauth.Code{}, "", err
	}
	if err := a.mailer.SendCode(ctx, CodeMessage{Environment: m.Env, Kind: kind, To: email, Code: value, Expires: magicauth.Lifetime}); err != nil {
		_, werr := execute(ctx, a, m, func() (write, struct{}, error) {
			w, _, err := codeKind().change(ctx, a, m.Env, stream, magicauth.Withdraw{CodeID: c.ID, At: a.now()}, nil)
			return w, struct{}{}, err
		}, nil)
		a.log.Error("code email not delivered", "kind", kind, "request_id", m.RequestID, "error", err, "withdraw_error", werr)
		return magicauth.Code{}, "", &domain.Error{Kind: domain.Unavailable, Code: "email_delivery_failed", Message: "The code could not be emailed; try again."}
	}
	return c, value, nil
}

// attemptCode checks a code of a kind for an email. A wrong code is counted
// at the code stream's expected version before the answer, so parallel
// guesses cannot pass the limit.
func (a *App) attemptCode(ctx context.Context, m Meta, kind, email, code string) error {
	_, err := a.useCode(ctx, m, kind, email, code)
	return err
}

// useCode is attemptCode that also returns the code it used.
func (a *App) useCode(ctx context.Context, m Meta, kind, email, code string) (magicauth.Code, error) {
	stream := codeStream(kind, email)
	hash, err := a.hashCode(stream, code)
	if err != nil {
		return magicauth.Code{}, err
	}
	var refused error
	var used magicauth.Code
	if _, err := execute(ctx, a, m, func() (write, struct{}, error) {
		refused = nil
		w, after, err := codeKind().change(ctx, a, m.Env, stream, magicauth.Attempt{Hash: hash, At: a.now()}, nil)
		if err != nil && len(w.streams) > 0 && len(w.streams[0].events) > 0 {
			refused = err // count the wrong try, then answer
			return w, struct{}{}, nil
		}
		if err == nil && after.Current != nil {
			used = *after.Current
		}
		return w, struct{}{}, err
	}, nil); err != nil {
		return magicauth.Code{}, err
	}
	return used, refused
}

// SendSignInCode mails a Magic Auth code for the hosted pages' "Email me a
// code". Unlike CreateMagicAuth it creates no user: the code proves the
// mailbox first, and AuthenticateMagicAuth creates the user then, so a
// public page cannot be used to make accounts for other people's emails.
func (a *App) SendSignInCode(ctx context.Context, m Meta, email string) error {
	addr, err := user.NormalizeEmail("email", email)
	if err != nil {
		return err
	}
	st, err := a.userByEmail(ctx, m.Env, addr)
	if err != nil {
		return err
	}
	_, _, err = a.issueCode(ctx, m, "magic_auth", magicAuthCollection, addr, st.ID)
	return err
}

// userOrNew returns the user with the email, creating it if there is none.
func (a *App) userOrNew(ctx context.Context, m Meta, email string) (user.User, error) {
	st, err := a.userByEmail(ctx, m.Env, email)
	if err != nil || st.Exists {
		return st.User, err
	}
	u, err := a.CreateUser(ctx, m, CreateUserInput{Email: email})
	var de *domain.Error
	if errors.As(err, &de) && de.Code == "user_creation_error" { // created meanwhile
		st, err = a.userByEmail(ctx, m.Env, email)
		return st.User, err
	}
	return u, err
}

// GetMagicAuth reads a magic_auth object; its code is not kept.
func (a *App) GetMagicAuth(ctx context.Context, env, id string) (MagicAuthView, error) {
	nf := domain.NotFoundf("entity_not_found", "Magic Auth not found: '%s'.", id)
	if !ValidID(id, "magic_auth") {
		return MagicAuthView{}, nf
	}
	c, err := getJSON[magicauth.Code](ctx, a, env, magicAuthCollection, id, nf)
	return MagicAuthView{Code: c}, err
}

// AuthenticateMagicAuth is the magic-auth:code grant. A wrong code is
// counted (at the code stream's expected version, so parallel guesses
// cannot pass the limit of 5) before the answer.
func (a *App) AuthenticateMagicAuth(ctx context.Context, m Meta, email, code string, c Client) (AuthResult, error) {
	res, err := a.authenticateMagicAuth(ctx, m, email, code, c)
	a.recordAttempt(ctx, m, "magic_auth", email, c, res, err)
	return res, err
}

func (a *App) authenticateMagicAuth(ctx context.Context, m Meta, email, code string, c Client) (AuthResult, error) {
	m.Idempotency = nil
	addr, err := user.NormalizeEmail("email", email)
	if err != nil {
		return AuthResult{}, domain.Errorf(domain.BadRequest, "invalid_one_time_code", "The code is invalid.")
	}
	used, err := a.useCode(ctx, m, "magic_auth", addr, code)
	if err != nil {
		return AuthResult{}, err
	}
	policy, err := a.AuthPolicyFor(ctx, m.Env, addr)
	if err != nil {
		return AuthResult{}, err
	}
	if policy.SSORequired {
		return AuthResult{}, errSSORequired(addr, policy.ConnectionIDs)
	}
	st, err := a.userByEmail(ctx, m.Env, addr)
	if err != nil {
		return AuthResult{}, err
	}
	u := st.User
	switch {
	case st.Exists:
	case used.UserID == "": // a sign-in code for a new email: the user starts now
		if u, err = a.userOrNew(ctx, m, addr); err != nil {
			return AuthResult{}, err
		}
	default: // the code's user was deleted since
		return AuthResult{}, domain.Errorf(domain.BadRequest, "invalid_one_time_code", "The code is invalid.")
	}
	if !u.EmailVerified { // the code proves the mailbox
		verified := true
		if u, err = a.UpdateUser(ctx, m, u.ID, UpdateUserInput{EmailVerified: &verified}); err != nil {
			return AuthResult{}, err
		}
	}
	return a.finishSignIn(ctx, m, u, "MagicAuth", "magic_code", c)
}
