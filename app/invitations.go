package app

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/keywayhq/keyway/domain"
	"github.com/keywayhq/keyway/domain/invitation"
	"github.com/keywayhq/keyway/domain/membership"
	"github.com/keywayhq/keyway/domain/organization"
	"github.com/keywayhq/keyway/domain/user"
	"github.com/keywayhq/keyway/events"
)

// Read-model and claim names of invitations. An invitation has three
// items: the invitation, listed by environment (Index1) and by
// organization (Index2); a copy listed by email (Index1); and the token
// item, keyed by the SHA-256 of the current token, naming the invitation.
const (
	invitationCollection      = "invitation"
	invitationEmailCollection = "invitation_email"
	invitationTokenCollection = "invitation_token"
	invitationsPartition      = "invitations"
	claimInvitation           = "pending_invitation" // value: email/organization_id, while pending
	// DefaultInviteURL is the accept page when KEYWAY_INVITE_URL is unset.
	DefaultInviteURL = "http://localhost:3000/invite"
)

func invitationsByEmailPartition(email string) string { return "invitations#email#" + email }
func invitationsByOrgPartition(orgID string) string   { return "invitations#org#" + orgID }

// InvitationMessage is an invitation to mail.
type InvitationMessage struct {
	Environment      string
	To               string
	URL              string // the accept link, holding the token
	InviterName      string // empty: none
	OrganizationName string // empty: none
	Expires          time.Duration
}

// InvitationView is an invitation as the API shows it: State is computed
// against the clock; Token and AcceptURL are set only when a token is
// issued (create and resend), since only its hash is kept.
type InvitationView struct {
	invitation.Invitation
	Token     string
	AcceptURL string
}

type invitationToken struct {
	InvitationID string `json:"invitation_id"`
}

func invitationKind() kind[invitation.State] {
	return kind[invitation.State]{invitation.Aggregate, invitation.Evolve, invitation.Decide, invitationClaims, projectInvitation}
}

func invitationClaimValue(email string, orgID *string) string {
	if orgID == nil {
		return email + "/"
	}
	return email + "/" + *orgID
}

// invitationClaims: one pending invitation per email and organization.
func invitationClaims(s invitation.State) []claimKey {
	if !s.Exists || s.State != invitation.Pending {
		return nil
	}
	return []claimKey{{claimInvitation, invitationClaimValue(s.Email, s.OrganizationID)}}
}

// projectInvitation is an invitation's read models.
func projectInvitation(s invitation.State) []events.Item {
	if !s.Exists {
		return nil
	}
	main := newItem(invitationCollection, s.ID, s.Invitation, events.Index1, invitationsPartition, s.ID)
	if s.OrganizationID != nil {
		main.Indexes[events.Index2] = events.IndexKey{Partition: invitationsByOrgPartition(*s.OrganizationID), Sort: s.ID}
	}
	out := []events.Item{main, newItem(invitationEmailCollection, s.ID, s.Invitation, events.Index1, invitationsByEmailPartition(s.Email), s.ID)}
	if s.TokenHash != "" {
		out = append(out, newItem(invitationTokenCollection, s.TokenHash, invitationToken{InvitationID: s.ID}, "", "", ""))
	}
	return out
}

func (a *App) loadInvitation(ctx context.Context, env, id string) (invitation.State, int64, error) {
	st, v, err := invitationKind().load(ctx, a, env, id)
	st.ID = id
	return st, v, err
}

// view computes the state against the clock.
func (a *App) invitationView(inv invitation.Invitation) InvitationView {
	inv.State = inv.StateAt(a.now())
	return InvitationView{Invitation: inv}
}

// acceptURL is the link mailed with a token.
func (a *App) acceptURL(token string) string {
	base := a.inviteURL
	if base == "" {
		base = DefaultInviteURL
	}
	u, err := url.Parse(base)
	if err != nil {
		return base + "?invitation_token=" + url.QueryEscape(token)
	}
	q := u.Query()
	q.Set("invitation_token", token)
	u.RawQuery = q.Encode()
	return u.String()
}

