package app

import (
	"context"

	"github.com/keywayhq/keyway/domain"
	"github.com/keywayhq/keyway/domain/magicauth"
	"github.com/keywayhq/keyway/domain/pending"
	"github.com/keywayhq/keyway/domain/user"
	"github.com/keywayhq/keyway/events"
)

// emailVerificationCollection holds the email_verification objects (without codes).
const emailVerificationCollection = "email_verification"

// EmailVerificationView is an email_verification object.
type EmailVerificationView struct{ magicauth.Code }

// SendEmailVerification mails a new verification code to a user's email.
func (a *App) SendEmailVerification(ctx context.Context, m Meta, userID string) (user.User, error) {
	u, err := a.GetUser(ctx, m.Env, userID)
	if err != nil {
		return u, err
	}
	if u.EmailVerified {
		return u, domain.Errorf(domain.BadRequest, "email_already_verified", "The email address is already verified.")
	}
	_, _, err = a.issueCode(ctx, m, "email_verification", emailVerificationCollection, u.Email, u.ID)
	return u, err
}

// ConfirmEmailVerification checks a user's code and marks the email verified.
func (a *App) ConfirmEmailVerification(ctx context.Context, m Meta, userID, code string) (user.User, error) {
	u, err := a.GetUser(ctx, m.Env, userID)
	if err != nil {
		return u, err
	}
	if u.EmailVerified {
		return u, domain.Errorf(domain.BadRequest, "email_already_verified", "The email address is already verified.")
	}
	if err := a.attemptCode(ctx, m, "email_verification", u.Email, code); err != nil {
		return u, verificationError(err)
	}
	return a.markVerified(ctx, m, u)
}

// verificationError renames the one-time code errors as WorkOS names them
// for email verification.
func verificationError(err error) error {
	de, ok := domain.As(err)
	if !ok {
		return err
	}
	switch de.Code {
	case "invalid_one_time_code":
		return domain.Errorf(domain.BadRequest, "email_verification_code_incorrect", "The email verification code is incorrect.")
	case "one_time_code_expired":
		return domain.Errorf(domain.BadRequest, "email_verification_code_expired", "The email verification code has expired.")
	}
	return err
}

func (a *App) markVerified(ctx context.Context, m Meta, u user.User) (user.User, error) {
	if u.EmailVerified {
		return u, nil
	}
	verified := true
	m.Idempotency = nil
	return a.UpdateUser(ctx, m, u.ID, UpdateUserInput{EmailVerified: &verified})
}

// GetEmailVerification reads an email_verification object; its code is not kept.
func (a *App) GetEmailVerification(ctx context.Context, env, id string) (EmailVerificationView, error) {
	nf := domain.NotFoundf("entity_not_found", "Email verification not found: '%s'.", id)
	if !ValidID(id, "email_verification") {
		return EmailVerificationView{}, nf
	}
	c, err := getJSON[magicauth.Code](ctx, a, env, emailVerificationCollection, id, nf)
	return EmailVerificationView{c}, err
}

func pendingKind() kind[pending.State] {
	return kind[pending.State]{pending.Aggregate, pending.Evolve, pending.Decide, nil, func(pending.State) []events.Item { return nil }}
}

// startPending opens a pending authentication and returns its token.
func (a *App) startPending(ctx context.Context, m Meta, p pending.Auth) (string, error) {
	token, err := randomToken(a.rand, 32)
	if err != nil {
		return "", err
	}
	p.ExpiresAt = a.now().Add(pending.Lifetime)
	id := tokenStreamID(token)
	m.Idempotency = nil
	_, err = execute(ctx, a, m, func() (write, struct{}, error) {
		w, _, err := pendingKind().change(ctx, a, m.Env, id, pending.Start{Auth: p}, nil)
		return w, struct{}{}, err
	}, nil)
	return token, err
}

// usePending completes a pending authentication's step, once.
func (a *App) usePending(ctx context.Context, m Meta, token, step string, check func(pending.Auth) error) (pending.Auth, error) {
	if token == "" || len(token) > 200 {
		return pending.Auth{}, pending.ErrInvalid()
	}
	id := tokenStreamID(token)
	m.Idempotency = nil
	return execute(ctx, a, m, func() (write, pending.Auth, error) {
		st, v, err := pendingKind().load(ctx, a, m.Env, id)
		if err != nil {
			return write{}, pending.Auth{}, err
		}
		if st.Exists && !st.Used && st.Step == step && check != nil {
			if err := check(st.Auth); err != nil {
				return write{}, pending.Auth{}, err
			}
		}
		w, after, err := pendingKind().apply(id, st, v, pending.Use{Step: step, At: a.now()})
		return w, after.Auth, err
	}, nil)
}

// errVerificationRequired is the 403 of a sign-in with an unverified email.
func errVerificationRequired(token, email, verificationID string) error {
	return &domain.Error{Kind: domain.Forbidden, Code: "email_verification_required", Message: "Email ownership must be verified before authentication.",
		Details: map[string]any{"pending_authentication_token": token, "email": email, "email_verification_id": verificationID}}
}

