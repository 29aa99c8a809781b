package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/keywayhq/keyway/domain"
	"github.com/keywayhq/keyway/domain/organization"
	"github.com/keywayhq/keyway/events"
)

// Read-model and claim names of organizations.
const (
	organizationCollection = "organization"
	domainCollection       = "organization_domain"
	organizationsPartition = "organizations" // Index1: every organization, by id
	domainsByNamePrefix    = "domains#"      // Index1 of a domain: every domain item with that name
	claimOrgExternal       = "organization_external_id"
	claimVerifiedDomain    = "verified_domain"
	verificationPrefix     = "_keyway-challenge"
)

// OrganizationView is an organization with its domains and policies, as
// stored in its read model.
type OrganizationView struct {
	organization.Organization
	Domains  []organization.Domain `json:"domains"`
	Policies organization.Policies `json:"policies"`
}

// DomainInput is one entry of domain_data.
type DomainInput struct {
	Domain string
	State  string // "pending" (default) or "verified"
}

// CreateOrganizationInput is POST /organizations.
type CreateOrganizationInput struct {
	Name             string
	Domains          []DomainInput
	ExternalID       *string
	StripeCustomerID *string
	Metadata         map[string]string
}

// UpdateOrganizationInput is PUT /organizations/:id.
type UpdateOrganizationInput struct {
	Name             *string
	Domains          []DomainInput
	SetDomains       bool
	ExternalID       *organization.Field
	StripeCustomerID *organization.Field
	Metadata         map[string]*string
}

// CreateOrganization creates an organization with its domains.
func (a *App) CreateOrganization(ctx context.Context, m Meta, in CreateOrganizationInput) (OrganizationView, error) {
	name := strings.TrimSpace(in.Name)
	if name == "" {
		return OrganizationView{}, domain.InvalidField("name", "required", "name is required.")
	}
	if err := checkOrganizationFields(&name, in.ExternalID, in.StripeCustomerID, in.Metadata); err != nil {
		return OrganizationView{}, err
	}
	domains, err := a.newDomains("domain_data", in.Domains)
	if err != nil {
		return OrganizationView{}, err
	}
	cmd := organization.Create{ID: a.ids.New("org"), Name: name, ExternalID: in.ExternalID, StripeCustomerID: in.StripeCustomerID,
		Metadata: in.Metadata, Domains: domains, At: a.now()}
	return execute(ctx, a, m, func() (write, OrganizationView, error) {
		return a.decideOrganization(ctx, m.Env, cmd.ID, cmd)
	}, organizationClaimError)
}

// UpdateOrganization changes an organization; domain_data, when given,
// replaces its domains.
func (a *App) UpdateOrganization(ctx context.Context, m Meta, id string, in UpdateOrganizationInput) (OrganizationView, error) {
	if !ValidID(id, "org") {
		return OrganizationView{}, organization.ErrNotFound(id)
	}
	if in.Name != nil {
		n := strings.TrimSpace(*in.Name)
		if n == "" {
			return OrganizationView{}, domain.InvalidField("name", "required", "name cannot be empty.")
		}
		in.Name = &n
	}
	var ext, stripe *string
	if in.ExternalID != nil {
		ext = in.ExternalID.Value
	}
	if in.StripeCustomerID != nil {
		stripe = in.StripeCustomerID.Value
	}
	if err := checkOrganizationFields(in.Name, ext, stripe, nil); err != nil {
		return OrganizationView{}, err
	}
	cmd := organization.Update{Name: in.Name, ExternalID: in.ExternalID, StripeCustomerID: in.StripeCustomerID, Metadata: in.Metadata,
		SetDomains: in.SetDomains, At: a.now()}
	if in.SetDomains {
		var err error
		if cmd.Domains, err = a.newDomains("domain_data", in.Domains); err != nil {
			return OrganizationView{}, err
		}
	}
	return execute(ctx, a, m, func() (write, OrganizationView, error) {
		st, _, err := a.loadOrganization(ctx, m.Env, id)
		if err != nil {
			return write{}, OrganizationView{}, err
		}
		if st.Exists && in.Metadata != nil {
			if err := domain.CheckMetadata("metadata", domain.MergeMetadata(st.Metadata, in.Metadata)); err != nil {
				return write{}, OrganizationView{}, err
			}
		}
		return a.decideOrganization(ctx, m.Env, id, cmd)
	}, organizationClaimError)
}

