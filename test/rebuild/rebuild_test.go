// Package rebuild_test checks, on every store, that the read models the
// live writes leave behind are exactly what a replay of the log projects
// (app.Projection), and that app.RebuildAll repairs deleted, corrupted and
// extra read-model items.
//
// A long, seeded random sequence of user, organization, domain, policy,
// membership and role operations runs over two environments; domain errors
// (conflicts, not found, invalid input) are expected, any other error fails.
// Every 50 operations and at the end, each namespace's live items must equal
// its projection (keys, canonical JSON data, index placements, expiry) and
// every index partition ever used must serve exactly the projected items.
// Then items are deleted, corrupted and added behind the app's back, and
// RebuildAll must repair them, reporting exactly what it changed.
//
// KEYWAY_REBUILD_SEED and KEYWAY_REBUILD_OPS explore other sequences;
// KEYWAY_REBUILD_COUNTS=1 logs the outcomes by operation and error code.
package rebuild_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keywayhq/keyway/app"
	"github.com/keywayhq/keyway/domain"
	"github.com/keywayhq/keyway/domain/environment"
	"github.com/keywayhq/keyway/domain/organization"
	"github.com/keywayhq/keyway/domain/password"
	"github.com/keywayhq/keyway/domain/role"
	"github.com/keywayhq/keyway/domain/user"
	"github.com/keywayhq/keyway/events"
	"github.com/keywayhq/keyway/events/eventstest"
	"github.com/keywayhq/keyway/events/memstore"
	"github.com/keywayhq/keyway/infra/bolt"
	"github.com/keywayhq/keyway/infra/dynamo"
	"github.com/keywayhq/keyway/test/peers"
)

var ctx = context.Background()

// defaultSeed makes the operation sequence deterministic; KEYWAY_REBUILD_SEED
// overrides it to explore other sequences.
const defaultSeed = 20260304

// ---------------------------------------------------------------------------
// Peers

var ddbLocal, moto *peers.DynamoBackend

func TestMain(m *testing.M) {
	flag.Parse()
	sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	ddbLocal, moto = peers.StartDynamoBackends(sctx)
	cancel()
	code := m.Run()
	ddbLocal.Stop()
	moto.Stop()
	os.Exit(code)
}

// ---------------------------------------------------------------------------
// The property

type storeCase struct {
	name string
	ops  int
	// extras is how many stray items the wipe adds: above 90 (one rebuild
	// append) everywhere, above 256 (one bolt scan page) on bolt.
	extras int
	open   func(t *testing.T, now func() time.Time) events.Store
}

func TestRebuildMatchesLiveWrites(t *testing.T) {
	dynamoStore := func(b *peers.DynamoBackend) func(*testing.T, func() time.Time) events.Store {
		return func(t *testing.T, now func() time.Time) events.Store {
			client := b.Need(t)
			suffix := strconv.FormatInt(time.Now().UnixNano(), 10)
			tt := dynamo.Tables{Events: "rebuild-events-" + suffix, State: "rebuild-state-" + suffix}
			if err := dynamo.Bootstrap(ctx, client, tt); err != nil {
				t.Fatalf("bootstrap %s: %v", b.Name, err)
			}
			return dynamo.New(client, tt, now)
		}
	}
	cases := []storeCase{
		// Memory and bolt are cheap: enough operations for the log of an
		// environment to exceed one 1000-event page of Projection's feed.
		{"Memory", 3000, 300, func(t *testing.T, now func() time.Time) events.Store { return memstore.New(now) }},
		{"Bolt", 2500, 300, func(t *testing.T, now func() time.Time) events.Store {
			s, err := bolt.Open(filepath.Join(t.TempDir(), "keyway.db"), now)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}},
		{"DynamoDBLocal", 250, 120, dynamoStore(ddbLocal)},
		{"Moto", 120, 100, dynamoStore(moto)},
	}
	seed := uint64(defaultSeed)
	if s := os.Getenv("KEYWAY_REBUILD_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("KEYWAY_REBUILD_SEED: %v", err)
		}
		seed = n
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			t0 := time.Now()
			clock := eventstest.NewClock(time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC))
			store := c.open(t, clock.Now)
			t.Cleanup(func() { _ = store.Close() })
			w := newWorld(t, store, clock, seed)
			ops := c.ops
			if s := os.Getenv("KEYWAY_REBUILD_OPS"); s != "" {
				n, err := strconv.Atoi(s)
				if err != nil {
					t.Fatalf("KEYWAY_REBUILD_OPS: %v", err)
				}
				ops = n
			}
			w.extras = c.extras
			w.run(ops)
			t.Logf("%s: seed %d, %d operations (%s); %s; %v",
				c.name, seed, ops, w.summary(), w.sizes(), time.Since(t0).Round(time.Millisecond))
		})
	}
}

// ---------------------------------------------------------------------------
// The world: the app under test and what the test knows of it

// envModel is what the test knows of an environment: the ids of live
// entities (refreshed from the read models every few operations) and some
// of deleted ones, to ask for things that are gone.
type envModel struct {
	id, name    string
	users       []string
	orgs        []string
	domains     []string
	memberships []string
	roles       []string
	gone        map[string][]string // by id prefix
}

func (e *envModel) remember(list *[]string, id string) {
	if id != "" && !slices.Contains(*list, id) {
		*list = append(*list, id)
	}
}

// refresh replaces list with ids, keeping the ones that left it in gone.
func (e *envModel) refresh(list *[]string, prefix string, ids []string) {
	sort.Strings(ids)
	for _, id := range *list {
		if !slices.Contains(ids, id) && !slices.Contains(e.gone[prefix], id) {
			e.gone[prefix] = append(e.gone[prefix], id)
		}
	}
	if g := e.gone[prefix]; len(g) > 8 {
		e.gone[prefix] = g[len(g)-8:]
	}
	*list = ids
}

