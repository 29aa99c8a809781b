package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/keywayhq/keyway/app"
	"github.com/keywayhq/keyway/events"
	"github.com/keywayhq/keyway/infra/dns"
	"github.com/keywayhq/keyway/test/dnstest"
)

type obj = map[string]any

const (
	unknownOrg        = "org_01ZZZZZZZZZZZZZZZZZZZZZZZZ"
	unknownDomain     = "org_domain_01ZZZZZZZZZZZZZZZZZZZZZZZZ"
	unknownUser       = "user_01ZZZZZZZZZZZZZZZZZZZZZZZZ"
	unknownMembership = "om_01ZZZZZZZZZZZZZZZZZZZZZZZZ"
	t0                = "2026-03-04T05:06:07.000Z" // the fixture clock's start
)

// newDNSFixture is a fixture whose domain verification asks a real DNS server.
func newDNSFixture(t *testing.T) (*fixture, *dnstest.Server) {
	t.Helper()
	srv, err := dnstest.Start()
	if err != nil {
		t.Fatalf("start dns server: %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	return newFixtureWith(t, fixtureOptions{dns: dns.New(srv.Addr(), 2*time.Second)}), srv
}

// on is the fixture reporting to t, for subtests.
func (f *fixture) on(t *testing.T) *fixture {
	g := *f
	g.t = t
	return &g
}

// must runs a request and fails unless it answers want.
func (f *fixture) must(key, method, path string, body any, want int) obj {
	f.t.Helper()
	res := f.do(key, method, path, body)
	if res.status != want {
		f.t.Fatalf("%s %s = %d %s, want %d", method, path, res.status, res.raw, want)
	}
	return res.body
}

func (f *fixture) createOrg(body obj) obj {
	f.t.Helper()
	return f.must(f.staging, "POST", "/organizations", body, 201)
}

func (f *fixture) addDomain(orgID, name string) obj {
	f.t.Helper()
	return f.must(f.staging, "POST", "/organization_domains", obj{"domain": name, "organization_id": orgID}, 201)
}

func (f *fixture) createMembership(body obj) obj {
	f.t.Helper()
	return f.must(f.staging, "POST", "/user_management/organization_memberships", body, 201)
}

// rejected runs a request that must fail with status and code (code "" is
// not checked) and write nothing in either environment.
func (f *fixture) rejected(key, method, path string, body any, status int, code string, headers ...string) response {
	f.t.Helper()
	before, beforeProd := f.feedLen(), f.feedLenOf(f.prodEnv)
	res := f.do(key, method, path, body, headers...)
	if res.status != status || (code != "" && res.body["code"] != code) || res.body["message"] == nil || res.body["message"] == "" {
		f.t.Fatalf("%s %s %v = %d %s, want %d %s with a message", method, path, body, res.status, res.raw, status, code)
	}
	if f.feedLen() != before || f.feedLenOf(f.prodEnv) != beforeProd {
		f.t.Fatalf("%s %s: the rejected request wrote %d events", method, path, f.feedLen()-before+f.feedLenOf(f.prodEnv)-beforeProd)
	}
	return res
}

// unchanged runs a request that must succeed with status without writing.
func (f *fixture) unchanged(key, method, path string, body any, status int) obj {
	f.t.Helper()
	before := f.feedLen()
	b := f.must(key, method, path, body, status)
	if n := f.feedLen() - before; n != 0 {
		f.t.Fatalf("%s %s wrote %d events, want none", method, path, n)
	}
	return b
}

// list reads a list and returns its ids and cursors.
func (f *fixture) list(key, path string) (ids []string, before, after any) {
	f.t.Helper()
	b := f.must(key, "GET", path, nil, 200)
	if b["object"] != "list" {
		f.t.Fatalf("GET %s: object %v", path, b["object"])
	}
	for _, d := range b["data"].([]any) {
		ids = append(ids, d.(obj)["id"].(string))
	}
	md, ok := b["list_metadata"].(obj)
	if !ok {
		f.t.Fatalf("GET %s: no list_metadata: %v", path, b)
	}
	return ids, md["before"], md["after"]
}

func (f *fixture) listData(key, path string) []obj {
	f.t.Helper()
	var out []obj
	for _, d := range f.must(key, "GET", path, nil, 200)["data"].([]any) {
		out = append(out, d.(obj))
	}
	return out
}

// newEvents returns the types of the staging events written since n events.
func (f *fixture) newEvents(n int) []string {
	f.t.Helper()
	evs, err := f.store.Feed(context.Background(), events.FeedQuery{Environment: f.stagingEnv, Limit: 10000})
	if err != nil {
		f.t.Fatal(err)
	}
	var out []string
	for _, e := range evs[n:] {
		out = append(out, e.Type)
	}
	return out
}

func domainsOf(org obj) []obj {
	var out []obj
	for _, d := range org["domains"].([]any) {
		out = append(out, d.(obj))
	}
	return out
}

func eq(t *testing.T, name string, got, want any) {
	t.Helper()
	if want == nil {
		want = []string(nil)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("%s: got %v, want %v", name, got, want)
	}
}

func reversed(s []string) []string {
	out := append([]string(nil), s...)
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

func TestCreateAndGetOrganization(t *testing.T) {
	f := newFixture(t)
	before := f.feedLen()
	o := f.createOrg(obj{"name": "  Acme ", "external_id": "acme-1", "metadata": obj{"tier": "gold"},
		"domain_data": []obj{{"domain": "Acme.COM", "state": "verified"}, {"domain": "acme.dev", "state": "pending"}, {"domain": "acme.io"}, {"domain": "acme.dev"}}})
	id, _ := o["id"].(string)
	if !app.ValidID(id, "org") || o["object"] != "organization" || o["name"] != "Acme" || o["allow_profiles_outside_organization"] != false ||
		o["external_id"] != "acme-1" || o["metadata"].(obj)["tier"] != "gold" || o["created_at"] != t0 || o["updated_at"] != t0 {
		t.Fatalf("created organization = %v", o)
	}
	ds := domainsOf(o)
	if len(ds) != 3 {
		t.Fatalf("domains = %v, want 3 (the repeated one once)", ds)
	}
	for i, want := range []struct{ name, state, strategy string }{{"acme.com", "verified", "manual"}, {"acme.dev", "pending", "dns"}, {"acme.io", "pending", "dns"}} {
		d := ds[i]
		did, _ := d["id"].(string)
		if !app.ValidID(did, "org_domain") || d["object"] != "organization_domain" || d["organization_id"] != id || d["domain"] != want.name ||
			d["state"] != want.state || d["verification_strategy"] != want.strategy || d["created_at"] != t0 {
			t.Fatalf("domain %d = %v, want %+v", i, d, want)
		}
		_, hasToken := d["verification_token"]
		if hasToken != (want.state == "pending") || (hasToken && (d["verification_token"] == "" || d["verification_prefix"] == "")) {
			t.Fatalf("domain %d verification fields: %v", i, d)
		}
	}
	eq(t, "events", f.newEvents(before), []string{"organization.created", "organization_domain.created", "organization_domain.created", "organization_domain.created"})

	for _, path := range []string{"/organizations/" + id, "/organizations/external_id/acme-1"} {
		if got := f.must(f.staging, "GET", path, nil, 200); !reflect.DeepEqual(got, o) {
			t.Fatalf("GET %s = %v, want %v", path, got, o)
		}
	}
	if got := f.must(f.staging, "GET", "/organization_domains/"+ds[1]["id"].(string), nil, 200); !reflect.DeepEqual(got, ds[1]) {
		t.Fatalf("GET domain = %v, want %v", got, ds[1])
	}
	for _, path := range []string{"/organizations/" + unknownOrg, "/organizations/not-an-id", "/organizations/external_id/nope",
		"/organization_domains/" + unknownDomain, "/organization_domains/" + id} {
		if res := f.do(f.staging, "GET", path, nil); res.status != 404 || res.body["message"] == "" {
			t.Errorf("GET %s = %d %s, want 404 with a message", path, res.status, res.raw)
		}
	}

	// Without domains, the array is still there, and so are metadata and external_id.
	res := f.do(f.staging, "POST", "/organizations", obj{"name": "Solo"})
	if res.status != 201 || !strings.Contains(res.raw, `"domains":[]`) || !strings.Contains(res.raw, `"metadata":{}`) || !strings.Contains(res.raw, `"external_id":null`) {
		t.Fatalf("organization without domains = %d %s", res.status, res.raw)
	}
	// The deprecated domains[] gives pending domains.
	legacy := f.createOrg(obj{"name": "Legacy", "domains": []string{"Legacy.com"}})
	if ds := domainsOf(legacy); len(ds) != 1 || ds[0]["domain"] != "legacy.com" || ds[0]["state"] != "pending" {
		t.Fatalf("legacy domains = %v", legacy["domains"])
	}
}

func TestCreateOrganizationRejectsBadInput(t *testing.T) {
	f := newFixture(t)
	f.createOrg(obj{"name": "Taken", "external_id": "taken", "domain_data": []obj{{"domain": "taken.com", "state": "verified"}}})
	many := obj{}
	for i := range 11 {
		many[fmt.Sprint("k", i)] = "v"
	}
	dd := func(domain string) obj { return obj{"name": "X", "domain_data": []obj{{"domain": domain}}} }
	cases := []struct {
		name   string
		body   any
		status int
		code   string
		field  string
	}{
		{"malformed JSON", `{"name":`, 400, "invalid_json", ""},
		{"missing name", obj{}, 422, "invalid_request_parameters", "name"},
		{"blank name", obj{"name": "   "}, 422, "invalid_request_parameters", "name"},
		{"name of the wrong type", obj{"name": 5}, 422, "invalid_request_parameters", "name"},
		{"control characters in name", obj{"name": "a\x00b"}, 422, "invalid_request_parameters", "name"},
		{"domain_data not an array", obj{"name": "X", "domain_data": "a.com"}, 422, "invalid_request_parameters", "domain_data"},
		{"consumer domain", dd("gmail.com"), 422, "invalid_request_parameters", "domain_data"},
		{"consumer domain in capitals", dd("GMail.COM"), 422, "invalid_request_parameters", "domain_data"},
		{"consumer domain among others", obj{"name": "X", "domain_data": []obj{{"domain": "fine.com"}, {"domain": "outlook.com"}}}, 422, "invalid_request_parameters", "domain_data"},
		{"space in domain", dd("exa mple.com"), 422, "invalid_request_parameters", "domain_data"},
		{"single label", dd("localhost"), 422, "invalid_request_parameters", "domain_data"},
		{"leading hyphen", dd("-a.com"), 422, "invalid_request_parameters", "domain_data"},
		{"empty label", dd("a..com"), 422, "invalid_request_parameters", "domain_data"},
		{"ip address", dd("10.0.0.1"), 422, "invalid_request_parameters", "domain_data"},
		{"url", dd("https://a.com/"), 422, "invalid_request_parameters", "domain_data"},
		{"empty domain", dd(""), 422, "invalid_request_parameters", "domain_data"},
		{"unknown state", obj{"name": "X", "domain_data": []obj{{"domain": "a.com", "state": "failed"}}}, 422, "invalid_request_parameters", "domain_data"},
		{"legacy consumer domain", obj{"name": "X", "domains": []string{"yahoo.com"}}, 422, "invalid_request_parameters", "domain_data"},
		{"external id with spaces", obj{"name": "X", "external_id": "a b"}, 422, "invalid_request_parameters", "external_id"},
		{"too many metadata keys", obj{"name": "X", "metadata": many}, 422, "invalid_request_parameters", "metadata"},
		{"metadata value of the wrong type", obj{"name": "X", "metadata": obj{"k": 1}}, 422, "invalid_request_parameters", "metadata"},
		{"external id in use", obj{"name": "X", "external_id": "taken"}, 400, "external_id_already_used", ""},
		{"domain verified by another organization", obj{"name": "X", "domain_data": []obj{{"domain": "Taken.com", "state": "verified"}}}, 409, "domain_already_exists", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := f.on(t)
			res := f.rejected(f.staging, "POST", "/organizations", c.body, c.status, c.code)
			if c.field != "" {
				errs, _ := res.body["errors"].([]any)
				if len(errs) == 0 || errs[0].(obj)["field"] != c.field {
					t.Fatalf("errors = %v, want field %s", res.body["errors"], c.field)
				}
			}
		})
	}
	if ids, _, _ := f.list(f.staging, "/organizations?limit=100"); len(ids) != 1 {
		t.Fatalf("%d organizations after rejected requests, want 1", len(ids))
	}
}

func TestListOrganizations(t *testing.T) {
	f := newFixture(t)
	domains := [][]obj{{{"domain": "a.com"}}, {{"domain": "b.com", "state": "verified"}}, {{"domain": "c.com"}}, {{"domain": "a.com"}, {"domain": "d.com"}}}
	var ids []string
	for i := range 12 {
		body := obj{"name": fmt.Sprint("Org ", i)}
		if i < len(domains) {
			body["domain_data"] = domains[i]
		}
		ids = append(ids, f.createOrg(body)["id"].(string))
		f.clock.Advance(time.Millisecond)
	}
	desc := reversed(ids)
	cases := []struct {
		query         string
		want          []string
		before, after any
	}{
		{"", desc[:10], nil, desc[9]},
		{"after=" + desc[9], desc[10:], desc[10], nil},
		{"before=" + desc[10], desc[:10], nil, desc[9]},
		{"limit=3&after=" + desc[2], desc[3:6], desc[3], desc[5]},
		{"limit=3&before=" + desc[6], desc[3:6], desc[3], desc[5]},
		{"order=asc&limit=5", ids[:5], nil, ids[4]},
		{"order=asc&limit=100&after=" + ids[9], ids[10:], ids[10], nil},
		{"domains=a.com,b.com", []string{ids[3], ids[1], ids[0]}, nil, nil},
		{"domains=a.com%2Cb.com", []string{ids[3], ids[1], ids[0]}, nil, nil},
		{"domains=a.com&domains=c.com", []string{ids[3], ids[2], ids[0]}, nil, nil},
		{"domains=A.COM", []string{ids[3], ids[0]}, nil, nil},
		{"domains=d.com,a.com", []string{ids[3], ids[0]}, nil, nil},
		{"domains=a.com,b.com&order=asc", []string{ids[0], ids[1], ids[3]}, nil, nil},
		{"domains=a.com,b.com&limit=2", []string{ids[3], ids[1]}, nil, ids[1]},
		{"domains=a.com,b.com&limit=2&after=" + ids[1], []string{ids[0]}, ids[0], nil},
		{"domains=a.com,b.com&limit=2&before=" + ids[0], []string{ids[3], ids[1]}, nil, ids[1]},
		{"domains=nobody.com", nil, nil, nil},
	}
	for _, c := range cases {
		t.Run(c.query, func(t *testing.T) {
			f := f.on(t)
			got, before, after := f.list(f.staging, "/organizations?"+c.query)
			eq(t, "ids", got, c.want)
			if before != c.before || after != c.after {
				t.Fatalf("before=%v after=%v, want %v %v", before, after, c.before, c.after)
			}
		})
	}
	for _, q := range []string{"limit=0", "limit=101", "order=sideways", "after=user_01ZZZZZZZZZZZZZZZZZZZZZZZZ", "after=" + ids[0] + "&before=" + ids[1], "domains=exa%20mple.com"} {
		f.rejected(f.staging, "GET", "/organizations?"+q, nil, 422, "invalid_request_parameters")
	}
}

func TestUpdateOrganization(t *testing.T) {
	f := newFixture(t)
	o := f.createOrg(obj{"name": "Acme", "external_id": "ext", "metadata": obj{"keep": "1", "drop": "2"},
		"domain_data": []obj{{"domain": "keep.com"}, {"domain": "drop.com"}, {"domain": "later.com"}}})
	other := f.createOrg(obj{"name": "Other", "external_id": "other", "domain_data": []obj{{"domain": "theirs.com", "state": "verified"}}})
	id, ds := o["id"].(string), domainsOf(o)
	path := "/organizations/" + id
	f.clock.Advance(time.Minute)
	before := f.feedLen()
	u := f.must(f.staging, "PUT", path, obj{"name": "Acme 2", "metadata": obj{"drop": nil, "add": "3"},
		"domain_data": []obj{{"domain": "keep.com"}, {"domain": "LATER.com", "state": "verified"}, {"domain": "new.com"}}}, 200)
	md := u["metadata"].(obj)
	if u["name"] != "Acme 2" || len(md) != 2 || md["keep"] != "1" || md["add"] != "3" || u["created_at"] != t0 ||
		u["updated_at"] != "2026-03-04T05:07:07.000Z" || u["external_id"] != "ext" {
		t.Fatalf("update = %v", u)
	}
	got := domainsOf(u)
	if len(got) != 3 {
		t.Fatalf("domains after update = %v", got)
	}
	byName := map[string]obj{}
	for _, d := range got {
		byName[d["domain"].(string)] = d
	}
	if k := byName["keep.com"]; k["id"] != ds[0]["id"] || k["state"] != "pending" || k["verification_token"] != ds[0]["verification_token"] {
		t.Fatalf("kept domain = %v, was %v", k, ds[0])
	}
	if l := byName["later.com"]; l["id"] != ds[2]["id"] || l["state"] != "verified" {
		t.Fatalf("verified domain = %v", l)
	}
	if n := byName["new.com"]; !app.ValidID(fmt.Sprint(n["id"]), "org_domain") || n["state"] != "pending" || n["organization_id"] != id {
		t.Fatalf("added domain = %v", n)
	}
	if _, ok := byName["drop.com"]; ok {
		t.Fatal("drop.com was not removed")
	}
	evs := f.newEvents(before)
	for _, want := range []string{"organization.updated", "organization_domain.verified", "organization_domain.created", "organization_domain.deleted"} {
		if !strings.Contains(strings.Join(evs, " "), want) {
			t.Errorf("events %v lack %s", evs, want)
		}
	}
	if len(evs) != 4 {
		t.Fatalf("events = %v, want 4", evs)
	}
	if res := f.do(f.staging, "GET", "/organization_domains/"+ds[1]["id"].(string), nil); res.status != 404 {
		t.Fatalf("removed domain = %d", res.status)
	}
	if g := f.must(f.staging, "GET", path, nil, 200); !reflect.DeepEqual(g, u) {
		t.Fatalf("GET after update = %v, want %v", g, u)
	}
	if ids, _, _ := f.list(f.staging, "/organizations?domains=drop.com"); len(ids) != 0 {
		t.Fatal("the removed domain still finds the organization")
	}
	if ids, _, _ := f.list(f.staging, "/organizations?domains=new.com,later.com"); len(ids) != 1 || ids[0] != id {
		t.Fatalf("domains filter after update = %v", ids)
	}

	// An update that changes nothing writes nothing, nor does a repeated domain_data.
	f.unchanged(f.staging, "PUT", path, obj{"name": "Acme 2", "metadata": obj{"keep": "1"}}, 200)
	f.unchanged(f.staging, "PUT", path, obj{"domain_data": []obj{{"domain": "keep.com"}, {"domain": "later.com"}, {"domain": "new.com"}}}, 200)

	rejects := []struct {
		name   string
		path   string
		body   any
		status int
		code   string
	}{
		{"malformed JSON", path, `{"name"`, 400, "invalid_json"},
		{"blank name", path, obj{"name": " "}, 422, "invalid_request_parameters"},
		{"name of the wrong type", path, obj{"name": true}, 422, "invalid_request_parameters"},
		{"consumer domain", path, obj{"domain_data": []obj{{"domain": "gmail.com"}}}, 422, "invalid_request_parameters"},
		{"invalid domain", path, obj{"domain_data": []obj{{"domain": "a..com"}}}, 422, "invalid_request_parameters"},
		{"external id with spaces", path, obj{"external_id": "a b"}, 422, "invalid_request_parameters"},
		{"too many metadata keys", path, obj{"metadata": obj{"a": "1", "b": "1", "c": "1", "d": "1", "e": "1", "f": "1", "g": "1", "h": "1", "i": "1"}}, 422, "invalid_request_parameters"},
		{"external id of another organization", path, obj{"external_id": "other"}, 400, "external_id_already_used"},
		{"domain verified by another organization", path, obj{"domain_data": []obj{{"domain": "theirs.com", "state": "verified"}}}, 409, "domain_already_exists"},
		{"unknown organization", "/organizations/" + unknownOrg, obj{"name": "x"}, 404, ""},
		{"not an id", "/organizations/nope", obj{"name": "x"}, 404, ""},
	}
	for _, c := range rejects {
		t.Run(c.name, func(t *testing.T) { f.on(t).rejected(f.staging, "PUT", c.path, c.body, c.status, c.code) })
	}
	if ds := domainsOf(f.must(f.staging, "GET", "/organizations/"+other["id"].(string), nil, 200)); len(ds) != 1 || ds[0]["state"] != "verified" {
		t.Fatalf("the other organization's domain = %v", ds)
	}

	// external_id null frees it; domain_data [] removes every domain.
	u = f.must(f.staging, "PUT", path, obj{"external_id": nil, "domain_data": []obj{}}, 200)
	if u["external_id"] != nil || len(domainsOf(u)) != 0 {
		t.Fatalf("update to null = %v", u)
	}
	f.must(f.staging, "GET", "/organizations/external_id/ext", nil, 404)
	f.must(f.staging, "PUT", "/organizations/"+other["id"].(string), obj{"external_id": "ext"}, 200)
	// later.com was verified and removed: another organization may verify it now.
	f.must(f.staging, "PUT", "/organizations/"+other["id"].(string), obj{"domain_data": []obj{{"domain": "theirs.com"}, {"domain": "later.com", "state": "verified"}}}, 200)
}

func TestDeleteOrganization(t *testing.T) {
	f := newFixture(t)
	o := f.createOrg(obj{"name": "Gone", "external_id": "gone", "domain_data": []obj{{"domain": "gone.com", "state": "verified"}, {"domain": "pending.com"}}})
	keep := f.createOrg(obj{"name": "Stays"})
	id := o["id"].(string)
	u1 := f.createUser(f.staging, obj{"email": "one@example.com"})["id"].(string)
	u2 := f.createUser(f.staging, obj{"email": "two@example.com"})["id"].(string)
	m1 := f.createMembership(obj{"user_id": u1, "organization_id": id})["id"].(string)
	m2 := f.createMembership(obj{"user_id": u2, "organization_id": id, "role_slug": "admin"})["id"].(string)
	m3 := f.createMembership(obj{"user_id": u1, "organization_id": keep["id"]})["id"].(string)
	f.must(f.staging, "PUT", "/user_management/organization_memberships/"+m2+"/deactivate", obj{}, 200)

	before := f.feedLen()
	if res := f.do(f.staging, "DELETE", "/organizations/"+id, nil); res.status != 200 || res.raw != "" {
		t.Fatalf("delete = %d %q", res.status, res.raw)
	}
	evs := f.newEvents(before)
	eq(t, "events", evs, []string{"organization_domain.deleted", "organization_domain.deleted", "organization.deleted",
		"organization_membership.deleted", "organization_membership.deleted"})
	for _, p := range []string{"/organizations/" + id, "/organizations/external_id/gone", "/organization_domains/" + domainsOf(o)[0]["id"].(string),
		"/organization_domains/" + domainsOf(o)[1]["id"].(string), "/user_management/organization_memberships/" + m1,
		"/user_management/organization_memberships/" + m2, "/keyway/organizations/" + id + "/policies"} {
		if res := f.do(f.staging, "GET", p, nil); res.status != 404 {
			t.Errorf("GET %s after delete = %d %s", p, res.status, res.raw)
		}
	}
	for q, want := range map[string][]string{
		"/user_management/organization_memberships?statuses=active,inactive&organization_id=" + id: nil,
		"/user_management/organization_memberships?statuses=active,inactive&user_id=" + u1:         {m3},
		"/user_management/organization_memberships?statuses=active,inactive&user_id=" + u2:         nil,
		"/user_management/users?organization_id=" + id:                                             nil,
		"/organizations?domains=gone.com,pending.com":                                              nil,
		"/organizations": {keep["id"].(string)},
	} {
		got, _, _ := f.list(f.staging, q)
		eq(t, q, got, want)
	}
	f.rejected(f.staging, "DELETE", "/organizations/"+id, nil, 404, "")
	f.rejected(f.staging, "PUT", "/organizations/"+id, obj{"name": "back"}, 404, "")
	f.rejected(f.staging, "POST", "/organization_domains", obj{"domain": "new.com", "organization_id": id}, 404, "")
	f.rejected(f.staging, "POST", "/user_management/organization_memberships", obj{"user_id": u1, "organization_id": id}, 404, "")
	f.rejected(f.staging, "DELETE", "/organizations/"+unknownOrg, nil, 404, "")
	f.rejected(f.staging, "DELETE", "/organizations/nope", nil, 404, "")
	// Its verified domain and external id are free again.
	again := f.createOrg(obj{"name": "Heir", "external_id": "gone", "domain_data": []obj{{"domain": "gone.com", "state": "verified"}}})
	if domainsOf(again)[0]["state"] != "verified" || f.must(f.staging, "GET", "/organizations/external_id/gone", nil, 200)["id"] != again["id"] {
		t.Fatalf("recreated = %v", again)
	}
}

func TestOrganizationDomainsVerifiedByDNS(t *testing.T) {
	f, srv := newDNSFixture(t)
	org := f.createOrg(obj{"name": "Acme"})
	orgID := org["id"].(string)
	before := f.feedLen()
	d := f.addDomain(orgID, " Example.COM ")
	id, _ := d["id"].(string)
	token, _ := d["verification_token"].(string)
	prefix, _ := d["verification_prefix"].(string)
	if !app.ValidID(id, "org_domain") || d["object"] != "organization_domain" || d["organization_id"] != orgID || d["domain"] != "example.com" ||
		d["state"] != "pending" || d["verification_strategy"] != "dns" || len(token) < 16 || prefix == "" || d["created_at"] != t0 {
		t.Fatalf("created domain = %v", d)
	}
	eq(t, "events", f.newEvents(before), []string{"organization_domain.created"})
	if got := f.must(f.staging, "GET", "/organization_domains/"+id, nil, 200); !reflect.DeepEqual(got, d) {
		t.Fatalf("GET domain = %v, want %v", got, d)
	}
	if ds := domainsOf(f.must(f.staging, "GET", "/organizations/"+orgID, nil, 200)); len(ds) != 1 || !reflect.DeepEqual(ds[0], d) {
		t.Fatalf("organization's domains = %v", ds)
	}
	record := prefix + ".example.com"
	verify := "/organization_domains/" + id + "/verify"

	// Attempts that leave the domain pending write nothing.
	pending := []struct {
		name  string
		setup func()
	}{
		{"no record", func() {}},
		{"the token at the domain itself", func() { srv.SetTXT("example.com", token) }},
		{"the token at another prefix", func() { srv.SetTXT("_other."+"example.com", token) }},
		{"a wrong token", func() { srv.SetTXT(record, "nope", token+"x", "v=spf1 -all") }},
		{"the record removed again", func() { srv.DeleteTXT(record) }},
	}
	for _, c := range pending {
		t.Run(c.name, func(t *testing.T) {
			f := f.on(t)
			c.setup()
			if got := f.unchanged(f.staging, "POST", verify, obj{}, 201); got["state"] != "pending" || got["id"] != id {
				t.Fatalf("verify = %v", got)
			}
		})
	}
	// A DNS failure is a clear 4xx, not a verdict.
	srv.SetTXT(record, token)
	srv.FailWith(record, mdns.RcodeServerFailure)
	res := f.rejected(f.staging, "POST", verify, obj{}, 400, "domain_verification_failed")
	if !strings.Contains(fmt.Sprint(res.body["message"]), record) {
		t.Fatalf("DNS failure message = %v", res.body["message"])
	}
	if f.must(f.staging, "GET", "/organization_domains/"+id, nil, 200)["state"] != "pending" {
		t.Fatal("a DNS failure changed the domain")
	}
	srv.FailWith(record, mdns.RcodeSuccess)

	// The token among other records verifies it.
	srv.SetTXT(record, "v=spf1 -all", token)
	f.clock.Advance(time.Hour)
	before = f.feedLen()
	v := f.must(f.staging, "POST", verify, obj{}, 201)
	if v["state"] != "verified" || v["id"] != id || v["verification_strategy"] != "dns" || v["updated_at"] != "2026-03-04T06:06:07.000Z" || v["created_at"] != t0 {
		t.Fatalf("verified = %v", v)
	}
	eq(t, "events", f.newEvents(before), []string{"organization_domain.verified"})
	if got := f.must(f.staging, "GET", "/organization_domains/"+id, nil, 200); !reflect.DeepEqual(got, v) {
		t.Fatalf("GET verified domain = %v", got)
	}
	if ds := domainsOf(f.must(f.staging, "GET", "/organizations/"+orgID, nil, 200)); ds[0]["state"] != "verified" {
		t.Fatalf("organization's domain = %v", ds[0])
	}
	if p := f.must(f.staging, "GET", "/keyway/auth_policy?email=someone@example.com", nil, 200); p["organization_id"] != orgID {
		t.Fatalf("auth policy after verification = %v", p)
	}
	f.rejected(f.staging, "POST", verify, obj{}, 400, "domain_already_verified")
	f.rejected(f.staging, "POST", "/keyway/organization_domains/"+id+"/verify_manually", obj{}, 400, "domain_already_verified")
	// Another organization cannot add a domain verified elsewhere.
	rival := f.createOrg(obj{"name": "Rival"})["id"].(string)
	f.rejected(f.staging, "POST", "/organization_domains", obj{"domain": "example.com", "organization_id": rival}, 409, "domain_already_exists")
	f.rejected(f.staging, "POST", "/organization_domains/"+unknownDomain+"/verify", obj{}, 404, "")
	f.rejected(f.staging, "POST", "/organization_domains/nope/verify", obj{}, 404, "")

	// DELETE frees the domain.
	before = f.feedLen()
	if res := f.do(f.staging, "DELETE", "/organization_domains/"+id, nil); res.status != 204 || res.raw != "" {
		t.Fatalf("delete = %d %q", res.status, res.raw)
	}
	eq(t, "events", f.newEvents(before), []string{"organization_domain.deleted"})
	f.must(f.staging, "GET", "/organization_domains/"+id, nil, 404)
	if ds := domainsOf(f.must(f.staging, "GET", "/organizations/"+orgID, nil, 200)); len(ds) != 0 {
		t.Fatalf("domains after delete = %v", ds)
	}
	f.rejected(f.staging, "DELETE", "/organization_domains/"+id, nil, 404, "")
	f.rejected(f.staging, "DELETE", "/organization_domains/"+unknownDomain, nil, 404, "")
	if p := f.must(f.staging, "GET", "/keyway/auth_policy?email=someone@example.com", nil, 200); p["organization_id"] != nil {
		t.Fatalf("auth policy after the domain's deletion = %v", p)
	}
	rd := f.addDomain(rival, "example.com")
	srv.SetTXT(record, rd["verification_token"].(string))
	if got := f.must(f.staging, "POST", "/organization_domains/"+rd["id"].(string)+"/verify", obj{}, 201); got["state"] != "verified" {
		t.Fatalf("rival verification = %v", got)
	}
}

func TestDomainVerificationFailsAfter30Days(t *testing.T) {
	f, srv := newDNSFixture(t)
	orgID := f.createOrg(obj{"name": "Slow"})["id"].(string)
	d := f.addDomain(orgID, "slow.com")
	id := d["id"].(string)
	verify := "/organization_domains/" + id + "/verify"
	f.clock.Advance(30*24*time.Hour - time.Millisecond)
	if got := f.unchanged(f.staging, "POST", verify, obj{}, 201); got["state"] != "pending" {
		t.Fatalf("verify just before 30 days = %v", got)
	}
	f.clock.Advance(time.Millisecond)
	before := f.feedLen()
	got := f.must(f.staging, "POST", verify, obj{}, 201)
	if got["state"] != "failed" || got["updated_at"] != "2026-04-03T05:06:07.000Z" {
		t.Fatalf("verify after 30 days = %v", got)
	}
	eq(t, "events", f.newEvents(before), []string{"organization_domain.verification_failed"})
	if g := f.must(f.staging, "GET", "/organization_domains/"+id, nil, 200); g["state"] != "failed" {
		t.Fatalf("GET failed domain = %v", g)
	}
	evs := f.listData(f.staging, "/events?events=organization_domain.verification_failed")
	if len(evs) != 1 {
		t.Fatalf("verification_failed events = %v", evs)
	}
	data := evs[0]["data"].(obj)
	od, _ := data["organization_domain"].(obj)
	if data["reason"] == "" || data["reason"] == nil || od["object"] != "organization_domain" || od["id"] != id || od["state"] != "failed" {
		t.Fatalf("verification_failed data = %v", data)
	}
	// Failing again changes nothing; publishing the record still verifies it.
	f.unchanged(f.staging, "POST", verify, obj{}, 201)
	srv.SetTXT(d["verification_prefix"].(string)+".slow.com", d["verification_token"].(string))
	if got := f.must(f.staging, "POST", verify, obj{}, 201); got["state"] != "verified" {
		t.Fatalf("late verification = %v", got)
	}
}

func TestVerificationWithoutDNSIsA4xx(t *testing.T) {
	f := newFixture(t)
	orgID := f.createOrg(obj{"name": "Acme"})["id"].(string)
	d := f.addDomain(orgID, "acme.com")
	f.rejected(f.staging, "POST", "/organization_domains/"+d["id"].(string)+"/verify", obj{}, 400, "domain_verification_unavailable")
}

func TestAddDomainRejectsBadInput(t *testing.T) {
	f := newFixture(t)
	orgID := f.createOrg(obj{"name": "Acme", "domain_data": []obj{{"domain": "own.com"}}})["id"].(string)
	f.createOrg(obj{"name": "Other", "domain_data": []obj{{"domain": "taken.com", "state": "verified"}}})
	body := func(domain string) obj { return obj{"domain": domain, "organization_id": orgID} }
	cases := []struct {
		name   string
		body   any
		status int
		code   string
	}{
		{"malformed JSON", `{"domain"`, 400, "invalid_json"},
		{"missing domain", obj{"organization_id": orgID}, 422, "invalid_request_parameters"},
		{"missing organization", obj{"domain": "a.com"}, 422, "invalid_request_parameters"},
		{"domain of the wrong type", obj{"domain": 1, "organization_id": orgID}, 422, "invalid_request_parameters"},
		{"consumer domain", body("gmail.com"), 422, "invalid_request_parameters"},
		{"another consumer domain", body("Hotmail.com"), 422, "invalid_request_parameters"},
		{"space in domain", body("exa mple.com"), 422, "invalid_request_parameters"},
		{"single label", body("localhost"), 422, "invalid_request_parameters"},
		{"leading hyphen", body("-a.com"), 422, "invalid_request_parameters"},
		{"empty label", body("a..com"), 422, "invalid_request_parameters"},
		{"wildcard", body("*.a.com"), 422, "invalid_request_parameters"},
		{"email address", body("me@a.com"), 422, "invalid_request_parameters"},
		{"label too long", body(strings.Repeat("a", 64) + ".com"), 422, "invalid_request_parameters"},
		{"unknown organization", obj{"domain": "a.com", "organization_id": unknownOrg}, 404, ""},
		{"not an organization id", obj{"domain": "a.com", "organization_id": "nope"}, 404, ""},
		{"already the organization's", body("OWN.com"), 409, "domain_already_exists"},
		{"verified by another organization", body("taken.com"), 409, "domain_already_exists"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := f.on(t)
			f.rejected(f.staging, "POST", "/organization_domains", c.body, c.status, c.code)
		})
	}
	if ds := domainsOf(f.must(f.staging, "GET", "/organizations/"+orgID, nil, 200)); len(ds) != 1 {
		t.Fatalf("domains after rejected requests = %v", ds)
	}
}

func TestManualVerification(t *testing.T) {
	f := newFixture(t)
	orgID := f.createOrg(obj{"name": "Acme"})["id"].(string)
	rival := f.createOrg(obj{"name": "Rival"})["id"].(string)
	d := f.addDomain(orgID, "acme.com")
	rd := f.addDomain(rival, "acme.com") // pending in both: allowed until one verifies
	manual := func(id string) string { return "/keyway/organization_domains/" + id + "/verify_manually" }
	before := f.feedLen()
	v := f.must(f.staging, "POST", manual(d["id"].(string)), obj{}, 201)
	if v["state"] != "verified" || v["verification_strategy"] != "manual" || v["id"] != d["id"] {
		t.Fatalf("manual verification = %v", v)
	}
	eq(t, "events", f.newEvents(before), []string{"organization_domain.verified"})
	f.rejected(f.staging, "POST", manual(d["id"].(string)), obj{}, 400, "domain_already_verified")
	f.rejected(f.staging, "POST", manual(rd["id"].(string)), obj{}, 409, "domain_already_exists")
	if g := f.must(f.staging, "GET", "/organization_domains/"+rd["id"].(string), nil, 200); g["state"] != "pending" {
		t.Fatalf("the rival's domain = %v", g)
	}
	f.rejected(f.staging, "POST", manual(unknownDomain), obj{}, 404, "")
}

// race runs fn n times at once and returns the results in order.
func race(n int, fn func(i int) response) []response {
	out := make([]response, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			out[i] = fn(i)
		}()
	}
	close(start)
	wg.Wait()
	return out
}

