package role_test

import (
	"strings"
	"testing"

	"github.com/keywayhq/keyway/domain"
	"github.com/keywayhq/keyway/domain/role"
)

func TestCheckSlug(t *testing.T) {
	for slug, ok := range map[string]bool{"member": true, "billing-admin": true, "posts:read": true, "a_b": true, "0day": true,
		strings.Repeat("a", 64): true, "": false, "Admin": false, "-x": false, "_x": false, "a b": false, "a/b": false, strings.Repeat("a", 65): false} {
		err := role.CheckSlug("slug", slug)
		if de, isDomain := domain.As(err); (err == nil) != ok || (err != nil && (!isDomain || de.Kind != domain.Invalid)) {
			t.Errorf("CheckSlug(%q) = %v", slug, err)
		}
	}
}

func TestDecide(t *testing.T) {
	r := role.Role{ID: "role_1", Slug: "billing", Name: "Billing"}
	evs, err := role.Decide(role.State{}, role.Create{Role: r})
	if err != nil || len(evs) != 1 || evs[0].(role.Created).Role.Permissions == nil {
		t.Fatalf("create = %v, %v", evs, err)
	}
	s := role.Evolve(role.State{}, evs[0])
	if !s.Exists || s.Slug != "billing" {
		t.Fatalf("state %+v", s)
	}
	if _, err := role.Decide(s, role.Create{Role: r}); err == nil {
		t.Fatal("created twice")
	} else if de, _ := domain.As(err); de.Kind != domain.Conflict || de.Code != "role_slug_conflict" {
		t.Fatalf("create twice = %v", err)
	}
}