// SendInvitationInput is POST /user_management/invitations.
type SendInvitationInput struct {
	Email          string
	OrganizationID *string
	ExpiresInDays  *int
	InviterUserID  *string
	RoleSlug       *string
}

func errAlreadyInvited(email string) error {
	return domain.Errorf(domain.BadRequest, "email_already_invited", "An invitation for %s is already pending.", email)
}

// SendInvitation creates a pending invitation and mails its accept link.
// The response holds the token, so it is never stored for replays.
func (a *App) SendInvitation(ctx context.Context, m Meta, in SendInvitationInput) (InvitationView, error) {
	if a.mailer == nil {
		return InvitationView{}, errors.New("app: no mailer configured")
	}
	email, err := user.NormalizeEmail("email", in.Email)
	if err != nil {
		return InvitationView{}, err
	}
	days := invitation.DefaultDays
	if in.ExpiresInDays != nil {
		days = *in.ExpiresInDays
	}
	if days < invitation.MinDays || days > invitation.MaxDays {
		return InvitationView{}, domain.InvalidField("expires_in_days", "invalid_expires_in_days", "expires_in_days must be from %d to %d.", invitation.MinDays, invitation.MaxDays)
	}
	if in.RoleSlug != nil {
		if err := a.checkRole(ctx, m.Env, *in.RoleSlug); err != nil {
			return InvitationView{}, err
		}
	}
	var orgName string
	if in.OrganizationID != nil {
		orgID := *in.OrganizationID
		if !ValidID(orgID, "org") {
			return InvitationView{}, organization.ErrNotFound(orgID)
		}
		o, _, err := a.loadOrganization(ctx, m.Env, orgID)
		if err != nil {
			return InvitationView{}, err
		}
		if !o.Exists || o.Deleted {
			return InvitationView{}, organization.ErrNotFound(orgID)
		}
		orgName = o.Name
		if err := a.refuseMember(ctx, m.Env, email, orgID); err != nil {
			return InvitationView{}, err
		}
	}
	var inviterName string
	if in.InviterUserID != nil {
		inviter, err := a.GetUser(ctx, m.Env, *in.InviterUserID)
		if err != nil {
			return InvitationView{}, err
		}
		inviterName = displayName(inviter)
	}
	token, err := randomToken(a.rand, 32)
	if err != nil {
		return InvitationView{}, err
	}
	hash := hashToken(token)
	now := a.now()
	inv := invitation.Invitation{ID: a.ids.New("invitation"), Email: email, State: invitation.Pending, ExpiresAt: now.Add(time.Duration(days) * 24 * time.Hour),
		OrganizationID: in.OrganizationID, InviterUserID: in.InviterUserID, RoleSlug: in.RoleSlug, CreatedAt: now, UpdatedAt: now}
	m.Idempotency = nil // the answer holds the token
	claim := invitationClaimValue(email, in.OrganizationID)
	if err := a.expireStaleInvitation(ctx, m, claim, email); err != nil {
		return InvitationView{}, err
	}
	created, err := execute(ctx, a, m, func() (write, invitation.Invitation, error) {
		w, after, err := invitationKind().apply(inv.ID, invitation.State{}, 0, invitation.Create{Invitation: inv, TokenHash: hash})
		return w, after.Invitation, err
	}, func(*events.ClaimError) error { return errAlreadyInvited(email) })
	if err != nil {
		return InvitationView{}, err
	}
	link := a.acceptURL(token)
	if err := a.mailer.SendInvitation(ctx, InvitationMessage{Environment: m.Env, To: email, URL: link, InviterName: inviterName,
		OrganizationName: orgName, Expires: created.ExpiresAt.Sub(now)}); err != nil {
		_, werr := a.invitationCommand(ctx, m, created.ID, invitation.Revoke{At: a.now()})
		a.log.Error("invitation email not delivered", "request_id", m.RequestID, "error", err, "revoke_error", werr)
		return InvitationView{}, &domain.Error{Kind: domain.Unavailable, Code: "email_delivery_failed", Message: "The invitation could not be emailed; try again."}
	}
	v := a.invitationView(created)
	v.Token, v.AcceptURL = token, link
	return v, nil
}

