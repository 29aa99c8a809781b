package mail

import (
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"regexp"
	"strings"
)

// DefaultAppName and DefaultPrimaryColor fill an empty Branding.
const (
	DefaultAppName      = "Keyway"
	DefaultPrimaryColor = "#2563eb"
)

// Branding is how an environment's emails look and who sends them.
type Branding struct {
	AppName      string `json:"app_name"`
	LogoURL      string `json:"logo_url"`      // absolute https (or http) URL; anything else is not shown
	PrimaryColor string `json:"primary_color"` // #rgb or #rrggbb; anything else falls back to DefaultPrimaryColor
	SenderEmail  string `json:"sender_email"`
	SenderName   string `json:"sender_name"`
}

// ErrInvalidSender is wrapped by the errors of Branding.Validate and From.
var ErrInvalidSender = errors.New("mail: invalid sender")

// Validate checks the parts of b that reach headers: AppName and
// SenderName must be single-line text without control characters, and
// SenderEmail, when set, a bare address.
func (b Branding) Validate() error {
	if err := validateLine(b.SenderName, MaxNameLen); err != nil {
		return fmt.Errorf("%w: sender name: %w", ErrInvalidSender, err)
	}
	if err := validateLine(b.AppName, MaxNameLen); err != nil {
		return fmt.Errorf("%w: app name: %w", ErrInvalidSender, err)
	}
	if b.SenderEmail != "" {
		if err := ValidateAddress(b.SenderEmail); err != nil {
			return fmt.Errorf("%w: sender email: %w", ErrInvalidSender, err)
		}
	}
	return nil
}

// From returns the From header value for b: `"Name" <email>` (RFC 2047
// encoded when the name is not ASCII) or the bare address when SenderName
// is empty. SenderEmail is required.
func (b Branding) From() (string, error) {
	if err := b.Validate(); err != nil {
		return "", err
	}
	if b.SenderEmail == "" {
		return "", fmt.Errorf("%w: sender email: empty", ErrInvalidSender)
	}
	name := strings.TrimSpace(b.SenderName)
	if name == "" {
		return b.SenderEmail, nil
	}
	return (&mail.Address{Name: name, Address: b.SenderEmail}).String(), nil
}

var colorRE = regexp.MustCompile(`^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$`)

// normalized returns b with defaults filled in and unsafe presentation
// values dropped.
func (b Branding) normalized() Branding {
	b.AppName = strings.TrimSpace(b.AppName)
	if b.AppName == "" {
		b.AppName = DefaultAppName
	}
	if !colorRE.MatchString(b.PrimaryColor) {
		b.PrimaryColor = DefaultPrimaryColor
	}
	if !isWebURL(b.LogoURL) {
		b.LogoURL = ""
	}
	return b
}

// isWebURL reports whether s is an absolute http or https URL with a host.
func isWebURL(s string) bool {
	if s == "" || strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return false
	}
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != ""
}
