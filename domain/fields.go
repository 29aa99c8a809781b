package domain

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits shared by users and organizations, as WorkOS documents them.
const (
	MaxExternalIDLength = 128
	MaxMetadataKeys     = 10
	MaxMetadataKeyLen   = 40
	MaxMetadataValueLen = 600
)

// CheckText validates a free-text field such as a name.
func CheckText(field string, v *string, max int) error {
	if v == nil {
		return nil
	}
	if !utf8.ValidString(*v) || utf8.RuneCountInString(*v) > max || strings.ContainsFunc(*v, unicode.IsControl) {
		return InvalidField(field, "invalid_value", "%s must be at most %d printable characters.", field, max)
	}
	return nil
}

// CheckExternalID validates an external id: 1 to 128 printable characters without spaces.
func CheckExternalID(field string, v *string) error {
	if v == nil {
		return nil
	}
	if *v == "" || len(*v) > MaxExternalIDLength || !utf8.ValidString(*v) ||
		strings.ContainsFunc(*v, func(r rune) bool { return unicode.IsControl(r) || unicode.IsSpace(r) }) {
		return InvalidField(field, "invalid_external_id", "%s must be 1 to %d printable characters without spaces.", field, MaxExternalIDLength)
	}
	return nil
}

// CheckMetadata validates metadata after a change is applied: at most 10 keys
// of up to 40 characters, values of up to 600.
func CheckMetadata(field string, md map[string]string) error {
	if len(md) > MaxMetadataKeys {
		return InvalidField(field, "too_many_keys", "%s may have at most %d keys.", field, MaxMetadataKeys)
	}
	for k, v := range md {
		if k == "" || utf8.RuneCountInString(k) > MaxMetadataKeyLen || strings.ContainsFunc(k, unicode.IsControl) {
			return InvalidField(field, "invalid_key", "%s keys must be 1 to %d printable characters.", field, MaxMetadataKeyLen)
		}
		if utf8.RuneCountInString(v) > MaxMetadataValueLen || !utf8.ValidString(v) {
			return InvalidField(field, "invalid_value", "%s values must be at most %d characters.", field, MaxMetadataValueLen)
		}
	}
	return nil
}

// MergeMetadata applies a metadata change; a nil value deletes its key.
func MergeMetadata(old map[string]string, change map[string]*string) map[string]string {
	out := make(map[string]string, len(old)+len(change))
	for k, v := range old {
		out[k] = v
	}
	for k, v := range change {
		if v == nil {
			delete(out, k)
		} else {
			out[k] = *v
		}
	}
	return out
}

// SameMetadata reports whether two metadata maps hold the same pairs.
func SameMetadata(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// SameString reports whether two nullable strings are equal.
func SameString(a, b *string) bool {
	return (a == nil && b == nil) || (a != nil && b != nil && *a == *b)
}