func TestConcurrentVerificationHasOneOwner(t *testing.T) {
	f, srv := newDNSFixture(t)
	for round := range 6 {
		name := fmt.Sprintf("race%d.com", round)
		manual := round%2 == 1
		t.Run(name, func(t *testing.T) {
			f := f.on(t)
			var orgs, domainIDs, tokens []string
			var prefix string
			for i := range 3 {
				orgs = append(orgs, f.createOrg(obj{"name": fmt.Sprint("Racer ", i)})["id"].(string))
				d := f.addDomain(orgs[i], name)
				domainIDs, tokens, prefix = append(domainIDs, d["id"].(string)), append(tokens, d["verification_token"].(string)), d["verification_prefix"].(string)
			}
			srv.SetTXT(prefix+"."+name, tokens...) // every racer has published its token
			before := f.feedLen()
			results := race(len(orgs), func(i int) response {
				path := "/organization_domains/" + domainIDs[i] + "/verify"
				if manual {
					path = "/keyway/organization_domains/" + domainIDs[i] + "/verify_manually"
				}
				return f.do(f.staging, "POST", path, obj{})
			})
			winner := -1
			for i, res := range results {
				switch {
				case res.status == 201 && res.body["state"] == "verified":
					if winner >= 0 {
						t.Fatalf("two owners: %d and %d", winner, i)
					}
					winner = i
				case res.status == 409 && res.body["code"] == "domain_already_exists":
				default:
					t.Fatalf("racer %d: %d %s", i, res.status, res.raw)
				}
			}
			if winner < 0 {
				t.Fatal("no racer verified the domain")
			}
			eq(t, "events", f.newEvents(before), []string{"organization_domain.verified"})
			for i, id := range domainIDs {
				want := "pending"
				if i == winner {
					want = "verified"
				}
				if g := f.must(f.staging, "GET", "/organization_domains/"+id, nil, 200); g["state"] != want {
					t.Fatalf("racer %d's domain = %v, want %s", i, g, want)
				}
			}
			if p := f.must(f.staging, "GET", "/keyway/auth_policy?email=a@"+name, nil, 200); p["organization_id"] != orgs[winner] {
				t.Fatalf("owner = %v, want %s", p["organization_id"], orgs[winner])
			}
			// A loser trying again still loses.
			loser := (winner + 1) % len(orgs)
			f.rejected(f.staging, "POST", "/organization_domains/"+domainIDs[loser]+"/verify", obj{}, 409, "domain_already_exists")
		})
	}
}

