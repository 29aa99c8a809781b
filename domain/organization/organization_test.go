package organization_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/keywayhq/keyway/domain"
	"github.com/keywayhq/keyway/domain/organization"
	"github.com/keywayhq/keyway/events"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func str(s string) *string { return &s }
func yes() *bool           { b := true; return &b }
func no() *bool            { b := false; return &b }

func fold(evs ...events.Event) organization.State {
	var s organization.State
	for _, e := range evs {
		s = organization.Evolve(s, e)
	}
	return s
}

func nd(id, name, state string) organization.NewDomain {
	return organization.NewDomain{ID: id, Domain: name, State: state, Token: "tok-" + id, Prefix: "_keyway-challenge"}
}

func pending(id, name string, at time.Time) organization.Domain {
	return organization.Domain{ID: id, OrganizationID: "org_1", Domain: name, State: organization.Pending, VerificationStrategy: organization.StrategyDNS,
		VerificationToken: "tok-" + id, VerificationPrefix: "_keyway-challenge", CreatedAt: at, UpdatedAt: at}
}

func types(evs []events.Event) string {
	var out []string
	for _, e := range evs {
		out = append(out, e.EventType())
	}
	return strings.Join(out, " ")
}

func TestDecide(t *testing.T) {
	acme := organization.Organization{ID: "org_1", Name: "Acme", Metadata: map[string]string{"k": "v"}, CreatedAt: t0, UpdatedAt: t0}
	a, b := pending("d_a", "a.com", t0), pending("d_b", "b.com", t0)
	verifiedB := b
	verifiedB.State = organization.Verified
	existing := fold(organization.Created{Organization: acme}, organization.DomainCreated{Domain: a}, organization.DomainCreated{Domain: b})
	withVerified := fold(organization.Created{Organization: acme}, organization.DomainCreated{Domain: a}, organization.DomainCreated{Domain: b},
		organization.DomainVerified{Domain: verifiedB})
	deleted := fold(organization.Created{Organization: acme}, organization.Deleted{Organization: acme})
	t1 := t0.Add(time.Hour)
	window := t0.Add(organization.VerificationWindow)
	cases := []struct {
		name  string
		state organization.State
		cmd   any
		want  string // event types
		kind  domain.Kind
		code  string
		check func(t *testing.T, evs []events.Event)
	}{
		{name: "create with domains, a repeated one once", cmd: organization.Create{ID: "org_1", Name: "Acme", At: t0,
			Domains: []organization.NewDomain{nd("d_a", "a.com", organization.Pending), nd("d_v", "v.com", organization.Verified), nd("d_a2", "a.com", organization.Pending)}},
			want: "organization.created organization_domain.created organization_domain.created",
			check: func(t *testing.T, evs []events.Event) {
				o := evs[0].(organization.Created).Organization
				if o.Metadata == nil || !o.CreatedAt.Equal(t0) || !o.UpdatedAt.Equal(t0) {
					t.Errorf("created %+v", o)
				}
				if d := evs[1].(organization.DomainCreated).Domain; d.State != organization.Pending || d.VerificationStrategy != organization.StrategyDNS ||
					d.VerificationToken != "tok-d_a" || d.OrganizationID != "org_1" || d.RecordName() != "_keyway-challenge.a.com" {
					t.Errorf("pending domain %+v", d)
				}
				if d := evs[2].(organization.DomainCreated).Domain; d.State != organization.Verified || d.Domain != "v.com" {
					t.Errorf("verified domain %+v", d)
				}
			}},
		{name: "create twice", state: existing, cmd: organization.Create{ID: "org_1", Name: "Acme"}, kind: domain.Conflict},
		{name: "update a missing organization", cmd: organization.Update{Name: str("x")}, kind: domain.NotFound},
		{name: "update a deleted organization", state: deleted, cmd: organization.Update{Name: str("x")}, kind: domain.NotFound},
		{name: "add a domain to a deleted organization", state: deleted, cmd: organization.AddDomain{Domain: nd("d_c", "c.com", "")}, kind: domain.NotFound},
		{name: "update fields", state: existing, cmd: organization.Update{Name: str("Acme 2"), ExternalID: &organization.Field{Value: str("e")},
			Metadata: map[string]*string{"k": nil, "n": str("1")}, At: t1}, want: "organization.updated",
			check: func(t *testing.T, evs []events.Event) {
				o := evs[0].(organization.Updated).Organization
				if o.Name != "Acme 2" || *o.ExternalID != "e" || len(o.Metadata) != 1 || o.Metadata["n"] != "1" || !o.UpdatedAt.Equal(t1) || !o.CreatedAt.Equal(t0) {
					t.Errorf("updated %+v", o)
				}
			}},
		{name: "update that changes nothing", state: existing, cmd: organization.Update{Name: str("Acme"), Metadata: map[string]*string{"k": str("v")}, At: t1}},
		{name: "replace domains", state: existing, cmd: organization.Update{SetDomains: true, At: t1,
			Domains: []organization.NewDomain{nd("d_b2", "b.com", organization.Verified), nd("d_c", "c.com", organization.Pending)}},
			want: "organization_domain.verified organization_domain.created organization_domain.deleted",
			check: func(t *testing.T, evs []events.Event) {
				if d := evs[0].(organization.DomainVerified).Domain; d.ID != "d_b" || d.State != organization.Verified || d.VerificationStrategy != organization.StrategyManual || !d.UpdatedAt.Equal(t1) {
					t.Errorf("verified %+v", d)
				}
				if d := evs[2].(organization.DomainDeleted).Domain; d.ID != "d_a" {
					t.Errorf("deleted %+v", d)
				}
			}},
		{name: "replace domains with the same ones", state: withVerified, cmd: organization.Update{SetDomains: true,
			Domains: []organization.NewDomain{nd("x1", "a.com", organization.Pending), nd("x2", "b.com", organization.Pending)}}},
		{name: "replace domains with none", state: existing, cmd: organization.Update{SetDomains: true}, want: "organization_domain.deleted organization_domain.deleted"},
		{name: "delete", state: existing, cmd: organization.Delete{At: t1}, want: "organization_domain.deleted organization_domain.deleted organization.deleted"},
		{name: "delete twice", state: deleted, cmd: organization.Delete{At: t1}, kind: domain.NotFound},
		{name: "add a domain", state: existing, cmd: organization.AddDomain{Domain: nd("d_c", "c.com", ""), At: t1}, want: "organization_domain.created",
			check: func(t *testing.T, evs []events.Event) {
				if d := evs[0].(organization.DomainCreated).Domain; d.State != organization.Pending || d.VerificationStrategy != organization.StrategyDNS || !d.CreatedAt.Equal(t1) {
					t.Errorf("added %+v", d)
				}
			}},
		{name: "add a domain it has", state: existing, cmd: organization.AddDomain{Domain: nd("d_x", "a.com", "")}, kind: domain.Conflict, code: "domain_already_exists"},
		{name: "verify: record found", state: existing, cmd: organization.VerifyDomain{DomainID: "d_a", Found: true, At: t1}, want: "organization_domain.verified",
			check: func(t *testing.T, evs []events.Event) {
				if d := evs[0].(organization.DomainVerified).Domain; d.State != organization.Verified || d.VerificationStrategy != organization.StrategyDNS || !d.UpdatedAt.Equal(t1) {
					t.Errorf("verified %+v", d)
				}
			}},
		{name: "verify: manual", state: existing, cmd: organization.VerifyDomain{DomainID: "d_a", Manual: true, At: t1}, want: "organization_domain.verified",
			check: func(t *testing.T, evs []events.Event) {
				if d := evs[0].(organization.DomainVerified).Domain; d.VerificationStrategy != organization.StrategyManual {
					t.Errorf("verified %+v", d)
				}
			}},
		{name: "verify: not found yet", state: existing, cmd: organization.VerifyDomain{DomainID: "d_a", At: window.Add(-time.Millisecond)}},
		{name: "verify: not found after 30 days", state: existing, cmd: organization.VerifyDomain{DomainID: "d_a", At: window},
			want: "organization_domain.verification_failed", check: func(t *testing.T, evs []events.Event) {
				e := evs[0].(organization.DomainFailed)
				if e.Domain.State != organization.Failed || e.Reason == "" || !e.Domain.UpdatedAt.Equal(window) {
					t.Errorf("failed %+v", e)
				}
			}},
		{name: "verify: found after 30 days", state: existing, cmd: organization.VerifyDomain{DomainID: "d_a", Found: true, At: window}, want: "organization_domain.verified"},
		{name: "verify a verified domain", state: withVerified, cmd: organization.VerifyDomain{DomainID: "d_b", Found: true}, kind: domain.BadRequest, code: "domain_already_verified"},
		{name: "verify a verified domain manually", state: withVerified, cmd: organization.VerifyDomain{DomainID: "d_b", Manual: true}, kind: domain.BadRequest, code: "domain_already_verified"},
		{name: "verify an unknown domain", state: existing, cmd: organization.VerifyDomain{DomainID: "d_x", Found: true}, kind: domain.NotFound},
		{name: "remove a domain", state: existing, cmd: organization.RemoveDomain{DomainID: "d_b"}, want: "organization_domain.deleted"},
		{name: "remove an unknown domain", state: existing, cmd: organization.RemoveDomain{DomainID: "d_x"}, kind: domain.NotFound},
		{name: "set the same policies", state: existing, cmd: organization.SetPolicies{Policies: organization.DefaultPolicies}},
		{name: "set policies", state: existing, cmd: organization.SetPolicies{Policies: organization.Policies{SSORequired: true}}, want: "organization.policies_changed"},
		{name: "change one policy", state: existing, cmd: organization.ChangePolicies{SSORequired: yes()}, want: "organization.policies_changed",
			check: func(t *testing.T, evs []events.Event) {
				if p := evs[0].(organization.PoliciesChanged).Policies; !p.SSORequired || !p.JITMembership {
					t.Errorf("policies %+v", p)
				}
			}},
		{name: "change policies to what they are", state: existing, cmd: organization.ChangePolicies{JITMembership: yes(), SSORequired: no()}},
		{name: "change nothing", state: existing, cmd: organization.ChangePolicies{}},
		{name: "change policies of a deleted organization", state: deleted, cmd: organization.ChangePolicies{JITMembership: no()}, kind: domain.NotFound},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			evs, err := organization.Decide(c.state, c.cmd)
			if c.kind != 0 {
				de, ok := domain.As(err)
				if !ok || de.Kind != c.kind || (c.code != "" && de.Code != c.code) || len(evs) != 0 {
					t.Fatalf("Decide = %v, %v; want kind %d %s", evs, err, c.kind, c.code)
				}
				return
			}
			if err != nil || types(evs) != c.want {
				t.Fatalf("Decide = [%s], %v; want [%s]", types(evs), err, c.want)
			}
			if c.check != nil {
				c.check(t, evs)
			}
		})
	}
}

