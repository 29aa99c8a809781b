package api_test

import (
	"strings"
	"testing"
)

// TestEveryPostReplaysItsFirstResponse sends each WorkOS POST twice with
// one Idempotency-Key, as the SDK does on a retry: the second answer must be
// the first, byte for byte, and write nothing.
func TestEveryPostReplaysItsFirstResponse(t *testing.T) {
	f := newFixture(t)
	u := f.createUser(f.staging, map[string]any{"email": "replay@example.com"})
	org := f.do(f.staging, "POST", "/organizations", map[string]any{"name": "Replay"}).body
	dom := f.do(f.staging, "POST", "/organization_domains", map[string]any{"domain": "replay.example.com", "organization_id": org["id"]}).body
	cases := []struct {
		name, path string
		body       map[string]any
		status     int
	}{
		{"user", "/user_management/users", map[string]any{"email": "again@example.com"}, 201},
		{"organization", "/organizations", map[string]any{"name": "Again", "domain_data": []map[string]string{{"domain": "again.example.com", "state": "pending"}}}, 201},
		{"domain", "/organization_domains", map[string]any{"domain": "other.example.com", "organization_id": org["id"]}, 201},
		{"verify manually", "/keyway/organization_domains/" + dom["id"].(string) + "/verify_manually", map[string]any{}, 201},
		{"membership", "/user_management/organization_memberships", map[string]any{"user_id": u["id"], "organization_id": org["id"]}, 201},
		{"role", "/authorization/roles", map[string]any{"slug": "billing", "name": "Billing"}, 201},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			key := "retry-" + strings.ReplaceAll(c.name, " ", "-")
			first := f.do(f.staging, "POST", c.path, c.body, "Idempotency-Key", key)
			if first.status != c.status {
				t.Fatalf("first: %d %s", first.status, first.raw)
			}
			before := f.feedLen()
			again := f.do(f.staging, "POST", c.path, c.body, "Idempotency-Key", key)
			if again.status != c.status || again.raw != first.raw || again.header.Get("Idempotent-Replayed") != "true" {
				t.Fatalf("replay: %d %s\nfirst: %s", again.status, again.raw, first.raw)
			}
			if f.feedLen() != before {
				t.Fatal("the replay wrote events")
			}
		})
	}
}