func TestConcurrentCreationWithAVerifiedDomainHasOneOwner(t *testing.T) {
	f := newFixture(t)
	const n = 6
	before := f.feedLen()
	results := race(n, func(i int) response {
		return f.do(f.staging, "POST", "/organizations", obj{"name": fmt.Sprint("Racer ", i), "domain_data": []obj{{"domain": "claimed.com", "state": "verified"}}})
	})
	var winners []obj
	for i, res := range results {
		switch {
		case res.status == 201:
			winners = append(winners, res.body)
		case res.status == 409 && res.body["code"] == "domain_already_exists":
		default:
			t.Fatalf("racer %d: %d %s", i, res.status, res.raw)
		}
	}
	if len(winners) != 1 || domainsOf(winners[0])[0]["state"] != "verified" {
		t.Fatalf("winners = %v", winners)
	}
	eq(t, "events", f.newEvents(before), []string{"organization.created", "organization_domain.created"})
	if ids, _, _ := f.list(f.staging, "/organizations?domains=claimed.com"); len(ids) != 1 || ids[0] != winners[0]["id"] {
		t.Fatalf("organizations with claimed.com = %v", ids)
	}

	// Existing organizations racing to verify through domain_data: one owner too.
	a := f.createOrg(obj{"name": "A"})["id"].(string)
	b := f.createOrg(obj{"name": "B"})["id"].(string)
	orgs := []string{a, b}
	results = race(2, func(i int) response {
		return f.do(f.staging, "PUT", "/organizations/"+orgs[i], obj{"domain_data": []obj{{"domain": "both.com", "state": "verified"}}})
	})
	ok := 0
	for i, res := range results {
		switch {
		case res.status == 200 && domainsOf(res.body)[0]["state"] == "verified":
			ok++
		case res.status == 409 && res.body["code"] == "domain_already_exists":
			if ds := domainsOf(f.must(f.staging, "GET", "/organizations/"+orgs[i], nil, 200)); len(ds) != 0 {
				t.Fatalf("the loser has domains %v", ds)
			}
		default:
			t.Fatalf("racer %d: %d %s", i, res.status, res.raw)
		}
	}
	if ok != 1 {
		t.Fatalf("%d owners of both.com", ok)
	}
}

