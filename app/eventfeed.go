package app

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/keywayhq/keyway/domain"
	"github.com/keywayhq/keyway/domain/invitation"
	"github.com/keywayhq/keyway/domain/magicauth"
	"github.com/keywayhq/keyway/domain/membership"
	"github.com/keywayhq/keyway/domain/organization"
	"github.com/keywayhq/keyway/domain/role"
	"github.com/keywayhq/keyway/domain/session"
	"github.com/keywayhq/keyway/domain/user"
	"github.com/keywayhq/keyway/events"
)

// publicEvents are the event types GET /events shows; the others (password
// hashes, policy changes, environments) stay inside Keyway.
var publicEvents = map[string]bool{
	"user.created": true, "user.updated": true, "user.deleted": true,
	"organization.created": true, "organization.updated": true, "organization.deleted": true,
	"organization_domain.created": true, "organization_domain.updated": true, "organization_domain.deleted": true,
	"organization_domain.verified": true, "organization_domain.verification_failed": true,
	"organization_membership.created": true, "organization_membership.updated": true, "organization_membership.deleted": true,
	"role.created":    true,
	"session.created": true, "session.revoked": true,
	"invitation.created": true, "invitation.accepted": true, "invitation.revoked": true, "invitation.resent": true,
	"password_reset.created": true, "password_reset.succeeded": true,
	"magic_auth.created": true, "email_verification.created": true,
	"authentication.password_succeeded": true, "authentication.password_failed": true,
	"authentication.magic_auth_succeeded": true, "authentication.magic_auth_failed": true,
	"authentication.email_verification_succeeded": true,
}

// publicType is the name GET /events gives an event, if it shows it: a
// one-time code is issued as magic_auth.created or email_verification.created.
func publicType(e events.Envelope, ev events.Event) (string, bool) {
	if is, ok := ev.(magicauth.Issued); ok {
		return is.Kind + ".created", publicEvents[is.Kind+".created"]
	}
	return e.Type, publicEvents[e.Type]
}

// IsPublicEvent reports whether GET /events shows events of the type.
func IsPublicEvent(typ string) bool { return publicEvents[typ] }

// EventView is one event of the Events API: its envelope and typed data.
type EventView struct {
	ID        string // event_<ULID>
	Type      string
	CreatedAt time.Time
	Data      events.Event
}

// ListEventsInput filters GET /events.
type ListEventsInput struct {
	Types          []string
	OrganizationID string
	RangeStart     *time.Time
	RangeEnd       *time.Time
	After          string // an event id
	Limit          int
	Descending     bool
}

// maxFeedScan bounds how many events one call reads while filtering.
const maxFeedScan = 5000

// ListEvents reads the environment's time-ordered feed. after is set when
// more events may follow.
func (a *App) ListEvents(ctx context.Context, env string, in ListEventsInput) (list []EventView, after *string, err error) {
	for _, t := range in.Types {
		if !publicEvents[t] {
			return nil, nil, domain.InvalidField("events", "invalid_event_type", "Unknown event type %q.", t)
		}
	}
	types := map[string]bool{}
	for _, t := range in.Types {
		types[t] = true
	}
	q := events.FeedQuery{Environment: env, Descending: in.Descending, Limit: 100}
	cursor := strings.TrimPrefix(in.After, "event_")
	if in.Descending {
		q.Before = cursor
		if in.RangeStart != nil {
			q.After = belowULID(*in.RangeStart)
		}
		if in.RangeEnd != nil && (q.Before == "" || events.MinULIDAt(in.RangeEnd.Add(time.Millisecond)) < q.Before) {
			q.Before = events.MinULIDAt(in.RangeEnd.Add(time.Millisecond))
		}
	} else {
		q.After = cursor
		if in.RangeStart != nil && belowULID(*in.RangeStart) > q.After {
			q.After = belowULID(*in.RangeStart)
		}
		if in.RangeEnd != nil {
			q.Before = events.MinULIDAt(in.RangeEnd.Add(time.Millisecond))
		}
	}
	list = []EventView{}
	for scanned := 0; scanned < maxFeedScan; {
		page, err := a.store.Feed(ctx, q)
		if err != nil {
			return nil, nil, fmt.Errorf("app: feed: %w", err)
		}
		scanned += len(page)
		for _, e := range page {
			if !publicEvents[e.Type] && e.Type != (magicauth.Issued{}).EventType() {
				continue
			}
			ev, err := a.registry.Decode(e)
			if err != nil {
				return nil, nil, err
			}
			typ, ok := publicType(e, ev)
			if !ok || (len(types) > 0 && !types[typ]) {
				continue
			}
			if in.OrganizationID != "" && organizationOf(ev) != in.OrganizationID {
				continue
			}
			list = append(list, EventView{ID: "event_" + e.ID, Type: typ, CreatedAt: e.OccurredAt, Data: ev})
			if len(list) == in.Limit {
				last := list[len(list)-1].ID
				return list, &last, nil
			}
		}
		if len(page) < q.Limit {
			return list, nil, nil
		}
		if in.Descending {
			q.Before = page[len(page)-1].ID
		} else {
			q.After = page[len(page)-1].ID
		}
	}
	// Scanned enough for one call: hand back a cursor to go on from.
	if n := len(list); n > 0 {
		last := list[n-1].ID
		return list, &last, nil
	}
	resume := "event_" + q.After
	if in.Descending {
		resume = "event_" + q.Before
	}
	return list, &resume, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// belowULID is a bound just below every ULID of time t, for an exclusive After.
func belowULID(t time.Time) string {
	id := events.MinULIDAt(t)
	return id[:len(id)-1] // a prefix sorts before every ULID that extends it
}

// organizationOf is the organization an event concerns, if any.
func organizationOf(e events.Event) string {
	switch e := e.(type) {
	case organization.Created:
		return e.Organization.ID
	case organization.Updated:
		return e.Organization.ID
	case organization.Deleted:
		return e.Organization.ID
	case organization.DomainCreated:
		return e.Domain.OrganizationID
	case organization.DomainUpdated:
		return e.Domain.OrganizationID
	case organization.DomainVerified:
		return e.Domain.OrganizationID
	case organization.DomainFailed:
		return e.Domain.OrganizationID
	case organization.DomainDeleted:
		return e.Domain.OrganizationID
	case membership.Created:
		return e.Membership.OrganizationID
	case membership.Updated:
		return e.Membership.OrganizationID
	case membership.Deleted:
		return e.Membership.OrganizationID
	case session.Created:
		if e.Session.OrganizationID != nil {
			return *e.Session.OrganizationID
		}
	case session.Revoked:
		if e.Session.OrganizationID != nil {
			return *e.Session.OrganizationID
		}
	case invitation.Created:
		return deref(e.Invitation.OrganizationID)
	case invitation.AcceptedEvent:
		return deref(e.Invitation.OrganizationID)
	case invitation.RevokedEvent:
		return deref(e.Invitation.OrganizationID)
	case invitation.Resent:
		return deref(e.Invitation.OrganizationID)
	case user.Created, user.Updated, user.Deleted, role.Created:
	}
	return ""
}
