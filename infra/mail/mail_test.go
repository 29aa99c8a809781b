package mail

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

var testBrand = Branding{
	AppName:      "Acme",
	LogoURL:      "https://acme.example/logo.png",
	PrimaryColor: "#ff6600",
	SenderEmail:  "no-reply@acme.example",
	SenderName:   "Acme Accounts",
}

func allBuilders(b Branding, to string) map[string]Message {
	return map[string]Message{
		KindMagicAuth:         MagicAuth(b, to, "123456", 10*time.Minute),
		KindEmailVerification: EmailVerification(b, to, "654321", 10*time.Minute),
		KindPasswordReset:     PasswordReset(b, to, "https://acme.example/reset?token=abc", 15*time.Minute),
		KindInvitation:        Invitation(b, to, "https://acme.example/invite?token=xyz", "Ada", "Analytical Engines", 7*24*time.Hour),
	}
}

func TestBuildersProduceValidMessagesWithBothParts(t *testing.T) {
	for kind, m := range allBuilders(testBrand, "user@example.com") {
		t.Run(kind, func(t *testing.T) {
			if err := m.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if m.Kind != kind {
				t.Errorf("Kind = %q, want %q", m.Kind, kind)
			}
			if m.To != "user@example.com" {
				t.Errorf("To = %q", m.To)
			}
			if strings.TrimSpace(m.Text) == "" || strings.TrimSpace(m.HTML) == "" {
				t.Fatalf("missing part: text=%d html=%d bytes", len(m.Text), len(m.HTML))
			}
			if !strings.HasPrefix(m.HTML, "<!DOCTYPE html>") {
				t.Errorf("HTML does not start with a doctype: %.40q", m.HTML)
			}
			if strings.Contains(m.Text, "<") {
				t.Errorf("text part contains markup:\n%s", m.Text)
			}
			if !strings.Contains(m.Subject, "Acme") {
				t.Errorf("subject %q does not name the app", m.Subject)
			}
			if !strings.Contains(m.HTML, "#ff6600") {
				t.Errorf("HTML does not use the primary color")
			}
			if !strings.Contains(m.HTML, `src="https://acme.example/logo.png"`) {
				t.Errorf("HTML does not show the logo")
			}
			for _, part := range []string{m.Text, m.HTML} {
				if strings.Contains(part, "ZgotmplZ") || strings.Contains(part, "<no value>") {
					t.Errorf("template produced a filtered or missing value:\n%s", part)
				}
			}
		})
	}
}

func TestCodeAppearsInBothParts(t *testing.T) {
	for _, m := range []Message{
		MagicAuth(testBrand, "user@example.com", "482913", 10*time.Minute),
		EmailVerification(testBrand, "user@example.com", "482913", 10*time.Minute),
	} {
		if !strings.Contains(m.Text, "482913") || !strings.Contains(m.HTML, "482913") {
			t.Errorf("%s: code missing: text=%v html=%v", m.Kind, strings.Contains(m.Text, "482913"), strings.Contains(m.HTML, "482913"))
		}
		if !strings.Contains(m.Text, "10 minutes") || !strings.Contains(m.HTML, "10 minutes") {
			t.Errorf("%s: expiry missing", m.Kind)
		}
		if strings.Contains(m.Subject, "482913") {
			t.Errorf("%s: code leaks into the subject %q", m.Kind, m.Subject)
		}
	}
}

func TestLinkAppearsInBothParts(t *testing.T) {
	const link = "https://acme.example/reset?token=abc&x=1"
	m := PasswordReset(testBrand, "user@example.com", link, time.Hour)
	if !strings.Contains(m.Text, link) {
		t.Errorf("text lacks the link:\n%s", m.Text)
	}
	if !strings.Contains(m.HTML, `href="https://acme.example/reset?token=abc&amp;x=1"`) {
		t.Errorf("HTML lacks the escaped link:\n%s", m.HTML)
	}
	if !strings.Contains(m.Text, "1 hour") {
		t.Errorf("text lacks the expiry")
	}
}

