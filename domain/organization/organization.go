// Package organization is the organization aggregate. An organization owns
// its domains and its domain policies, so that every change to them is
// serialized by one stream and the organization read model, which shows
// its domains, is projected from one state.
package organization

import (
	"time"

	"github.com/keywayhq/keyway/domain"
	"github.com/keywayhq/keyway/events"
)

// Aggregate is the stream prefix of organizations.
const Aggregate = "organization"

// Domain states and verification strategies.
const (
	Pending  = "pending"
	Verified = "verified"
	Failed   = "failed"

	StrategyDNS    = "dns"
	StrategyManual = "manual"
)

// VerificationWindow is how long a domain may stay pending before it fails.
const VerificationWindow = 30 * 24 * time.Hour

// Organization is the organization as the API shows it, without domains.
type Organization struct {
	ID                               string            `json:"id"`
	Name                             string            `json:"name"`
	AllowProfilesOutsideOrganization bool              `json:"allow_profiles_outside_organization"`
	ExternalID                       *string           `json:"external_id"`
	StripeCustomerID                 *string           `json:"stripe_customer_id,omitempty"`
	Metadata                         map[string]string `json:"metadata"`
	CreatedAt                        time.Time         `json:"created_at"`
	UpdatedAt                        time.Time         `json:"updated_at"`
}

// Domain is an organization domain.
type Domain struct {
	ID                   string    `json:"id"`
	OrganizationID       string    `json:"organization_id"`
	Domain               string    `json:"domain"`
	State                string    `json:"state"`
	VerificationStrategy string    `json:"verification_strategy"`
	VerificationToken    string    `json:"verification_token,omitempty"`
	VerificationPrefix   string    `json:"verification_prefix,omitempty"`
	CreatedAt            time.Time `json:"created_at"`
	UpdatedAt            time.Time `json:"updated_at"`
}

// RecordName is the DNS name whose TXT record proves ownership.
func (d Domain) RecordName() string { return d.VerificationPrefix + "." + d.Domain }

// Policies are an organization's domain policies.
type Policies struct {
	// JITMembership gives users with a verified email on a verified domain
	// a member membership (WorkOS: on by default).
	JITMembership bool `json:"jit_membership"`
	// SSORequired makes users of the verified domains sign in with SSO.
	SSORequired bool `json:"sso_required"`
}

// DefaultPolicies are the policies of a new organization.
var DefaultPolicies = Policies{JITMembership: true}

// State is the write model of one organization stream.
type State struct {
	Organization
	Exists   bool
	Deleted  bool
	Domains  []Domain // in creation order
	Policies Policies
}

// DomainByID returns the domain with id.
func (s State) DomainByID(id string) (Domain, bool) {
	for _, d := range s.Domains {
		if d.ID == id {
			return d, true
		}
	}
	return Domain{}, false
}

// DomainByName returns the domain with the given name.
func (s State) DomainByName(name string) (Domain, bool) {
	for _, d := range s.Domains {
		if d.Domain == name {
			return d, true
		}
	}
	return Domain{}, false
}

// Events. Organization events carry the organization; domain events carry
// the domain, as WorkOS events do.
type (
	// Created, Updated and Deleted also carry the domains as the command
	// left them (Deleted: as they were), so that event data shows them; only
	// the domain events change the state's domains.
	Created struct {
		Organization Organization `json:"organization"`
		Domains      []Domain     `json:"domains,omitempty"`
	}
	Updated struct {
		Organization Organization `json:"organization"`
		Domains      []Domain     `json:"domains,omitempty"`
	}
	Deleted struct {
		Organization Organization `json:"organization"`
		Domains      []Domain     `json:"domains,omitempty"`
	}
	DomainCreated struct {
		Domain Domain `json:"domain"`
	}
	DomainUpdated struct {
		Domain Domain `json:"domain"`
	}
	DomainVerified struct {
		Domain Domain `json:"domain"`
	}
	DomainFailed struct {
		Domain Domain `json:"domain"`
		Reason string `json:"reason"`
	}
	DomainDeleted struct {
		Domain Domain `json:"domain"`
	}
	PoliciesChanged struct {
		OrganizationID string   `json:"organization_id"`
		Policies       Policies `json:"policies"`
	}
)

func (Created) EventType() string         { return "organization.created" }
func (Updated) EventType() string         { return "organization.updated" }
func (Deleted) EventType() string         { return "organization.deleted" }
func (DomainCreated) EventType() string   { return "organization_domain.created" }
func (DomainUpdated) EventType() string   { return "organization_domain.updated" }
func (DomainVerified) EventType() string  { return "organization_domain.verified" }
func (DomainFailed) EventType() string    { return "organization_domain.verification_failed" }
func (DomainDeleted) EventType() string   { return "organization_domain.deleted" }
func (PoliciesChanged) EventType() string { return "organization.policies_changed" }

// Register adds the organization events to r.
func Register(r *events.Registry) {
	r.Register(Created{}, Updated{}, Deleted{}, DomainCreated{}, DomainUpdated{}, DomainVerified{}, DomainFailed{}, DomainDeleted{}, PoliciesChanged{})
}