func TestMemberships(t *testing.T) {
	f := newFixture(t)
	u1 := f.createUser(f.staging, obj{"email": "one@example.com"})["id"].(string)
	u2 := f.createUser(f.staging, obj{"email": "two@example.com"})["id"].(string)
	a := f.createOrg(obj{"name": "Acme"})["id"].(string)
	b := f.createOrg(obj{"name": "Beta"})["id"].(string)

	before := f.feedLen()
	m := f.createMembership(obj{"user_id": u1, "organization_id": a})
	id, _ := m["id"].(string)
	if !app.ValidID(id, "om") || m["object"] != "organization_membership" || m["user_id"] != u1 || m["organization_id"] != a ||
		m["organization_name"] != "Acme" || m["status"] != "active" || m["role"].(obj)["slug"] != "member" ||
		fmt.Sprint(m["roles"]) != "[map[slug:member]]" || m["created_at"] != t0 || m["updated_at"] != t0 {
		t.Fatalf("membership = %v", m)
	}
	if evs := f.newEvents(before); evs[len(evs)-1] != "organization_membership.created" || strings.Count(strings.Join(evs, " "), "organization_membership") != 1 {
		t.Fatalf("events = %v", evs)
	}
	if g := f.must(f.staging, "GET", "/user_management/organization_memberships/"+id, nil, 200); !reflect.DeepEqual(g, m) {
		t.Fatalf("GET = %v, want %v", g, m)
	}
	if r := f.createMembership(obj{"user_id": u2, "organization_id": a, "role_slug": "admin"}); r["role"].(obj)["slug"] != "admin" {
		t.Fatalf("admin membership = %v", r)
	}
	if r := f.createMembership(obj{"user_id": u1, "organization_id": b, "role_slugs": []string{"admin"}}); r["role"].(obj)["slug"] != "admin" || r["organization_name"] != "Beta" {
		t.Fatalf("role_slugs membership = %v", r)
	}

	path := "/user_management/organization_memberships/" + id
	f.clock.Advance(time.Minute)
	before = f.feedLen()
	up := f.must(f.staging, "PUT", path, obj{"role_slug": "admin"}, 200)
	if up["role"].(obj)["slug"] != "admin" || up["updated_at"] != "2026-03-04T05:07:07.000Z" || up["created_at"] != t0 || up["organization_name"] != "Acme" {
		t.Fatalf("role update = %v", up)
	}
	eq(t, "events", f.newEvents(before), []string{"organization_membership.updated"})
	f.unchanged(f.staging, "PUT", path, obj{"role_slug": "admin"}, 200)
	if up := f.must(f.staging, "PUT", path, obj{"role_slugs": []string{"member"}}, 200); up["role"].(obj)["slug"] != "member" {
		t.Fatalf("role_slugs update = %v", up)
	}
	f.rejected(f.staging, "PUT", path, obj{"role_slug": "nope"}, 422, "invalid_role")
	f.rejected(f.staging, "PUT", path, obj{"role_slugs": []string{"admin", "member"}}, 422, "multiple_roles_not_enabled")
	f.rejected(f.staging, "PUT", path, obj{}, 422, "invalid_request_parameters")
	f.rejected(f.staging, "PUT", "/user_management/organization_memberships/"+unknownMembership, obj{"role_slug": "admin"}, 404, "")

	// Deactivate and reactivate; both are no-ops when repeated.
	before = f.feedLen()
	if d := f.must(f.staging, "PUT", path+"/deactivate", obj{}, 200); d["status"] != "inactive" || d["id"] != id {
		t.Fatalf("deactivate = %v", d)
	}
	eq(t, "events", f.newEvents(before), []string{"organization_membership.updated"})
	if d := f.unchanged(f.staging, "PUT", path+"/deactivate", obj{}, 200); d["status"] != "inactive" {
		t.Fatalf("deactivate again = %v", d)
	}
	if got, _, _ := f.list(f.staging, "/user_management/organization_memberships?organization_id="+a); strings.Contains(fmt.Sprint(got), id) {
		t.Fatalf("active memberships of Acme = %v, want without %s", got, id)
	}
	if r := f.must(f.staging, "PUT", path+"/reactivate", "", 200); r["status"] != "active" {
		t.Fatalf("reactivate = %v", r)
	}
	f.unchanged(f.staging, "PUT", path+"/reactivate", obj{}, 200)
	f.rejected(f.staging, "PUT", path+"/reactivate", `{"x":`, 400, "invalid_json")

	// Creating it again for an inactive pair reactivates it, with the role asked for.
	f.must(f.staging, "PUT", path+"/deactivate", obj{}, 200)
	before = f.feedLen()
	again := f.createMembership(obj{"user_id": u1, "organization_id": a, "role_slug": "admin"})
	if again["id"] != id || again["status"] != "active" || again["role"].(obj)["slug"] != "admin" || again["created_at"] != t0 {
		t.Fatalf("create for an inactive pair = %v", again)
	}
	eq(t, "events", f.newEvents(before), []string{"organization_membership.updated", "organization_membership.updated"})
	f.rejected(f.staging, "POST", "/user_management/organization_memberships", obj{"user_id": u1, "organization_id": a}, 409, "")

	// Delete: 200 with no body, then 404 everywhere.
	before = f.feedLen()
	if res := f.do(f.staging, "DELETE", path, nil); res.status != 200 || res.raw != "" {
		t.Fatalf("delete = %d %q", res.status, res.raw)
	}
	eq(t, "events", f.newEvents(before), []string{"organization_membership.deleted"})
	f.must(f.staging, "GET", path, nil, 404)
	for _, p := range []struct{ method, path string }{{"DELETE", path}, {"PUT", path}, {"PUT", path + "/deactivate"}, {"PUT", path + "/reactivate"},
		{"GET", "/user_management/organization_memberships/nope"}} {
		f.rejected(f.staging, p.method, p.path, obj{"role_slug": "admin"}, 404, "")
	}
	if got, _, _ := f.list(f.staging, "/user_management/organization_memberships?statuses=active,inactive&user_id="+u1+"&organization_id="+a); len(got) != 0 {
		t.Fatalf("after delete = %v", got)
	}
	if n := f.createMembership(obj{"user_id": u1, "organization_id": a}); n["id"] == id {
		t.Fatal("a new membership reused the deleted one's id")
	}
}

