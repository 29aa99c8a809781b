package api_test

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keywayhq/keyway/app"
)

// SendInvitation completes fakeMailer (api/passwordreset_test.go) for
// app.Mailer: an invitation is kept as a link of kind "invitation".
func (m *fakeMailer) SendInvitation(ctx context.Context, i app.InvitationMessage) error {
	return m.SendLink(ctx, app.LinkMessage{Environment: i.Environment, Kind: "invitation", To: i.To, URL: i.URL, Expires: i.Expires})
}

// inviteMailer captures the invitations the app mails; fail makes sends fail.
type inviteMailer struct {
	mu      sync.Mutex
	invites []app.InvitationMessage
	fail    bool
}

func (m *inviteMailer) SendCode(context.Context, app.CodeMessage) error { return nil }
func (m *inviteMailer) SendLink(context.Context, app.LinkMessage) error { return nil }

func (m *inviteMailer) SendInvitation(_ context.Context, i app.InvitationMessage) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail {
		return errors.New("invite mailer: down")
	}
	m.invites = append(m.invites, i)
	return nil
}

func (m *inviteMailer) sentInvites() []app.InvitationMessage {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]app.InvitationMessage(nil), m.invites...)
}

func newInviteFixture(t *testing.T) (*fixture, *inviteMailer) {
	m := &inviteMailer{}
	return newFixtureWith(t, fixtureOptions{mailer: m}), m
}

// invite sends an invitation and returns it with the token of the mailed link.
func (f *fixture) invite(m *inviteMailer, body obj) (obj, string) {
	f.t.Helper()
	n := len(m.sentInvites())
	inv := f.must(f.staging, "POST", "/user_management/invitations", body, 201)
	return inv, f.mailedToken(m, n, inv)
}

// mailedToken checks that link n was mailed for inv and returns its token.
func (f *fixture) mailedToken(m *inviteMailer, n int, inv obj) string {
	f.t.Helper()
	links := m.sentInvites()
	if len(links) != n+1 || links[n].To != inv["email"] {
		f.t.Fatalf("mailed %v, want one invitation to %v", links[n:], inv["email"])
	}
	u, err := url.Parse(links[n].URL)
	if err != nil || !strings.HasPrefix(links[n].URL, app.DefaultInviteURL+"?") {
		f.t.Fatalf("link %q", links[n].URL)
	}
	token := u.Query().Get("invitation_token")
	if token == "" || token != inv["token"] || inv["accept_invitation_url"] != links[n].URL {
		f.t.Fatalf("link %q, response token %v url %v", links[n].URL, inv["token"], inv["accept_invitation_url"])
	}
	return token
}

