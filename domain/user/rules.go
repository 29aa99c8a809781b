package user

import (
	"net/mail"
	"strings"

	"github.com/keywayhq/keyway/domain"
	"golang.org/x/text/unicode/norm"
)

// Limits on user fields, as WorkOS documents them.
const (
	MaxEmailLength  = 254
	MaxNameLength   = 256
	MaxLocaleLength = 35
)

// NormalizeEmail trims, NFC-normalizes and lower-cases an email and checks
// that it is a plain addr-spec with a dotted domain. Emails are unique per
// environment in this form.
func NormalizeEmail(field, raw string) (string, error) {
	e := strings.ToLower(norm.NFC.String(strings.TrimSpace(raw)))
	bad := domain.InvalidField(field, "invalid_email", "%s must be a valid email address.", field)
	if e == "" || len(e) > MaxEmailLength || strings.ContainsAny(e, " \t\r\n<>\"(),;:\\[]") {
		return "", bad
	}
	a, err := mail.ParseAddress(e)
	if err != nil || a.Address != e || a.Name != "" {
		return "", bad
	}
	local, dom, _ := strings.Cut(e, "@")
	if local == "" || len(local) > 64 || !strings.Contains(dom, ".") || strings.HasPrefix(dom, ".") ||
		strings.HasSuffix(dom, ".") || strings.Contains(dom, "..") {
		return "", bad
	}
	return e, nil
}