// Evolve applies one event to the state.
func Evolve(s State, e events.Event) State {
	switch e := e.(type) {
	case Created:
		s.Organization, s.Exists, s.Policies = e.Organization, true, DefaultPolicies
	case Updated:
		s.Organization = e.Organization
	case Deleted:
		s.Organization, s.Deleted = e.Organization, true
	case DomainCreated:
		s.Domains = append(append([]Domain(nil), s.Domains...), e.Domain)
	case DomainUpdated:
		s.Domains = replaceDomain(s.Domains, e.Domain)
	case DomainVerified:
		s.Domains = replaceDomain(s.Domains, e.Domain)
	case DomainFailed:
		s.Domains = replaceDomain(s.Domains, e.Domain)
	case DomainDeleted:
		var out []Domain
		for _, d := range s.Domains {
			if d.ID != e.Domain.ID {
				out = append(out, d)
			}
		}
		s.Domains = out
	case PoliciesChanged:
		s.Policies = e.Policies
	}
	return s
}

func replaceDomain(list []Domain, d Domain) []Domain {
	out := append([]Domain(nil), list...)
	for i := range out {
		if out[i].ID == d.ID {
			out[i] = d
		}
	}
	return out
}

// NewDomain is a domain to add, already validated and normalized.
type NewDomain struct {
	ID       string
	Domain   string
	State    string // pending or verified (an operator's manual verification)
	Token    string
	Prefix   string
	Strategy string
}

// Create is the command to create an organization with its first domains.
type Create struct {
	ID               string
	Name             string
	ExternalID       *string
	StripeCustomerID *string
	Metadata         map[string]string
	Domains          []NewDomain
	At               time.Time
}

// Update is the command to change an organization. Domains, when Set,
// replace the organization's domains: names not listed are removed, new
// ones added, and a listed domain's state may be changed to verified.
type Update struct {
	Name             *string
	ExternalID       *Field
	StripeCustomerID *Field
	Metadata         map[string]*string
	SetDomains       bool
	Domains          []NewDomain
	At               time.Time
}

// Field is a nullable string update: Value nil sets null.
type Field struct{ Value *string }

// Delete is the command to delete an organization.
type Delete struct{ At time.Time }

// AddDomain is the command to add one domain.
type AddDomain struct {
	Domain NewDomain
	At     time.Time
}

// VerifyDomain records the outcome of a verification attempt: Found tells
// whether the TXT record held the token.
type VerifyDomain struct {
	DomainID string
	Found    bool
	Manual   bool // an operator marks it verified
	At       time.Time
}

// RemoveDomain is the command to delete one domain.
type RemoveDomain struct {
	DomainID string
	At       time.Time
}

// SetPolicies is the command to change the domain policies.
type SetPolicies struct{ Policies Policies }

// ChangePolicies is the command to change some of the domain policies; a
// nil field stays as it is, so that concurrent changes of different
// policies all apply.
type ChangePolicies struct{ JITMembership, SSORequired *bool }

// ErrNotFound is the 404 of an organization.
func ErrNotFound(id string) error {
	return domain.NotFoundf("entity_not_found", "Organization not found: '%s'.", id)
}

// ErrDomainNotFound is the 404 of an organization domain.
func ErrDomainNotFound(id string) error {
	return domain.NotFoundf("entity_not_found", "Organization domain not found: '%s'.", id)
}

// Decide returns the events a command produces.
func Decide(s State, cmd any) ([]events.Event, error) {
	evs, err := decide(s, cmd)
	if err != nil {
		return nil, err
	}
	// Snapshot the domains into the organization events.
	final := s
	for _, e := range evs {
		final = Evolve(final, e)
	}
	for i, e := range evs {
		switch e := e.(type) {
		case Created:
			e.Domains = final.Domains
			evs[i] = e
		case Updated:
			e.Domains = final.Domains
			evs[i] = e
		case Deleted:
			e.Domains = s.Domains
			evs[i] = e
		}
	}
	return evs, nil
}