func TestEvolve(t *testing.T) {
	acme := organization.Organization{ID: "org_1", Name: "Acme"}
	a, b := pending("d_a", "a.com", t0), pending("d_b", "b.com", t0)
	s := fold(organization.Created{Organization: acme}, organization.DomainCreated{Domain: a}, organization.DomainCreated{Domain: b})
	if !s.Exists || s.Deleted || s.Policies != organization.DefaultPolicies || !s.Policies.JITMembership || len(s.Domains) != 2 {
		t.Fatalf("state %+v", s)
	}
	v := b
	v.State = organization.Verified
	s2 := organization.Evolve(s, organization.DomainVerified{Domain: v})
	if d, _ := s2.DomainByID("d_b"); d.State != organization.Verified {
		t.Fatalf("verified %+v", d)
	}
	if d, _ := s.DomainByID("d_b"); d.State != organization.Pending {
		t.Fatal("Evolve changed the state it was given")
	}
	s3 := organization.Evolve(s2, organization.DomainDeleted{Domain: a})
	if _, ok := s3.DomainByName("a.com"); ok || len(s3.Domains) != 1 || len(s2.Domains) != 2 {
		t.Fatalf("after delete %+v", s3.Domains)
	}
	if s4 := organization.Evolve(s3, organization.Deleted{Organization: acme}); !s4.Deleted {
		t.Fatal("not deleted")
	}
}

