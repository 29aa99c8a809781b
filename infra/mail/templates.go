package mail

import (
	"bytes"
	"embed"
	"fmt"
	htmltemplate "html/template"
	"strings"
	texttemplate "text/template"
	"time"
)

//go:embed templates/*.tmpl
var templateFS embed.FS

type kindTemplates struct {
	html *htmltemplate.Template
	text *texttemplate.Template
}

// templates holds the parsed templates per kind; parsing happens at init so
// a broken template fails every test and every start, not a send.
var templates = func() map[string]kindTemplates {
	m := make(map[string]kindTemplates)
	for _, kind := range []string{KindMagicAuth, KindEmailVerification, KindPasswordReset, KindInvitation} {
		m[kind] = kindTemplates{
			html: htmltemplate.Must(htmltemplate.New(kind).Option("missingkey=error").
				ParseFS(templateFS, "templates/layout.html.tmpl", "templates/"+kind+".html.tmpl")),
			text: texttemplate.Must(texttemplate.New(kind).Option("missingkey=error").
				ParseFS(templateFS, "templates/layout.txt.tmpl", "templates/"+kind+".txt.tmpl")),
		}
	}
	return m
}()

// templateData is what the templates see. Every string is escaped by
// html/template in the HTML part; Color is a validated #rgb/#rrggbb value.
type templateData struct {
	Brand       Branding
	Color       htmltemplate.CSS
	To          string
	Subject     string
	Preheader   string
	Code        string
	URL         string
	ButtonLabel string
	Inviter     string
	Org         string
	Expires     string
}

// MagicAuth builds the email carrying a Magic Auth sign-in code.
func MagicAuth(b Branding, to, code string, expires time.Duration) Message {
	b = b.normalized()
	return render(KindMagicAuth, b, to, "Your "+b.AppName+" sign-in code", templateData{
		Code:      code,
		Preheader: "Your sign-in code for " + b.AppName,
		Expires:   humanDuration(expires),
	})
}

// EmailVerification builds the email carrying an email verification code.
func EmailVerification(b Branding, to, code string, expires time.Duration) Message {
	b = b.normalized()
	return render(KindEmailVerification, b, to, "Verify your email for "+b.AppName, templateData{
		Code:      code,
		Preheader: "Your verification code for " + b.AppName,
		Expires:   humanDuration(expires),
	})
}

// PasswordReset builds the email carrying a password reset link. url must
// be an absolute http(s) URL; any other value yields a message without
// parts, which fails Validate, so it is never sent.
func PasswordReset(b Branding, to, url string, expires time.Duration) Message {
	b = b.normalized()
	return render(KindPasswordReset, b, to, "Reset your "+b.AppName+" password", templateData{
		URL:         url,
		ButtonLabel: "Reset password",
		Preheader:   "Reset your " + b.AppName + " password",
		Expires:     humanDuration(expires),
	})
}

// Invitation builds the email inviting to to join orgName (either name may
// be empty); url must be an absolute http(s) URL, as for PasswordReset. The names are escaped in the HTML part; they appear in the
// subject, so a name with CR/LF makes the message fail Validate.
func Invitation(b Branding, to, url, inviterName, orgName string, expires time.Duration) Message {
	b = b.normalized()
	inviterName, orgName = strings.TrimSpace(inviterName), strings.TrimSpace(orgName)
	var subject string
	switch {
	case inviterName != "" && orgName != "":
		subject = inviterName + " invited you to join " + orgName + " on " + b.AppName
	case orgName != "":
		subject = "You have been invited to join " + orgName + " on " + b.AppName
	case inviterName != "":
		subject = inviterName + " invited you to join " + b.AppName
	default:
		subject = "You have been invited to join " + b.AppName
	}
	return render(KindInvitation, b, to, subject, templateData{
		URL:         url,
		ButtonLabel: "Accept invitation",
		Inviter:     inviterName,
		Org:         orgName,
		Preheader:   subject,
		Expires:     humanDuration(expires),
	})
}

// render fills both parts of a message. A link that is not an http(s) URL,
// or a template error (which the package tests rule out), leaves the parts
// empty, so Validate rejects the message instead of sending something
// half-rendered.
func render(kind string, b Branding, to, subject string, d templateData) Message {
	d.Brand, d.To, d.Subject = b, to, subject
	d.Color = htmltemplate.CSS(b.PrimaryColor) // validated by normalized
	m := Message{To: to, Subject: subject, Kind: kind}
	if d.ButtonLabel != "" && !isWebURL(d.URL) {
		return m
	}
	t := templates[kind]
	var hb, tb bytes.Buffer
	if err := t.html.ExecuteTemplate(&hb, "layout", d); err != nil {
		return m
	}
	if err := t.text.ExecuteTemplate(&tb, "layout", d); err != nil {
		return m
	}
	m.HTML, m.Text = hb.String(), tb.String()
	return m
}

// humanDuration renders an expiry as "10 minutes", "1 hour", "7 days"; a
// zero or negative duration renders as "" (the sentence is left out).
func humanDuration(d time.Duration) string {
	if d <= 0 {
		return ""
	}
	plural := func(n int64, unit string) string {
		if n == 1 {
			return "1 " + unit
		}
		return fmt.Sprintf("%d %ss", n, unit)
	}
	switch {
	case d < time.Minute:
		return plural(max(int64(d.Round(time.Second)/time.Second), 1), "second")
	case d < time.Hour || d%time.Hour != 0 && d < 2*time.Hour:
		return plural(int64(d.Round(time.Minute)/time.Minute), "minute")
	case d < 48*time.Hour || d%(24*time.Hour) != 0:
		return plural(int64(d.Round(time.Hour)/time.Hour), "hour")
	default:
		return plural(int64(d/(24*time.Hour)), "day")
	}
}
