package invitation_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/keywayhq/keyway/domain"
	"github.com/keywayhq/keyway/domain/invitation"
	"github.com/keywayhq/keyway/events"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func fold(evs ...events.Event) invitation.State {
	var s invitation.State
	for _, e := range evs {
		s = invitation.Evolve(s, e)
	}
	return s
}

func code(err error) string {
	if de, ok := domain.As(err); ok {
		return de.Code
	}
	return ""
}

func created() invitation.Created {
	return invitation.Created{Invitation: invitation.Invitation{ID: "invitation_1", Email: "a@example.com", State: invitation.Pending,
		ExpiresAt: t0.Add(7 * 24 * time.Hour), CreatedAt: t0, UpdatedAt: t0}, TokenHash: "h1"}
}

func TestDecide(t *testing.T) {
	pending := fold(created())
	accepted := fold(created(), invitation.AcceptedEvent{Invitation: invitation.Invitation{ID: "invitation_1", State: invitation.Accepted}})
	revoked := fold(created(), invitation.RevokedEvent{Invitation: invitation.Invitation{ID: "invitation_1", State: invitation.Revoked}})
	soon, late := t0.Add(time.Hour), t0.Add(8*24*time.Hour)
	cases := []struct {
		name  string
		state invitation.State
		cmd   any
		event string
		err   string
	}{
		{"create", invitation.State{}, invitation.Create{Invitation: created().Invitation, TokenHash: "h"}, "invitation.created", ""},
		{"create twice", pending, invitation.Create{Invitation: created().Invitation}, "", "invitation_exists"},
		{"accept pending", pending, invitation.Accept{At: soon}, "invitation.accepted", ""},
		{"accept accepted", accepted, invitation.Accept{At: soon}, "", "invite_not_pending"},
		{"accept revoked", revoked, invitation.Accept{At: soon}, "", "invite_not_pending"},
		{"accept expired", pending, invitation.Accept{At: late}, "", "invite_not_pending"},
		{"accept unknown", invitation.State{}, invitation.Accept{At: soon}, "", "entity_not_found"},
		{"revoke pending", pending, invitation.Revoke{At: soon}, "invitation.revoked", ""},
		{"revoke revoked", revoked, invitation.Revoke{At: soon}, "", "invite_not_pending"},
		{"revoke expired", pending, invitation.Revoke{At: late}, "", "invite_not_pending"},
		{"resend pending", pending, invitation.Resend{TokenHash: "h2", At: soon}, "invitation.resent", ""},
		{"resend expired", pending, invitation.Resend{At: late}, "", "invite_expired"},
		{"resend revoked", revoked, invitation.Resend{At: soon}, "", "invite_revoked"},
		{"resend accepted", accepted, invitation.Resend{At: soon}, "", "invite_accepted"},
		{"expire when due", pending, invitation.Expire{At: late}, "invitation.expired", ""},
		{"expire before due", pending, invitation.Expire{At: soon}, "", ""},
		{"expire accepted", accepted, invitation.Expire{At: late}, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			evs, err := invitation.Decide(c.state, c.cmd)
			got := ""
			if len(evs) == 1 {
				got = evs[0].EventType()
			}
			if got != c.event || code(err) != c.err {
				t.Fatalf("events %q err %v; want %q %q", got, err, c.event, c.err)
			}
		})
	}
}

func TestStateAt(t *testing.T) {
	inv := created().Invitation
	for _, c := range []struct {
		at   time.Time
		want string
	}{{t0, invitation.Pending}, {inv.ExpiresAt.Add(-time.Millisecond), invitation.Pending}, {inv.ExpiresAt, invitation.Expired}} {
		if got := inv.StateAt(c.at); got != c.want {
			t.Errorf("StateAt(%v) = %s, want %s", c.at, got, c.want)
		}
	}
	inv.State = invitation.Revoked
	if inv.StateAt(inv.ExpiresAt.Add(time.Hour)) != invitation.Revoked {
		t.Error("a revoked invitation stays revoked after its expiry")
	}
}

func TestResendReplacesTheTokenHash(t *testing.T) {
	s := fold(created())
	evs, err := invitation.Decide(s, invitation.Resend{TokenHash: "h2", At: t0.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	s = invitation.Evolve(s, evs[0])
	if s.TokenHash != "h2" || s.State != invitation.Pending || !s.UpdatedAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("after resend: %+v", s)
	}
}

func TestAcceptRecordsTheUser(t *testing.T) {
	uid := "user_1"
	at := t0.Add(time.Hour)
	evs, err := invitation.Decide(fold(created()), invitation.Accept{UserID: &uid, At: at})
	if err != nil {
		t.Fatal(err)
	}
	s := invitation.Evolve(fold(created()), evs[0])
	if s.State != invitation.Accepted || s.AcceptedUserID == nil || *s.AcceptedUserID != uid || s.AcceptedAt == nil || !s.AcceptedAt.Equal(at) {
		t.Fatalf("accepted: %+v", s.Invitation)
	}
	b, _ := json.Marshal(evs[0])
	if strings.Contains(string(b), "token\"") {
		t.Fatalf("event holds a token: %s", b)
	}
}