func TestCreateMembershipRejectsBadInput(t *testing.T) {
	f := newFixture(t)
	u := f.createUser(f.staging, obj{"email": "one@example.com"})["id"].(string)
	gone := f.createUser(f.staging, obj{"email": "gone@example.com"})["id"].(string)
	f.must(f.staging, "DELETE", "/user_management/users/"+gone, nil, 200)
	org := f.createOrg(obj{"name": "Acme"})["id"].(string)
	// These run before any membership exists: a rejected request must not
	// create the environment's roles either.
	cases := []struct {
		name   string
		body   any
		status int
		code   string
	}{
		{"unknown user", obj{"user_id": unknownUser, "organization_id": org}, 404, ""},
		{"unknown user with a role", obj{"user_id": unknownUser, "organization_id": org, "role_slug": "admin"}, 404, ""},
		{"not a user id", obj{"user_id": "nope", "organization_id": org}, 404, ""},
		{"deleted user", obj{"user_id": gone, "organization_id": org}, 404, ""},
		{"unknown organization", obj{"user_id": u, "organization_id": unknownOrg}, 404, ""},
		{"not an organization id", obj{"user_id": u, "organization_id": "org_x"}, 404, ""},
		{"unknown role", obj{"user_id": u, "organization_id": org, "role_slug": "owner"}, 422, "invalid_role"},
		{"unknown role in role_slugs", obj{"user_id": u, "organization_id": org, "role_slugs": []string{"owner"}}, 422, "invalid_role"},
		{"two roles", obj{"user_id": u, "organization_id": org, "role_slugs": []string{"admin", "member"}}, 422, "multiple_roles_not_enabled"},
		{"role of the wrong type", obj{"user_id": u, "organization_id": org, "role_slug": 1}, 422, "invalid_request_parameters"},
		{"missing user", obj{"organization_id": org}, 422, "invalid_request_parameters"},
		{"missing organization", obj{"user_id": u}, 422, "invalid_request_parameters"},
		{"malformed JSON", `{`, 400, "invalid_json"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := f.on(t)
			f.rejected(f.staging, "POST", "/user_management/organization_memberships", c.body, c.status, c.code)
		})
	}
	f.createMembership(obj{"user_id": u, "organization_id": org})
	f.rejected(f.staging, "POST", "/user_management/organization_memberships", obj{"user_id": u, "organization_id": org, "role_slug": "admin"}, 409, "organization_membership_already_exists")
	if got, _, _ := f.list(f.staging, "/user_management/organization_memberships?statuses=active,inactive&organization_id="+org); len(got) != 1 {
		t.Fatalf("memberships = %v", got)
	}
}

func TestListMemberships(t *testing.T) {
	f := newFixture(t)
	a := f.createOrg(obj{"name": "Acme"})["id"].(string)
	b := f.createOrg(obj{"name": "Beta"})["id"].(string)
	var users, ms []string
	for i := range 12 {
		users = append(users, f.createUser(f.staging, obj{"email": fmt.Sprintf("u%02d@example.com", i)})["id"].(string))
		f.clock.Advance(time.Millisecond)
	}
	for _, u := range users {
		ms = append(ms, f.createMembership(obj{"user_id": u, "organization_id": a})["id"].(string))
		f.clock.Advance(time.Millisecond)
	}
	inB := []string{f.createMembership(obj{"user_id": users[0], "organization_id": b})["id"].(string),
		f.createMembership(obj{"user_id": users[1], "organization_id": b})["id"].(string)}
	for _, i := range []int{3, 7} {
		f.must(f.staging, "PUT", "/user_management/organization_memberships/"+ms[i]+"/deactivate", obj{}, 200)
	}
	var active []string
	for i, id := range ms {
		if i != 3 && i != 7 {
			active = append(active, id)
		}
	}
	desc, all := reversed(active), reversed(ms)
	base := "/user_management/organization_memberships?"
	cases := []struct {
		query         string
		want          []string
		before, after any
	}{
		{"organization_id=" + a, desc, nil, nil},
		{"organization_id=" + a + "&limit=4", desc[:4], nil, desc[3]},
		{"organization_id=" + a + "&limit=4&after=" + desc[3], desc[4:8], desc[4], desc[7]},
		{"organization_id=" + a + "&limit=4&after=" + desc[7], desc[8:], desc[8], nil},
		{"organization_id=" + a + "&limit=4&before=" + desc[8], desc[4:8], desc[4], desc[7]},
		{"organization_id=" + a + "&order=asc&limit=3", active[:3], nil, active[2]},
		{"organization_id=" + a + "&statuses=active,inactive&limit=100", all, nil, nil},
		{"organization_id=" + a + "&statuses=inactive%2Cactive&limit=100", all, nil, nil},
		{"organization_id=" + a + "&statuses=inactive&statuses=active&limit=100", all, nil, nil},
		{"organization_id=" + a + "&statuses=inactive", []string{ms[7], ms[3]}, nil, nil},
		{"organization_id=" + a + "&statuses=pending", nil, nil, nil},
		{"user_id=" + users[0], []string{inB[0], ms[0]}, nil, nil},
		{"user_id=" + users[0] + "&order=asc", []string{ms[0], inB[0]}, nil, nil},
		{"user_id=" + users[0] + "&limit=1", []string{inB[0]}, nil, inB[0]},
		{"user_id=" + users[0] + "&organization_id=" + b, []string{inB[0]}, nil, nil},
		{"user_id=" + users[3], nil, nil, nil},
		{"user_id=" + users[3] + "&statuses=inactive", []string{ms[3]}, nil, nil},
		{"user_id=" + users[3] + "&organization_id=" + a, nil, nil, nil},
		{"user_id=" + users[3] + "&organization_id=" + a + "&statuses=active,inactive", []string{ms[3]}, nil, nil},
		{"user_id=" + users[5] + "&organization_id=" + b, nil, nil, nil},
		{"organization_id=" + b, []string{inB[1], inB[0]}, nil, nil},
		{"organization_id=" + unknownOrg, nil, nil, nil},
	}
	for _, c := range cases {
		t.Run(c.query, func(t *testing.T) {
			f := f.on(t)
			got, before, after := f.list(f.staging, base+c.query)
			eq(t, "ids", got, c.want)
			if before != c.before || after != c.after {
				t.Fatalf("before=%v after=%v, want %v %v", before, after, c.before, c.after)
			}
		})
	}
	for _, m := range f.listData(f.staging, base+"user_id="+users[0]) {
		want := map[string]string{a: "Acme", b: "Beta"}[m["organization_id"].(string)]
		if m["organization_name"] != want || m["object"] != "organization_membership" {
			t.Fatalf("listed membership = %v", m)
		}
	}
	f.rejected(f.staging, "GET", base, nil, 400, "missing_user_id_or_organization_id")
	f.rejected(f.staging, "GET", base+"statuses=active", nil, 400, "missing_user_id_or_organization_id")
	for _, q := range []string{"organization_id=" + a + "&statuses=bogus", "organization_id=" + a + "&limit=101", "organization_id=" + a + "&after=" + users[0]} {
		f.rejected(f.staging, "GET", base+q, nil, 422, "invalid_request_parameters")
	}

	// The users of an organization are its active members, by user id.
	var activeUsers []string
	for i, u := range users {
		if i != 3 && i != 7 {
			activeUsers = append(activeUsers, u)
		}
	}
	udesc := reversed(activeUsers)
	got, _, after := f.list(f.staging, "/user_management/users?organization_id="+a)
	eq(t, "users of Acme", got, udesc)
	if after != nil {
		t.Fatalf("after = %v", after)
	}
	got, _, after = f.list(f.staging, "/user_management/users?limit=4&organization_id="+a)
	eq(t, "first users of Acme", got, udesc[:4])
	got, _, _ = f.list(f.staging, fmt.Sprintf("/user_management/users?limit=4&organization_id=%s&after=%s", a, after))
	eq(t, "next users of Acme", got, udesc[4:8])
	got, _, _ = f.list(f.staging, "/user_management/users?order=asc&organization_id="+b)
	eq(t, "users of Beta", got, users[:2])
}

func TestDeletingAUserRemovesItsMemberships(t *testing.T) {
	f := newFixture(t)
	a := f.createOrg(obj{"name": "Acme"})["id"].(string)
	b := f.createOrg(obj{"name": "Beta"})["id"].(string)
	u := f.createUser(f.staging, obj{"email": "leaving@example.com"})["id"].(string)
	stays := f.createUser(f.staging, obj{"email": "stays@example.com"})["id"].(string)
	m1 := f.createMembership(obj{"user_id": u, "organization_id": a})["id"].(string)
	m2 := f.createMembership(obj{"user_id": u, "organization_id": b})["id"].(string)
	f.must(f.staging, "PUT", "/user_management/organization_memberships/"+m2+"/deactivate", obj{}, 200)
	f.createMembership(obj{"user_id": stays, "organization_id": a})
	before := f.feedLen()
	f.must(f.staging, "DELETE", "/user_management/users/"+u, nil, 200)
	eq(t, "events", f.newEvents(before), []string{"user.deleted", "organization_membership.deleted", "organization_membership.deleted"})
	for _, m := range []string{m1, m2} {
		f.must(f.staging, "GET", "/user_management/organization_memberships/"+m, nil, 404)
	}
	for q, want := range map[string][]string{
		"/user_management/organization_memberships?statuses=active,inactive&user_id=" + u:         nil,
		"/user_management/organization_memberships?statuses=active,inactive&organization_id=" + b: nil,
		"/user_management/users?organization_id=" + a:                                             {stays},
		"/user_management/users?organization_id=" + b:                                             nil,
	} {
		got, _, _ := f.list(f.staging, q)
		eq(t, q, got, want)
	}
	f.rejected(f.staging, "POST", "/user_management/organization_memberships", obj{"user_id": u, "organization_id": a}, 404, "")
}