// expireStaleInvitation frees the pending claim of an email and
// organization: a pending invitation past its expiry is recorded as
// expired; one still pending is email_already_invited.
func (a *App) expireStaleInvitation(ctx context.Context, m Meta, claim, email string) error {
	owner, err := a.store.Owner(ctx, m.Env, claimInvitation, claim)
	if errors.Is(err, events.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("app: invitation lookup: %w", err)
	}
	id := strings.TrimPrefix(owner, invitation.Aggregate+"#")
	old, _, err := a.loadInvitation(ctx, m.Env, id)
	if err != nil {
		return err
	}
	if old.Exists && old.StateAt(a.now()) == invitation.Pending {
		return errAlreadyInvited(email)
	}
	_, err = a.invitationCommand(ctx, m, id, invitation.Expire{At: a.now()})
	return err
}

// refuseMember fails when the email's user is already a member (active or
// pending) of the organization.
func (a *App) refuseMember(ctx context.Context, env, email, orgID string) error {
	u, err := a.userByEmail(ctx, env, email)
	if err != nil || !u.Exists {
		return err
	}
	id, err := a.membershipOf(ctx, env, u.ID, orgID)
	if err != nil || id == "" {
		return err
	}
	ms, _, err := a.loadMembership(ctx, env, id)
	if err != nil {
		return err
	}
	if ms.Exists && !ms.Deleted && ms.Status != membership.Inactive {
		return domain.Errorf(domain.BadRequest, "user_already_organization_member", "The user %s is already a member of the organization %s.", email, orgID)
	}
	return nil
}

func displayName(u user.User) string {
	if u.Name != nil && strings.TrimSpace(*u.Name) != "" {
		return *u.Name
	}
	var parts []string
	for _, p := range []*string{u.FirstName, u.LastName} {
		if p != nil && strings.TrimSpace(*p) != "" {
			parts = append(parts, strings.TrimSpace(*p))
		}
	}
	if len(parts) > 0 {
		return strings.Join(parts, " ")
	}
	return u.Email
}

// invitationCommand decides cmd on a stored invitation.
func (a *App) invitationCommand(ctx context.Context, m Meta, id string, cmd any) (invitation.Invitation, error) {
	if !ValidID(id, "invitation") {
		return invitation.Invitation{}, invitation.ErrNotFound(id)
	}
	return execute(ctx, a, m, func() (write, invitation.Invitation, error) {
		st, v, err := a.loadInvitation(ctx, m.Env, id)
		if err != nil {
			return write{}, invitation.Invitation{}, err
		}
		w, after, err := invitationKind().apply(id, st, v, cmd)
		return w, after.Invitation, err
	}, nil)
}

// GetInvitation reads one invitation (without its token).
func (a *App) GetInvitation(ctx context.Context, env, id string) (InvitationView, error) {
	if !ValidID(id, "invitation") {
		return InvitationView{}, invitation.ErrNotFound(id)
	}
	inv, err := getJSON[invitation.Invitation](ctx, a, env, invitationCollection, id, invitation.ErrNotFound(id))
	if err != nil {
		return InvitationView{}, err
	}
	return a.invitationView(inv), nil
}

// invitationIDOfToken finds the invitation a token belongs to ("" if none).
func (a *App) invitationIDOfToken(ctx context.Context, env, token string) (string, error) {
	if token == "" || len(token) > 200 {
		return "", nil
	}
	t, err := getJSON[invitationToken](ctx, a, env, invitationTokenCollection, hashToken(token), errNoInvitationToken)
	if errors.Is(err, errNoInvitationToken) {
		return "", nil
	}
	return t.InvitationID, err
}