// requireVerifiedEmail mails a code and answers 403 when the environment
// requires verified emails and u's is not.
func (a *App) requireVerifiedEmail(ctx context.Context, m Meta, u user.User, method, authMethod string) error {
	if u.EmailVerified || a.allowUnverified {
		return nil
	}
	c, _, err := a.issueCode(ctx, m, "email_verification", emailVerificationCollection, u.Email, u.ID)
	if err != nil {
		return err
	}
	token, err := a.startPending(ctx, m, pending.Auth{UserID: u.ID, Email: u.Email, Step: pending.StepEmailVerification, Method: method, AuthMethod: authMethod})
	if err != nil {
		return err
	}
	return errVerificationRequired(token, u.Email, c.ID)
}

// ResendPendingVerification mails a new email verification code for a
// pending authentication that waits for one; the new code replaces the old.
func (a *App) ResendPendingVerification(ctx context.Context, m Meta, token string) error {
	if token == "" || len(token) > 200 {
		return pending.ErrInvalid()
	}
	st, _, err := pendingKind().load(ctx, a, m.Env, tokenStreamID(token))
	if err != nil {
		return err
	}
	if !st.Exists || st.Used || st.Step != pending.StepEmailVerification || !a.now().Before(st.ExpiresAt) {
		return pending.ErrInvalid()
	}
	_, _, err = a.issueCode(ctx, m, "email_verification", emailVerificationCollection, st.Email, st.UserID)
	return err
}

// AuthenticateEmailVerification is the email-verification:code grant.
func (a *App) AuthenticateEmailVerification(ctx context.Context, m Meta, code, token string, c Client) (AuthResult, error) {
	p, err := a.usePending(ctx, m, token, pending.StepEmailVerification, func(p pending.Auth) error {
		return verificationError(a.attemptCode(ctx, m, "email_verification", p.Email, code))
	})
	if err != nil {
		return AuthResult{}, err
	}
	u, err := a.GetUser(ctx, m.Env, p.UserID)
	if err != nil {
		return AuthResult{}, pending.ErrInvalid()
	}
	if u, err = a.markVerified(ctx, m, u); err != nil {
		return AuthResult{}, err
	}
	a.recordAttempt(ctx, m, "email_verification", u.Email, c, AuthResult{User: u}, nil)
	return a.finishSignIn(ctx, m, u, p.Method, p.AuthMethod, c)
}

// finishSignIn ends a sign-in whose factors are done: a user with one
// active membership signs in to its organization; one with several must
// choose (403 organization_selection_required).
func (a *App) finishSignIn(ctx context.Context, m Meta, u user.User, method, authMethod string, c Client) (AuthResult, error) {
	if r := c.Authorize; r != nil && r.OrganizationID != "" && a.requireActiveMembership(ctx, m.Env, u.ID, r.OrganizationID) == nil {
		// The app asked for this organization, and the user is a member.
		return a.startSession(ctx, m, u, &r.OrganizationID, method, authMethod, c)
	}
	if c.InvitationToken != "" {
		org, err := a.acceptInvitationToken(ctx, m, u, c.InvitationToken)
		if err != nil {
			return AuthResult{}, err
		}
		if org != nil {
			return a.startSession(ctx, m, u, org, method, authMethod, c)
		}
	}
	page, err := a.ListMemberships(ctx, m.Env, ListMembershipsInput{UserID: u.ID, Page: PageParams{Limit: 100, Order: "asc"}})
	if err != nil {
		return AuthResult{}, err
	}
	switch len(page.Data) {
	case 0:
		return a.startSession(ctx, m, u, nil, method, authMethod, c)
	case 1:
		org := page.Data[0].OrganizationID
		return a.startSession(ctx, m, u, &org, method, authMethod, c)
	}
	token, err := a.startPending(ctx, m, pending.Auth{UserID: u.ID, Email: u.Email, Step: pending.StepOrganizationSelection, Method: method, AuthMethod: authMethod})
	if err != nil {
		return AuthResult{}, err
	}
	orgs := make([]map[string]string, 0, len(page.Data))
	for _, ms := range page.Data {
		orgs = append(orgs, map[string]string{"id": ms.OrganizationID, "name": ms.OrganizationName})
	}
	return AuthResult{}, &domain.Error{Kind: domain.Forbidden, Code: "organization_selection_required", Message: "The user must choose an organization.",
		Details: map[string]any{"pending_authentication_token": token, "organizations": orgs, "user": u}}
}

// AuthenticateOrganizationSelection is the organization-selection grant.
func (a *App) AuthenticateOrganizationSelection(ctx context.Context, m Meta, token, orgID string, c Client) (AuthResult, error) {
	p, err := a.usePending(ctx, m, token, pending.StepOrganizationSelection, func(p pending.Auth) error {
		return a.requireActiveMembership(ctx, m.Env, p.UserID, orgID)
	})
	if err != nil {
		return AuthResult{}, err
	}
	u, err := a.GetUser(ctx, m.Env, p.UserID)
	if err != nil {
		return AuthResult{}, pending.ErrInvalid()
	}
	return a.startSession(ctx, m, u, &orgID, p.Method, p.AuthMethod, c)
}