type world struct {
	t       *testing.T
	a       *app.App
	store   events.Store
	clock   *eventstest.Clock
	rng     *rand.Rand
	dns     *fakeDNS
	log     *logCheck
	envs    []*envModel
	op      int
	counts  map[string]*[2]int // ok, domain error
	partSet map[part]bool      // every index partition ever seen, per namespace
	codes   map[string]int     // domain error codes by operation (KEYWAY_REBUILD_COUNTS)
	extras  int                // stray items of the wipe
}

// part is one index partition of one namespace.
type part struct {
	env       string
	idx       events.Index
	partition string
}

func newWorld(t *testing.T, store events.Store, clock *eventstest.Clock, seed uint64) *world {
	w := &world{
		t: t, store: store, clock: clock,
		rng:     rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		dns:     &fakeDNS{txt: map[string][]string{}, fail: map[string]bool{}},
		log:     &logCheck{},
		counts:  map[string]*[2]int{},
		partSet: map[part]bool{},
	}
	if os.Getenv("KEYWAY_REBUILD_COUNTS") != "" {
		w.codes = map[string]int{}
	}
	w.a = app.New(app.Config{
		Store:    store,
		Now:      clock.Now,
		Rand:     &lockedReader{r: rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16), 'k', 'w'})},
		Logger:   slog.New(w.log),
		Password: password.Params{MemoryKiB: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32},
		DNS:      w.dns,
	})
	res, err := w.a.EnsureEnvironment(ctx, app.EnsureEnvironmentInput{Name: "staging", Type: environment.Staging})
	if err != nil {
		t.Fatalf("EnsureEnvironment staging: %v", err)
	}
	w.envs = append(w.envs, &envModel{id: res.Environment.ID, name: "staging", gone: map[string][]string{}})
	clock.Advance(time.Second)
	res, err = w.a.CreateEnvironment(ctx, app.EnsureEnvironmentInput{Name: "production", Type: environment.Production})
	if err != nil {
		t.Fatalf("CreateEnvironment production: %v", err)
	}
	w.envs = append(w.envs, &envModel{id: res.Environment.ID, name: "production", gone: map[string][]string{}})
	clock.Advance(time.Second)
	// A fixed key on an existing environment: the addKey write path.
	if _, err := w.a.EnsureEnvironment(ctx, app.EnsureEnvironmentInput{Name: "staging", Type: environment.Staging,
		Key: "sk_test_rebuild_property_test_key_0001"}); err != nil {
		t.Fatalf("EnsureEnvironment staging with a key: %v", err)
	}
	return w
}

func (w *world) namespaces() []string {
	out := []string{environment.System}
	for _, e := range w.envs {
		out = append(out, e.id)
	}
	return out
}

// sizes counts the events and read models of each namespace.
func (w *world) sizes() string {
	var out []string
	for _, ns := range w.namespaces() {
		n, q := 0, events.FeedQuery{Environment: ns, Limit: 1000}
		for {
			page, err := w.store.Feed(ctx, q)
			if err != nil {
				w.t.Fatalf("Feed(%s): %v", ns, err)
			}
			n += len(page)
			if len(page) < q.Limit {
				break
			}
			q.After = page[len(page)-1].ID
		}
		live, err := w.a.LiveItems(ctx, ns)
		if err != nil {
			w.t.Fatalf("LiveItems(%s): %v", ns, err)
		}
		name := ns
		for _, e := range w.envs {
			if e.id == ns {
				name = e.name
			}
		}
		out = append(out, fmt.Sprintf("%s %d events/%d items", name, n, len(live)))
	}
	return strings.Join(out, ", ")
}

func (w *world) summary() string {
	ok, bad := 0, 0
	for _, c := range w.counts {
		ok += c[0]
		bad += c[1]
	}
	return fmt.Sprintf("%d succeeded, %d domain errors", ok, bad)
}

