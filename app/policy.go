package app

import (
	"context"
	"errors"
	"strings"

	"github.com/keywayhq/keyway/domain"
	"github.com/keywayhq/keyway/domain/organization"
	"github.com/keywayhq/keyway/domain/user"
)

// Authentication methods a domain policy can allow.
const (
	MethodPassword  = "password"
	MethodMagicAuth = "magic_auth"
	MethodOAuth     = "oauth"
	MethodSSO       = "sso"
)

// AuthPolicy answers "for this email, which methods are allowed, and which
// organization and connections apply?". The authentication flows enforce it.
type AuthPolicy struct {
	Email          string   `json:"email"`
	Methods        []string `json:"methods"`
	SSORequired    bool     `json:"sso_required"`
	OrganizationID *string  `json:"organization_id"`
	ConnectionIDs  []string `json:"connection_ids"`
}

// AuthPolicyFor applies the domain policy of the organization, if any, that
// has verified the email's domain.
func (a *App) AuthPolicyFor(ctx context.Context, env, email string) (AuthPolicy, error) {
	e, err := user.NormalizeEmail("email", email)
	if err != nil {
		return AuthPolicy{}, err
	}
	p := AuthPolicy{Email: e, Methods: []string{MethodPassword, MethodMagicAuth, MethodOAuth, MethodSSO}, ConnectionIDs: []string{}}
	org, ok, err := a.OrganizationOfDomain(ctx, env, emailDomain(e))
	if err != nil || !ok {
		return p, err
	}
	p.OrganizationID = &org.ID
	if org.Policies.SSORequired {
		p.SSORequired, p.Methods = true, []string{MethodSSO}
	}
	return p, nil
}

// VerifiedBySSO reports whether an SSO sign-in through orgID vouches for
// the email: users signing in with SSO on one of the organization's
// verified domains count as email-verified.
func (a *App) VerifiedBySSO(ctx context.Context, env, orgID, email string) (bool, error) {
	e, err := user.NormalizeEmail("email", email)
	if err != nil {
		return false, nil
	}
	org, ok, err := a.OrganizationOfDomain(ctx, env, emailDomain(e))
	return ok && org.ID == orgID, err
}

// joinByDomain applies automatic membership (JIT): a user whose verified
// email is on a verified domain of an organization with the policy on
// becomes a member of it.
func (a *App) joinByDomain(ctx context.Context, m Meta, u user.User) error {
	if !u.EmailVerified {
		return nil
	}
	org, ok, err := a.OrganizationOfDomain(ctx, m.Env, emailDomain(u.Email))
	if err != nil || !ok || !org.Policies.JITMembership {
		return err
	}
	// An existing membership, even a deactivated one, is left as it is.
	if id, err := a.membershipOf(ctx, m.Env, u.ID, org.ID); err != nil || id != "" {
		return err
	}
	m.Idempotency = nil
	_, err = a.CreateMembership(ctx, m, u.ID, org.ID, "member")
	var de *domain.Error
	if errors.As(err, &de) && de.Code == "organization_membership_already_exists" {
		return nil
	}
	return err
}

// join runs joinByDomain after a user change that has already succeeded:
// a failure is logged, not returned, since the user change stands.
func (a *App) join(ctx context.Context, m Meta, u user.User) {
	if err := a.joinByDomain(ctx, m, u); err != nil {
		a.log.Warn("automatic membership failed", "user_id", u.ID, "request_id", m.RequestID, "error", err)
	}
}

// emailDomain is an email's domain in the ASCII form organization domains
// are stored in, so that an internationalized domain matches its punycode.
func emailDomain(email string) string {
	_, d, _ := strings.Cut(email, "@")
	if ascii, err := organization.NormalizeDomain("email", d); err == nil {
		return ascii
	}
	return d
}