// DeleteOrganization deletes an organization, its domains and then its memberships.
func (a *App) DeleteOrganization(ctx context.Context, m Meta, id string) error {
	if !ValidID(id, "org") {
		return organization.ErrNotFound(id)
	}
	if _, err := execute(ctx, a, m, func() (write, OrganizationView, error) {
		return a.decideOrganization(ctx, m.Env, id, organization.Delete{At: a.now()})
	}, organizationClaimError); err != nil {
		// A retried delete finishes a cleanup that an earlier one left undone.
		if st, _, lerr := a.loadOrganization(ctx, m.Env, id); lerr == nil && st.Deleted {
			if cerr := a.removeMemberships(ctx, m, events.Index2, orgMembershipsPartition(id)); cerr != nil {
				return cerr
			}
		}
		return err
	}
	return a.removeMemberships(ctx, m, events.Index2, orgMembershipsPartition(id))
}

// AddDomain is POST /organization_domains.
func (a *App) AddDomain(ctx context.Context, m Meta, orgID, name string) (organization.Domain, error) {
	nds, err := a.newDomains("domain", []DomainInput{{Domain: name}})
	if err != nil {
		return organization.Domain{}, err
	}
	if !ValidID(orgID, "org") {
		return organization.Domain{}, organization.ErrNotFound(orgID)
	}
	// A domain another organization has verified cannot be added again; the
	// verified_domain claim makes the final decision when it is verified.
	if owner, err := a.store.Owner(ctx, m.Env, claimVerifiedDomain, nds[0].Domain); err == nil && owner != events.StreamName(organization.Aggregate, orgID) {
		return organization.Domain{}, domain.Errorf(domain.Conflict, "domain_already_exists", "The domain %s is verified by another organization.", nds[0].Domain)
	}
	cmd := organization.AddDomain{Domain: nds[0], At: a.now()}
	return a.domainCommand(ctx, m, orgID, nds[0].ID, cmd)
}

// VerifyDomain checks a domain's TXT record (or, manual, trusts an operator)
// and records the outcome.
func (a *App) VerifyDomain(ctx context.Context, m Meta, domainID string, manual bool) (organization.Domain, error) {
	d, err := a.GetDomain(ctx, m.Env, domainID)
	if err != nil {
		return organization.Domain{}, err
	}
	found := false
	if !manual && d.State != organization.Verified {
		if found, err = a.txtHolds(ctx, d); err != nil {
			return organization.Domain{}, err
		}
	}
	return a.domainCommand(ctx, m, d.OrganizationID, d.ID, organization.VerifyDomain{DomainID: d.ID, Found: found, Manual: manual, At: a.now()})
}

// txtHolds reports whether the domain's TXT record holds its token.
func (a *App) txtHolds(ctx context.Context, d organization.Domain) (bool, error) {
	if a.dns == nil {
		return false, domain.Errorf(domain.BadRequest, "domain_verification_unavailable", "DNS verification is not configured.")
	}
	values, err := a.dns.LookupTXT(ctx, d.RecordName())
	if err != nil {
		return false, &domain.Error{Kind: domain.BadRequest, Code: "domain_verification_failed",
			Message: fmt.Sprintf("The DNS lookup of %s failed; try again later.", d.RecordName())}
	}
	for _, v := range values {
		if strings.TrimSpace(v) == d.VerificationToken {
			return true, nil
		}
	}
	return false, nil
}

// RemoveDomain is DELETE /organization_domains/:id.
func (a *App) RemoveDomain(ctx context.Context, m Meta, domainID string) error {
	d, err := a.GetDomain(ctx, m.Env, domainID)
	if err != nil {
		return err
	}
	_, err = a.domainCommand(ctx, m, d.OrganizationID, d.ID, organization.RemoveDomain{DomainID: d.ID, At: a.now()})
	return err
}

// SetPolicies sets an organization's domain policies.
func (a *App) SetPolicies(ctx context.Context, m Meta, orgID string, p organization.Policies) (OrganizationView, error) {
	return a.ChangePolicies(ctx, m, orgID, organization.ChangePolicies{JITMembership: &p.JITMembership, SSORequired: &p.SSORequired})
}

// ChangePolicies changes the given domain policies of an organization.
func (a *App) ChangePolicies(ctx context.Context, m Meta, orgID string, c organization.ChangePolicies) (OrganizationView, error) {
	if !ValidID(orgID, "org") {
		return OrganizationView{}, organization.ErrNotFound(orgID)
	}
	return execute(ctx, a, m, func() (write, OrganizationView, error) {
		return a.decideOrganization(ctx, m.Env, orgID, c)
	}, organizationClaimError)
}

