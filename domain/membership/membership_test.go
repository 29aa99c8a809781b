package membership_test

import (
	"testing"
	"time"

	"github.com/keywayhq/keyway/domain"
	"github.com/keywayhq/keyway/domain/membership"
	"github.com/keywayhq/keyway/events"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func fold(evs ...events.Event) membership.State {
	var s membership.State
	for _, e := range evs {
		s = membership.Evolve(s, e)
	}
	return s
}

func TestDecide(t *testing.T) {
	m := membership.Membership{ID: "om_1", UserID: "user_1", OrganizationID: "org_1", Status: membership.Active, Role: membership.Role{Slug: "member"}, CreatedAt: t0, UpdatedAt: t0}
	active := fold(membership.Created{Membership: m})
	off := m
	off.Status = membership.Inactive
	inactive := fold(membership.Created{Membership: m}, membership.Updated{Membership: off})
	waiting := m
	waiting.Status = membership.Pending
	pendingState := fold(membership.Created{Membership: waiting})
	deleted := fold(membership.Created{Membership: m}, membership.Deleted{Membership: m})
	t1 := t0.Add(time.Hour)
	cases := []struct {
		name   string
		state  membership.State
		cmd    any
		want   string // the one event type, or "" for none
		status string // of the event's membership
		role   string
		kind   domain.Kind
		code   string
	}{
		{name: "create", cmd: membership.Create{ID: "om_1", UserID: "user_1", OrganizationID: "org_1", Role: "admin", At: t0},
			want: "organization_membership.created", status: membership.Active, role: "admin"},
		{name: "create twice", state: active, cmd: membership.Create{ID: "om_1"}, kind: domain.Conflict, code: "organization_membership_already_exists"},
		{name: "change role", state: active, cmd: membership.ChangeRole{Role: "admin", At: t1}, want: "organization_membership.updated", status: membership.Active, role: "admin"},
		{name: "change to the same role", state: active, cmd: membership.ChangeRole{Role: "member", At: t1}},
		{name: "deactivate", state: active, cmd: membership.Deactivate{At: t1}, want: "organization_membership.updated", status: membership.Inactive, role: "member"},
		{name: "deactivate again", state: inactive, cmd: membership.Deactivate{At: t1}},
		{name: "deactivate a pending membership", state: pendingState, cmd: membership.Deactivate{}, kind: domain.BadRequest, code: "cannot_deactivate_pending_organization_membership"},
		{name: "reactivate", state: inactive, cmd: membership.Reactivate{At: t1}, want: "organization_membership.updated", status: membership.Active, role: "member"},
		{name: "reactivate an active membership", state: active, cmd: membership.Reactivate{At: t1}},
		{name: "reactivate a pending membership", state: pendingState, cmd: membership.Reactivate{}, kind: domain.BadRequest, code: "cannot_reactivate_pending_organization_membership"},
		{name: "delete", state: inactive, cmd: membership.Delete{At: t1}, want: "organization_membership.deleted", status: membership.Inactive, role: "member"},
		{name: "delete twice", state: deleted, cmd: membership.Delete{}, kind: domain.NotFound},
		{name: "change a deleted membership", state: deleted, cmd: membership.ChangeRole{Role: "admin"}, kind: domain.NotFound},
		{name: "deactivate a missing membership", cmd: membership.Deactivate{}, kind: domain.NotFound},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			evs, err := membership.Decide(c.state, c.cmd)
			if c.kind != 0 {
				de, ok := domain.As(err)
				if !ok || de.Kind != c.kind || (c.code != "" && de.Code != c.code) || len(evs) != 0 {
					t.Fatalf("Decide = %v, %v; want kind %d %s", evs, err, c.kind, c.code)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.want == "" {
				if len(evs) != 0 {
					t.Fatalf("Decide = %v, want no events", evs)
				}
				return
			}
			if len(evs) != 1 || evs[0].EventType() != c.want {
				t.Fatalf("Decide = %v, want one %s", evs, c.want)
			}
			after := membership.Evolve(c.state, evs[0])
			if after.Status != c.status || after.Role.Slug != c.role || after.ID != "om_1" {
				t.Fatalf("after %s: %+v", c.want, after.Membership)
			}
			if _, deleting := c.cmd.(membership.Delete); deleting != after.Deleted {
				t.Fatalf("deleted = %v", after.Deleted)
			}
			if _, creating := c.cmd.(membership.Create); !creating && !after.UpdatedAt.Equal(t1) && !after.Deleted {
				t.Fatalf("updated_at = %v, want %v", after.UpdatedAt, t1)
			}
			if !after.CreatedAt.Equal(t0) {
				t.Fatalf("created_at = %v", after.CreatedAt)
			}
		})
	}
}
