package app

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/keywayhq/keyway/domain"
	"github.com/keywayhq/keyway/domain/membership"
	"github.com/keywayhq/keyway/domain/organization"
	"github.com/keywayhq/keyway/domain/user"
	"github.com/keywayhq/keyway/events"
)

// Read-model and claim names of memberships. A membership has two items:
// the membership, listed by user (Index1) and by organization (Index2), and
// an org_user entry listing the organization's users by user id, so that
// GET /user_management/users?organization_id= pages by user id.
const (
	membershipCollection = "membership"
	orgUserCollection    = "org_user"
	claimMembership      = "membership" // value: user_id/organization_id
	// cleanupBatch memberships are removed per append when a user or an
	// organization is deleted: 4 DynamoDB actions each, within the 100 limit.
	cleanupBatch = 20
)

func userMembershipsPartition(userID string) string { return "memberships#user#" + userID }
func orgMembershipsPartition(orgID string) string   { return "memberships#org#" + orgID }
func orgUsersPartition(orgID string) string         { return "org_users#" + orgID }

// MembershipView is a membership with its organization's name, as the API shows it.
type MembershipView struct {
	membership.Membership
	OrganizationName string
}

// orgUser is the org_user read model.
type orgUser struct {
	UserID       string `json:"user_id"`
	MembershipID string `json:"membership_id"`
	Status       string `json:"status"`
}

// projectMembership is a membership's read models.
func projectMembership(s membership.State) []events.Item {
	if !s.Exists || s.Deleted {
		return nil
	}
	m := newItem(membershipCollection, s.ID, s.Membership, events.Index1, userMembershipsPartition(s.UserID), s.ID)
	m.Indexes[events.Index2] = events.IndexKey{Partition: orgMembershipsPartition(s.OrganizationID), Sort: s.ID}
	ou := newItem(orgUserCollection, s.OrganizationID+"/"+s.UserID, orgUser{UserID: s.UserID, MembershipID: s.ID, Status: s.Status},
		events.Index1, orgUsersPartition(s.OrganizationID), s.UserID)
	return []events.Item{m, ou}
}

func membershipClaims(s membership.State) []claimKey {
	if !s.Exists || s.Deleted {
		return nil
	}
	return []claimKey{{claimMembership, s.UserID + "/" + s.OrganizationID}}
}

func (a *App) loadMembership(ctx context.Context, env, id string) (membership.State, int64, error) {
	return membershipKind().load(ctx, a, env, id)
}

// membershipChange decides cmd on a loaded membership; its events carry orgName.
func membershipChange(before membership.State, version int64, cmd any, orgName string) (write, membership.State, error) {
	w, after, err := membershipKind().apply(before.ID, before, version, cmd)
	nameEvents(w, orgName)
	return w, after, err
}

func nameEvents(w write, orgName string) {
	for _, s := range w.streams {
		for i, e := range s.events {
			s.events[i] = membership.Named(e, orgName)
		}
	}
}

// CreateMembership adds a user to an organization. Creating it again for an
// inactive pair reactivates it.
func (a *App) CreateMembership(ctx context.Context, m Meta, userID, orgID, roleSlug string) (MembershipView, error) {
	if roleSlug == "" {
		roleSlug = "member"
	}
	if err := a.checkRole(ctx, m.Env, roleSlug); err != nil {
		return MembershipView{}, err
	}
	if !ValidID(userID, "user") {
		return MembershipView{}, user.ErrNotFound(userID)
	}
	if !ValidID(orgID, "org") {
		return MembershipView{}, organization.ErrNotFound(orgID)
	}
	id := a.ids.New("om")
	return execute(ctx, a, m, func() (write, MembershipView, error) {
		u, uv, err := a.loadUser(ctx, m.Env, userID)
		if err != nil {
			return write{}, MembershipView{}, err
		}
		if !u.Exists || u.Deleted {
			return write{}, MembershipView{}, user.ErrNotFound(userID)
		}
		o, ov, err := a.loadOrganization(ctx, m.Env, orgID)
		if err != nil {
			return write{}, MembershipView{}, err
		}
		if !o.Exists || o.Deleted {
			return write{}, MembershipView{}, organization.ErrNotFound(orgID)
		}
		existing, err := a.membershipOf(ctx, m.Env, userID, orgID)
		if err != nil {
			return write{}, MembershipView{}, err
		}
		var w write
		var after membership.State
		if existing != "" {
			st, v, err := a.loadMembership(ctx, m.Env, existing)
			if err != nil {
				return write{}, MembershipView{}, err
			}
			if st.Status != membership.Inactive {
				return write{}, MembershipView{}, errMembershipExists(userID, orgID)
			}
			w, after, err = membershipKind().apply(st.ID, st, v, membership.Reactivate{At: a.now()})
			if err == nil && after.Role.Slug != roleSlug {
				w, after, err = membershipKind().then(w, st, after, membership.ChangeRole{Role: roleSlug, At: a.now()})
			}
			if err != nil {
				return write{}, MembershipView{}, err
			}
		} else {
			w, after, err = membershipKind().apply(id, membership.State{}, 0, membership.Create{ID: id, UserID: userID, OrganizationID: orgID, Role: roleSlug, At: a.now()})
			if err != nil {
				return write{}, MembershipView{}, err
			}
			// The user and the organization must not change (be deleted) meanwhile.
			w.checks = []events.StreamCheck{{Stream: events.StreamName(user.Aggregate, userID), Version: uv},
				{Stream: events.StreamName(organization.Aggregate, orgID), Version: ov}}
		}
		nameEvents(w, o.Name)
		return w, MembershipView{Membership: after.Membership, OrganizationName: o.Name}, nil
	}, func(ce *events.ClaimError) error { return errMembershipExists(userID, orgID) })
}