// domainCommand runs a command on one of an organization's domains and
// answers with that domain as the command left it.
func (a *App) domainCommand(ctx context.Context, m Meta, orgID, domainID string, cmd any) (organization.Domain, error) {
	return execute(ctx, a, m, func() (write, organization.Domain, error) {
		before, _, err := a.loadOrganization(ctx, m.Env, orgID)
		if err != nil {
			return write{}, organization.Domain{}, err
		}
		w, after, err := a.decideOrganization(ctx, m.Env, orgID, cmd)
		if err != nil {
			return write{}, organization.Domain{}, err
		}
		for _, d := range after.Domains {
			if d.ID == domainID {
				return w, d, nil
			}
		}
		d, _ := before.DomainByID(domainID) // deleted: the domain as it was
		return w, d, nil
	}, organizationClaimError)
}

func organizationClaimError(ce *events.ClaimError) error {
	if ce.Kind == claimVerifiedDomain {
		return domain.Errorf(domain.Conflict, "domain_already_exists", "The domain %s is verified by another organization.", ce.Value)
	}
	return domain.Errorf(domain.BadRequest, "external_id_already_used", "The external ID %s is already used by another organization.", ce.Value)
}

// decideOrganization loads an organization, decides cmd, and derives the
// claims and read-model writes from the state before and after.
func (a *App) decideOrganization(ctx context.Context, env, id string, cmd any) (write, OrganizationView, error) {
	w, after, err := organizationKind().change(ctx, a, env, id, cmd, func(s organization.State) organization.State {
		s.ID = id
		return s
	})
	return w, view(after), err
}

func view(s organization.State) OrganizationView {
	ds := s.Domains
	if ds == nil {
		ds = []organization.Domain{}
	}
	return OrganizationView{Organization: s.Organization, Domains: ds, Policies: s.Policies}
}

func organizationClaims(s organization.State) []claimKey {
	if !s.Exists || s.Deleted {
		return nil
	}
	var out []claimKey
	if s.ExternalID != nil {
		out = append(out, claimKey{claimOrgExternal, *s.ExternalID})
	}
	for _, d := range s.Domains {
		if d.State == organization.Verified {
			out = append(out, claimKey{claimVerifiedDomain, d.Domain})
		}
	}
	return out
}

// projectOrganization is the organization's read models: the organization
// (with its domains and policies) and one item per domain.
func projectOrganization(s organization.State) []events.Item {
	if !s.Exists || s.Deleted {
		return nil
	}
	v := view(s)
	items := []events.Item{newItem(organizationCollection, s.ID, v, events.Index1, organizationsPartition, s.ID)}
	for _, d := range s.Domains {
		items = append(items, newItem(domainCollection, d.ID, d, events.Index1, domainsByNamePrefix+d.Domain, d.ID))
	}
	return items
}

func (a *App) loadOrganization(ctx context.Context, env, id string) (organization.State, int64, error) {
	return organizationKind().load(ctx, a, env, id)
}

// newDomains validates domain_data and gives each new domain its id and token.
func (a *App) newDomains(field string, in []DomainInput) ([]organization.NewDomain, error) {
	if len(in) > organization.MaxDomains {
		return nil, domain.InvalidField(field, "too_many_domains", "An organization may have at most %d domains.", organization.MaxDomains)
	}
	var out []organization.NewDomain
	for _, d := range in {
		name, err := organization.NormalizeDomain(field, d.Domain)
		if err != nil {
			return nil, err
		}
		if organization.IsConsumerDomain(name) {
			return nil, domain.InvalidField(field, "consumer_domain", "%s is a public email provider's domain and cannot belong to an organization.", name)
		}
		state := d.State
		switch state {
		case "":
			state = organization.Pending
		case organization.Pending, organization.Verified:
		default:
			return nil, domain.InvalidField(field, "invalid_state", "A domain's state must be pending or verified.")
		}
		token, err := randomToken(a.rand, 18)
		if err != nil {
			return nil, err
		}
		nd := organization.NewDomain{ID: a.ids.New("org_domain"), Domain: name, State: state, Token: token, Prefix: verificationPrefix}
		if state == organization.Verified {
			nd.Strategy = organization.StrategyManual
		}
		out = append(out, nd)
	}
	return out, nil
}

func checkOrganizationFields(name, externalID, stripe *string, md map[string]string) error {
	if err := domain.CheckText("name", name, organization.MaxNameLength); err != nil {
		return err
	}
	if err := domain.CheckExternalID("external_id", externalID); err != nil {
		return err
	}
	if err := domain.CheckText("stripe_customer_id", stripe, 255); err != nil {
		return err
	}
	return domain.CheckMetadata("metadata", md)
}

// GetOrganization reads an organization with its domains.
func (a *App) GetOrganization(ctx context.Context, env, id string) (OrganizationView, error) {
	if !ValidID(id, "org") {
		return OrganizationView{}, organization.ErrNotFound(id)
	}
	return getJSON[OrganizationView](ctx, a, env, organizationCollection, id, organization.ErrNotFound(id))
}