func TestRoles(t *testing.T) {
	f := newFixture(t)
	// The built-in slugs are taken even before anyone lists the roles.
	f.rejected(f.staging, "POST", "/authorization/roles", obj{"slug": "member", "name": "Mine"}, 409, "role_slug_conflict")
	res := f.do(f.staging, "GET", "/authorization/roles", nil)
	if res.status != 200 || res.body["object"] != "list" {
		t.Fatalf("roles = %d %s", res.status, res.raw)
	}
	if _, ok := res.body["list_metadata"]; ok {
		t.Fatalf("roles list has list_metadata: %s", res.raw)
	}
	roles := res.body["data"].([]any)
	if len(roles) != 2 {
		t.Fatalf("roles = %v", roles)
	}
	for i, slug := range []string{"member", "admin"} {
		r := roles[i].(obj)
		if r["object"] != "role" || r["slug"] != slug || !app.ValidID(fmt.Sprint(r["id"]), "role") || r["name"] == "" ||
			r["type"] != "EnvironmentRole" || fmt.Sprint(r["permissions"]) != "[]" {
			t.Fatalf("role %d = %v", i, r)
		}
	}
	if again := f.unchanged(f.staging, "GET", "/authorization/roles", nil, 200); !reflect.DeepEqual(again["data"], res.body["data"]) {
		t.Fatalf("roles changed between reads: %v", again)
	}

	before := f.feedLen()
	r := f.must(f.staging, "POST", "/authorization/roles", obj{"slug": "billing", "name": "Billing", "description": "Pays the bills"}, 201)
	if r["object"] != "role" || r["slug"] != "billing" || r["name"] != "Billing" || r["description"] != "Pays the bills" ||
		!app.ValidID(fmt.Sprint(r["id"]), "role") || r["created_at"] != t0 {
		t.Fatalf("created role = %v", r)
	}
	eq(t, "events", f.newEvents(before), []string{"role.created"})
	if g := f.must(f.staging, "GET", "/authorization/roles/billing", nil, 200); !reflect.DeepEqual(g, r) {
		t.Fatalf("GET role = %v", g)
	}
	f.must(f.staging, "GET", "/authorization/roles/nope", nil, 404)
	var slugs []string
	for _, d := range f.listData(f.staging, "/authorization/roles") {
		slugs = append(slugs, d["slug"].(string))
	}
	eq(t, "slugs", slugs, []string{"member", "admin", "billing"})

	for _, c := range []struct {
		name   string
		body   any
		status int
		code   string
	}{
		{"duplicate slug", obj{"slug": "billing", "name": "Again"}, 409, "role_slug_conflict"},
		{"built-in slug", obj{"slug": "admin", "name": "Boss"}, 409, "role_slug_conflict"},
		{"upper-case slug", obj{"slug": "Billing2", "name": "X"}, 422, "invalid_request_parameters"},
		{"slug with a space", obj{"slug": "bad slug", "name": "X"}, 422, "invalid_request_parameters"},
		{"slug with a leading hyphen", obj{"slug": "-x", "name": "X"}, 422, "invalid_request_parameters"},
		{"empty slug", obj{"slug": "", "name": "X"}, 422, "invalid_request_parameters"},
		{"long slug", obj{"slug": strings.Repeat("a", 65), "name": "X"}, 422, "invalid_request_parameters"},
		{"missing slug", obj{"name": "X"}, 422, "invalid_request_parameters"},
		{"missing name", obj{"slug": "x"}, 422, "invalid_request_parameters"},
		{"blank name", obj{"slug": "x", "name": " "}, 422, "invalid_request_parameters"},
		{"slug of the wrong type", obj{"slug": 3, "name": "X"}, 422, "invalid_request_parameters"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f.on(t).rejected(f.staging, "POST", "/authorization/roles", c.body, c.status, c.code)
		})
	}

	// Memberships may use the new role.
	u := f.createUser(f.staging, obj{"email": "payer@example.com"})["id"].(string)
	org := f.createOrg(obj{"name": "Acme"})["id"].(string)
	m := f.createMembership(obj{"user_id": u, "organization_id": org, "role_slug": "billing"})
	if m["role"].(obj)["slug"] != "billing" {
		t.Fatalf("membership = %v", m)
	}
	if up := f.must(f.staging, "PUT", "/user_management/organization_memberships/"+m["id"].(string), obj{"role_slug": "member"}, 200); up["role"].(obj)["slug"] != "member" {
		t.Fatalf("update = %v", up)
	}
	if up := f.must(f.staging, "PUT", "/user_management/organization_memberships/"+m["id"].(string), obj{"role_slugs": []string{"billing"}}, 200); up["role"].(obj)["slug"] != "billing" {
		t.Fatalf("update = %v", up)
	}
	// Roles are per environment.
	f.must(f.production, "GET", "/authorization/roles/billing", nil, 404)
}

func TestJITMembership(t *testing.T) {
	f := newFixture(t)
	acme := f.createOrg(obj{"name": "Acme", "domain_data": []obj{{"domain": "acme.com", "state": "verified"}, {"domain": "acme-pending.com"}}})["id"].(string)
	memberships := func(user string) []obj {
		t.Helper()
		return f.listData(f.staging, "/user_management/organization_memberships?statuses=active,inactive&user_id="+user)
	}
	alice := f.createUser(f.staging, obj{"email": "alice@ACME.com", "email_verified": true})["id"].(string)
	ms := memberships(alice)
	if len(ms) != 1 || ms[0]["organization_id"] != acme || ms[0]["status"] != "active" || ms[0]["role"].(obj)["slug"] != "member" {
		t.Fatalf("alice's memberships = %v", ms)
	}
	cases := []struct{ name, email string }{
		{"unverified email", "bob@acme.com"},
		{"pending domain", "carol@acme-pending.com"},
		{"consumer domain", "dave@gmail.com"},
		{"subdomain", "erin@eu.acme.com"},
		{"other domain", "frank@other.com"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := f.on(t)
			body := obj{"email": c.email, "email_verified": c.name != "unverified email"}
			if u := f.createUser(f.staging, body)["id"].(string); len(memberships(u)) != 0 {
				t.Fatalf("%s got memberships %v", c.email, memberships(u))
			}
		})
	}
	// Verifying the email later gives the membership.
	bob := f.must(f.staging, "GET", "/user_management/users?email=bob@acme.com", nil, 200)["data"].([]any)[0].(obj)["id"].(string)
	f.must(f.staging, "PUT", "/user_management/users/"+bob, obj{"email_verified": true}, 200)
	bobs := memberships(bob)
	if len(bobs) != 1 || bobs[0]["organization_id"] != acme || bobs[0]["status"] != "active" {
		t.Fatalf("bob's memberships after verification = %v", bobs)
	}
	// A deactivated membership stays so, whatever the user's email does.
	f.must(f.staging, "PUT", "/user_management/organization_memberships/"+bobs[0]["id"].(string)+"/deactivate", obj{}, 200)
	f.must(f.staging, "PUT", "/user_management/users/"+alice, obj{"email": "alice2@acme.com"}, 200)
	f.must(f.staging, "PUT", "/user_management/organization_memberships/"+memberships(alice)[0]["id"].(string)+"/deactivate", obj{}, 200)
	f.must(f.staging, "PUT", "/user_management/users/"+alice, obj{"email_verified": true}, 200)
	if ms := memberships(alice); len(ms) != 1 || ms[0]["status"] != "inactive" {
		t.Fatalf("alice's memberships after re-verification = %v", ms)
	}
	// Memberships users/?organization_id sees.
	got, _, _ := f.list(f.staging, "/user_management/users?organization_id="+acme)
	eq(t, "active users of Acme", got, nil)

	// JIT off stops it.
	before := f.feedLen()
	p := f.must(f.staging, "PUT", "/keyway/organizations/"+acme+"/policies", obj{"jit_membership": false}, 200)
	if p["jit_membership"] != false || p["sso_required"] != false || p["organization_id"] != acme {
		t.Fatalf("policies = %v", p)
	}
	eq(t, "events", f.newEvents(before), []string{"organization.policies_changed"})
	f.unchanged(f.staging, "PUT", "/keyway/organizations/"+acme+"/policies", obj{"jit_membership": false}, 200)
	if g := f.must(f.staging, "GET", "/keyway/organizations/"+acme+"/policies", nil, 200); !reflect.DeepEqual(g, p) {
		t.Fatalf("GET policies = %v", g)
	}
	if u := f.createUser(f.staging, obj{"email": "gina@acme.com", "email_verified": true})["id"].(string); len(memberships(u)) != 0 {
		t.Fatal("a membership was given with JIT off")
	}
	f.rejected(f.staging, "PUT", "/keyway/organizations/"+acme+"/policies", obj{"jit_membership": "no"}, 422, "invalid_request_parameters")
	f.rejected(f.staging, "PUT", "/keyway/organizations/"+unknownOrg+"/policies", obj{"jit_membership": true}, 404, "")
	f.rejected(f.staging, "PUT", "/keyway/organizations/nope/policies", obj{"jit_membership": true}, 404, "")
	// And on again.
	f.must(f.staging, "PUT", "/keyway/organizations/"+acme+"/policies", obj{"jit_membership": true}, 200)
	if u := f.createUser(f.staging, obj{"email": "hank@acme.com", "email_verified": true})["id"].(string); len(memberships(u)) != 1 {
		t.Fatal("no membership with JIT back on")
	}
}

func TestAuthPolicy(t *testing.T) {
	f := newFixture(t)
	acme := f.createOrg(obj{"name": "Acme", "domain_data": []obj{{"domain": "acme.com", "state": "verified"}, {"domain": "pending.com"}}})["id"].(string)
	policy := func(email string) obj {
		t.Helper()
		return f.unchanged(f.staging, "GET", "/keyway/auth_policy?email="+url.QueryEscape(email), nil, 200)
	}
	all := "[password magic_auth oauth sso]"
	if p := policy("Someone@ACME.com"); p["email"] != "someone@acme.com" || p["organization_id"] != acme || p["sso_required"] != false || fmt.Sprint(p["methods"]) != all {
		t.Fatalf("policy = %v", p)
	}
	for _, email := range []string{"a@other.com", "a@pending.com", "a@gmail.com"} {
		if p := policy(email); p["organization_id"] != nil || p["sso_required"] != false || fmt.Sprint(p["methods"]) != all {
			t.Fatalf("policy of %s = %v", email, p)
		}
	}
	p := f.must(f.staging, "PUT", "/keyway/organizations/"+acme+"/policies", obj{"sso_required": true}, 200)
	if p["sso_required"] != true || p["jit_membership"] != true {
		t.Fatalf("policies = %v", p)
	}
	if p := policy("someone@acme.com"); p["organization_id"] != acme || p["sso_required"] != true || fmt.Sprint(p["methods"]) != "[sso]" {
		t.Fatalf("policy with SSO required = %v", p)
	}
	if p := policy("a@other.com"); p["sso_required"] != false || fmt.Sprint(p["methods"]) != all {
		t.Fatalf("policy of another domain = %v", p)
	}
	f.rejected(f.staging, "GET", "/keyway/auth_policy?email=not-an-email", nil, 422, "invalid_request_parameters")
	f.rejected(f.staging, "GET", "/keyway/auth_policy", nil, 422, "invalid_request_parameters")
}