func errMembershipExists(userID, orgID string) error {
	return domain.Errorf(domain.Conflict, "organization_membership_already_exists", "The user %s is already a member of the organization %s.", userID, orgID)
}

// membershipOf returns the id of the user's membership in the organization, if any.
func (a *App) membershipOf(ctx context.Context, env, userID, orgID string) (string, error) {
	owner, err := a.store.Owner(ctx, env, claimMembership, userID+"/"+orgID)
	if errors.Is(err, events.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("app: membership lookup: %w", err)
	}
	return strings.TrimPrefix(owner, membership.Aggregate+"#"), nil
}

// UpdateMembership changes a membership's role.
func (a *App) UpdateMembership(ctx context.Context, m Meta, id, roleSlug string) (MembershipView, error) {
	if err := a.checkRole(ctx, m.Env, roleSlug); err != nil {
		return MembershipView{}, err
	}
	return a.membershipCommand(ctx, m, id, membership.ChangeRole{Role: roleSlug, At: a.now()})
}

// DeactivateMembership makes a membership inactive.
func (a *App) DeactivateMembership(ctx context.Context, m Meta, id string) (MembershipView, error) {
	return a.membershipCommand(ctx, m, id, membership.Deactivate{At: a.now()})
}

// ReactivateMembership makes a membership active again.
func (a *App) ReactivateMembership(ctx context.Context, m Meta, id string) (MembershipView, error) {
	return a.membershipCommand(ctx, m, id, membership.Reactivate{At: a.now()})
}

// DeleteMembership removes a membership.
func (a *App) DeleteMembership(ctx context.Context, m Meta, id string) error {
	_, err := a.membershipCommand(ctx, m, id, membership.Delete{At: a.now()})
	return err
}

func (a *App) membershipCommand(ctx context.Context, m Meta, id string, cmd any) (MembershipView, error) {
	if !ValidID(id, "om") {
		return MembershipView{}, membership.ErrNotFound(id)
	}
	return execute(ctx, a, m, func() (write, MembershipView, error) {
		st, v, err := a.loadMembership(ctx, m.Env, id)
		if err != nil {
			return write{}, MembershipView{}, err
		}
		st.ID = id
		name, err := a.organizationName(ctx, m.Env, st.OrganizationID)
		if err != nil {
			return write{}, MembershipView{}, err
		}
		w, after, err := membershipChange(st, v, cmd, name)
		return w, MembershipView{Membership: after.Membership, OrganizationName: name}, err
	}, nil)
}

// organizationName is an organization's name, also once it is deleted.
func (a *App) organizationName(ctx context.Context, env, orgID string) (string, error) {
	if orgID == "" {
		return "", nil
	}
	o, err := a.GetOrganization(ctx, env, orgID)
	if err == nil {
		return o.Name, nil
	}
	if _, ok := domain.As(err); !ok {
		return "", err
	}
	st, _, err := a.loadOrganization(ctx, env, orgID)
	return st.Name, err
}

// removeMemberships deletes every membership of one index partition (a
// user's or an organization's), a batch per append, each at its version.
func (a *App) removeMemberships(ctx context.Context, m Meta, idx events.Index, partition string) error {
	m.Idempotency = nil // the delete that led here holds the key
	q := events.Query{Environment: m.Env, Index: idx, Partition: partition, Limit: cleanupBatch}
	for {
		items, err := a.store.Query(ctx, q)
		if err != nil {
			return fmt.Errorf("app: memberships to remove: %w", err)
		}
		if len(items) == 0 {
			return nil
		}
		q.Start = items[len(items)-1].Indexes[idx].Sort
		_, err = execute(ctx, a, m, func() (write, struct{}, error) {
			var all write
			for _, it := range items {
				st, v, err := a.loadMembership(ctx, m.Env, it.ID)
				if err != nil {
					return write{}, struct{}{}, err
				}
				if !st.Exists || st.Deleted {
					continue
				}
				name, err := a.organizationName(ctx, m.Env, st.OrganizationID)
				if err != nil {
					return write{}, struct{}{}, err
				}
				w, _, err := membershipChange(st, v, membership.Delete{At: a.now()}, name)
				if err != nil {
					return write{}, struct{}{}, err
				}
				all = all.merge(w)
			}
			return all, struct{}{}, nil
		}, nil)
		if err != nil {
			return err
		}
	}
}

