package app

import (
	"context"
	"strings"

	"github.com/keywayhq/keyway/domain"
	"github.com/keywayhq/keyway/domain/authlog"
	"github.com/keywayhq/keyway/domain/user"
	"github.com/keywayhq/keyway/events"
)

// recordAttempt appends the authentication event of one attempt. A sign-in
// that needs one more step (verify the email, choose an organization) is
// neither a success nor a failure yet, and a throttled one is refused before
// it is tried: neither is recorded. Recording is
// best effort: a failure is logged, and the sign-in's answer stands.
func (a *App) recordAttempt(ctx context.Context, m Meta, typ, email string, c Client, res AuthResult, err error) {
	at := authlog.Attempt{Type: typ, Status: "succeeded", IPAddress: optional(c.IP), UserAgent: optional(c.UserAgent)}
	if e, nerr := user.NormalizeEmail("email", email); nerr == nil {
		at.Email = e
	} else {
		at.Email = strings.TrimSpace(email)
	}
	if err != nil {
		de, ok := domain.As(err)
		if ok && (de.Kind == domain.Forbidden || de.Kind == domain.TooManyRequests) {
			return // a step is pending; or a throttled flood, which must write nothing
		}
		at.Status = "failed"
		at.Error = &authlog.Error{Code: "internal_error", Message: "Internal error."}
		if ok {
			at.Error = &authlog.Error{Code: de.Code, Message: de.Message}
		}
	} else {
		id := res.User.ID
		at.UserID, at.Email = &id, res.User.Email
	}
	m.Idempotency = nil
	id := a.ids.ULID()
	_, werr := execute(ctx, a, m, func() (write, struct{}, error) {
		return write{streams: []streamEvents{{stream: events.StreamName(authlog.Aggregate, id), events: []events.Event{authlog.New(at)}}}}, struct{}{}, nil
	}, nil)
	if werr != nil {
		a.log.Warn("authentication event not recorded", "request_id", m.RequestID, "error", werr)
	}
}