func TestInvitationSendGetAndByToken(t *testing.T) {
	f, m := newInviteFixture(t)
	org := f.createOrg(obj{"name": "Acme"})["id"].(string)
	inviter := f.newUser("boss@example.com")
	inv, token := f.invite(m, obj{"email": " Carol@Example.com ", "organization_id": org, "inviter_user_id": inviter, "role_slug": "admin", "expires_in_days": 3})
	id, _ := inv["id"].(string)
	if !app.ValidID(id, "invitation") || inv["object"] != "invitation" || inv["email"] != "carol@example.com" || inv["state"] != "pending" ||
		inv["organization_id"] != org || inv["inviter_user_id"] != inviter || inv["role_slug"] != "admin" ||
		inv["expires_at"] != "2026-03-07T05:06:07.000Z" || inv["created_at"] != t0 || inv["updated_at"] != t0 {
		t.Fatalf("created = %v", inv)
	}
	for _, k := range []string{"accepted_at", "revoked_at", "accepted_user_id"} {
		if v, ok := inv[k]; !ok || v != nil {
			t.Errorf("%s = %v, want null", k, v)
		}
	}
	for _, path := range []string{"/user_management/invitations/" + id, "/user_management/invitations/by_token/" + token} {
		got := f.unchanged(f.staging, "GET", path, nil, 200)
		if got["id"] != id || got["state"] != "pending" || got["role_slug"] != "admin" {
			t.Fatalf("GET %s = %v", path, got)
		}
		if _, ok := got["token"]; ok {
			t.Fatalf("GET %s returns a token it cannot have: %v", path, got)
		}
	}
	f.must(f.staging, "GET", "/user_management/invitations/invitation_01ZZZZZZZZZZZZZZZZZZZZZZZZ", nil, 404)
	f.must(f.staging, "GET", "/user_management/invitations/not-an-id", nil, 404)
	f.must(f.staging, "GET", "/user_management/invitations/by_token/nope", nil, 404)
	// Defaults: no organization, 7 days, nulls.
	plain, _ := f.invite(m, obj{"email": "dave@example.com"})
	if plain["expires_at"] != "2026-03-11T05:06:07.000Z" || plain["organization_id"] != nil || plain["role_slug"] != nil || plain["inviter_user_id"] != nil {
		t.Fatalf("defaults = %v", plain)
	}
	// Bad input writes nothing.
	f.rejected(f.staging, "POST", "/user_management/invitations", obj{}, 422, "invalid_request_parameters")
	f.rejected(f.staging, "POST", "/user_management/invitations", obj{"email": "x@example.com", "expires_in_days": 31}, 422, "invalid_request_parameters")
	f.rejected(f.staging, "POST", "/user_management/invitations", obj{"email": "x@example.com", "expires_in_days": 0}, 422, "invalid_request_parameters")
	f.rejected(f.staging, "POST", "/user_management/invitations", obj{"email": "x@example.com", "organization_id": org, "role_slug": "nope"}, 422, "invalid_role")
	f.rejected(f.staging, "POST", "/user_management/invitations", obj{"email": "x@example.com", "organization_id": unknownOrg}, 404, "")
	f.rejected(f.staging, "POST", "/user_management/invitations", obj{"email": "x@example.com", "inviter_user_id": unknownUser}, 404, "")
}

func TestInvitationTokenIsNeverStored(t *testing.T) {
	f, m := newInviteFixture(t)
	inv, token := f.invite(m, obj{"email": "carol@example.com"})
	res := f.must(f.staging, "POST", "/user_management/invitations/"+inv["id"].(string)+"/resend", obj{}, 200)
	tokens := []string{token, res["token"].(string)}
	for _, e := range f.feed(f.stagingEnv) {
		for _, tk := range tokens {
			if strings.Contains(string(e.Data), tk) {
				t.Fatalf("event %s holds the token: %s", e.Type, e.Data)
			}
		}
	}
	items, err := f.app.LiveItems(context.Background(), f.stagingEnv)
	if err != nil {
		t.Fatal(err)
	}
	for k, it := range items {
		for _, tk := range tokens {
			if strings.Contains(string(it.Data), tk) || strings.Contains(k.ID, tk) {
				t.Fatalf("item %v holds the token", k)
			}
		}
	}
	// An Idempotency-Key does not keep the token either: the retry sends again.
	a := f.do(f.staging, "POST", "/user_management/invitations", obj{"email": "erin@example.com"}, "Idempotency-Key", "inv-1")
	if a.status != 201 || a.header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("first = %d %s", a.status, a.raw)
	}
	if _, err := f.app.Replay(context.Background(), f.stagingEnv, "inv-1"); err == nil {
		t.Fatal("an idempotency record holds the token")
	}
}

