package user

import (
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/keywayhq/keyway/domain"
	"golang.org/x/text/unicode/norm"
)

// Limits on user fields, as WorkOS documents them.
const (
	MaxEmailLength      = 254
	MaxNameLength       = 256
	MaxExternalIDLength = 128
	MaxMetadataKeys     = 10
	MaxMetadataKeyLen   = 40
	MaxMetadataValueLen = 600
	MaxLocaleLength     = 35
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

// CheckText validates a free-text field such as a name.
func CheckText(field string, v *string, max int) error {
	if v == nil {
		return nil
	}
	if !utf8.ValidString(*v) || utf8.RuneCountInString(*v) > max || strings.ContainsFunc(*v, isControl) {
		return domain.InvalidField(field, "invalid_value", "%s must be at most %d printable characters.", field, max)
	}
	return nil
}

// CheckExternalID validates an external id: 1 to 128 printable characters without spaces.
func CheckExternalID(field string, v *string) error {
	if v == nil {
		return nil
	}
	if *v == "" || len(*v) > MaxExternalIDLength || !utf8.ValidString(*v) ||
		strings.ContainsFunc(*v, func(r rune) bool { return isControl(r) || unicode.IsSpace(r) }) {
		return domain.InvalidField(field, "invalid_external_id", "%s must be 1 to %d printable characters without spaces.", field, MaxExternalIDLength)
	}
	return nil
}

// CheckMetadata validates metadata after a change is applied: at most 10 keys
// of up to 40 characters, values of up to 600.
func CheckMetadata(field string, md map[string]string) error {
	if len(md) > MaxMetadataKeys {
		return domain.InvalidField(field, "too_many_keys", "%s may have at most %d keys.", field, MaxMetadataKeys)
	}
	for k, v := range md {
		if k == "" || utf8.RuneCountInString(k) > MaxMetadataKeyLen || strings.ContainsFunc(k, isControl) {
			return domain.InvalidField(field, "invalid_key", "%s keys must be 1 to %d printable characters.", field, MaxMetadataKeyLen)
		}
		if utf8.RuneCountInString(v) > MaxMetadataValueLen || !utf8.ValidString(v) {
			return domain.InvalidField(field, "invalid_value", "%s values must be at most %d characters.", field, MaxMetadataValueLen)
		}
	}
	return nil
}

// MergedMetadata is the metadata an update would leave.
func MergedMetadata(old map[string]string, change map[string]*string) map[string]string {
	return applyMetadata(old, change)
}

func isControl(r rune) bool { return unicode.IsControl(r) }