func TestHTMLEscapesInputs(t *testing.T) {
	const evil = `<script>alert("x")</script>`
	b := testBrand
	b.AppName = `Evil <b>App</b>`
	m := Invitation(b, "user@example.com", "https://acme.example/i", evil, `Org "><img src=x onerror=alert(1)>`, time.Hour)
	if err := m.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	for _, bad := range []string{"<script>", "<b>App", "<img src=x", `Org ">`} {
		if strings.Contains(m.HTML, bad) {
			t.Errorf("HTML contains unescaped %q:\n%s", bad, m.HTML)
		}
	}
	for _, want := range []string{"&lt;script&gt;", "Evil &lt;b&gt;App&lt;/b&gt;", "Org &#34;&gt;&lt;img src=x onerror=alert(1)&gt;"} {
		if !strings.Contains(m.HTML, want) {
			t.Errorf("HTML lacks escaped %q", want)
		}
	}
	// The text part is plain text: the name is shown as written.
	if !strings.Contains(m.Text, evil) {
		t.Errorf("text part should carry the name verbatim:\n%s", m.Text)
	}

	code := MagicAuth(testBrand, "user@example.com", "<i>1</i>", time.Minute)
	if strings.Contains(code.HTML, "<i>1</i>") || !strings.Contains(code.HTML, "&lt;i&gt;1&lt;/i&gt;") {
		t.Errorf("code not escaped in HTML")
	}
	to := MagicAuth(testBrand, "a<b>@example.com", "1", time.Minute)
	if strings.Contains(to.HTML, "a<b>") {
		t.Errorf("recipient not escaped in HTML")
	}
}

func TestUnsafeURLsAndStylesAreNeutralized(t *testing.T) {
	b := testBrand
	b.LogoURL = "javascript:alert(1)"
	b.PrimaryColor = "red;background:url(https://evil.example/x)"
	for _, bad := range []string{"javascript:alert(1)", "data:text/html,x", "/relative", "https://", " https://a.example/"} {
		m := PasswordReset(b, "user@example.com", bad, time.Hour)
		if err := m.Validate(); !errors.Is(err, ErrInvalidMessage) || m.HTML != "" || m.Text != "" {
			t.Errorf("reset link %q: Validate = %v, html=%d bytes", bad, err, len(m.HTML))
		}
		inv := Invitation(b, "user@example.com", bad, "Ada", "Org", time.Hour)
		if err := inv.Validate(); !errors.Is(err, ErrInvalidMessage) {
			t.Errorf("invitation link %q: Validate = %v", bad, err)
		}
	}
	m := PasswordReset(b, "user@example.com", "https://acme.example/r", time.Hour)
	if strings.Contains(m.HTML, "evil.example") || !strings.Contains(m.HTML, DefaultPrimaryColor) {
		t.Errorf("unsafe primary color was not replaced by the default")
	}
	if strings.Contains(m.HTML, "<img") {
		t.Errorf("logo with a non-web URL is shown")
	}
}

func TestValidateRejectsHeaderInjection(t *testing.T) {
	good := MagicAuth(testBrand, "user@example.com", "123456", time.Minute)
	cases := map[string]func(*Message){
		"CRLF in to":         func(m *Message) { m.To = "user@example.com\r\nBcc: victim@example.com" },
		"LF in to":           func(m *Message) { m.To = "user@example.com\nBcc: victim@example.com" },
		"CRLF in subject":    func(m *Message) { m.Subject = "Hello\r\nBcc: victim@example.com" },
		"CR in subject":      func(m *Message) { m.Subject = "Hello\rX" },
		"LF in subject":      func(m *Message) { m.Subject = "Hello\nX" },
		"NUL in subject":     func(m *Message) { m.Subject = "Hello\x00" },
		"tab in subject":     func(m *Message) { m.Subject = "Hello\tthere" },
		"DEL in subject":     func(m *Message) { m.Subject = "Hello\x7f" },
		"NEL in subject":     func(m *Message) { m.Subject = "Hello\u0085there" },
		"U+2028 in subject":  func(m *Message) { m.Subject = "Hello\u2028there" },
		"bad UTF-8 subject":  func(m *Message) { m.Subject = "Hello\xff" },
		"empty subject":      func(m *Message) { m.Subject = "  " },
		"long subject":       func(m *Message) { m.Subject = strings.Repeat("a", MaxSubjectLen+1) },
		"empty to":           func(m *Message) { m.To = "" },
		"two recipients":     func(m *Message) { m.To = "a@example.com, b@example.com" },
		"display name in to": func(m *Message) { m.To = "Eve <eve@example.com>" },
		"no domain":          func(m *Message) { m.To = "user@" },
		"no at":              func(m *Message) { m.To = "user" },
		"no text part":       func(m *Message) { m.Text = "" },
		"no html part":       func(m *Message) { m.HTML = " " },
		"unknown kind":       func(m *Message) { m.Kind = "spam" },
		"CRLF in env":        func(m *Message) { m.Environment = "env\r\nX" },
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			m := good
			mutate(&m)
			err := m.Validate()
			if !errors.Is(err, ErrInvalidMessage) {
				t.Fatalf("Validate = %v, want ErrInvalidMessage", err)
			}
			if strings.ContainsAny(err.Error(), "\r\n") || strings.Contains(err.Error(), "victim") {
				t.Errorf("error repeats the offending value: %q", err)
			}
		})
	}
	// A builder input with CR/LF that reaches the subject is caught too.
	inv := Invitation(testBrand, "user@example.com", "https://acme.example/i", "Eve", "Acme\r\nBcc: victim@example.com", time.Hour)
	if err := inv.Validate(); !errors.Is(err, ErrInvalidMessage) {
		t.Errorf("invitation with CRLF in the org name: Validate = %v", err)
	}
	b := testBrand
	b.AppName = "Acme\nBcc: victim@example.com"
	if err := MagicAuth(b, "user@example.com", "1", time.Minute).Validate(); !errors.Is(err, ErrInvalidMessage) {
		t.Errorf("app name with LF: Validate = %v", err)
	}
}

