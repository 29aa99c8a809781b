package app_test

import (
	"context"
	"testing"
	"time"

	"github.com/keywayhq/keyway/app"
	"github.com/keywayhq/keyway/events/eventstest"
	"github.com/keywayhq/keyway/events/memstore"
)

// TestVerifiedBySSO: an SSO sign-in through an organization vouches for an
// email only on a domain that organization has verified.
func TestVerifiedBySSO(t *testing.T) {
	ctx := context.Background()
	clock := eventstest.NewClock(time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC))
	a := app.New(app.Config{Store: memstore.New(clock.Now), Now: clock.Now})
	env, err := a.EnsureEnvironment(ctx, app.EnsureEnvironmentInput{Name: "staging", Type: "staging"})
	if err != nil {
		t.Fatal(err)
	}
	m := app.Meta{Env: env.Environment.ID}
	acme, err := a.CreateOrganization(ctx, m, app.CreateOrganizationInput{Name: "Acme", Domains: []app.DomainInput{
		{Domain: "acme.example", State: "verified"}, {Domain: "pending.example"}}})
	if err != nil {
		t.Fatal(err)
	}
	other, err := a.CreateOrganization(ctx, m, app.CreateOrganizationInput{Name: "Other"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		org, email string
		want       bool
	}{
		{acme.ID, "ada@acme.example", true},
		{acme.ID, "Ada@ACME.example", true},
		{acme.ID, "ada@pending.example", false}, // not verified
		{acme.ID, "ada@elsewhere.example", false},
		{other.ID, "ada@acme.example", false}, // another organization's domain
		{acme.ID, "not an email", false},
	} {
		got, err := a.VerifiedBySSO(ctx, m.Env, c.org, c.email)
		if err != nil || got != c.want {
			t.Errorf("VerifiedBySSO(%s, %s) = %v, %v; want %v", c.org, c.email, got, err, c.want)
		}
	}
}
