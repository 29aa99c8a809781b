package app

import (
	"context"
	"fmt"
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
	desc := p.Order != "asc"
	q := events.Query{Environment: env, Index: idx, Partition: partition, Limit: p.Limit + 1, Start: p.After, Descending: desc}
	backwards := p.Before != ""
	if backwards {
		q.Start, q.Descending = p.Before, !desc
	}
	items, err := a.store.Query(ctx, q)
	if err != nil {
		return Page[T]{}, fmt.Errorf("app: list %s: %w", partition, err)
	}
	more := len(items) > p.Limit
	if more {
		items = items[:p.Limit]
	}
	if backwards {
		for i, j := 0, len(items)-1; i < j; i, j = i+1, j-1 {
			items[i], items[j] = items[j], items[i]
		}
	}
	page := Page[T]{Data: make([]T, 0, len(items))}
	for _, it := range items {
		v, err := decode(it)
		if err != nil {
			return Page[T]{}, fmt.Errorf("app: decode %s: %w", it.ID, err)
		}
		page.Data = append(page.Data, v)
	}
	if len(items) > 0 {
		first, last := items[0].ID, items[len(items)-1].ID
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
