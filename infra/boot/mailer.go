package boot

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"

	"github.com/keywayhq/keyway/app"
	"github.com/keywayhq/keyway/infra/mail"
	"github.com/keywayhq/keyway/infra/mail/devmail"
	"github.com/keywayhq/keyway/infra/mail/ses"
)

// Mailer kinds (KEYWAY_MAILER).
const (
	MailerDev = "dev"
	MailerSES = "ses"
)

// codeMailer turns app code messages into branded mail.
type codeMailer struct {
	out      mail.Mailer
	branding mail.Branding
}

func (c codeMailer) SendCode(ctx context.Context, m app.CodeMessage) error {
	var msg mail.Message
	switch m.Kind {
	case mail.KindEmailVerification:
		msg = mail.EmailVerification(c.branding, m.To, m.Code, m.Expires)
	default:
		msg = mail.MagicAuth(c.branding, m.To, m.Code, m.Expires)
	}
	msg.Environment = m.Environment
	return c.out.Send(ctx, msg)
}

// SendLink mails a link (a password reset).
func (c codeMailer) SendLink(ctx context.Context, m app.LinkMessage) error {
	var msg mail.Message
	switch m.Kind {
	case mail.KindPasswordReset:
		msg = mail.PasswordReset(c.branding, m.To, m.URL, m.Expires)
	default:
		return fmt.Errorf("boot: no mail for link kind %q", m.Kind)
	}
	msg.Environment = m.Environment
	return c.out.Send(ctx, msg)
}

// SendInvitation mails an invitation's accept link.
func (c codeMailer) SendInvitation(ctx context.Context, m app.InvitationMessage) error {
	msg := mail.Invitation(c.branding, m.To, m.URL, m.InviterName, m.OrganizationName, m.Expires)
	msg.Environment = m.Environment
	return c.out.Send(ctx, msg)
}

// buildMailer returns the configured mailer and, for the dev outbox, its
// inbox page (mounted at /_dev/inbox).
func buildMailer(ctx context.Context, s Settings, log *slog.Logger) (app.Mailer, http.Handler, error) {
	b := mail.Branding{AppName: getenv("KEYWAY_APP_NAME", "Keyway"), SenderEmail: getenv("KEYWAY_MAIL_FROM", "no-reply@keyway.localhost"),
		SenderName: getenv("KEYWAY_APP_NAME", "Keyway")}
	switch getenv("KEYWAY_MAILER", MailerDev) {
	case MailerSES:
		client, err := ses.NewClient(ctx)
		if err != nil {
			return nil, nil, err
		}
		return codeMailer{out: ses.New(client, ses.Senders(b, nil), ses.WithLogger(log)), branding: b}, nil, nil
	case MailerDev:
		out := devmail.New(filepath.Join(s.DataDir, "outbox"), log)
		return codeMailer{out: out, branding: b}, out.Handler(), nil
	default:
		return nil, nil, fmt.Errorf("KEYWAY_MAILER must be %s or %s, not %q", MailerDev, MailerSES, os.Getenv("KEYWAY_MAILER"))
	}
}

// codeKey derives the HMAC key of one-time codes from the key-encryption key.
func codeKey(kek func() ([]byte, error)) func() ([]byte, error) {
	return func() ([]byte, error) {
		k, err := kek()
		if err != nil {
			return nil, err
		}
		mac := hmac.New(sha256.New, k)
		mac.Write([]byte("keyway one-time codes"))
		return mac.Sum(nil), nil
	}
}
