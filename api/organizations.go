package api

import (
	"net/http"
	"strings"

	"github.com/keywayhq/keyway/app"
	"github.com/keywayhq/keyway/domain"
	"github.com/keywayhq/keyway/domain/organization"
)

type domainJSON struct {
	Object               string  `json:"object"`
	ID                   string  `json:"id"`
	OrganizationID       string  `json:"organization_id"`
	Domain               string  `json:"domain"`
	State                string  `json:"state"`
	VerificationStrategy string  `json:"verification_strategy"`
	VerificationToken    *string `json:"verification_token,omitempty"`
	VerificationPrefix   *string `json:"verification_prefix,omitempty"`
	CreatedAt            string  `json:"created_at"`
	UpdatedAt            string  `json:"updated_at"`
}

type organizationJSON struct {
	Object                           string            `json:"object"`
	ID                               string            `json:"id"`
	Name                             string            `json:"name"`
	AllowProfilesOutsideOrganization bool              `json:"allow_profiles_outside_organization"`
	Domains                          []domainJSON      `json:"domains"`
	Metadata                         map[string]string `json:"metadata"`
	ExternalID                       *string           `json:"external_id"`
	StripeCustomerID                 *string           `json:"stripe_customer_id,omitempty"`
	CreatedAt                        string            `json:"created_at"`
	UpdatedAt                        string            `json:"updated_at"`
}

func renderDomain(v any) any {
	d := v.(organization.Domain)
	out := domainJSON{Object: "organization_domain", ID: d.ID, OrganizationID: d.OrganizationID, Domain: d.Domain, State: d.State,
		VerificationStrategy: d.VerificationStrategy, CreatedAt: timestamp(d.CreatedAt), UpdatedAt: timestamp(d.UpdatedAt)}
	if d.VerificationToken != "" {
		out.VerificationToken, out.VerificationPrefix = &d.VerificationToken, &d.VerificationPrefix
	}
	return out
}

func renderOrganization(v any) any {
	o := v.(app.OrganizationView)
	md := o.Metadata
	if md == nil {
		md = map[string]string{}
	}
	out := organizationJSON{Object: "organization", ID: o.ID, Name: o.Name, AllowProfilesOutsideOrganization: o.AllowProfilesOutsideOrganization,
		Domains: make([]domainJSON, 0, len(o.Domains)), Metadata: md, ExternalID: o.ExternalID, StripeCustomerID: o.StripeCustomerID,
		CreatedAt: timestamp(o.CreatedAt), UpdatedAt: timestamp(o.UpdatedAt)}
	for _, d := range o.Domains {
		out.Domains = append(out.Domains, renderDomain(d).(domainJSON))
	}
	return out
}

type domainDataJSON struct {
	Domain string `json:"domain"`
	State  string `json:"state"`
}

func domainInputs(data []domainDataJSON, legacy []string) []app.DomainInput {
	var out []app.DomainInput
	for _, d := range data {
		out = append(out, app.DomainInput{Domain: d.Domain, State: d.State})
	}
	for _, d := range legacy {
		out = append(out, app.DomainInput{Domain: d})
	}
	return out
}

type createOrganizationBody struct {
	Name             *string           `json:"name"`
	DomainData       []domainDataJSON  `json:"domain_data"`
	Domains          []string          `json:"domains"` // deprecated, still accepted: pending domains
	ExternalID       *string           `json:"external_id"`
	StripeCustomerID *string           `json:"stripe_customer_id"`
	Metadata         map[string]string `json:"metadata"`
}

func (s *Server) createOrganization(w http.ResponseWriter, r *http.Request, c *call) {
	var b createOrganizationBody
	if err := decode(c.body, &b); err != nil {
		s.writeError(w, c, err)
		return
	}
	if b.Name == nil {
		s.writeError(w, c, domain.InvalidField("name", "required", "name is required."))
		return
	}
	in := app.CreateOrganizationInput{Name: *b.Name, Domains: domainInputs(b.DomainData, b.Domains), ExternalID: b.ExternalID,
		StripeCustomerID: b.StripeCustomerID, Metadata: b.Metadata}
	s.mutate(w, r, c, http.StatusCreated, func(m app.Meta) (any, error) { return s.app.CreateOrganization(r.Context(), m, in) }, renderOrganization)
}

type updateOrganizationBody struct {
	Name             *string               `json:"name"`
	DomainData       opt[[]domainDataJSON] `json:"domain_data"`
	Domains          opt[[]string]         `json:"domains"`
	ExternalID       opt[string]           `json:"external_id"`
	StripeCustomerID opt[string]           `json:"stripe_customer_id"`
	Metadata         map[string]*string    `json:"metadata"`
}

func (s *Server) updateOrganization(w http.ResponseWriter, r *http.Request, c *call) {
	var b updateOrganizationBody
	if err := decode(c.body, &b); err != nil {
		s.writeError(w, c, err)
		return
	}
	in := app.UpdateOrganizationInput{Name: b.Name, Metadata: b.Metadata, SetDomains: b.DomainData.Set || b.Domains.Set}
	if in.SetDomains {
		var data []domainDataJSON
		var legacy []string
		if b.DomainData.Value != nil {
			data = *b.DomainData.Value
		}
		if b.Domains.Value != nil {
			legacy = *b.Domains.Value
		}
		in.Domains = domainInputs(data, legacy)
	}
	if b.ExternalID.Set {
		in.ExternalID = &organization.Field{Value: b.ExternalID.Value}
	}
	if b.StripeCustomerID.Set {
		in.StripeCustomerID = &organization.Field{Value: b.StripeCustomerID.Value}
	}
	id := r.PathValue("id")
	s.mutate(w, r, c, http.StatusOK, func(m app.Meta) (any, error) { return s.app.UpdateOrganization(r.Context(), m, id, in) }, renderOrganization)
}

