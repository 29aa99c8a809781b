package api

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/keywayhq/keyway/app"
	"github.com/keywayhq/keyway/domain"
)

// Pagination bounds of WorkOS lists.
const (
	defaultLimit = 10
	maxLimit     = 100
)

// pageParams validates limit, before, after and order.
func pageParams(q url.Values, prefix string) (app.PageParams, error) {
	p := app.PageParams{Limit: defaultLimit, Order: "desc", Before: q.Get("before"), After: q.Get("after")}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxLimit {
			return p, domain.InvalidField("limit", "invalid_limit", "limit must be a whole number from 1 to %d.", maxLimit)
		}
		p.Limit = n
	}
	switch o := q.Get("order"); o {
	case "", "desc", "normal":
	case "asc":
		p.Order = "asc"
	default:
		return p, domain.InvalidField("order", "invalid_order", "order must be asc or desc.")
	}
	if p.Before != "" && p.After != "" {
		return p, domain.InvalidField("before", "conflicting_cursors", "Use before or after, not both.")
	}
	for field, v := range map[string]string{"before": p.Before, "after": p.After} {
		if v != "" && !app.ValidID(v, prefix) {
			return p, domain.InvalidField(field, "invalid_cursor", "%s must be the id of a %s.", field, prefix)
		}
	}
	return p, nil
}

type listMetadata struct {
	Before *string `json:"before"`
	After  *string `json:"after"`
}

type listJSON struct {
	Object       string       `json:"object"`
	Data         []any        `json:"data"`
	ListMetadata listMetadata `json:"list_metadata"`
}

func writeList[T any](w http.ResponseWriter, p app.Page[T], render func(any) any) {
	out := listJSON{Object: "list", Data: make([]any, 0, len(p.Data)), ListMetadata: listMetadata{Before: p.Before, After: p.After}}
	for _, v := range p.Data {
		out.Data = append(out.Data, render(v))
	}
	writeJSON(w, http.StatusOK, out)
}