var errNoInvitationToken = errors.New("app: no such invitation token")

// GetInvitationByToken reads the invitation of a current token.
func (a *App) GetInvitationByToken(ctx context.Context, env, token string) (InvitationView, error) {
	nf := domain.NotFoundf("entity_not_found", "Invitation not found.")
	id, err := a.invitationIDOfToken(ctx, env, token)
	if err != nil {
		return InvitationView{}, err
	}
	if id == "" {
		return InvitationView{}, nf
	}
	inv, err := getJSON[invitation.Invitation](ctx, a, env, invitationCollection, id, nf)
	if err != nil {
		return InvitationView{}, err
	}
	return a.invitationView(inv), nil
}

// ListInvitationsInput filters GET /user_management/invitations.
type ListInvitationsInput struct {
	Email, OrganizationID string
	Page                  PageParams
}

// ListInvitations lists invitations, by email and/or organization.
func (a *App) ListInvitations(ctx context.Context, env string, in ListInvitationsInput) (Page[InvitationView], error) {
	var page Page[invitation.Invitation]
	var err error
	decode := decodeJSON[invitation.Invitation]
	switch {
	case in.Email != "":
		email := strings.ToLower(strings.TrimSpace(in.Email))
		var keep func(invitation.Invitation) bool
		if in.OrganizationID != "" {
			keep = func(i invitation.Invitation) bool {
				return i.OrganizationID != nil && *i.OrganizationID == in.OrganizationID
			}
		}
		page, err = listFiltered(ctx, a, env, events.Index1, invitationsByEmailPartition(email), in.Page, decode, keep)
	case in.OrganizationID != "":
		page, err = listPage(ctx, a, env, events.Index2, invitationsByOrgPartition(in.OrganizationID), in.Page, decode)
	default:
		page, err = listPage(ctx, a, env, events.Index1, invitationsPartition, in.Page, decode)
	}
	if err != nil {
		return Page[InvitationView]{}, err
	}
	out := Page[InvitationView]{Data: make([]InvitationView, 0, len(page.Data)), Before: page.Before, After: page.After}
	for _, inv := range page.Data {
		out.Data = append(out.Data, a.invitationView(inv))
	}
	return out, nil
}

// RevokeInvitation withdraws a pending invitation.
func (a *App) RevokeInvitation(ctx context.Context, m Meta, id string) (InvitationView, error) {
	inv, err := a.invitationCommand(ctx, m, id, invitation.Revoke{At: a.now()})
	if err != nil {
		return InvitationView{}, err
	}
	return a.invitationView(inv), nil
}

// ResendInvitation mails a pending invitation again with a new token; the
// old token stops working.
func (a *App) ResendInvitation(ctx context.Context, m Meta, id string) (InvitationView, error) {
	if a.mailer == nil {
		return InvitationView{}, errors.New("app: no mailer configured")
	}
	token, err := randomToken(a.rand, 32)
	if err != nil {
		return InvitationView{}, err
	}
	m.Idempotency = nil // the answer holds the token
	inv, err := a.invitationCommand(ctx, m, id, invitation.Resend{TokenHash: hashToken(token), At: a.now()})
	if err != nil {
		return InvitationView{}, err
	}
	var inviterName, orgName string
	if inv.InviterUserID != nil {
		if u, err := a.GetUser(ctx, m.Env, *inv.InviterUserID); err == nil {
			inviterName = displayName(u)
		}
	}
	if inv.OrganizationID != nil {
		if orgName, err = a.organizationName(ctx, m.Env, *inv.OrganizationID); err != nil {
			return InvitationView{}, err
		}
	}
	link := a.acceptURL(token)
	if err := a.mailer.SendInvitation(ctx, InvitationMessage{Environment: m.Env, To: inv.Email, URL: link, InviterName: inviterName,
		OrganizationName: orgName, Expires: inv.ExpiresAt.Sub(a.now())}); err != nil {
		a.log.Error("invitation email not delivered", "request_id", m.RequestID, "error", err)
		return InvitationView{}, &domain.Error{Kind: domain.Unavailable, Code: "email_delivery_failed", Message: "The invitation could not be emailed; try again."}
	}
	v := a.invitationView(inv)
	v.Token, v.AcceptURL = token, link
	return v, nil
}