func TestDecideAddDomainBeyondTheLimit(t *testing.T) {
	s := fold(organization.Created{Organization: organization.Organization{ID: "org_1"}})
	for i := range organization.MaxDomains {
		s = organization.Evolve(s, organization.DomainCreated{Domain: pending(fmt.Sprint("d_", i), fmt.Sprintf("d%d.com", i), t0)})
	}
	_, err := organization.Decide(s, organization.AddDomain{Domain: nd("d_x", "x.com", "")})
	if de, ok := domain.As(err); !ok || de.Kind != domain.Invalid {
		t.Fatalf("add beyond the limit = %v", err)
	}
}

func TestNormalizeDomain(t *testing.T) {
	valid := map[string]string{
		"example.com":                   "example.com",
		"  Example.COM  ":               "example.com",
		"a.com.":                        "a.com",
		"sub.a-b.co.uk":                 "sub.a-b.co.uk",
		"Bücher.de":                     "xn--bcher-kva.de",
		"xn--bcher-kva.de":              "xn--bcher-kva.de",
		"1password.com":                 "1password.com",
		strings.Repeat("a", 63) + ".io": strings.Repeat("a", 63) + ".io",
	}
	for in, want := range valid {
		if got, err := organization.NormalizeDomain("domain", in); err != nil || got != want {
			t.Errorf("NormalizeDomain(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", " ", "exa mple.com", "localhost", "-a.com", "a-.com", "a..com", ".a.com", "a.com..", "a_b.com", "*.a.com",
		"a.com/x", "https://a.com", "me@a.com", "10.0.0.1", "a.123", "a.com:443", strings.Repeat("a", 64) + ".com",
		strings.Repeat("abcdefghi.", 26) + "com", "xn--zz.com"} {
		got, err := organization.NormalizeDomain("domain", in)
		de, ok := domain.As(err)
		if !ok || de.Kind != domain.Invalid || len(de.Fields) != 1 || de.Fields[0].Field != "domain" {
			t.Errorf("NormalizeDomain(%q) = %q, %v; want a 422 on domain", in, got, err)
		}
	}
}

func TestIsConsumerDomain(t *testing.T) {
	for d, want := range map[string]bool{"gmail.com": true, "outlook.com": true, "proton.me": true, "yahoo.co.uk": true,
		"acme.com": false, "mail.acme.com": false, "gmail.co": false} {
		if got := organization.IsConsumerDomain(d); got != want {
			t.Errorf("IsConsumerDomain(%q) = %v", d, got)
		}
	}
}
