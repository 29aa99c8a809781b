package api_test

import (
	"sync"
	"testing"
)

// TestParallelSignUpsWithOneEmailMakeOneUser: the email claim, not a
// lookup, decides, so exactly one of many simultaneous sign-ups wins.
func TestParallelSignUpsWithOneEmailMakeOneUser(t *testing.T) {
	f := newFixture(t)
	const n = 20
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := f.do(f.staging, "POST", "/user_management/users", map[string]any{"email": "Same@Example.com", "password": "a long enough passphrase"})
			statuses[i] = res.status
		}()
	}
	wg.Wait()
	created := 0
	for i, s := range statuses {
		switch s {
		case 201:
			created++
		case 422:
		default:
			t.Fatalf("sign-up %d answered %d", i, s)
		}
	}
	if created != 1 {
		t.Fatalf("%d sign-ups succeeded, want 1", created)
	}
	list := f.do(f.staging, "GET", "/user_management/users?email=same@example.com", nil)
	if got := len(list.body["data"].([]any)); got != 1 {
		t.Fatalf("%d users with the email", got)
	}
}