func TestInvitationList(t *testing.T) {
	f, m := newInviteFixture(t)
	acme := f.createOrg(obj{"name": "Acme"})["id"].(string)
	beta := f.createOrg(obj{"name": "Beta"})["id"].(string)
	var ids []string
	for i, b := range []obj{
		{"email": "a@example.com", "organization_id": acme},
		{"email": "b@example.com", "organization_id": acme},
		{"email": "a@example.com", "organization_id": beta},
		{"email": "a@example.com"},
		{"email": "c@example.com", "organization_id": beta},
	} {
		f.clock.Advance(time.Second)
		inv, _ := f.invite(m, b)
		ids = append(ids, inv["id"].(string))
		_ = i
	}
	check := func(path string, want ...string) {
		t.Helper()
		got, _, _ := f.list(f.staging, path)
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("GET %s = %v, want %v", path, got, want)
		}
	}
	check("/user_management/invitations?order=asc", ids...)
	check("/user_management/invitations?order=asc&email=A@example.com", ids[0], ids[2], ids[3])
	check("/user_management/invitations?order=asc&organization_id="+acme, ids[0], ids[1])
	check("/user_management/invitations?order=asc&organization_id="+beta+"&email=a@example.com", ids[2])
	check("/user_management/invitations?email=a@example.com", ids[3], ids[2], ids[0])
	// Pagination.
	page, before, after := f.list(f.staging, "/user_management/invitations?order=asc&limit=2")
	if strings.Join(page, ",") != ids[0]+","+ids[1] || before != nil || after != ids[1] {
		t.Fatalf("page 1 = %v %v %v", page, before, after)
	}
	page, before, after = f.list(f.staging, "/user_management/invitations?order=asc&limit=2&after="+ids[1])
	if strings.Join(page, ",") != ids[2]+","+ids[3] || before != ids[2] || after != ids[3] {
		t.Fatalf("page 2 = %v %v %v", page, before, after)
	}
	page, _, after = f.list(f.staging, "/user_management/invitations?order=asc&limit=2&after="+ids[3])
	if strings.Join(page, ",") != ids[4] || after != nil {
		t.Fatalf("page 3 = %v %v", page, after)
	}
	f.must(f.staging, "GET", "/user_management/invitations?after=nope", nil, 422)
}

func TestInvitationDuplicateAndMember(t *testing.T) {
	f, m := newInviteFixture(t)
	org := f.createOrg(obj{"name": "Acme"})["id"].(string)
	f.invite(m, obj{"email": "carol@example.com", "organization_id": org})
	sent := len(m.sentInvites())
	f.rejected(f.staging, "POST", "/user_management/invitations", obj{"email": "CAROL@example.com", "organization_id": org}, 400, "email_already_invited")
	if len(m.sentInvites()) != sent {
		t.Fatal("a refused invitation was mailed")
	}
	// Another organization, or none, is another invitation.
	other := f.createOrg(obj{"name": "Other"})["id"].(string)
	f.invite(m, obj{"email": "carol@example.com", "organization_id": other})
	f.invite(m, obj{"email": "carol@example.com"})
	f.rejected(f.staging, "POST", "/user_management/invitations", obj{"email": "carol@example.com"}, 400, "email_already_invited")

	dave := f.newUser("dave@example.com")
	f.createMembership(obj{"user_id": dave, "organization_id": org})
	f.rejected(f.staging, "POST", "/user_management/invitations", obj{"email": "dave@example.com", "organization_id": org}, 400, "user_already_organization_member")
}

func TestInvitationRevokeAcceptResend(t *testing.T) {
	f, m := newInviteFixture(t)
	inv, token := f.invite(m, obj{"email": "carol@example.com"})
	id := inv["id"].(string)
	f.clock.Advance(time.Minute)
	rv := f.must(f.staging, "POST", "/user_management/invitations/"+id+"/revoke", "", 200)
	if rv["state"] != "revoked" || rv["revoked_at"] != timeAt(f) {
		t.Fatalf("revoked = %v", rv)
	}
	f.rejected(f.staging, "POST", "/user_management/invitations/"+id+"/accept", "", 400, "invite_not_pending")
	f.rejected(f.staging, "POST", "/user_management/invitations/"+id+"/revoke", "", 400, "invite_not_pending")
	f.rejected(f.staging, "POST", "/user_management/invitations/"+id+"/resend", obj{}, 400, "invite_revoked")
	// A revoked invitation frees its email for a new one.
	again, _ := f.invite(m, obj{"email": "carol@example.com"})
	// Resend: a new token; the old one stops working.
	_ = token
	n := len(m.sentInvites())
	rs := f.must(f.staging, "POST", "/user_management/invitations/"+again["id"].(string)+"/resend", obj{"locale": "fr"}, 200)
	newToken := f.mailedToken(m, n, rs)
	oldToken := again["token"].(string)
	if newToken == oldToken {
		t.Fatal("resend kept the token")
	}
	f.must(f.staging, "GET", "/user_management/invitations/by_token/"+oldToken, nil, 404)
	f.must(f.staging, "GET", "/user_management/invitations/by_token/"+newToken, nil, 200)
	ac := f.must(f.staging, "POST", "/user_management/invitations/"+again["id"].(string)+"/accept", "", 200)
	if ac["state"] != "accepted" || ac["accepted_at"] != timeAt(f) || ac["accepted_user_id"] != nil {
		t.Fatalf("accepted = %v", ac)
	}
	f.rejected(f.staging, "POST", "/user_management/invitations/"+again["id"].(string)+"/resend", obj{}, 400, "invite_accepted")
	f.rejected(f.staging, "POST", "/user_management/invitations/invitation_01ZZZZZZZZZZZZZZZZZZZZZZZZ/accept", "", 404, "")
}