func decide(s State, cmd any) ([]events.Event, error) {
	if _, creating := cmd.(Create); !creating && (!s.Exists || s.Deleted) {
		return nil, ErrNotFound(s.ID)
	}
	switch c := cmd.(type) {
	case Create:
		if s.Exists {
			return nil, domain.Errorf(domain.Conflict, "organization_already_exists", "Organization %s already exists.", c.ID)
		}
		md := c.Metadata
		if md == nil {
			md = map[string]string{}
		}
		org := Organization{ID: c.ID, Name: c.Name, ExternalID: c.ExternalID, StripeCustomerID: c.StripeCustomerID, Metadata: md, CreatedAt: c.At, UpdatedAt: c.At}
		out := []events.Event{Created{Organization: org}}
		seen := map[string]bool{}
		for _, nd := range c.Domains {
			if seen[nd.Domain] {
				continue
			}
			seen[nd.Domain] = true
			out = append(out, DomainCreated{Domain: newDomain(c.ID, nd, c.At)})
		}
		return out, nil
	case Update:
		org := s.Organization
		if c.Name != nil {
			org.Name = *c.Name
		}
		if c.ExternalID != nil {
			org.ExternalID = c.ExternalID.Value
		}
		if c.StripeCustomerID != nil {
			org.StripeCustomerID = c.StripeCustomerID.Value
		}
		if c.Metadata != nil {
			org.Metadata = domain.MergeMetadata(org.Metadata, c.Metadata)
		}
		var out []events.Event
		if !sameOrganization(org, s.Organization) {
			org.UpdatedAt = c.At
			out = append(out, Updated{Organization: org})
		}
		if c.SetDomains {
			out = append(out, reconcileDomains(s, c.Domains, c.At)...)
		}
		return out, nil
	case Delete:
		out := make([]events.Event, 0, len(s.Domains)+1)
		for _, d := range s.Domains {
			out = append(out, DomainDeleted{Domain: d})
		}
		return append(out, Deleted{Organization: s.Organization}), nil
	case AddDomain:
		if _, ok := s.DomainByName(c.Domain.Domain); ok {
			return nil, domain.Errorf(domain.Conflict, "domain_already_exists", "The domain %s already belongs to this organization.", c.Domain.Domain)
		}
		if len(s.Domains) >= MaxDomains {
			return nil, domain.InvalidField("domain", "too_many_domains", "An organization may have at most %d domains.", MaxDomains)
		}
		return []events.Event{DomainCreated{Domain: newDomain(s.ID, c.Domain, c.At)}}, nil
	case VerifyDomain:
		d, ok := s.DomainByID(c.DomainID)
		if !ok {
			return nil, ErrDomainNotFound(c.DomainID)
		}
		if d.State == Verified {
			return nil, domain.Errorf(domain.BadRequest, "domain_already_verified", "The domain %s is already verified.", d.Domain)
		}
		switch {
		case c.Found || c.Manual:
			d.State, d.UpdatedAt = Verified, c.At
			if c.Manual {
				d.VerificationStrategy = StrategyManual
			}
			return []events.Event{DomainVerified{Domain: d}}, nil
		case d.State == Pending && c.At.Sub(d.CreatedAt) >= VerificationWindow:
			d.State, d.UpdatedAt = Failed, c.At
			return []events.Event{DomainFailed{Domain: d, Reason: "domain_verification_period_expired"}}, nil
		}
		return nil, nil // still pending: try again once the record is published
	case RemoveDomain:
		d, ok := s.DomainByID(c.DomainID)
		if !ok {
			return nil, ErrDomainNotFound(c.DomainID)
		}
		return []events.Event{DomainDeleted{Domain: d}}, nil
	case SetPolicies:
		if c.Policies == s.Policies {
			return nil, nil
		}
		return []events.Event{PoliciesChanged{OrganizationID: s.ID, Policies: c.Policies}}, nil
	case ChangePolicies:
		p := s.Policies
		if c.JITMembership != nil {
			p.JITMembership = *c.JITMembership
		}
		if c.SSORequired != nil {
			p.SSORequired = *c.SSORequired
		}
		return Decide(s, SetPolicies{Policies: p})
	}
	return nil, domain.Errorf(domain.BadRequest, "unknown_command", "unknown organization command %T", cmd)
}

func newDomain(orgID string, nd NewDomain, at time.Time) Domain {
	strategy := nd.Strategy
	if strategy == "" {
		strategy = StrategyDNS
	}
	state := nd.State
	if state == "" {
		state = Pending
	}
	d := Domain{ID: nd.ID, OrganizationID: orgID, Domain: nd.Domain, State: state, VerificationStrategy: strategy, CreatedAt: at, UpdatedAt: at}
	if strategy == StrategyDNS {
		d.VerificationToken, d.VerificationPrefix = nd.Token, nd.Prefix
	}
	return d
}

// reconcileDomains makes the organization's domains the listed ones.
func reconcileDomains(s State, want []NewDomain, at time.Time) []events.Event {
	var out []events.Event
	listed := map[string]bool{}
	for _, nd := range want {
		if listed[nd.Domain] {
			continue
		}
		listed[nd.Domain] = true
		cur, ok := s.DomainByName(nd.Domain)
		switch {
		case !ok:
			out = append(out, DomainCreated{Domain: newDomain(s.ID, nd, at)})
		case nd.State == Verified && cur.State != Verified:
			cur.State, cur.VerificationStrategy, cur.UpdatedAt = Verified, StrategyManual, at
			out = append(out, DomainVerified{Domain: cur})
		}
	}
	for _, d := range s.Domains {
		if !listed[d.Domain] {
			out = append(out, DomainDeleted{Domain: d})
		}
	}
	return out
}

func sameOrganization(a, b Organization) bool {
	return a.Name == b.Name && domain.SameString(a.ExternalID, b.ExternalID) &&
		domain.SameString(a.StripeCustomerID, b.StripeCustomerID) && domain.SameMetadata(a.Metadata, b.Metadata)
}