func TestBrandingValidateAndFrom(t *testing.T) {
	from, err := testBrand.From()
	if err != nil || from != `"Acme Accounts" <no-reply@acme.example>` {
		t.Fatalf("From = %q, %v", from, err)
	}
	b := Branding{SenderEmail: "no-reply@acme.example"}
	if from, err := b.From(); err != nil || from != "no-reply@acme.example" {
		t.Errorf("From without a name = %q, %v", from, err)
	}
	b.SenderName = "Ünïcode"
	if from, err := b.From(); err != nil || !strings.HasPrefix(from, "=?utf-8?") {
		t.Errorf("non-ASCII name not encoded: %q, %v", from, err)
	}
	for name, br := range map[string]Branding{
		"CRLF in sender name":  {SenderEmail: "a@example.com", SenderName: "Acme\r\nBcc: victim@example.com"},
		"NUL in sender name":   {SenderEmail: "a@example.com", SenderName: "Acme\x00"},
		"CRLF in sender email": {SenderEmail: "a@example.com\r\nBcc: victim@example.com"},
		"display name email":   {SenderEmail: "Acme <a@example.com>"},
		"LF in app name":       {SenderEmail: "a@example.com", AppName: "A\nB"},
	} {
		if err := br.Validate(); !errors.Is(err, ErrInvalidSender) {
			t.Errorf("%s: Validate = %v, want ErrInvalidSender", name, err)
		}
		if _, err := br.From(); !errors.Is(err, ErrInvalidSender) {
			t.Errorf("%s: From error = %v, want ErrInvalidSender", name, err)
		}
	}
	if _, err := (Branding{SenderName: "x"}).From(); !errors.Is(err, ErrInvalidSender) {
		t.Errorf("From without an email: %v", err)
	}
}

func TestDefaults(t *testing.T) {
	m := MagicAuth(Branding{}, "user@example.com", "123456", 0)
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(m.Subject, DefaultAppName) || !strings.Contains(m.HTML, DefaultPrimaryColor) {
		t.Errorf("defaults not applied: %q", m.Subject)
	}
	if strings.Contains(m.Text, "expires") {
		t.Errorf("zero expiry should leave the sentence out:\n%s", m.Text)
	}
}

func TestHumanDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0:                            "",
		-time.Minute:                 "",
		30 * time.Second:             "30 seconds",
		time.Minute:                  "1 minute",
		10 * time.Minute:             "10 minutes",
		90 * time.Minute:             "90 minutes",
		time.Hour:                    "1 hour",
		24 * time.Hour:               "24 hours",
		36 * time.Hour:               "36 hours",
		48 * time.Hour:               "2 days",
		7 * 24 * time.Hour:           "7 days",
		7*24*time.Hour + time.Minute: "168 hours",
	} {
		if got := humanDuration(d); got != want {
			t.Errorf("humanDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestMailerFunc(t *testing.T) {
	var got Message
	var m Mailer = MailerFunc(func(_ context.Context, msg Message) error { got = msg; return nil })
	want := MagicAuth(testBrand, "user@example.com", "1", time.Minute)
	if err := m.Send(context.Background(), want); err != nil || got != want {
		t.Fatalf("MailerFunc did not pass the message through")
	}
}