func TestInvitationExpiry(t *testing.T) {
	f, m := newInviteFixture(t)
	org := f.createOrg(obj{"name": "Acme"})["id"].(string)
	inv, token := f.invite(m, obj{"email": "carol@example.com", "organization_id": org, "expires_in_days": 1})
	id := inv["id"].(string)
	f.clock.Advance(24 * time.Hour)
	if got := f.must(f.staging, "GET", "/user_management/invitations/"+id, nil, 200); got["state"] != "expired" {
		t.Fatalf("after a day: %v", got)
	}
	if got := f.must(f.staging, "GET", "/user_management/invitations/by_token/"+token, nil, 200); got["state"] != "expired" {
		t.Fatalf("by token after a day: %v", got)
	}
	f.rejected(f.staging, "POST", "/user_management/invitations/"+id+"/accept", "", 400, "invite_not_pending")
	f.rejected(f.staging, "POST", "/user_management/invitations/"+id+"/revoke", "", 400, "invite_not_pending")
	f.rejected(f.staging, "POST", "/user_management/invitations/"+id+"/resend", obj{}, 400, "invite_expired")
	// An expired invitation gives way to a new one.
	again, _ := f.invite(m, obj{"email": "carol@example.com", "organization_id": org})
	if again["state"] != "pending" {
		t.Fatalf("new invitation = %v", again)
	}
	if got := f.must(f.staging, "GET", "/user_management/invitations/"+id, nil, 200); got["state"] != "expired" {
		t.Fatalf("replaced invitation: %v", got)
	}
	f.rejected(f.staging, "POST", "/user_management/invitations", obj{"email": "carol@example.com", "organization_id": org}, 400, "email_already_invited")
}

func TestAcceptInvitationCreatesTheMembership(t *testing.T) {
	f, m := newInviteFixture(t)
	org := f.createOrg(obj{"name": "Acme"})["id"].(string)
	f.must(f.staging, "POST", "/authorization/roles", obj{"slug": "billing", "name": "Billing"}, 201)
	carol := f.newUser("carol@example.com")
	inv, _ := f.invite(m, obj{"email": "carol@example.com", "organization_id": org, "role_slug": "billing"})
	ac := f.must(f.staging, "POST", "/user_management/invitations/"+inv["id"].(string)+"/accept", "", 200)
	if ac["state"] != "accepted" || ac["accepted_user_id"] != carol {
		t.Fatalf("accepted = %v", ac)
	}
	ms := f.listData(f.staging, "/user_management/organization_memberships?user_id="+carol+"&organization_id="+org)
	if len(ms) != 1 || ms[0]["status"] != "active" || ms[0]["role"].(obj)["slug"] != "billing" {
		t.Fatalf("memberships = %v", ms)
	}
	if s := f.signIn("carol@example.com", goodPassword); s.claims.OrganizationID != org || s.claims.Role != "billing" {
		t.Fatalf("sign-in: org %q role %q", s.claims.OrganizationID, s.claims.Role)
	}
}