func (s *Server) getOrganization(w http.ResponseWriter, r *http.Request, c *call) {
	o, err := s.app.GetOrganization(r.Context(), c.principal.EnvironmentID, r.PathValue("id"))
	s.respond(w, c, http.StatusOK, o, err, renderOrganization)
}

func (s *Server) getOrganizationByExternalID(w http.ResponseWriter, r *http.Request, c *call) {
	o, err := s.app.GetOrganizationByExternalID(r.Context(), c.principal.EnvironmentID, r.PathValue("external_id"))
	s.respond(w, c, http.StatusOK, o, err, renderOrganization)
}

func (s *Server) listOrganizations(w http.ResponseWriter, r *http.Request, c *call) {
	q := r.URL.Query()
	page, err := pageParams(q, "org")
	if err != nil {
		s.writeError(w, c, err)
		return
	}
	res, err := s.app.ListOrganizations(r.Context(), c.principal.EnvironmentID, commaList(q["domains"]), page)
	if err != nil {
		s.writeError(w, c, err)
		return
	}
	writeList(w, res, renderOrganization)
}

func (s *Server) deleteOrganization(w http.ResponseWriter, r *http.Request, c *call) {
	s.respondEmpty(w, c, http.StatusOK, s.app.DeleteOrganization(r.Context(), c.meta(), r.PathValue("id")))
}

type createDomainBody struct {
	Domain         *string `json:"domain"`
	OrganizationID *string `json:"organization_id"`
}

func (s *Server) createDomain(w http.ResponseWriter, r *http.Request, c *call) {
	var b createDomainBody
	if err := decode(c.body, &b); err != nil {
		s.writeError(w, c, err)
		return
	}
	for field, v := range map[string]*string{"domain": b.Domain, "organization_id": b.OrganizationID} {
		if v == nil || *v == "" {
			s.writeError(w, c, domain.InvalidField(field, "required", "%s is required.", field))
			return
		}
	}
	s.mutate(w, r, c, http.StatusCreated, func(m app.Meta) (any, error) {
		return s.app.AddDomain(r.Context(), m, *b.OrganizationID, *b.Domain)
	}, renderDomain)
}

func (s *Server) getDomain(w http.ResponseWriter, r *http.Request, c *call) {
	d, err := s.app.GetDomain(r.Context(), c.principal.EnvironmentID, r.PathValue("id"))
	s.respond(w, c, http.StatusOK, d, err, renderDomain)
}

func (s *Server) verifyDomain(manual bool) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, c *call) {
		id := r.PathValue("id")
		s.mutate(w, r, c, http.StatusCreated, func(m app.Meta) (any, error) { return s.app.VerifyDomain(r.Context(), m, id, manual) }, renderDomain)
	}
}

func (s *Server) deleteDomain(w http.ResponseWriter, r *http.Request, c *call) {
	s.respondEmpty(w, c, http.StatusNoContent, s.app.RemoveDomain(r.Context(), c.meta(), r.PathValue("id")))
}

type policiesBody struct {
	JITMembership *bool `json:"jit_membership"`
	SSORequired   *bool `json:"sso_required"`
}

func renderPolicies(v any) any {
	o := v.(app.OrganizationView)
	return map[string]any{"object": "organization_policies", "organization_id": o.ID,
		"jit_membership": o.Policies.JITMembership, "sso_required": o.Policies.SSORequired}
}

func (s *Server) getPolicies(w http.ResponseWriter, r *http.Request, c *call) {
	o, err := s.app.GetOrganization(r.Context(), c.principal.EnvironmentID, r.PathValue("id"))
	s.respond(w, c, http.StatusOK, o, err, renderPolicies)
}

func (s *Server) putPolicies(w http.ResponseWriter, r *http.Request, c *call) {
	var b policiesBody
	if err := decode(c.body, &b); err != nil {
		s.writeError(w, c, err)
		return
	}
	id, change := r.PathValue("id"), organization.ChangePolicies{JITMembership: b.JITMembership, SSORequired: b.SSORequired}
	s.mutate(w, r, c, http.StatusOK, func(m app.Meta) (any, error) { return s.app.ChangePolicies(r.Context(), m, id, change) }, renderPolicies)
}

func (s *Server) authPolicy(w http.ResponseWriter, r *http.Request, c *call) {
	p, err := s.app.AuthPolicyFor(r.Context(), c.principal.EnvironmentID, r.URL.Query().Get("email"))
	s.respond(w, c, http.StatusOK, p, err, func(v any) any { return v })
}

// commaList splits comma-joined (and repeated) query values, as the SDK sends arrays.
func commaList(values []string) []string {
	var out []string
	for _, v := range values {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

// respond writes v rendered, or err.
func (s *Server) respond(w http.ResponseWriter, c *call, status int, v any, err error, render func(any) any) {
	if err != nil {
		s.writeError(w, c, err)
		return
	}
	writeJSON(w, status, render(v))
}

// respondEmpty answers a delete: status with no body, or err.
func (s *Server) respondEmpty(w http.ResponseWriter, c *call, status int, err error) {
	if err != nil {
		s.writeError(w, c, err)
		return
	}
	w.WriteHeader(status)
}
