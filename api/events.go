package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/keywayhq/keyway/app"
	"github.com/keywayhq/keyway/domain"
	"github.com/keywayhq/keyway/domain/authlog"
	"github.com/keywayhq/keyway/domain/invitation"
	"github.com/keywayhq/keyway/domain/magicauth"
	"github.com/keywayhq/keyway/domain/membership"
	"github.com/keywayhq/keyway/domain/organization"
	"github.com/keywayhq/keyway/domain/passwordreset"
	"github.com/keywayhq/keyway/domain/role"
	"github.com/keywayhq/keyway/domain/session"
	"github.com/keywayhq/keyway/domain/user"
)

// eventData renders an event's data as the API shows the resource.
func eventData(e app.EventView) any {
	switch d := e.Data.(type) {
	case user.Created:
		return renderUser(d.User)
	case user.Updated:
		return renderUser(d.User)
	case user.Deleted:
		return renderUser(d.User)
	case organization.Created:
		return renderOrganization(app.OrganizationView{Organization: d.Organization, Domains: d.Domains})
	case organization.Updated:
		return renderOrganization(app.OrganizationView{Organization: d.Organization, Domains: d.Domains})
	case organization.Deleted:
		return renderOrganization(app.OrganizationView{Organization: d.Organization, Domains: d.Domains})
	case organization.DomainCreated:
		return renderDomain(d.Domain)
	case organization.DomainUpdated:
		return renderDomain(d.Domain)
	case organization.DomainVerified:
		return renderDomain(d.Domain)
	case organization.DomainDeleted:
		return renderDomain(d.Domain)
	case organization.DomainFailed:
		return map[string]any{"reason": d.Reason, "organization_domain": renderDomain(d.Domain)}
	case membership.Created:
		return renderMembership(app.MembershipView{Membership: d.Membership, OrganizationName: d.OrganizationName})
	case membership.Updated:
		return renderMembership(app.MembershipView{Membership: d.Membership, OrganizationName: d.OrganizationName})
	case membership.Deleted:
		return renderMembership(app.MembershipView{Membership: d.Membership, OrganizationName: d.OrganizationName})
	case role.Created:
		return renderRole(d.Role)
	case invitation.Created: // never the token's hash
		return renderInvitation(app.InvitationView{Invitation: d.Invitation})
	case invitation.AcceptedEvent:
		return renderInvitation(app.InvitationView{Invitation: d.Invitation})
	case invitation.RevokedEvent:
		return renderInvitation(app.InvitationView{Invitation: d.Invitation})
	case invitation.Resent:
		return renderInvitation(app.InvitationView{Invitation: d.Invitation})
	case passwordreset.Created:
		return renderPasswordReset(app.PasswordResetView{Reset: d.Reset})
	case passwordreset.Used:
		return map[string]any{"object": "password_reset", "id": d.ResetID, "user_id": d.UserID}
	case magicauth.Issued: // never the code or its hash
		if d.Kind == "email_verification" {
			return renderEmailVerification(app.EmailVerificationView{Code: d.Code})
		}
		return renderMagicAuth(app.MagicAuthView{Code: d.Code})
	case authlog.Recorded:
		return d.Attempt
	case session.Created: // the session only: never its refresh token's hash
		return renderSession(d.Session)
	case session.Revoked:
		return renderSession(d.Session)
	}
	return map[string]any{}
}

type eventJSON struct {
	Object    string `json:"object"`
	ID        string `json:"id"`
	Event     string `json:"event"`
	Data      any    `json:"data"`
	CreatedAt string `json:"created_at"`
}

func (s *Server) listEvents(w http.ResponseWriter, r *http.Request, c *call) {
	q := r.URL.Query()
	in := app.ListEventsInput{Types: commaList(q["events"]), OrganizationID: q.Get("organization_id"), After: q.Get("after"), Limit: defaultLimit}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxLimit {
			s.writeError(w, c, domain.InvalidField("limit", "invalid_limit", "limit must be a whole number from 1 to %d.", maxLimit))
			return
		}
		in.Limit = n
	}
	switch q.Get("order") {
	case "", "asc", "normal":
	case "desc":
		in.Descending = true
	default:
		s.writeError(w, c, domain.InvalidField("order", "invalid_order", "order must be asc or desc."))
		return
	}
	if in.After != "" && !app.ValidID(in.After, "event") {
		s.writeError(w, c, domain.InvalidField("after", "invalid_cursor", "after must be an event id."))
		return
	}
	for field, dst := range map[string]**time.Time{"range_start": &in.RangeStart, "range_end": &in.RangeEnd} {
		if v := q.Get(field); v != "" {
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				s.writeError(w, c, domain.InvalidField(field, "invalid_date", "%s must be an ISO 8601 date and time.", field))
				return
			}
			*dst = &t
		}
	}
	list, after, err := s.app.ListEvents(r.Context(), c.principal.EnvironmentID, in)
	if err != nil {
		s.writeError(w, c, err)
		return
	}
	data := make([]eventJSON, 0, len(list))
	for _, e := range list {
		data = append(data, eventJSON{Object: "event", ID: e.ID, Event: e.Type, Data: eventData(e), CreatedAt: timestamp(e.CreatedAt)})
	}
	writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": data, "list_metadata": map[string]any{"after": after}})
}
