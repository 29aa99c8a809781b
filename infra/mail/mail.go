// Package mail is Keyway's port for outgoing email: the Message model, the
// Mailer interface that adapters (infra/mail/ses, infra/mail/devmail)
// implement, and the templates for the authentication emails (Magic Auth
// codes, email verification, password reset links and invitations).
//
// Every Mailer calls Message.Validate before it sends, so a subject or an
// address carrying CR, LF or another control character (header injection)
// never reaches a transport.
package mail

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Kinds of message, as set in Message.Kind.
const (
	KindMagicAuth         = "magic_auth"
	KindEmailVerification = "email_verification"
	KindPasswordReset     = "password_reset"
	KindInvitation        = "invitation"
)

// Limits checked by Validate.
const (
	MaxAddressLen = 254     // RFC 5321 path limit
	MaxSubjectLen = 998     // RFC 5322 line limit, in bytes
	MaxNameLen    = 256     // sender display name, in bytes
	MaxBodyLen    = 1 << 20 // each of Text and HTML, in bytes
)

// ErrInvalidMessage is wrapped by every error Validate returns.
var ErrInvalidMessage = errors.New("mail: invalid message")

// Message is one email to one recipient. The sender comes from the
// environment's Branding, which the Mailer knows; it is not part of the
// message.
type Message struct {
	To      string `json:"to"`
	Subject string `json:"subject"`
	Text    string `json:"text"`
	HTML    string `json:"html"`
	// Kind is one of the Kind* constants (or empty for other mail).
	Kind string `json:"kind"`
	// Environment is the id of the environment the message is sent for; a
	// Mailer uses it to choose the sender.
	Environment string `json:"environment"`
}

// Mailer sends messages. Implementations call Message.Validate first and
// return its error unchanged (errors.Is(err, ErrInvalidMessage)).
type Mailer interface {
	Send(ctx context.Context, m Message) error
}

// MailerFunc adapts a function to the Mailer interface. It does not call
// Validate itself.
type MailerFunc func(ctx context.Context, m Message) error

// Send calls f.
func (f MailerFunc) Send(ctx context.Context, m Message) error { return f(ctx, m) }

// Validate reports whether m is safe and complete to send: To is one bare
// address, the subject is non-empty single-line text without control
// characters, both a text and an HTML part are present, and Kind, when
// set, is known. The error never repeats the offending value.
func (m Message) Validate() error {
	if err := ValidateAddress(m.To); err != nil {
		return fmt.Errorf("%w: to: %w", ErrInvalidMessage, err)
	}
	if err := validateLine(m.Subject, MaxSubjectLen); err != nil {
		return fmt.Errorf("%w: subject: %w", ErrInvalidMessage, err)
	}
	if strings.TrimSpace(m.Subject) == "" {
		return fmt.Errorf("%w: subject: empty", ErrInvalidMessage)
	}
	if strings.TrimSpace(m.Text) == "" {
		return fmt.Errorf("%w: text part missing", ErrInvalidMessage)
	}
	if strings.TrimSpace(m.HTML) == "" {
		return fmt.Errorf("%w: html part missing", ErrInvalidMessage)
	}
	if len(m.Text) > MaxBodyLen || len(m.HTML) > MaxBodyLen {
		return fmt.Errorf("%w: body too large", ErrInvalidMessage)
	}
	if !utf8.ValidString(m.Text) || !utf8.ValidString(m.HTML) {
		return fmt.Errorf("%w: body is not valid UTF-8", ErrInvalidMessage)
	}
	switch m.Kind {
	case "", KindMagicAuth, KindEmailVerification, KindPasswordReset, KindInvitation:
	default:
		return fmt.Errorf("%w: unknown kind", ErrInvalidMessage)
	}
	if err := validateLine(m.Environment, MaxNameLen); err != nil {
		return fmt.Errorf("%w: environment: %w", ErrInvalidMessage, err)
	}
	return nil
}

// ValidateAddress reports whether s is a single bare email address
// (local@domain, no display name, no comments) without control characters.
func ValidateAddress(s string) error {
	if s == "" {
		return errors.New("empty address")
	}
	if err := validateLine(s, MaxAddressLen); err != nil {
		return err
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s {
		return errors.New("not a single bare email address")
	}
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at == len(s)-1 || strings.ContainsAny(s, " \t\"<>,;") {
		return errors.New("not a single bare email address")
	}
	return nil
}

// validateLine rejects text that could break out of a header: invalid
// UTF-8, CR, LF, any other C0/C1 control character, DEL, and the Unicode
// line and paragraph separators.
func validateLine(s string, max int) error {
	if len(s) > max {
		return fmt.Errorf("longer than %d bytes", max)
	}
	if !utf8.ValidString(s) {
		return errors.New("not valid UTF-8")
	}
	for _, r := range s {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' || r == '\u0085' {
			if r == '\r' || r == '\n' {
				return errors.New("contains CR or LF")
			}
			return errors.New("contains a control character")
		}
	}
	return nil
}
