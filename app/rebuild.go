package app

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/keywayhq/keyway/domain/authcode"
	"github.com/keywayhq/keyway/domain/authlog"
	"github.com/keywayhq/keyway/domain/browsersession"
	"github.com/keywayhq/keyway/domain/environment"
	"github.com/keywayhq/keyway/domain/invitation"
	"github.com/keywayhq/keyway/domain/magicauth"
	"github.com/keywayhq/keyway/domain/membership"
	"github.com/keywayhq/keyway/domain/organization"
	"github.com/keywayhq/keyway/domain/passwordreset"
	"github.com/keywayhq/keyway/domain/pending"
	"github.com/keywayhq/keyway/domain/role"
	"github.com/keywayhq/keyway/domain/session"
	"github.com/keywayhq/keyway/domain/throttle"
	"github.com/keywayhq/keyway/domain/user"
	"github.com/keywayhq/keyway/events"
)

// project folds one stream and returns its read models. Live writes and
// rebuilds use the same projectors, so they cannot drift apart.
func (a *App) project(stream string, envs []events.Envelope) ([]events.Item, error) {
	agg, _, _ := strings.Cut(stream, "#")
	switch agg {
	case user.Aggregate:
		s, err := fold(a, envs, user.Evolve)
		return projectUser(s), err
	case organization.Aggregate:
		s, err := fold(a, envs, organization.Evolve)
		return projectOrganization(s), err
	case membership.Aggregate:
		s, err := fold(a, envs, membership.Evolve)
		return projectMembership(s), err
	case role.Aggregate:
		s, err := fold(a, envs, role.Evolve)
		return projectRole(s), err
	case environment.Aggregate:
		s, err := fold(a, envs, environment.Evolve)
		return projectEnvironment(s), err
	case session.Aggregate:
		return a.projectSessionLog(envs)
	case browsersession.Aggregate:
		s, err := fold(a, envs, browsersession.Evolve)
		return projectBrowserSession(s), err
	case throttle.Aggregate, pending.Aggregate, authlog.Aggregate, authcode.Aggregate:
		return nil, nil // no read models
	case magicauth.Aggregate:
		s, err := fold(a, envs, magicauth.Evolve)
		return projectCode(s), err
	case passwordreset.Aggregate:
		s, err := fold(a, envs, passwordreset.Evolve)
		return projectPasswordReset(s), err
	case invitation.Aggregate:
		s, err := fold(a, envs, invitation.Evolve)
		return projectInvitation(s), err
	}
	return nil, fmt.Errorf("app: no projector for stream %s", stream)
}

// Projection computes an environment's read models from its whole log.
func (a *App) Projection(ctx context.Context, env string) (map[events.ItemKey]events.Item, error) {
	streams := map[string][]events.Envelope{}
	q := events.FeedQuery{Environment: env, Limit: 1000}
	for {
		page, err := a.store.Feed(ctx, q)
		if err != nil {
			return nil, fmt.Errorf("app: read the log of %s: %w", env, err)
		}
		for _, e := range page {
			streams[e.Stream] = append(streams[e.Stream], e)
		}
		if len(page) < q.Limit {
			break
		}
		q.After = page[len(page)-1].ID
	}
	out := map[events.ItemKey]events.Item{}
	for stream, envs := range streams {
		// The feed is in ID order; a stream's own order is its versions.
		sort.Slice(envs, func(i, j int) bool { return envs[i].Version < envs[j].Version })
		items, err := a.project(stream, envs)
		if err != nil {
			return nil, err
		}
		for _, it := range items {
			out[it.ItemKey] = it
		}
	}
	return out, nil
}

// LiveItems returns an environment's read models as stored.
func (a *App) LiveItems(ctx context.Context, env string) (map[events.ItemKey]events.Item, error) {
	out := map[events.ItemKey]events.Item{}
	err := a.store.ScanItems(ctx, env, func(it events.Item) error {
		out[it.ItemKey] = it
		return nil
	})
	return out, err
}

// RebuildStats counts what a rebuild changed.
type RebuildStats struct {
	Environment      string
	Written, Deleted int
	Unchanged        int
}

// SigningKeysCollection holds the sealed signing-key ring: a secret kept
// beside the read models, not derived from the log, so rebuild keeps it.
const SigningKeysCollection = "signing_keys"

// rebuildBatch bounds the items of one rebuild append (DynamoDB: 100 actions).
const rebuildBatch = 90

// Rebuild replays an environment's log into its read models: items that
// differ from the projection are rewritten, items it lacks are deleted.
func (a *App) Rebuild(ctx context.Context, env string) (RebuildStats, error) {
	st := RebuildStats{Environment: env}
	want, err := a.Projection(ctx, env)
	if err != nil {
		return st, err
	}
	live, err := a.LiveItems(ctx, env)
	if err != nil {
		return st, err
	}
	var puts []events.Item
	var deletes []events.ItemKey
	for k, it := range want {
		if cur, ok := live[k]; ok && sameItem(normalize(cur), normalize(it)) {
			st.Unchanged++
			continue
		}
		puts = append(puts, it)
	}
	for k := range live {
		if _, ok := want[k]; !ok && k.Collection != SigningKeysCollection {
			deletes = append(deletes, k)
		}
	}
	st.Written, st.Deleted = len(puts), len(deletes)
	for len(puts) > 0 || len(deletes) > 0 {
		ap := events.Append{Environment: env}
		for len(puts) > 0 && len(ap.Puts)+len(ap.Deletes) < rebuildBatch {
			ap.Puts, puts = append(ap.Puts, puts[0]), puts[1:]
		}
		for len(deletes) > 0 && len(ap.Puts)+len(ap.Deletes) < rebuildBatch {
			ap.Deletes, deletes = append(ap.Deletes, deletes[0]), deletes[1:]
		}
		if err := a.store.Append(ctx, ap); err != nil {
			return st, fmt.Errorf("app: rebuild %s: %w", env, err)
		}
	}
	return st, nil
}

// RebuildAll rebuilds the system namespace and every environment.
func (a *App) RebuildAll(ctx context.Context) ([]RebuildStats, error) {
	sys, err := a.Rebuild(ctx, environment.System)
	if err != nil {
		return nil, err
	}
	out := []RebuildStats{sys}
	envs, err := a.ListEnvironments(ctx)
	if err != nil {
		return out, err
	}
	for _, e := range envs {
		st, err := a.Rebuild(ctx, e.ID)
		if err != nil {
			return out, err
		}
		out = append(out, st)
	}
	return out, nil
}

// normalize makes stored and projected items comparable: stores may
// re-encode JSON (key order, spacing) and drop empty index maps.
func normalize(it events.Item) events.Item {
	it.Data = canonicalJSON(it.Data)
	if len(it.Indexes) == 0 {
		it.Indexes = nil
	}
	return it
}