// GetOrganizationByExternalID finds an organization by its external id.
func (a *App) GetOrganizationByExternalID(ctx context.Context, env, externalID string) (OrganizationView, error) {
	owner, err := a.store.Owner(ctx, env, claimOrgExternal, externalID)
	if errors.Is(err, events.ErrNotFound) {
		return OrganizationView{}, domain.NotFoundf("entity_not_found", "Organization not found with external ID '%s'.", externalID)
	}
	if err != nil {
		return OrganizationView{}, fmt.Errorf("app: external id lookup: %w", err)
	}
	return a.GetOrganization(ctx, env, strings.TrimPrefix(owner, organization.Aggregate+"#"))
}

// GetDomain reads an organization domain.
func (a *App) GetDomain(ctx context.Context, env, id string) (organization.Domain, error) {
	if !ValidID(id, "org_domain") {
		return organization.Domain{}, organization.ErrDomainNotFound(id)
	}
	return getJSON[organization.Domain](ctx, a, env, domainCollection, id, organization.ErrDomainNotFound(id))
}

// ListOrganizations lists organizations, optionally those with any of domains.
func (a *App) ListOrganizations(ctx context.Context, env string, domains []string, p PageParams) (Page[OrganizationView], error) {
	if len(domains) == 0 {
		return listPage(ctx, a, env, events.Index1, organizationsPartition, p, decodeJSON[OrganizationView])
	}
	// Organizations with any of the domains: a few per domain, so gather
	// them all and page in memory.
	ids := map[string]bool{}
	for _, raw := range domains {
		name, err := organization.NormalizeDomain("domains", raw)
		if err != nil {
			return Page[OrganizationView]{}, err
		}
		items, err := a.store.Query(ctx, events.Query{Environment: env, Index: events.Index1, Partition: domainsByNamePrefix + name, Limit: 1000})
		if err != nil {
			return Page[OrganizationView]{}, fmt.Errorf("app: organizations by domain: %w", err)
		}
		for _, it := range items {
			d, err := decodeJSON[organization.Domain](it)
			if err != nil {
				return Page[OrganizationView]{}, err
			}
			ids[d.OrganizationID] = true
		}
	}
	keys := make([]events.ItemKey, 0, len(ids))
	for id := range ids {
		keys = append(keys, events.ItemKey{Collection: organizationCollection, ID: id})
	}
	orgs, err := getMany[OrganizationView](ctx, a, env, keys)
	if err != nil {
		return Page[OrganizationView]{}, err
	}
	return pageInMemory(orgs, func(o OrganizationView) string { return o.ID }, p), nil
}

// OrganizationOfDomain returns the organization that has verified an email's domain.
func (a *App) OrganizationOfDomain(ctx context.Context, env, domainName string) (OrganizationView, bool, error) {
	owner, err := a.store.Owner(ctx, env, claimVerifiedDomain, domainName)
	if errors.Is(err, events.ErrNotFound) {
		return OrganizationView{}, false, nil
	}
	if err != nil {
		return OrganizationView{}, false, fmt.Errorf("app: verified domain lookup: %w", err)
	}
	org, err := a.GetOrganization(ctx, env, strings.TrimPrefix(owner, organization.Aggregate+"#"))
	if err != nil {
		if _, ok := domain.As(err); ok {
			return OrganizationView{}, false, nil
		}
		return OrganizationView{}, false, err
	}
	return org, true, nil
}

func getJSON[T any](ctx context.Context, a *App, env, collection, id string, notFound error) (T, error) {
	var v T
	it, err := a.store.Get(ctx, env, events.ItemKey{Collection: collection, ID: id})
	if errors.Is(err, events.ErrNotFound) {
		return v, notFound
	}
	if err != nil {
		return v, fmt.Errorf("app: get %s: %w", collection, err)
	}
	return decodeJSON[T](it)
}

func decodeJSON[T any](it events.Item) (T, error) {
	var v T
	if err := json.Unmarshal(it.Data, &v); err != nil {
		return v, fmt.Errorf("app: decode %s %s: %w", it.Collection, it.ID, err)
	}
	return v, nil
}

// getMany reads items in batches of events.MaxGetMany.
func getMany[T any](ctx context.Context, a *App, env string, keys []events.ItemKey) ([]T, error) {
	out := make([]T, 0, len(keys))
	for len(keys) > 0 {
		n := min(len(keys), events.MaxGetMany)
		items, err := a.store.GetMany(ctx, env, keys[:n])
		if err != nil {
			return nil, fmt.Errorf("app: get many: %w", err)
		}
		for _, it := range items {
			v, err := decodeJSON[T](it)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		keys = keys[n:]
	}
	return out, nil
}
