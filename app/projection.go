package app

import (
	"bytes"
	"encoding/base32"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/keywayhq/keyway/events"
)

// claimKey is a unique value an aggregate holds.
type claimKey struct{ kind, value string }

// diffClaims turns the unique values held before and after a command into
// the claims to take and the ones to give up.
func diffClaims(stream string, before, after []claimKey) (claims, releases []events.Claim) {
	has := func(list []claimKey, x claimKey) bool {
		for _, y := range list {
			if x == y {
				return true
			}
		}
		return false
	}
	for _, x := range after {
		if !has(before, x) {
			claims = append(claims, events.Claim{Kind: x.kind, Value: x.value, Owner: stream})
		}
	}
	for _, x := range before {
		if !has(after, x) {
			releases = append(releases, events.Claim{Kind: x.kind, Value: x.value, Owner: stream})
		}
	}
	return claims, releases
}

// diffItems turns the read models projected before and after a command into
// the items to write (new or changed) and the keys to delete.
func diffItems(before, after []events.Item) (puts []events.Item, deletes []events.ItemKey, err error) {
	old := map[events.ItemKey]events.Item{}
	for _, it := range before {
		old[it.ItemKey] = it
	}
	kept := map[events.ItemKey]bool{}
	for _, it := range after {
		kept[it.ItemKey] = true
		if prev, ok := old[it.ItemKey]; ok && sameItem(prev, it) {
			continue
		}
		puts = append(puts, it)
	}
	for _, it := range before {
		if !kept[it.ItemKey] {
			deletes = append(deletes, it.ItemKey)
		}
	}
	return puts, deletes, nil
}

func sameItem(a, b events.Item) bool {
	if !bytes.Equal(a.Data, b.Data) || !a.ExpiresAt.Equal(b.ExpiresAt) || len(a.Indexes) != len(b.Indexes) {
		return false
	}
	for k, v := range a.Indexes {
		if b.Indexes[k] != v {
			return false
		}
	}
	return true
}

// newItem builds a read-model item holding v as JSON, placed in one index
// partition (none when idx is empty). v is one of the app's own structs, so
// encoding cannot fail.
func newItem(collection, id string, v any, idx events.Index, partition, sortKey string) events.Item {
	data, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("app: encode %s %s: %v", collection, id, err))
	}
	it := events.Item{ItemKey: events.ItemKey{Collection: collection, ID: id}, Data: data}
	if idx != "" {
		it.Indexes = map[events.Index]events.IndexKey{idx: {Partition: partition, Sort: sortKey}}
	}
	return it
}

// canonicalJSON re-encodes JSON with sorted keys and no spacing.
func canonicalJSON(b []byte) []byte {
	var v any
	if json.Unmarshal(b, &v) != nil {
		return b
	}
	out, err := json.Marshal(v)
	if err != nil {
		return b
	}
	return out
}

// fold applies a stream's events to a zero state.
func fold[S any](a *App, envs []events.Envelope, evolve func(S, events.Event) S) (S, error) {
	var s S
	for _, e := range envs {
		ev, err := a.registry.Decode(e)
		if err != nil {
			return s, err
		}
		s = evolve(s, ev)
	}
	return s, nil
}

// randomToken returns n random bytes as lower-case base32.
func randomToken(rand io.Reader, n int) (string, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(rand, b); err != nil {
		return "", fmt.Errorf("app: random token: %w", err)
	}
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b)), nil
}

// pageInMemory pages a small, fully read list the way listPage pages an index.
func pageInMemory[T any](all []T, id func(T) string, p PageParams) Page[T] {
	sort.Slice(all, func(i, j int) bool {
		if p.Order == "asc" {
			return id(all[i]) < id(all[j])
		}
		return id(all[i]) > id(all[j])
	})
	start, end := 0, len(all)
	if p.After != "" {
		for start < len(all) && !after(id(all[start]), p.After, p.Order) {
			start++
		}
	}
	if p.Before != "" {
		end = start
		for end < len(all) && after(p.Before, id(all[end]), p.Order) {
			end++
		}
		if end-start > p.Limit {
			start = end - p.Limit
		}
	}
	page := Page[T]{Data: []T{}}
	if end-start > p.Limit {
		page.Data = append(page.Data, all[start:start+p.Limit]...)
	} else {
		page.Data = append(page.Data, all[start:end]...)
	}
	if n := len(page.Data); n > 0 {
		first, last := id(page.Data[0]), id(page.Data[n-1])
		if start > 0 {
			page.Before = &first
		}
		if start+n < len(all) {
			page.After = &last
		}
	}
	return page
}

// after reports whether id a comes after id b in the order.
func after(a, b, order string) bool {
	if order == "asc" {
		return a > b
	}
	return a < b
}