// AcceptInvitation marks a pending invitation accepted. When a user has
// the invited email and the invitation names an organization, the user
// becomes a member with the invited role.
func (a *App) AcceptInvitation(ctx context.Context, m Meta, id string) (InvitationView, error) {
	inv, err := a.acceptInvitation(ctx, m, id, nil)
	if err != nil {
		return InvitationView{}, err
	}
	return a.invitationView(inv), nil
}

// acceptInvitation gives the membership first, so that a failure leaves
// the invitation pending for a retry, then records the acceptance. check,
// if set, vets the pending invitation first.
func (a *App) acceptInvitation(ctx context.Context, m Meta, id string, check func(invitation.Invitation) error) (invitation.Invitation, error) {
	if !ValidID(id, "invitation") {
		return invitation.Invitation{}, invitation.ErrNotFound(id)
	}
	st, _, err := a.loadInvitation(ctx, m.Env, id)
	if err != nil {
		return invitation.Invitation{}, err
	}
	if !st.Exists {
		return invitation.Invitation{}, invitation.ErrNotFound(id)
	}
	if check != nil {
		if err := check(st.Invitation); err != nil {
			return invitation.Invitation{}, err
		}
	}
	if st.StateAt(a.now()) != invitation.Pending {
		return invitation.Invitation{}, domain.Errorf(domain.BadRequest, "invite_not_pending", "The invitation %s is not pending.", id)
	}
	u, err := a.userByEmail(ctx, m.Env, st.Email)
	if err != nil {
		return invitation.Invitation{}, err
	}
	var userID *string
	if u.Exists {
		uid := u.ID
		userID = &uid
		if st.OrganizationID != nil {
			role := "member"
			if st.RoleSlug != nil {
				role = *st.RoleSlug
			}
			mm := m
			mm.Idempotency = nil // the acceptance holds the key
			_, err := a.CreateMembership(ctx, mm, u.ID, *st.OrganizationID, role)
			if de, ok := domain.As(err); ok && de.Code == "organization_membership_already_exists" {
				err = nil
			}
			if err != nil {
				return invitation.Invitation{}, err
			}
		}
	}
	return a.invitationCommand(ctx, m, id, invitation.Accept{UserID: userID, At: a.now()})
}

func errInvitationInvalid() error {
	msg := "The invitation token is invalid, expired, or for another email."
	return &domain.Error{Kind: domain.BadRequest, Code: "invitation_invalid", Message: msg,
		Details: map[string]any{"error": "invitation_invalid", "error_description": msg}}
}

// acceptInvitationToken is the invitation_token of a sign-in: the
// invitation of u's email is accepted, with its membership, before the
// session starts. It returns the invitation's organization, if any.
func (a *App) acceptInvitationToken(ctx context.Context, m Meta, u user.User, token string) (*string, error) {
	id, err := a.invitationIDOfToken(ctx, m.Env, token)
	if err != nil {
		return nil, err
	}
	if id == "" {
		return nil, errInvitationInvalid()
	}
	m.Idempotency = nil
	inv, err := a.acceptInvitation(ctx, m, id, func(inv invitation.Invitation) error {
		if inv.Email != u.Email || inv.StateAt(a.now()) != invitation.Pending {
			return errInvitationInvalid()
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return inv.OrganizationID, nil
}