// run performs n random operations, checking live against projection every
// 50, then corrupts the read models and rebuilds them.
func (w *world) run(n int) {
	type opFn struct {
		name   string
		weight int
		fn     func(env *envModel, m app.Meta) error
		post   bool // the API route is a POST, which may carry an Idempotency-Key
	}
	ops := []opFn{
		{"create_user", 14, w.createUser, true},
		{"update_user", 12, w.updateUser, false},
		{"delete_user", 4, w.deleteUser, false},
		{"create_organization", 8, w.createOrganization, true},
		{"update_organization", 6, w.updateOrganization, false},
		{"delete_organization", 3, w.deleteOrganization, false},
		{"add_domain", 6, w.addDomain, true},
		{"verify_domain_manual", 5, w.verifyDomainManual, true},
		{"verify_domain_dns", 6, w.verifyDomainDNS, true},
		{"remove_domain", 3, w.removeDomain, false},
		{"set_policies", 5, w.setPolicies, false},
		{"create_membership", 10, w.createMembership, true},
		{"update_membership", 5, w.updateMembership, false},
		{"deactivate_membership", 4, w.deactivateMembership, false},
		{"reactivate_membership", 4, w.reactivateMembership, false},
		{"delete_membership", 3, w.deleteMembership, false},
		{"rejoin", 4, w.rejoin, true},
		{"bulk_join", 1, w.bulkJoin, true},
		{"create_role", 3, w.createRole, true},
		{"list_roles", 1, func(env *envModel, _ app.Meta) error { _, err := w.a.ListRoles(ctx, env.id); return err }, false},
		{"add_api_key", 1, func(env *envModel, _ app.Meta) error { _, err := w.a.AddAPIKey(ctx, env.name); return err }, false},
		{"wait_a_month", 1, func(*envModel, app.Meta) error { w.clock.Advance(31 * 24 * time.Hour); return nil }, false},
	}
	total := 0
	for _, o := range ops {
		total += o.weight
	}
	for w.op = 1; w.op <= n; w.op++ {
		r := w.rng.IntN(total)
		var o opFn
		for _, o = range ops {
			if r < o.weight {
				break
			}
			r -= o.weight
		}
		env := w.envs[w.rng.IntN(len(w.envs))]
		m := app.Meta{Env: env.id, Actor: "rebuild-test", RequestID: fmt.Sprintf("req_%d", w.op)}
		// Only POST operations carry an Idempotency-Key, as in the API.
		if o.post && w.rng.IntN(4) == 0 {
			m.Idempotency = &app.Idempotency{Key: fmt.Sprintf("idem-%d", w.op), Fingerprint: "fp",
				Render: func(any) (int, []byte, error) { return 200, []byte(`{"ok":true}`), nil }}
		}
		err := o.fn(env, m)
		c := w.counts[o.name]
		if c == nil {
			c = &[2]int{}
			w.counts[o.name] = c
		}
		if err != nil {
			if _, ok := domain.As(err); !ok {
				w.t.Fatalf("operation %d (%s in %s): not a domain error: %v", w.op, o.name, env.name, err)
			}
			c[1]++
			if de, _ := domain.As(err); w.codes != nil {
				w.codes[o.name+" "+de.Code]++
			}
		} else {
			c[0]++
		}
		if bad := w.log.take(); len(bad) > 0 {
			w.t.Fatalf("operation %d (%s in %s) logged failures that are not domain errors:\n%s", w.op, o.name, env.name, strings.Join(bad, "\n"))
		}
		w.clock.Advance(time.Duration(1+w.rng.IntN(3000)) * time.Millisecond)
		if w.op%10 == 0 {
			w.harvest()
		}
		if w.op%50 == 0 {
			w.checkAll(fmt.Sprintf("after operation %d", w.op))
		}
	}
	w.harvest()
	w.checkAll("after the random operations")
	if os.Getenv("KEYWAY_REBUILD_COUNTS") != "" {
		names := make([]string, 0, len(w.counts))
		for name := range w.counts {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			w.t.Logf("%-22s ok %3d  domain errors %3d", name, w.counts[name][0], w.counts[name][1])
		}
		codes := make([]string, 0, len(w.codes))
		for c := range w.codes {
			codes = append(codes, c)
		}
		sort.Strings(codes)
		for _, c := range codes {
			w.t.Logf("  %-50s %d", c, w.codes[c])
		}
	}
	names := make([]string, 0, len(w.counts))
	for name := range w.counts {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if c := w.counts[name]; c[0] == 0 {
			w.t.Logf("note: %s never succeeded (%d domain errors)", name, c[1])
		}
	}
	w.corruptAndRebuild()
}

// harvest learns ids the operations did not return (JIT memberships,
// domains added by domain_data updates) and the index partitions in use.
func (w *world) harvest() {
	for _, ns := range w.namespaces() {
		live, err := w.a.LiveItems(ctx, ns)
		if err != nil {
			w.t.Fatalf("LiveItems(%s): %v", ns, err)
		}
		for _, it := range live {
			for ix, k := range it.Indexes {
				w.partSet[part{ns, ix, k.Partition}] = true
			}
		}
		for _, e := range w.envs {
			if e.id != ns {
				continue
			}
			ids := map[string][]string{}
			for k := range live {
				ids[k.Collection] = append(ids[k.Collection], k.ID)
			}
			e.refresh(&e.users, "user", ids["user"])
			e.refresh(&e.orgs, "org", ids["organization"])
			e.refresh(&e.domains, "org_domain", ids["organization_domain"])
			e.refresh(&e.memberships, "om", ids["membership"])
			e.refresh(&e.roles, "role", ids["role"])
		}
	}
}

// ---------------------------------------------------------------------------
// Operations

var (
	emailLocals   = []string{"ann", "bob", "carol", "dave", "erin"}
	emailDomains  = []string{"acme.com", "globex.io", "initech.dev", "umbrella.org", "gmail.com"}
	orgDomains    = []string{"acme.com", "globex.io", "initech.dev", "umbrella.org", "hooli.xyz"}
	userExternals = []string{"u-ext-1", "u-ext-2", "u-ext-3", "u-ext-4"}
	orgExternals  = []string{"o-ext-1", "o-ext-2", "o-ext-3"}
	roleSlugs     = []string{"viewer", "editor", "billing", "member", "admin"}
	firstNames    = []string{"Ann", "Bob", "Zoë", "Łukasz"}
	orgNames      = []string{"Acme", "Globex", "Initech", "Umbrella", "Hooli"}
)

func (w *world) pick(list []string) string { return list[w.rng.IntN(len(list))] }
func (w *world) chance(pct int) bool       { return w.rng.IntN(100) < pct }
func ptr[T any](v T) *T                    { return &v }

// pickID returns a live id, sometimes one that is gone, does not exist or
// is malformed.
func (w *world) pickID(env *envModel, list []string, prefix string) string {
	switch gone := env.gone[prefix]; {
	case len(list) == 0 || w.chance(4):
		return prefix + "_01ARZ3NDEKTSV4RRFFQ69G5FAV"
	case w.chance(2):
		return "not-an-id"
	case len(gone) > 0 && w.chance(6):
		return w.pick(gone)
	}
	return w.pick(list)
}

func (w *world) email() string {
	e := w.pick(emailLocals) + "@" + w.pick(emailDomains)
	if w.chance(15) {
		e = strings.ToUpper(e[:1]) + e[1:]
	}
	if w.chance(2) {
		e = "not an email"
	}
	return e
}