// GetMembership reads one membership.
func (a *App) GetMembership(ctx context.Context, env, id string) (MembershipView, error) {
	if !ValidID(id, "om") {
		return MembershipView{}, membership.ErrNotFound(id)
	}
	ms, err := getJSON[membership.Membership](ctx, a, env, membershipCollection, id, membership.ErrNotFound(id))
	if err != nil {
		return MembershipView{}, err
	}
	return a.withOrganizationName(ctx, env, ms)
}

// ListMembershipsInput filters GET /user_management/organization_memberships.
type ListMembershipsInput struct {
	UserID, OrganizationID string
	Statuses               []string // default: active
	Page                   PageParams
}

// ListMemberships lists memberships by user and/or organization.
func (a *App) ListMemberships(ctx context.Context, env string, in ListMembershipsInput) (Page[MembershipView], error) {
	statuses := map[string]bool{}
	for _, s := range in.Statuses {
		switch s {
		case membership.Active, membership.Inactive, membership.Pending:
			statuses[s] = true
		default:
			return Page[MembershipView]{}, domain.InvalidField("statuses", "invalid_status", "statuses must be active, inactive or pending.")
		}
	}
	if len(statuses) == 0 {
		statuses[membership.Active] = true
	}
	keep := func(m membership.Membership) bool { return statuses[m.Status] }
	var page Page[membership.Membership]
	var err error
	switch {
	case in.UserID == "" && in.OrganizationID == "":
		return Page[MembershipView]{}, domain.Errorf(domain.BadRequest, "missing_user_id_or_organization_id", "Provide user_id, organization_id or both.")
	case in.UserID != "" && in.OrganizationID != "":
		page.Data = []membership.Membership{}
		id, err := a.membershipOf(ctx, env, in.UserID, in.OrganizationID)
		if err != nil {
			return Page[MembershipView]{}, err
		}
		if id != "" {
			ms, err := getJSON[membership.Membership](ctx, a, env, membershipCollection, id, membership.ErrNotFound(id))
			if err == nil && keep(ms) {
				page.Data = append(page.Data, ms)
			}
		}
	case in.UserID != "":
		page, err = listFiltered(ctx, a, env, events.Index1, userMembershipsPartition(in.UserID), in.Page, decodeJSON[membership.Membership], keep)
	default:
		page, err = listFiltered(ctx, a, env, events.Index2, orgMembershipsPartition(in.OrganizationID), in.Page, decodeJSON[membership.Membership], keep)
	}
	if err != nil {
		return Page[MembershipView]{}, err
	}
	views, err := a.withOrganizationNames(ctx, env, page.Data)
	return Page[MembershipView]{Data: views, Before: page.Before, After: page.After}, err
}

// usersOfOrganization pages the active members of an organization by user id.
func (a *App) usersOfOrganization(ctx context.Context, env, orgID string, p PageParams) (Page[user.User], error) {
	ous, err := listFiltered(ctx, a, env, events.Index1, orgUsersPartition(orgID), p, decodeJSON[orgUser],
		func(o orgUser) bool { return o.Status == membership.Active })
	if err != nil {
		return Page[user.User]{}, err
	}
	keys := make([]events.ItemKey, 0, len(ous.Data))
	for _, o := range ous.Data {
		keys = append(keys, events.ItemKey{Collection: userCollection, ID: o.UserID})
	}
	users, err := getMany[user.User](ctx, a, env, keys)
	return Page[user.User]{Data: users, Before: ous.Before, After: ous.After}, err
}

func (a *App) withOrganizationName(ctx context.Context, env string, ms membership.Membership) (MembershipView, error) {
	views, err := a.withOrganizationNames(ctx, env, []membership.Membership{ms})
	if err != nil {
		return MembershipView{}, err
	}
	return views[0], nil
}

// withOrganizationNames adds organization names, reading each organization once.
func (a *App) withOrganizationNames(ctx context.Context, env string, list []membership.Membership) ([]MembershipView, error) {
	seen := map[string]bool{}
	var keys []events.ItemKey
	for _, ms := range list {
		if !seen[ms.OrganizationID] {
			seen[ms.OrganizationID] = true
			keys = append(keys, events.ItemKey{Collection: organizationCollection, ID: ms.OrganizationID})
		}
	}
	orgs, err := getMany[OrganizationView](ctx, a, env, keys)
	if err != nil {
		return nil, err
	}
	names := map[string]string{}
	for _, o := range orgs {
		names[o.ID] = o.Name
	}
	out := make([]MembershipView, 0, len(list))
	for _, ms := range list {
		out = append(out, MembershipView{Membership: ms, OrganizationName: names[ms.OrganizationID]})
	}
	return out, nil
}