func TestEventsAPI(t *testing.T) {
	f := newFixture(t)
	start := f.feedLen()
	step := func() string { // each step of the story is 1 ms after the previous one
		f.clock.Advance(time.Millisecond)
		return f.clock.Now().UTC().Format("2006-01-02T15:04:05.000Z")
	}
	ts := []string{t0}
	u := f.createUser(f.staging, obj{"email": "eve@example.com", "password": "a long and careful passphrase"})["id"].(string)
	ts = append(ts, step())
	org := f.createOrg(obj{"name": "Acme", "domain_data": []obj{{"domain": "acme.com"}}})
	orgID := org["id"].(string)
	other := f.createOrg(obj{"name": "Other"})["id"].(string)
	ts = append(ts, step())
	m := f.createMembership(obj{"user_id": u, "organization_id": orgID})["id"].(string)
	ts = append(ts, step())
	f.must(f.staging, "PUT", "/user_management/users/"+u, obj{"first_name": "Eve", "password": "another careful passphrase"}, 200)
	f.must(f.staging, "PUT", "/keyway/organizations/"+orgID+"/policies", obj{"sso_required": true}, 200)
	ts = append(ts, step())
	f.must(f.staging, "PUT", "/organizations/"+orgID, obj{"name": "Acme 2"}, 200)
	f.must(f.staging, "PUT", "/user_management/organization_memberships/"+m+"/deactivate", obj{}, 200)
	f.must(f.staging, "DELETE", "/organization_domains/"+domainsOf(org)[0]["id"].(string), nil, 204)
	f.must(f.staging, "DELETE", "/organizations/"+other, nil, 200)
	f.must(f.staging, "DELETE", "/user_management/users/"+u, nil, 200)

	want := []string{"user.created", "organization.created", "organization_domain.created", "organization.created", "organization_membership.created",
		"user.updated", "organization.updated", "organization_membership.updated", "organization_domain.deleted", "organization.deleted",
		"user.deleted", "organization_membership.deleted"}
	var stored []string
	for _, typ := range f.newEvents(start) {
		if app.IsPublicEvent(typ) {
			stored = append(stored, typ)
		}
	}
	eq(t, "public events stored", stored, want)

	res := f.do(f.staging, "GET", "/events?limit=100", nil)
	if res.status != 200 || res.body["object"] != "list" {
		t.Fatalf("events = %d %s", res.status, res.raw)
	}
	for _, secret := range []string{"argon2", `"hash"`, "password", "passphrase"} {
		if strings.Contains(res.raw, secret) {
			t.Fatalf("the events API shows %q: %s", secret, res.raw)
		}
	}
	md := res.body["list_metadata"].(obj)
	if _, ok := md["before"]; ok || md["after"] != nil {
		t.Fatalf("list_metadata = %v", md)
	}
	all := res.body["data"].([]any)
	var types, ids []string
	resource := map[string]string{"user": "user", "organization": "organization", "organization_domain": "organization_domain", "organization_membership": "organization_membership"}
	for i, e := range all {
		ev := e.(obj)
		typ := ev["event"].(string)
		types, ids = append(types, typ), append(ids, ev["id"].(string))
		if ev["object"] != "event" || !app.ValidID(ev["id"].(string), "event") || ev["created_at"] == nil {
			t.Fatalf("event %d = %v", i, ev)
		}
		if i > 0 && ids[i] <= ids[i-1] {
			t.Fatalf("events out of order: %v", ids)
		}
		family, _, _ := strings.Cut(typ, ".")
		data := ev["data"].(obj)
		if data["object"] != resource[family] || data["id"] == nil || data["created_at"] == nil {
			t.Fatalf("event %s data = %v", typ, data)
		}
		if family == "organization" {
			if _, ok := data["domains"].([]any); !ok {
				t.Fatalf("organization event without domains: %v", data)
			}
		}
		if family == "organization_membership" && (data["user_id"] != u || data["organization_id"] != orgID) {
			t.Fatalf("membership event data = %v", data)
		}
	}
	eq(t, "event types", types, want)
	if first := all[0].(obj); first["created_at"] != t0 || first["data"].(obj)["email"] != "eve@example.com" {
		t.Fatalf("first event = %v", first)
	}
	if upd := all[5].(obj)["data"].(obj); upd["first_name"] != "Eve" {
		t.Fatalf("user.updated data = %v", upd)
	}
	if d := all[7].(obj)["data"].(obj); d["status"] != "inactive" {
		t.Fatalf("organization_membership.updated data = %v", d)
	}

	pick := func(idx ...int) []string {
		var out []string
		for _, i := range idx {
			out = append(out, want[i])
		}
		return out
	}
	typesOf := func(f *fixture, q string) []string {
		f.t.Helper()
		var out []string
		for _, e := range f.listData(f.staging, "/events?"+q) {
			out = append(out, e["event"].(string))
		}
		return out
	}
	cases := []struct {
		query string
		want  []string
	}{
		{"events=user.created,organization.created", pick(0, 1, 3)},
		{"events=user.created%2Corganization.created", pick(0, 1, 3)},
		{"events=organization_membership.created&events=user.deleted", pick(4, 10)},
		{"events=organization_domain.deleted", pick(8)},
		{"organization_id=" + orgID, pick(1, 2, 4, 6, 7, 8, 11)},
		{"organization_id=" + other, pick(3, 9)},
		{"organization_id=" + orgID + "&events=organization.created,organization.deleted", pick(1)},
		{"organization_id=" + unknownOrg, nil},
		{"range_start=" + ts[1] + "&range_end=" + ts[2], pick(1, 2, 3, 4)},
		{"range_start=" + ts[1] + "&range_end=" + ts[2] + "&order=desc", reversed(pick(1, 2, 3, 4))},
		{"range_start=" + ts[3] + "&limit=100", pick(5, 6, 7, 8, 9, 10, 11)},
		{"range_start=" + ts[3] + "&order=desc", reversed(pick(5, 6, 7, 8, 9, 10, 11))},
		{"range_end=" + ts[0], pick(0)},
		{"range_end=" + ts[0] + "&order=desc", pick(0)},
		{"range_start=2026-03-04T05:06:07.003%2B00:00&range_end=2026-03-04T05:06:07.003Z", pick(5)},
		{"range_start=2030-01-01T00:00:00Z", nil},
		{"order=desc&limit=3", reversed(want)[:3]},
		{"after=" + ids[9], want[10:]},
		{"order=desc&after=" + ids[5], reversed(want[:5])},
		{"order=desc&range_end=" + ts[1], reversed(pick(0, 1, 2, 3))},
		{"order=desc&range_start=" + ts[1] + "&after=" + ids[4], reversed(pick(1, 2, 3))},
		{"after=" + ids[3] + "&events=organization.updated,organization.deleted", pick(6, 9)},
	}
	for _, c := range cases {
		t.Run(c.query, func(t *testing.T) { eq(t, "types", typesOf(f.on(t), c.query), c.want) })
	}

	// Paging with after until it is null gives every event once.
	for _, q := range []string{"limit=5", "limit=1&events=organization.created,organization.deleted,user.deleted", "limit=2&organization_id=" + orgID} {
		var paged []string
		after := ""
		for pages := 0; ; pages++ {
			if pages > len(want) {
				t.Fatalf("%s: paging does not end", q)
			}
			path := "/events?" + q
			if after != "" {
				path += "&after=" + after
			}
			b := f.must(f.staging, "GET", path, nil, 200)
			for _, e := range b["data"].([]any) {
				paged = append(paged, e.(obj)["id"].(string))
			}
			next, _ := b["list_metadata"].(obj)["after"].(string)
			if next == "" {
				break
			}
			if data := b["data"].([]any); len(data) == 0 || data[len(data)-1].(obj)["id"] != next {
				t.Fatalf("%s: after %s is not the page's last event", q, next)
			}
			after = next
		}
		var wantIDs []string
		for _, e := range f.listData(f.staging, "/events?limit=100&"+strings.Replace(q, "limit=", "x=", 1)) {
			wantIDs = append(wantIDs, e["id"].(string))
		}
		eq(t, q, paged, wantIDs)
	}

	for _, q := range []string{"limit=0", "limit=101", "limit=ten", "events=nope.created", "events=user.password_set", "events=organization.policies_changed",
		"events=user.created,bogus", "order=sideways", "after=nope", "after=" + orgID, "range_start=yesterday", "range_end=2026-13-01T00:00:00Z"} {
		res := f.rejected(f.staging, "GET", "/events?"+q, nil, 422, "")
		if errs, _ := res.body["errors"].([]any); len(errs) == 0 || errs[0].(obj)["code"] == "" || errs[0].(obj)["field"] == "" {
			t.Fatalf("GET /events?%s: errors = %v", q, res.body["errors"])
		}
	}
	if got := f.listData(f.production, "/events"); len(got) != 0 {
		t.Fatalf("production sees %d staging events", len(got))
	}
}

func TestEventsNeverHoldPasswordHashes(t *testing.T) {
	f := newFixture(t)
	u := f.createUser(f.staging, obj{"email": "p@example.com", "password": "a long and careful passphrase"})["id"].(string)
	f.createUser(f.staging, obj{"email": "b@example.com", "password_hash": "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy", "password_hash_type": "bcrypt"})
	f.must(f.staging, "PUT", "/user_management/users/"+u, obj{"password": "another careful passphrase", "name": "P"}, 200)
	f.must(f.staging, "DELETE", "/user_management/users/"+u, nil, 200)
	var after string
	n := 0
	for {
		path := "/events?limit=1"
		if after != "" {
			path += "&after=" + after
		}
		res := f.do(f.staging, "GET", path, nil)
		for _, bad := range []string{"argon2", "$2a$", "hash", "password", "passphrase"} {
			if strings.Contains(res.raw, bad) {
				t.Fatalf("an event shows %q: %s", bad, res.raw)
			}
		}
		var page struct {
			Data         []json.RawMessage       `json:"data"`
			ListMetadata struct{ After *string } `json:"list_metadata"`
		}
		if err := json.Unmarshal([]byte(res.raw), &page); err != nil {
			t.Fatal(err)
		}
		n += len(page.Data)
		if page.ListMetadata.After == nil {
			break
		}
		after = *page.ListMetadata.After
	}
	if n != 4 { // created, created, updated, deleted
		t.Fatalf("%d events, want 4", n)
	}
}

func TestB2BTenancy(t *testing.T) {
	f := newFixture(t)
	org := f.createOrg(obj{"name": "Staging Co", "external_id": "shared", "domain_data": []obj{{"domain": "shared.com", "state": "verified"}, {"domain": "pend.com"}}})
	orgID := org["id"].(string)
	dom := domainsOf(org)[1]["id"].(string)
	u := f.createUser(f.staging, obj{"email": "x@shared.com", "email_verified": true})["id"].(string) // JIT member
	m := f.listData(f.staging, "/user_management/organization_memberships?user_id="+u)[0]["id"].(string)
	probes := []struct {
		method, path string
		body         any
	}{
		{"GET", "/organizations/" + orgID, nil},
		{"GET", "/organizations/external_id/shared", nil},
		{"PUT", "/organizations/" + orgID, obj{"name": "Mallory"}},
		{"DELETE", "/organizations/" + orgID, nil},
		{"GET", "/organization_domains/" + dom, nil},
		{"POST", "/organization_domains", obj{"domain": "new.com", "organization_id": orgID}},
		{"POST", "/organization_domains/" + dom + "/verify", obj{}},
		{"POST", "/keyway/organization_domains/" + dom + "/verify_manually", obj{}},
		{"DELETE", "/organization_domains/" + dom, nil},
		{"GET", "/keyway/organizations/" + orgID + "/policies", nil},
		{"PUT", "/keyway/organizations/" + orgID + "/policies", obj{"jit_membership": false}},
		{"GET", "/user_management/organization_memberships/" + m, nil},
		{"PUT", "/user_management/organization_memberships/" + m, obj{"role_slug": "admin"}},
		{"PUT", "/user_management/organization_memberships/" + m + "/deactivate", obj{}},
		{"PUT", "/user_management/organization_memberships/" + m + "/reactivate", obj{}},
		{"DELETE", "/user_management/organization_memberships/" + m, nil},
		{"POST", "/user_management/organization_memberships", obj{"user_id": u, "organization_id": orgID}},
	}
	for _, p := range probes {
		t.Run(p.method+" "+p.path, func(t *testing.T) {
			f := f.on(t)
			res := f.rejected(f.production, p.method, p.path, p.body, 404, "")
			if strings.Contains(res.raw, "Staging Co") || strings.Contains(res.raw, "shared.com") {
				t.Fatalf("404 leaks staging data: %s", res.raw)
			}
		})
	}
	for _, q := range []string{"/organizations", "/organizations?domains=shared.com,pend.com", "/user_management/organization_memberships?organization_id=" + orgID,
		"/user_management/organization_memberships?statuses=active,inactive&user_id=" + u, "/user_management/organization_memberships?user_id=" + u + "&organization_id=" + orgID,
		"/user_management/users?organization_id=" + orgID} {
		if ids, _, _ := f.list(f.production, q); len(ids) != 0 {
			t.Fatalf("production lists %s: %v", q, ids)
		}
	}
	if p := f.must(f.production, "GET", "/keyway/auth_policy?email=x@shared.com", nil, 200); p["organization_id"] != nil {
		t.Fatalf("production's policy sees the staging organization: %v", p)
	}
	// Production has its own namespace: the same domain and external id are free there.
	p := f.must(f.production, "POST", "/organizations", obj{"name": "Prod Co", "external_id": "shared", "domain_data": []obj{{"domain": "shared.com", "state": "verified"}}}, 201)
	f.must(f.staging, "GET", "/organizations/"+p["id"].(string), nil, 404)
	if g := f.must(f.staging, "GET", "/organizations/"+orgID, nil, 200); !reflect.DeepEqual(g, org) {
		t.Fatalf("staging organization changed: %v", g)
	}
	if s := f.must(f.staging, "GET", "/user_management/organization_memberships/"+m, nil, 200); s["status"] != "active" || s["role"].(obj)["slug"] != "member" {
		t.Fatalf("staging membership changed: %v", s)
	}
}