func (w *world) metadata() map[string]string {
	md := map[string]string{}
	for range w.rng.IntN(3) {
		md[w.pick([]string{"tier", "region", "plan"})] = w.pick([]string{"gold", "eu", "free", ""})
	}
	if w.chance(30) {
		return nil
	}
	return md
}

func (w *world) metadataChange() map[string]*string {
	if w.chance(40) {
		return nil
	}
	ch := map[string]*string{}
	for range 1 + w.rng.IntN(2) {
		k := w.pick([]string{"tier", "region", "plan"})
		if w.chance(30) {
			ch[k] = nil
		} else {
			ch[k] = ptr(w.pick([]string{"gold", "silver", "us", "pro"}))
		}
	}
	return ch
}

func (w *world) createUser(env *envModel, m app.Meta) error {
	in := app.CreateUserInput{Email: w.email(), EmailVerified: w.chance(45), Metadata: w.metadata()}
	if w.chance(50) {
		in.FirstName = ptr(w.pick(firstNames))
	}
	if w.chance(30) {
		in.ExternalID = ptr(w.pick(userExternals))
	}
	if w.chance(20) {
		in.Password = ptr(w.pick([]string{"quantum-Walrus-47-ledger", "short"}))
	}
	u, err := w.a.CreateUser(ctx, m, in)
	if err == nil {
		env.remember(&env.users, u.ID)
	}
	return err
}

func (w *world) updateUser(env *envModel, m app.Meta) error {
	var in app.UpdateUserInput
	if w.chance(30) {
		in.Email = ptr(w.email())
	}
	if w.chance(40) {
		in.EmailVerified = ptr(w.chance(70))
	}
	if w.chance(30) {
		in.FirstName = user.Field[string]{Set: true}
		if w.chance(70) {
			in.FirstName.Value = ptr(w.pick(firstNames))
		}
	}
	if w.chance(15) {
		in.Locale = user.Field[string]{Set: true, Value: ptr(w.pick([]string{"en-US", "fr-FR"}))}
	}
	if w.chance(25) {
		in.ExternalID = user.Field[string]{Set: true}
		if w.chance(70) {
			in.ExternalID.Value = ptr(w.pick(userExternals))
		}
	}
	in.Metadata = w.metadataChange()
	if w.chance(10) {
		in.Password = ptr("another-Quantum-Walrus-48")
	}
	_, err := w.a.UpdateUser(ctx, m, w.pickID(env, env.users, "user"), in)
	return err
}

func (w *world) deleteUser(env *envModel, m app.Meta) error {
	return w.a.DeleteUser(ctx, m, w.pickID(env, env.users, "user"))
}

func (w *world) domainData() []app.DomainInput {
	var out []app.DomainInput
	for range w.rng.IntN(3) {
		d := app.DomainInput{Domain: w.pick(orgDomains)}
		if w.chance(35) {
			d.State = organization.Verified
		}
		if w.chance(3) {
			d.Domain = "gmail.com" // a consumer domain: refused
		}
		out = append(out, d)
	}
	return out
}

func (w *world) rememberView(env *envModel, v app.OrganizationView) {
	env.remember(&env.orgs, v.ID)
	for _, d := range v.Domains {
		env.remember(&env.domains, d.ID)
	}
}

func (w *world) createOrganization(env *envModel, m app.Meta) error {
	in := app.CreateOrganizationInput{Name: w.pick(orgNames), Domains: w.domainData(), Metadata: w.metadata()}
	if w.chance(30) {
		in.ExternalID = ptr(w.pick(orgExternals))
	}
	if w.chance(15) {
		in.StripeCustomerID = ptr("cus_" + strconv.Itoa(w.rng.IntN(100)))
	}
	v, err := w.a.CreateOrganization(ctx, m, in)
	if err == nil {
		w.rememberView(env, v)
	}
	return err
}

func (w *world) updateOrganization(env *envModel, m app.Meta) error {
	var in app.UpdateOrganizationInput
	if w.chance(40) {
		in.Name = ptr(w.pick(orgNames) + " Inc")
	}
	if w.chance(25) {
		in.ExternalID = &organization.Field{}
		if w.chance(70) {
			in.ExternalID.Value = ptr(w.pick(orgExternals))
		}
	}
	if w.chance(10) {
		in.StripeCustomerID = &organization.Field{Value: ptr("cus_upd")}
	}
	in.Metadata = w.metadataChange()
	if w.chance(40) {
		in.SetDomains, in.Domains = true, w.domainData()
	}
	v, err := w.a.UpdateOrganization(ctx, m, w.pickID(env, env.orgs, "org"), in)
	if err == nil {
		w.rememberView(env, v)
	}
	return err
}

func (w *world) deleteOrganization(env *envModel, m app.Meta) error {
	return w.a.DeleteOrganization(ctx, m, w.pickID(env, env.orgs, "org"))
}

func (w *world) addDomain(env *envModel, m app.Meta) error {
	name := w.pick(orgDomains)
	if w.chance(5) {
		name = "gmail.com"
	}
	d, err := w.a.AddDomain(ctx, m, w.pickID(env, env.orgs, "org"), name)
	if err == nil {
		env.remember(&env.domains, d.ID)
	}
	return err
}

func (w *world) verifyDomainManual(env *envModel, m app.Meta) error {
	_, err := w.a.VerifyDomain(ctx, m, w.pickID(env, env.domains, "org_domain"), true)
	return err
}

func (w *world) verifyDomainDNS(env *envModel, m app.Meta) error {
	id := w.pickID(env, env.domains, "org_domain")
	if d, err := w.a.GetDomain(ctx, env.id, id); err == nil {
		switch r := w.rng.IntN(10); {
		case r < 5:
			w.dns.set(d.RecordName(), "unrelated", d.VerificationToken)
		case r < 7:
			w.dns.set(d.RecordName(), "wrong-token")
		case r < 8:
			w.dns.failing(d.RecordName())
		case r < 9:
			w.dns.set(d.RecordName()) // no record
		}
	}
	_, err := w.a.VerifyDomain(ctx, m, id, false)
	return err
}

