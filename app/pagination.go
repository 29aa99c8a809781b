package app

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/keywayhq/keyway/events"
)

// PageParams are the WorkOS list parameters, already validated by the API.
type PageParams struct {
	Limit  int    // 1..100
	Before string // an object id
	After  string // an object id
	Order  string // "asc" or "desc"
}

// Page is one page of a list with WorkOS list_metadata cursors.
type Page[T any] struct {
	Data   []T
	Before *string
	After  *string
}

// listPage reads one page of an index partition whose sort key is the
// object id (ULIDs, so creation order). after is the last item's id when more
// items follow; before is the first item's id when earlier items exist.
func listPage[T any](ctx context.Context, a *App, env string, idx events.Index, partition string, p PageParams, decode func(events.Item) (T, error)) (Page[T], error) {
	return listFiltered(ctx, a, env, idx, partition, p, decode, nil)
}

// listFiltered is listPage over the items that keep accepts (nil: all). It
// reads on until it has a page, so a sparse filter costs more reads.
func listFiltered[T any](ctx context.Context, a *App, env string, idx events.Index, partition string, p PageParams, decode func(events.Item) (T, error), keep func(T) bool) (Page[T], error) {
	desc := p.Order != "asc"
	backwards := p.Before != ""
	q := events.Query{Environment: env, Index: idx, Partition: partition, Limit: p.Limit + 1, Start: p.After, Descending: desc}
	if backwards {
		q.Start, q.Descending = p.Before, !desc
	}
	var vals []T
	var ids []string
	for len(vals) <= p.Limit {
		items, err := a.store.Query(ctx, q)
		if err != nil {
			return Page[T]{}, fmt.Errorf("app: list %s: %w", partition, err)
		}
		for _, it := range items {
			v, err := decode(it)
			if err != nil {
				return Page[T]{}, fmt.Errorf("app: decode %s: %w", it.ID, err)
			}
			if keep == nil || keep(v) {
				vals, ids = append(vals, v), append(ids, it.Indexes[idx].Sort)
			}
		}
		if len(items) < q.Limit {
			break
		}
		q.Start = items[len(items)-1].Indexes[idx].Sort
	}
	more := len(vals) > p.Limit
	if more {
		vals, ids = vals[:p.Limit], ids[:p.Limit]
	}
	if backwards {
		slices.Reverse(vals)
		slices.Reverse(ids)
	}
	page := Page[T]{Data: vals}
	if page.Data == nil {
		page.Data = []T{}
	}
	if len(ids) > 0 {
		first, last := ids[0], ids[len(ids)-1]
		if backwards {
			if more {
				page.Before = &first
			}
			page.After = &last
		} else {
			if more {
				page.After = &last
			}
			if p.After != "" {
				page.Before = &first
			}
		}
	}
	return page, nil
}

// ValidID reports whether id has the WorkOS shape prefix_ULID.
func ValidID(id, prefix string) bool {
	rest, ok := strings.CutPrefix(id, prefix+"_")
	if !ok || len(rest) != 26 || rest[0] > '7' {
		return false
	}
	for _, c := range rest {
		if !strings.ContainsRune("0123456789ABCDEFGHJKMNPQRSTVWXYZ", c) {
			return false
		}
	}
	return true
}