func TestCreateOrganizationIdempotencyKey(t *testing.T) {
	f := newFixture(t)
	body := obj{"name": "Once", "domain_data": []obj{{"domain": "once.com"}}}
	first := f.do(f.staging, "POST", "/organizations", body, "Idempotency-Key", "org-1")
	before := f.feedLen()
	f.clock.Advance(time.Minute)
	again := f.do(f.staging, "POST", "/organizations", body, "Idempotency-Key", "org-1")
	if first.status != 201 || again.status != 201 || first.raw != again.raw || again.header.Get("Idempotent-Replayed") != "true" || f.feedLen() != before {
		t.Fatalf("replay: %d %s / %d %s", first.status, first.raw, again.status, again.raw)
	}
	f.rejected(f.staging, "POST", "/organizations", obj{"name": "Twice"}, 400, "idempotency_key_reused", "Idempotency-Key", "org-1")
	if ids, _, _ := f.list(f.staging, "/organizations"); len(ids) != 1 || ids[0] != first.body["id"] {
		t.Fatalf("organizations = %v", ids)
	}
	// A failed request is not remembered: fixing it under the same key works.
	f.rejected(f.staging, "POST", "/organizations", obj{"name": "Fixed", "domain_data": []obj{{"domain": "gmail.com"}}}, 422, "invalid_request_parameters", "Idempotency-Key", "org-2")
	if ok := f.do(f.staging, "POST", "/organizations", obj{"name": "Fixed"}, "Idempotency-Key", "org-2"); ok.status != 201 || ok.header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("fixed request = %d %s", ok.status, ok.raw)
	}
}

func TestInternationalizedDomains(t *testing.T) {
	f := newFixture(t)
	org := f.createOrg(obj{"name": "Bücher", "domain_data": []obj{{"domain": "Bücher.de", "state": "verified"}}})
	orgID := org["id"].(string)
	if d := domainsOf(org)[0]; d["domain"] != "xn--bcher-kva.de" {
		t.Fatalf("domain = %v, want its punycode", d)
	}
	for _, q := range []string{"domains=bücher.de", "domains=xn--bcher-kva.de"} {
		if ids, _, _ := f.list(f.staging, "/organizations?"+url.PathEscape(q)); len(ids) != 1 || ids[0] != orgID {
			t.Fatalf("%s = %v", q, ids)
		}
	}
	// An email on the Unicode form of the domain is on the organization's domain.
	u := f.createUser(f.staging, obj{"email": "anna@bücher.de", "email_verified": true})["id"].(string)
	if ms := f.listData(f.staging, "/user_management/organization_memberships?user_id="+u); len(ms) != 1 || ms[0]["organization_id"] != orgID {
		t.Fatalf("JIT memberships = %v", ms)
	}
	for _, email := range []string{"anna@bücher.de", "anna@xn--bcher-kva.de", "Anna@BÜCHER.de"} {
		if p := f.must(f.staging, "GET", "/keyway/auth_policy?email="+url.QueryEscape(email), nil, 200); p["organization_id"] != orgID {
			t.Fatalf("policy of %s = %v", email, p)
		}
	}
	f.rejected(f.staging, "POST", "/organization_domains", obj{"domain": "BÜCHER.de", "organization_id": orgID}, 409, "domain_already_exists")
}

func TestConcurrentPolicyChangesAllApply(t *testing.T) {
	f := newFixture(t)
	for round := range 8 {
		orgID := f.createOrg(obj{"name": fmt.Sprint("Org ", round)})["id"].(string)
		path := "/keyway/organizations/" + orgID + "/policies"
		bodies := []obj{{"jit_membership": false}, {"sso_required": true}}
		for i, res := range race(len(bodies), func(i int) response { return f.do(f.staging, "PUT", path, bodies[i]) }) {
			if res.status != 200 {
				t.Fatalf("change %d: %d %s", i, res.status, res.raw)
			}
		}
		if p := f.must(f.staging, "GET", path, nil, 200); p["jit_membership"] != false || p["sso_required"] != true {
			t.Fatalf("round %d: policies = %v, want both changes", round, p)
		}
	}
	// A body that changes nothing writes nothing.
	orgID := f.createOrg(obj{"name": "Calm"})["id"].(string)
	if p := f.unchanged(f.staging, "PUT", "/keyway/organizations/"+orgID+"/policies", obj{}, 200); p["jit_membership"] != true || p["sso_required"] != false {
		t.Fatalf("policies = %v", p)
	}
}

func TestAnOrganizationHasAtMost50Domains(t *testing.T) {
	f := newFixture(t)
	var data []obj
	for i := range 51 {
		data = append(data, obj{"domain": fmt.Sprintf("d%02d.com", i)})
	}
	f.rejected(f.staging, "POST", "/organizations", obj{"name": "Big", "domain_data": data}, 422, "invalid_request_parameters")
	org := f.createOrg(obj{"name": "Big", "domain_data": data[:50]})
	if n := len(domainsOf(org)); n != 50 {
		t.Fatalf("%d domains", n)
	}
	orgID := org["id"].(string)
	f.rejected(f.staging, "POST", "/organization_domains", obj{"domain": "d50.com", "organization_id": orgID}, 422, "invalid_request_parameters")
	f.rejected(f.staging, "PUT", "/organizations/"+orgID, obj{"domain_data": data}, 422, "invalid_request_parameters")
	// Removing one makes room for another.
	f.must(f.staging, "DELETE", "/organization_domains/"+domainsOf(org)[0]["id"].(string), nil, 204)
	f.addDomain(orgID, "d50.com")
}

func TestDeletingRemovesEveryMembershipInBatches(t *testing.T) {
	f := newFixture(t)
	big := f.createOrg(obj{"name": "Big"})["id"].(string)
	keep := f.createOrg(obj{"name": "Keep"})["id"].(string)
	var users []string
	for i := range 45 {
		users = append(users, f.createUser(f.staging, obj{"email": fmt.Sprintf("m%02d@example.com", i)})["id"].(string))
		f.createMembership(obj{"user_id": users[i], "organization_id": big})
	}
	f.createMembership(obj{"user_id": users[0], "organization_id": keep})
	var orgs []string
	for i := range 25 {
		orgs = append(orgs, f.createOrg(obj{"name": fmt.Sprint("Org ", i)})["id"].(string))
		f.createMembership(obj{"user_id": users[1], "organization_id": orgs[i]})
	}
	before := f.feedLen()
	f.must(f.staging, "DELETE", "/organizations/"+big, nil, 200)
	if n := strings.Count(strings.Join(f.newEvents(before), " "), "organization_membership.deleted"); n != 45 {
		t.Fatalf("%d memberships deleted, want 45", n)
	}
	if ids, _, _ := f.list(f.staging, "/user_management/organization_memberships?limit=100&statuses=active,inactive&organization_id="+big); len(ids) != 0 {
		t.Fatalf("%d memberships left", len(ids))
	}
	if ids, _, _ := f.list(f.staging, "/user_management/users?limit=100&organization_id="+big); len(ids) != 0 {
		t.Fatalf("%d users left in the organization", len(ids))
	}
	before = f.feedLen()
	f.must(f.staging, "DELETE", "/user_management/users/"+users[1], nil, 200)
	if n := strings.Count(strings.Join(f.newEvents(before), " "), "organization_membership.deleted"); n != 25 {
		t.Fatalf("%d memberships deleted, want 25", n)
	}
	for _, o := range orgs {
		if ids, _, _ := f.list(f.staging, "/user_management/users?organization_id="+o); len(ids) != 0 {
			t.Fatalf("users of %s = %v", o, ids)
		}
	}
	if ids, _, _ := f.list(f.staging, "/user_management/organization_memberships?organization_id="+keep); len(ids) != 1 {
		t.Fatalf("memberships of Keep = %v", ids)
	}
}

func TestConcurrentMembershipsOfOnePair(t *testing.T) {
	f := newFixture(t)
	u := f.createUser(f.staging, obj{"email": "one@example.com"})["id"].(string)
	org := f.createOrg(obj{"name": "Acme"})["id"].(string)
	before := f.feedLen()
	created := 0
	for i, res := range race(5, func(int) response {
		return f.do(f.staging, "POST", "/user_management/organization_memberships", obj{"user_id": u, "organization_id": org})
	}) {
		switch {
		case res.status == 201:
			created++
		case res.status == 409 && res.body["code"] == "organization_membership_already_exists":
		default:
			t.Fatalf("request %d: %d %s", i, res.status, res.raw)
		}
	}
	if created != 1 || f.feedLen() != before+1 {
		t.Fatalf("%d created, %d events", created, f.feedLen()-before)
	}
}

func TestMembershipsRacingADeletionAreRemoved(t *testing.T) {
	f := newFixture(t)
	for round := range 4 {
		org := f.createOrg(obj{"name": fmt.Sprint("Doomed ", round)})["id"].(string)
		var users []string
		for i := range 4 {
			users = append(users, f.createUser(f.staging, obj{"email": fmt.Sprintf("r%d-%d@example.com", round, i)})["id"].(string))
		}
		// One user is already an inactive member: creating reactivates it.
		m := f.createMembership(obj{"user_id": users[0], "organization_id": org})["id"].(string)
		f.must(f.staging, "PUT", "/user_management/organization_memberships/"+m+"/deactivate", obj{}, 200)
		doomedUser := users[3]
		results := race(6, func(i int) response {
			switch i {
			case 4:
				return f.do(f.staging, "DELETE", "/organizations/"+org, nil)
			case 5:
				return f.do(f.staging, "DELETE", "/user_management/users/"+doomedUser, nil)
			}
			return f.do(f.staging, "POST", "/user_management/organization_memberships", obj{"user_id": users[i], "organization_id": org})
		})
		for i, res := range results {
			if (i < 4 && res.status != 201 && res.status != 404) || (i >= 4 && res.status != 200) {
				t.Fatalf("round %d request %d: %d %s", round, i, res.status, res.raw)
			}
		}
		for _, u := range users {
			if ids, _, _ := f.list(f.staging, "/user_management/organization_memberships?statuses=active,inactive&user_id="+u); len(ids) != 0 {
				t.Fatalf("round %d: %s is still a member: %v", round, u, ids)
			}
		}
	}
}