func (w *world) removeDomain(env *envModel, m app.Meta) error {
	return w.a.RemoveDomain(ctx, m, w.pickID(env, env.domains, "org_domain"))
}

func (w *world) setPolicies(env *envModel, m app.Meta) error {
	p := organization.Policies{JITMembership: w.chance(70), SSORequired: w.chance(30)}
	_, err := w.a.SetPolicies(ctx, m, w.pickID(env, env.orgs, "org"), p)
	return err
}

func (w *world) roleSlug(env *envModel) string {
	switch {
	case w.chance(5):
		return "ghost"
	case w.chance(10) && len(env.roles) > 0:
		return w.pick(env.roles)
	case w.chance(40):
		return role.Admin
	}
	return role.Member
}

func (w *world) createMembership(env *envModel, m app.Meta) error {
	slug := w.roleSlug(env)
	if w.chance(10) {
		slug = "" // the default
	}
	v, err := w.a.CreateMembership(ctx, m, w.pickID(env, env.users, "user"), w.pickID(env, env.orgs, "org"), slug)
	if err == nil {
		env.remember(&env.memberships, v.ID)
	}
	return err
}

// rejoin creates the membership of a pair that has (or had) one, often
// after deactivating it: creating it again reactivates it, with a new role
// when another is asked for.
func (w *world) rejoin(env *envModel, m app.Meta) error {
	id := w.pickID(env, env.memberships, "om")
	ms, err := w.a.GetMembership(ctx, env.id, id)
	if err != nil {
		return err
	}
	if w.chance(70) {
		if _, err := w.a.DeactivateMembership(ctx, app.Meta{Env: env.id, Actor: m.Actor}, id); err != nil {
			return err
		}
	}
	v, err := w.a.CreateMembership(ctx, m, ms.UserID, ms.OrganizationID, w.roleSlug(env))
	if err == nil {
		env.remember(&env.memberships, v.ID)
	}
	return err
}

// bulkJoin adds every known user to one organization, so that deleting it
// removes its memberships in several batches.
func (w *world) bulkJoin(env *envModel, m app.Meta) error {
	org := w.pickID(env, env.orgs, "org")
	var last error
	for _, u := range env.users {
		v, err := w.a.CreateMembership(ctx, app.Meta{Env: env.id, Actor: m.Actor, RequestID: m.RequestID}, u, org, w.roleSlug(env))
		if err == nil {
			env.remember(&env.memberships, v.ID)
		} else if _, ok := domain.As(err); !ok {
			return err
		}
		last = err
	}
	return last
}

func (w *world) updateMembership(env *envModel, m app.Meta) error {
	_, err := w.a.UpdateMembership(ctx, m, w.pickID(env, env.memberships, "om"), w.roleSlug(env))
	return err
}

func (w *world) deactivateMembership(env *envModel, m app.Meta) error {
	_, err := w.a.DeactivateMembership(ctx, m, w.pickID(env, env.memberships, "om"))
	return err
}

func (w *world) reactivateMembership(env *envModel, m app.Meta) error {
	_, err := w.a.ReactivateMembership(ctx, m, w.pickID(env, env.memberships, "om"))
	return err
}

func (w *world) deleteMembership(env *envModel, m app.Meta) error {
	return w.a.DeleteMembership(ctx, m, w.pickID(env, env.memberships, "om"))
}

func (w *world) createRole(env *envModel, m app.Meta) error {
	slug := w.pick(roleSlugs)
	if w.chance(5) {
		slug = "Bad Slug"
	}
	r := role.Role{Slug: slug, Name: strings.ToUpper(slug[:1]) + slug[1:]}
	if w.chance(50) {
		r.Description = ptr("The " + slug + " role.")
	}
	created, err := w.a.CreateRole(ctx, m, r)
	if err == nil {
		env.remember(&env.roles, created.Slug)
	}
	return err
}

// ---------------------------------------------------------------------------
// Checks

// checkAll asserts live == projection in every namespace, and that every
// index partition ever seen serves exactly the projected items.
func (w *world) checkAll(when string) map[string]map[events.ItemKey]events.Item {
	w.t.Helper()
	out := map[string]map[events.ItemKey]events.Item{}
	for _, ns := range w.namespaces() {
		want, err := w.a.Projection(ctx, ns)
		if err != nil {
			w.t.Fatalf("%s: Projection(%s): %v", when, ns, err)
		}
		live, err := w.a.LiveItems(ctx, ns)
		if err != nil {
			w.t.Fatalf("%s: LiveItems(%s): %v", when, ns, err)
		}
		if diff := diffItems(want, live); diff != "" {
			w.t.Fatalf("%s: the read models of %s differ from the projection of its log (- projected, + live):\n%s",
				when, w.nsName(ns), diff)
		}
		w.checkIndexes(when, ns, want)
		out[ns] = want
	}
	return out
}

func (w *world) nsName(ns string) string {
	for _, e := range w.envs {
		if e.id == ns {
			return e.name + " (" + ns + ")"
		}
	}
	return ns
}

