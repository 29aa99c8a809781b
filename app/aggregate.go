package app

import (
	"context"

	"github.com/keywayhq/keyway/domain/membership"
	"github.com/keywayhq/keyway/domain/organization"
	"github.com/keywayhq/keyway/domain/role"
	"github.com/keywayhq/keyway/domain/user"
	"github.com/keywayhq/keyway/events"
)

// kind tells the command runner how one aggregate folds, decides, and
// derives its unique claims and read models.
type kind[S any] struct {
	name    string
	evolve  func(S, events.Event) S
	decide  func(S, any) ([]events.Event, error)
	claims  func(S) []claimKey // nil: none
	project func(S) []events.Item
}

func userKind() kind[user.State] {
	return kind[user.State]{user.Aggregate, user.Evolve, user.Decide, userClaims, projectUser}
}

func organizationKind() kind[organization.State] {
	return kind[organization.State]{organization.Aggregate, organization.Evolve, organization.Decide, organizationClaims, projectOrganization}
}

func membershipKind() kind[membership.State] {
	return kind[membership.State]{membership.Aggregate, membership.Evolve, membership.Decide, membershipClaims, projectMembership}
}

func roleKind() kind[role.State] {
	return kind[role.State]{role.Aggregate, role.Evolve, role.Decide, nil, projectRole}
}

// load folds stream id of the kind.
func (k kind[S]) load(ctx context.Context, a *App, env, id string) (S, int64, error) {
	return load(ctx, a, env, events.StreamName(k.name, id), k.evolve)
}

// apply decides cmd on a loaded state and derives the write: the events,
// and the claims and read models that change between before and after. A
// decision that records events and still fails (a replayed refresh token
// revokes its session) returns that write with the error, for the caller
// to append.
func (k kind[S]) apply(id string, before S, version int64, cmd any) (write, S, error) {
	evs, refused := k.decide(before, cmd)
	if refused != nil && len(evs) == 0 {
		return write{}, before, refused
	}
	after := before
	for _, e := range evs {
		after = k.evolve(after, e)
	}
	stream := events.StreamName(k.name, id)
	w := write{streams: []streamEvents{{stream: stream, version: version, events: evs}}}
	if k.claims != nil {
		w.claims, w.releases = diffClaims(stream, k.claims(before), k.claims(after))
	}
	puts, deletes, err := diffItems(k.project(before), k.project(after))
	if err != nil {
		return write{}, before, err
	}
	w.puts, w.deletes = puts, deletes
	return w, after, refused
}

// then decides one more command after w, on the state w leads to, as part
// of the same write.
func (k kind[S]) then(w write, before, current S, cmd any) (write, S, error) {
	evs, err := k.decide(current, cmd)
	if err != nil {
		return w, current, err
	}
	after := current
	for _, e := range evs {
		after = k.evolve(after, e)
	}
	s := &w.streams[len(w.streams)-1]
	s.events = append(s.events, evs...)
	if k.claims != nil {
		w.claims, w.releases = diffClaims(s.stream, k.claims(before), k.claims(after))
	}
	w.puts, w.deletes, err = diffItems(k.project(before), k.project(after))
	return w, after, err
}

// change loads stream id, lets name give a new stream its id, and applies cmd.
func (k kind[S]) change(ctx context.Context, a *App, env, id string, cmd any, name func(S) S) (write, S, error) {
	before, version, err := k.load(ctx, a, env, id)
	if err != nil {
		return write{}, before, err
	}
	if version == 0 && name != nil {
		before = name(before)
	}
	return k.apply(id, before, version, cmd)
}