func TestPasswordSignInWithInvitationToken(t *testing.T) {
	f, m := newInviteFixture(t)
	acme := f.createOrg(obj{"name": "Acme"})["id"].(string)
	beta := f.createOrg(obj{"name": "Beta"})["id"].(string)
	carol := f.newUser("carol@example.com")
	// A member of Beta already: with a second membership she would have to choose.
	f.createMembership(obj{"user_id": carol, "organization_id": beta})
	inv, token := f.invite(m, obj{"email": "carol@example.com", "organization_id": acme, "role_slug": "admin"})
	other, otherToken := f.invite(m, obj{"email": "dave@example.com", "organization_id": acme})

	// A token for another email, or none at all, is refused and accepts nothing.
	f.oauthFailed(f.auth(f.staging, obj{"grant_type": "password", "email": "carol@example.com", "password": goodPassword, "invitation_token": otherToken}), "invitation_invalid")
	f.oauthFailed(f.auth(f.staging, obj{"grant_type": "password", "email": "carol@example.com", "password": goodPassword, "invitation_token": "nope"}), "invitation_invalid")
	if got := f.must(f.staging, "GET", "/user_management/invitations/"+other["id"].(string), nil, 200); got["state"] != "pending" {
		t.Fatalf("the other invitation: %v", got)
	}
	s := f.authed(f.auth(f.staging, obj{"grant_type": "password", "email": "carol@example.com", "password": goodPassword, "invitation_token": token}))
	if s.claims.OrganizationID != acme || s.claims.Role != "admin" || s.body["organization_id"] != acme {
		t.Fatalf("signed in: org %q role %q body %v", s.claims.OrganizationID, s.claims.Role, s.body["organization_id"])
	}
	if got := f.must(f.staging, "GET", "/user_management/invitations/"+inv["id"].(string), nil, 200); got["state"] != "accepted" || got["accepted_user_id"] != carol {
		t.Fatalf("invitation after sign-in: %v", got)
	}
	// Used once.
	f.oauthFailed(f.auth(f.staging, obj{"grant_type": "password", "email": "carol@example.com", "password": goodPassword, "invitation_token": token}), "invitation_invalid")
}

func TestInvitationTenancy(t *testing.T) {
	f, m := newInviteFixture(t)
	inv, token := f.invite(m, obj{"email": "carol@example.com"})
	id := inv["id"].(string)
	f.must(f.production, "GET", "/user_management/invitations/"+id, nil, 404)
	f.must(f.production, "GET", "/user_management/invitations/by_token/"+token, nil, 404)
	f.rejected(f.production, "POST", "/user_management/invitations/"+id+"/revoke", "", 404, "")
	f.rejected(f.production, "POST", "/user_management/invitations/"+id+"/accept", "", 404, "")
	f.rejected(f.production, "POST", "/user_management/invitations/"+id+"/resend", obj{}, 404, "")
	if ids, _, _ := f.list(f.production, "/user_management/invitations"); len(ids) != 0 {
		t.Fatalf("production lists %v", ids)
	}
	// The same email is free in production.
	f.must(f.production, "POST", "/user_management/invitations", obj{"email": "carol@example.com"}, 201)
}

func TestInvitationMailFailureRevokes(t *testing.T) {
	f, m := newInviteFixture(t)
	m.fail = true
	res := f.do(f.staging, "POST", "/user_management/invitations", obj{"email": "carol@example.com"})
	if res.status != 503 || res.body["code"] != "email_delivery_failed" {
		t.Fatalf("mail down = %d %s", res.status, res.raw)
	}
	m.fail = false
	f.invite(m, obj{"email": "carol@example.com"})
}

func TestInvitationsRebuild(t *testing.T) {
	f, m := newInviteFixture(t)
	inv, _ := f.invite(m, obj{"email": "carol@example.com"})
	f.must(f.staging, "POST", "/user_management/invitations/"+inv["id"].(string)+"/resend", obj{}, 200)
	st, err := f.app.Rebuild(context.Background(), f.stagingEnv)
	if err != nil || st.Written != 0 || st.Deleted != 0 {
		t.Fatalf("rebuild = %+v %v", st, err)
	}
}

func TestInvitationMailNamesInviterAndOrganization(t *testing.T) {
	f, m := newInviteFixture(t)
	org := f.createOrg(obj{"name": "Acme"})["id"].(string)
	boss := f.createUser(f.staging, obj{"email": "boss@example.com", "first_name": "Ada", "last_name": "Boss"})["id"].(string)
	f.invite(m, obj{"email": "carol@example.com", "organization_id": org, "inviter_user_id": boss, "expires_in_days": 2})
	got := m.sentInvites()[0]
	if got.InviterName != "Ada Boss" || got.OrganizationName != "Acme" || got.Expires != 48*time.Hour || got.Environment != f.stagingEnv {
		t.Fatalf("mail = %+v", got)
	}
}