// checkIndexes queries every partition seen so far (and every projected one)
// and expects the projected items placed there, in sort order.
func (w *world) checkIndexes(when, ns string, want map[events.ItemKey]events.Item) {
	w.t.Helper()
	type entry struct {
		sort string
		key  events.ItemKey
	}
	expected := map[part][]entry{}
	for _, it := range want {
		for ix, k := range it.Indexes {
			p := part{ns, ix, k.Partition}
			w.partSet[p] = true
			expected[p] = append(expected[p], entry{k.Sort, it.ItemKey})
		}
	}
	var parts []part
	for p := range w.partSet {
		if p.env == ns {
			parts = append(parts, p)
		}
	}
	sort.Slice(parts, func(i, j int) bool {
		if parts[i].idx != parts[j].idx {
			return parts[i].idx < parts[j].idx
		}
		return parts[i].partition < parts[j].partition
	})
	for _, p := range parts {
		exp := expected[p]
		sort.Slice(exp, func(i, j int) bool { return exp[i].sort < exp[j].sort })
		var wantKeys []string
		for _, e := range exp {
			wantKeys = append(wantKeys, e.key.Collection+"/"+e.key.ID+"@"+e.sort)
		}
		var gotKeys []string
		var problem string
		// Secondary indexes may lag a write on DynamoDB; retry briefly.
		for attempt := 0; attempt < 5; attempt++ {
			items, err := w.store.Query(ctx, events.Query{Environment: ns, Index: p.idx, Partition: p.partition, Limit: 1000})
			if err != nil {
				w.t.Fatalf("%s: Query %s %s of %s: %v", when, p.idx, p.partition, w.nsName(ns), err)
			}
			gotKeys, problem = nil, ""
			for _, it := range items {
				gotKeys = append(gotKeys, it.Collection+"/"+it.ID+"@"+it.Indexes[p.idx].Sort)
				if wi, ok := want[it.ItemKey]; ok && !bytes.Equal(canonical(wi.Data), canonical(it.Data)) {
					problem = fmt.Sprintf("item %s/%s has data %s, projected %s", it.Collection, it.ID, canonical(it.Data), canonical(wi.Data))
				}
			}
			if problem == "" && strings.Join(gotKeys, " ") == strings.Join(wantKeys, " ") {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if problem != "" || strings.Join(gotKeys, " ") != strings.Join(wantKeys, " ") {
			w.t.Fatalf("%s: index %s partition %q of %s serves\n  %v\nwant (projected)\n  %v\n%s",
				when, p.idx, p.partition, w.nsName(ns), gotKeys, wantKeys, problem)
		}
	}
}

// diffItems describes how live differs from want: keys, canonical data,
// index placements and expiry. Empty means equal.
func diffItems(want, live map[events.ItemKey]events.Item) string {
	keys := map[events.ItemKey]bool{}
	for k := range want {
		keys[k] = true
	}
	for k := range live {
		keys[k] = true
	}
	sorted := make([]events.ItemKey, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Slice(sorted, func(i, j int) bool {
		if sorted[i].Collection != sorted[j].Collection {
			return sorted[i].Collection < sorted[j].Collection
		}
		return sorted[i].ID < sorted[j].ID
	})
	var b strings.Builder
	for _, k := range sorted {
		wi, inWant := want[k]
		li, inLive := live[k]
		name := k.Collection + "/" + k.ID
		switch {
		case !inLive:
			fmt.Fprintf(&b, "missing from the read models: %s\n  - %s %s\n", name, canonical(wi.Data), fmtIndexes(wi))
		case !inWant:
			fmt.Fprintf(&b, "not in the projection: %s\n  + %s %s\n", name, canonical(li.Data), fmtIndexes(li))
		default:
			var lines []string
			if wd, ld := canonical(wi.Data), canonical(li.Data); !bytes.Equal(wd, ld) {
				lines = append(lines, "data:\n"+jsonDiff(wd, ld))
			}
			if wx, lx := fmtIndexes(wi), fmtIndexes(li); wx != lx {
				lines = append(lines, fmt.Sprintf("indexes:\n  - %s\n  + %s", wx, lx))
			}
			if !wi.ExpiresAt.Equal(li.ExpiresAt) {
				lines = append(lines, fmt.Sprintf("expires_at:\n  - %v\n  + %v", wi.ExpiresAt, li.ExpiresAt))
			}
			if len(lines) > 0 {
				fmt.Fprintf(&b, "differs: %s\n  %s\n", name, strings.ReplaceAll(strings.Join(lines, "\n"), "\n", "\n  "))
			}
		}
	}
	return b.String()
}

// jsonDiff lists the top-level fields of two JSON objects that differ.
func jsonDiff(want, got []byte) string {
	var a, b map[string]json.RawMessage
	if json.Unmarshal(want, &a) != nil || json.Unmarshal(got, &b) != nil {
		return fmt.Sprintf("  - %s\n  + %s", want, got)
	}
	fields := map[string]bool{}
	for k := range a {
		fields[k] = true
	}
	for k := range b {
		fields[k] = true
	}
	var names []string
	for k := range fields {
		names = append(names, k)
	}
	sort.Strings(names)
	var lines []string
	for _, k := range names {
		av, aok := a[k]
		bv, bok := b[k]
		if aok && bok && bytes.Equal(av, bv) {
			continue
		}
		show := func(v json.RawMessage, ok bool) string {
			if !ok {
				return "(absent)"
			}
			return string(v)
		}
		lines = append(lines, fmt.Sprintf("  %s:\n    - %s\n    + %s", k, show(av, aok), show(bv, bok)))
	}
	return strings.Join(lines, "\n")
}

func fmtIndexes(it events.Item) string {
	if len(it.Indexes) == 0 {
		return "(no index)"
	}
	var parts []string
	for ix, k := range it.Indexes {
		parts = append(parts, fmt.Sprintf("%s=%s|%s", ix, k.Partition, k.Sort))
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

// canonical re-encodes JSON with sorted keys and no spacing.
func canonical(b []byte) []byte {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return b
	}
	out, err := json.Marshal(v)
	if err != nil {
		return b
	}
	return out
}

// ---------------------------------------------------------------------------
// Corruption and rebuild

// expectation is what a rebuild of one namespace must report.
type expectation struct{ written, deleted, unchanged int }

func (w *world) corruptAndRebuild() {
	w.t.Helper()
	now := w.clock.Now()
	expect := map[string]expectation{}
	for _, ns := range w.namespaces() {
		live, err := w.a.LiveItems(ctx, ns)
		if err != nil {
			w.t.Fatalf("LiveItems(%s): %v", ns, err)
		}
		keys := make([]events.ItemKey, 0, len(live))
		for k := range live {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool {
			return keys[i].Collection+"/"+keys[i].ID < keys[j].Collection+"/"+keys[j].ID
		})
		w.rng.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
		take := func(n int) []events.ItemKey {
			n = min(n, len(keys))
			out := keys[:n]
			keys = keys[n:]
			return out
		}
		ap := events.Append{Environment: ns}
		var ex expectation
		small := ns == environment.System
		size := func(n int) int {
			if small {
				return 1
			}
			return n
		}
		if ns == environment.System {
			// The environments' own items: RebuildAll must restore the
			// system namespace before it lists the environments.
			for i, k := range keys {
				if k.Collection == "environment" {
					keys[0], keys[i] = keys[i], keys[0]
					break
				}
			}
		}
		for _, k := range take(size(4)) { // deleted
			ap.Deletes = append(ap.Deletes, k)
			ex.written++
		}
		for _, k := range take(size(4)) { // data corrupted
			it := live[k]
			it.Data = corruptData(it.Data)
			ap.Puts = append(ap.Puts, it)
			ex.written++
		}
		for i, k := range take(size(3)) { // index placement corrupted
			it := live[k]
			it.Indexes = corruptIndexes(it, i)
			for ix, ik := range it.Indexes {
				w.partSet[part{ns, ix, ik.Partition}] = true
			}
			ap.Puts = append(ap.Puts, it)
			ex.written++
		}
		for _, k := range take(size(1)) { // expires later: still visible, but differs
			it := live[k]
			it.ExpiresAt = now.Add(24 * time.Hour)
			ap.Puts = append(ap.Puts, it)
			ex.written++
		}
		for _, k := range take(size(1)) { // already expired: invisible
			it := live[k]
			it.ExpiresAt = now.Add(-time.Hour)
			ap.Puts = append(ap.Puts, it)
			ex.written++
		}
		for _, k := range take(size(2)) { // re-encoded only: not a difference
			it := live[k]
			var buf bytes.Buffer
			if err := json.Indent(&buf, it.Data, "", "   "); err != nil {
				w.t.Fatalf("indent %s/%s: %v", k.Collection, k.ID, err)
			}
			it.Data = buf.Bytes()
			ap.Puts = append(ap.Puts, it)
		}
		for i := range size(3) { // extra items nothing projects
			it := events.Item{ItemKey: events.ItemKey{Collection: []string{"user", "organization_domain", "stale"}[i%3],
				ID: fmt.Sprintf("corrupt_%d", i)}, Data: json.RawMessage(`{"id":"corrupt"}`)}
			if i%3 != 2 {
				it.Indexes = map[events.Index]events.IndexKey{events.Index1: {Partition: "users", Sort: it.ID}}
				w.partSet[part{ns, events.Index1, "users"}] = true
			}
			ap.Puts = append(ap.Puts, it)
			ex.deleted++
		}
		// live equals the projection here (checked above): every projected
		// item not corrupted, the re-encoded ones included, is unchanged.
		ex.unchanged = len(live) - ex.written
		expect[ns] = ex
		if err := w.store.Append(ctx, ap); err != nil {
			w.t.Fatalf("corrupt %s: %v", w.nsName(ns), err)
		}
		// The corruption must be visible, or the rebuild proves nothing.
		want, err := w.a.Projection(ctx, ns)
		if err != nil {
			w.t.Fatal(err)
		}
		after, err := w.a.LiveItems(ctx, ns)
		if err != nil {
			w.t.Fatal(err)
		}
		if diffItems(want, after) == "" {
			w.t.Fatalf("corrupting %s changed nothing visible", w.nsName(ns))
		}
	}

	stats, err := w.a.RebuildAll(ctx)
	if err != nil {
		w.t.Fatalf("RebuildAll: %v", err)
	}
	w.checkStats("first RebuildAll", stats, expect)
	w.checkAll("after RebuildAll")

	stats, err = w.a.RebuildAll(ctx)
	if err != nil {
		w.t.Fatalf("second RebuildAll: %v", err)
	}
	for ns, ex := range expect {
		expect[ns] = expectation{unchanged: ex.unchanged + ex.written} // everything projected is intact now
	}
	w.checkStats("second RebuildAll", stats, expect)

	// Wipe the larger environment and bury it in extra items: the rebuild
	// then takes several appends (of at most 90 items) and, on bolt, the
	// scan takes several pages.
	wiped := w.envs[0]
	for _, e := range w.envs[1:] {
		if expect[e.id].unchanged > expect[wiped.id].unchanged {
			wiped = e
		}
	}
	live, err := w.a.LiveItems(ctx, wiped.id)
	if err != nil {
		w.t.Fatalf("LiveItems(%s): %v", wiped.id, err)
	}
	var dels []events.ItemKey
	for k := range live {
		dels = append(dels, k)
	}
	extras := w.extras
	var puts []events.Item
	for i := range extras {
		it := events.Item{ItemKey: events.ItemKey{Collection: []string{"user", "membership", "leftover"}[i%3], ID: fmt.Sprintf("wiped_%03d", i)},
			Data: json.RawMessage(fmt.Sprintf(`{"n":%d}`, i))}
		if i%3 == 0 {
			it.Indexes = map[events.Index]events.IndexKey{events.Index1: {Partition: "users", Sort: it.ID}}
		}
		puts = append(puts, it)
	}
	w.partSet[part{wiped.id, events.Index1, "users"}] = true
	for len(dels) > 0 || len(puts) > 0 {
		ap := events.Append{Environment: wiped.id}
		for len(dels) > 0 && len(ap.Deletes) < 90 {
			ap.Deletes, dels = append(ap.Deletes, dels[0]), dels[1:]
		}
		for len(puts) > 0 && len(ap.Deletes)+len(ap.Puts) < 90 {
			ap.Puts, puts = append(ap.Puts, puts[0]), puts[1:]
		}
		if err := w.store.Append(ctx, ap); err != nil {
			w.t.Fatalf("wipe %s: %v", wiped.name, err)
		}
	}
	n := expect[wiped.id].unchanged
	expect[wiped.id] = expectation{written: n, deleted: extras}
	stats, err = w.a.RebuildAll(ctx)
	if err != nil {
		w.t.Fatalf("RebuildAll after the wipe: %v", err)
	}
	w.checkStats("RebuildAll after the wipe", stats, expect)
	w.checkAll("after the wipe and RebuildAll")
	for _, ns := range w.namespaces() {
		st, err := w.a.Rebuild(ctx, ns)
		if err != nil {
			w.t.Fatalf("Rebuild(%s): %v", ns, err)
		}
		if st.Written != 0 || st.Deleted != 0 {
			w.t.Fatalf("Rebuild of %s once rebuilt: wrote %d, deleted %d; want 0, 0", w.nsName(ns), st.Written, st.Deleted)
		}
	}
}

func (w *world) checkStats(when string, stats []app.RebuildStats, expect map[string]expectation) {
	w.t.Helper()
	if len(stats) != len(expect) {
		w.t.Fatalf("%s: stats for %d namespaces (%+v), want %d", when, len(stats), stats, len(expect))
	}
	for _, st := range stats {
		ex, ok := expect[st.Environment]
		if !ok {
			w.t.Fatalf("%s: stats for unknown namespace %s", when, st.Environment)
		}
		got := expectation{st.Written, st.Deleted, st.Unchanged}
		if got != ex {
			w.t.Fatalf("%s of %s: written %d, deleted %d, unchanged %d; want %d, %d, %d",
				when, w.nsName(st.Environment), got.written, got.deleted, got.unchanged, ex.written, ex.deleted, ex.unchanged)
		}
	}
}

// corruptData changes an item's JSON in a way canonical encoding does not undo.
func corruptData(b []byte) json.RawMessage {
	var m map[string]any
	if json.Unmarshal(b, &m) != nil {
		return json.RawMessage(`{"corrupted":true}`)
	}
	m["corrupted"] = true
	if _, ok := m["updated_at"]; ok {
		m["updated_at"] = "1999-12-31T23:59:59Z"
	}
	out, _ := json.Marshal(m)
	return out
}

// corruptIndexes moves, drops or adds an index placement.
func corruptIndexes(it events.Item, variant int) map[events.Index]events.IndexKey {
	out := map[events.Index]events.IndexKey{}
	for k, v := range it.Indexes {
		out[k] = v
	}
	ik, has := out[events.Index1]
	switch {
	case !has:
		out[events.Index1] = events.IndexKey{Partition: "corrupt#" + it.Collection, Sort: it.ID}
	case variant%3 == 0:
		ik.Partition = "corrupt#" + ik.Partition
		out[events.Index1] = ik
	case variant%3 == 1:
		ik.Sort = "~" + ik.Sort
		out[events.Index1] = ik
	default:
		if _, two := out[events.Index2]; two {
			delete(out, events.Index2)
		} else {
			out[events.Index2] = events.IndexKey{Partition: "corrupt#extra", Sort: it.ID}
		}
	}
	return out
}

// ---------------------------------------------------------------------------
// Fakes

// fakeDNS answers TXT lookups from a table; a failing name is a lookup error.
type fakeDNS struct {
	mu   sync.Mutex
	txt  map[string][]string
	fail map[string]bool
}

func (f *fakeDNS) LookupTXT(_ context.Context, name string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	if f.fail[name] {
		return nil, fmt.Errorf("fake dns: SERVFAIL for %s", name)
	}
	return append([]string(nil), f.txt[name]...), nil
}

func (f *fakeDNS) set(name string, values ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	name = strings.ToLower(name)
	delete(f.fail, name)
	f.txt[name] = values
}

func (f *fakeDNS) failing(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail[strings.ToLower(name)] = true
}

// lockedReader makes a seeded generator safe to share.
type lockedReader struct {
	mu sync.Mutex
	r  io.Reader
}

func (l *lockedReader) Read(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.Read(p)
}

// logCheck collects warnings and errors the app logs whose error is not a
// domain error (automatic membership failures are logged, not returned).
type logCheck struct {
	mu  sync.Mutex
	bad []string
}

func (h *logCheck) Enabled(context.Context, slog.Level) bool { return true }

func (h *logCheck) Handle(_ context.Context, r slog.Record) error {
	if r.Level < slog.LevelWarn {
		return nil
	}
	line, bad := r.Message, false
	r.Attrs(func(a slog.Attr) bool {
		line += " " + a.String()
		if err, ok := a.Value.Any().(error); ok {
			if _, isDomain := domain.As(err); !isDomain {
				bad = true
			}
		}
		return true
	})
	if bad {
		h.mu.Lock()
		h.bad = append(h.bad, line)
		h.mu.Unlock()
	}
	return nil
}

func (h *logCheck) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *logCheck) WithGroup(string) slog.Handler      { return h }

func (h *logCheck) take() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := h.bad
	h.bad = nil
	return out
}
