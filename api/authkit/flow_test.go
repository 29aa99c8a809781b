package authkit

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/keywayhq/keyway/app"
	"github.com/keywayhq/keyway/domain/organization"
)

// signInPage follows an authorize request to the sign-in page.
func (b *browser) signInPage(extra ...string) page {
	b.k.t.Helper()
	res := b.get(b.k.authorizeURL(extra...))
	loc := res.header.Get("Location")
	if res.status != http.StatusFound || !strings.HasPrefix(loc, "/authkit/sign-in?flow=") {
		b.k.t.Fatalf("authorize: %d %q %s", res.status, loc, res.body)
	}
	p := b.get(loc)
	if p.status != http.StatusOK || p.h1() != "Sign in" {
		b.k.t.Fatalf("sign-in page: %d %q", p.status, p.h1())
	}
	return p
}

// methodsFor enters an email on the sign-in page.
func (b *browser) methodsFor(email string) page {
	b.k.t.Helper()
	p := b.submit(b.signInPage(), "/authkit/sign-in", url.Values{"email": {email}}, "Continue")
	if p.status != http.StatusOK {
		b.k.t.Fatalf("email step: %d %s", p.status, p.body)
	}
	return p
}

// codeFrom checks a redirect to the app and returns its code.
func codeFrom(t *testing.T, p page) string {
	t.Helper()
	loc := p.header.Get("Location")
	if p.status != http.StatusSeeOther && p.status != http.StatusFound {
		t.Fatalf("want a redirect to the app, got %d %s", p.status, p.body)
	}
	u, err := url.Parse(loc)
	if err != nil || u.Scheme+"://"+u.Host+u.Path != testRedirect {
		t.Fatalf("redirect to %q, want %s", loc, testRedirect)
	}
	if u.Query().Get("state") != "st-123" || u.Query().Get("code") == "" {
		t.Fatalf("redirect %q lacks code or state", loc)
	}
	return u.Query().Get("code")
}

// TestPasswordSignIn walks authorize -> sign-in -> password -> the app,
// exchanges the code, and signs in silently on the next authorize.
func TestPasswordSignIn(t *testing.T) {
	k := newKit(t)
	k.user("ada@example.com", true)
	b := k.browser()
	p := b.methodsFor("Ada@Example.com ")
	if p.h1() != "Sign in" || !strings.Contains(p.body, "ada@example.com") {
		t.Fatalf("methods step does not show the email: %s", p.body)
	}
	for _, name := range []string{"Sign in", "Email me a code"} {
		if !contains(p.names("button"), name) {
			t.Errorf("methods step lacks button %q: %v", name, p.names("button"))
		}
	}
	for _, name := range []string{"Forgot password?", "Use a different email"} {
		if !contains(p.names("a"), name) {
			t.Errorf("methods step lacks link %q: %v", name, p.names("a"))
		}
	}
	pw := p.input("Password")
	if pw == nil || attr(pw, "autocomplete") != "current-password" || attr(pw, "type") != "password" {
		t.Fatalf("password field: %+v", pw)
	}
	res := b.submit(p, "/authkit/password", url.Values{"password": {testPassword}}, "Sign in")
	code := codeFrom(t, res)
	if b.cookies[SessionCookie] == nil {
		t.Fatal("no session cookie after sign-in")
	}
	cp, err := k.app.ClientPrincipal(context.Background(), k.client)
	if err != nil {
		t.Fatal(err)
	}
	auth, err := k.app.ExchangeCode(context.Background(), k.meta(), cp, app.CodeExchange{Code: code, RedirectURI: testRedirect, SecretOK: true}, app.Client{})
	if err != nil || auth.User.Email != "ada@example.com" || auth.AccessToken == "" {
		t.Fatalf("exchange: %+v %v", auth, err)
	}

	// The hosted session answers the next authorize without a form.
	again := b.get(k.authorizeURL())
	codeFrom(t, again)
	// prompt=login asks again.
	if res := b.get(k.authorizeURL("prompt", "login")); !strings.HasPrefix(res.header.Get("Location"), "/authkit/sign-in?") {
		t.Fatalf("prompt=login: %d %q", res.status, res.header.Get("Location"))
	}
	// prompt=none answers from the session, or tells the app the user must sign in.
	codeFrom(t, b.get(k.authorizeURL("prompt", "none")))
	res = k.browser().get(k.authorizeURL("prompt", "none"))
	loc, _ := url.Parse(res.header.Get("Location"))
	if res.status != http.StatusFound || !strings.HasPrefix(res.header.Get("Location"), testRedirect+"?") ||
		loc.Query().Get("error") != "login_required" || loc.Query().Get("state") != "st-123" || loc.Query().Get("code") != "" {
		t.Fatalf("prompt=none without a session: %d %q", res.status, res.header.Get("Location"))
	}
}

func TestWrongPasswordAndLockout(t *testing.T) {
	k := newKit(t)
	k.user("bob@example.com", true)
	b := k.browser()
	p := b.methodsFor("bob@example.com")
	for i := range 5 {
		p = b.submit(p, "/authkit/password", url.Values{"password": {"not the password"}}, "Sign in")
		if p.alert() != "Incorrect email or password." || p.status != http.StatusBadRequest {
			t.Fatalf("try %d: %d alert %q", i, p.status, p.alert())
		}
		in := p.input("Password")
		if attr(in, "aria-invalid") != "true" || !strings.Contains(attr(in, "aria-describedby"), "form-error") {
			t.Fatalf("the password field is not marked invalid: %v", in.Attr)
		}
	}
	p = b.submit(p, "/authkit/password", url.Values{"password": {testPassword}}, "Sign in")
	if !strings.Contains(p.alert(), "Too many attempts") || p.status != http.StatusTooManyRequests {
		t.Fatalf("after 5 failures: %d alert %q", p.status, p.alert())
	}
}

func TestMagicAuth(t *testing.T) {
	k := newKit(t)
	b := k.browser()
	p := b.methodsFor("new@example.com")
	p = b.submit(p, "/authkit/magic-auth", nil, "Email me a code")
	if p.h1() != "Check your email" || !strings.Contains(text(p.doc), "We sent a 6-digit code to new@example.com") {
		t.Fatalf("code page: %d %s", p.status, p.body)
	}
	in := p.input("Code")
	if in == nil || attr(in, "autocomplete") != "one-time-code" || attr(in, "inputmode") != "numeric" {
		t.Fatalf("code field: %+v", in)
	}
	code := k.mail.lastCode(t)
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	p = b.submit(p, "/authkit/magic-auth/verify", url.Values{"code": {wrong}}, "Continue")
	if p.alert() != "That code is incorrect." {
		t.Fatalf("wrong code: %d %q", p.status, p.alert())
	}
	p = b.submit(p, "/authkit/magic-auth", nil, "Resend code")
	if p.h1() != "Check your email" || !strings.Contains(p.body, "We sent a new code.") {
		t.Fatalf("resend: %d %s", p.status, p.body)
	}
	// Sending codes to a new email makes no user: the code must prove the mailbox first.
	if users, err := k.app.ListUsers(context.Background(), k.env, app.ListUsersInput{Email: "new@example.com", Page: app.PageParams{Limit: 10}}); err != nil || len(users.Data) != 0 {
		t.Fatalf("a code sent to a new email created %v (%v)", users.Data, err)
	}
	code = k.mail.lastCode(t)
	codeFrom(t, b.submit(p, "/authkit/magic-auth/verify", url.Values{"code": {code[:3] + " " + code[3:]}}, "Continue"))
	users, err := k.app.ListUsers(context.Background(), k.env, app.ListUsersInput{Email: "new@example.com", Page: app.PageParams{Limit: 10}})
	if err != nil || len(users.Data) != 1 || !users.Data[0].EmailVerified {
		t.Fatalf("after the code: %+v %v", users.Data, err)
	}
}

func TestMagicAuthCodeExpired(t *testing.T) {
	k := newKit(t)
	b := k.browser()
	p := b.submit(b.methodsFor("late@example.com"), "/authkit/magic-auth", nil, "Email me a code")
	code := k.mail.lastCode(t)
	k.clock.Advance(11 * time.Minute)
	p = b.submit(p, "/authkit/magic-auth/verify", url.Values{"code": {code}}, "Continue")
	if !strings.Contains(p.alert(), "That code has expired") {
		t.Fatalf("expired code: %d %q", p.status, p.alert())
	}
}

// TestSignUp: create the account, verify the email with the mailed code,
// land in the app.
func TestSignUp(t *testing.T) {
	k := newKit(t)
	b := k.browser()
	res := b.get(k.authorizeURL("screen_hint", "sign-up", "login_hint", "grace@example.com"))
	loc := res.header.Get("Location")
	if !strings.HasPrefix(loc, "/authkit/sign-up?flow=") {
		t.Fatalf("screen_hint=sign-up: %d %q", res.status, loc)
	}
	p := b.get(loc)
	if p.h1() != "Create your account" {
		t.Fatalf("sign-up page: %q", p.h1())
	}
	for _, l := range []string{"First name", "Last name", "Email", "Password"} {
		if p.input(l) == nil {
			t.Errorf("no field labelled %q", l)
		}
	}
	if attr(p.input("Email"), "value") != "grace@example.com" {
		t.Errorf("login_hint not prefilled")
	}
	if attr(p.input("Password"), "autocomplete") != "new-password" || !contains(p.names("a"), "Sign in") {
		t.Errorf("password autocomplete or sign-in link missing")
	}
	weak := b.submit(p, "/authkit/sign-up", url.Values{"first_name": {"Grace"}, "last_name": {"Hopper"}, "password": {"short"}}, "Create account")
	if weak.status != http.StatusBadRequest || !strings.Contains(weak.alert(), "at least 8 characters") ||
		attr(weak.input("Password"), "aria-invalid") != "true" || attr(weak.input("First name"), "value") != "Grace" {
		t.Fatalf("weak password: %d %q", weak.status, weak.alert())
	}
	p = b.submit(weak, "/authkit/sign-up", url.Values{"password": {testPassword}}, "Create account")
	if p.h1() != "Verify your email" || !contains(p.names("button"), "Verify") || p.input("Code") == nil {
		t.Fatalf("after sign-up: %d %s", p.status, p.body)
	}
	p = b.submit(p, "/authkit/verify-email", url.Values{"code": {"999999x"}}, "Verify")
	if p.alert() != "That code is incorrect." {
		t.Fatalf("wrong verification code: %q", p.alert())
	}
	// Resend replaces the code: the first one stops working.
	first := k.mail.lastCode(t)
	p = b.submit(p, "/authkit/verify-email/resend", nil, "Resend code")
	if p.status != http.StatusOK || p.h1() != "Verify your email" || !strings.Contains(p.body, "We sent a new code.") || k.mail.lastCode(t) == first {
		t.Fatalf("resend: %d %s", p.status, p.body)
	}
	if p = b.submit(p, "/authkit/verify-email", url.Values{"code": {first}}, "Verify"); p.alert() != "That code is incorrect." {
		t.Fatalf("the replaced code: %q", p.alert())
	}
	codeFrom(t, b.submit(p, "/authkit/verify-email", url.Values{"code": {k.mail.lastCode(t)}}, "Verify"))
	// The pending sign-in is used up: resending now is refused.
	if p = b.submit(p, "/authkit/verify-email/resend", nil, "Resend code"); p.status != http.StatusBadRequest || p.h1() != "Something went wrong" {
		t.Fatalf("resend after use: %d %s", p.status, p.h1())
	}

	// The same email again.
	b2 := k.browser()
	p = b2.get(b2.get(k.authorizeURL("screen_hint", "sign-up")).header.Get("Location"))
	p = b2.submit(p, "/authkit/sign-up", url.Values{"email": {"grace@example.com"}, "password": {testPassword}}, "Create account")
	if !strings.Contains(p.alert(), "An account with this email already exists.") || !contains(p.names("a"), "Go to the sign-in page") {
		t.Fatalf("duplicate email: %d %q", p.status, p.alert())
	}
}

func TestChooseOrganization(t *testing.T) {
	k := newKit(t)
	k.user("multi@example.com", true)
	ctx := context.Background()
	u, err := k.app.ListUsers(ctx, k.env, app.ListUsersInput{Email: "multi@example.com"})
	if err != nil || len(u.Data) != 1 {
		t.Fatal(err)
	}
	var orgs []string
	for _, name := range []string{"Acme", "Globex"} {
		o, err := k.app.CreateOrganization(ctx, k.meta(), app.CreateOrganizationInput{Name: name})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := k.app.CreateMembership(ctx, k.meta(), u.Data[0].ID, o.ID, "member"); err != nil {
			t.Fatal(err)
		}
		orgs = append(orgs, o.ID)
	}
	b := k.browser()
	p := b.submit(b.methodsFor("multi@example.com"), "/authkit/password", url.Values{"password": {testPassword}}, "Sign in")
	if p.h1() != "Choose an organization" || !contains(p.names("button"), "Acme") || !contains(p.names("button"), "Globex") {
		t.Fatalf("organization choice: %d %s", p.status, p.body)
	}
	code := codeFrom(t, b.submit(p, "/authkit/organization", nil, "Globex"))
	cp, _ := k.app.ClientPrincipal(ctx, k.client)
	auth, err := k.app.ExchangeCode(ctx, k.meta(), cp, app.CodeExchange{Code: code, RedirectURI: testRedirect, SecretOK: true}, app.Client{})
	if err != nil || auth.OrganizationID == nil || *auth.OrganizationID != orgs[1] {
		t.Fatalf("exchange: %+v %v", auth.OrganizationID, err)
	}
	// A silent authorize asks again, on the authorize URL itself.
	p = b.get(k.authorizeURL())
	if p.status != http.StatusOK || p.h1() != "Choose an organization" {
		t.Fatalf("silent authorize with two organizations: %d %q", p.status, p.h1())
	}
	// The browser's CSRF cookie reaches the authorize URL too: no new one
	// replaces it, so forms open in other tabs stay valid.
	if sc := p.header.Values("Set-Cookie"); slices.ContainsFunc(sc, func(c string) bool { return strings.HasPrefix(c, csrfCookie+"=") }) {
		t.Fatalf("the authorize page set a new CSRF cookie: %v", sc)
	}
	codeFrom(t, b.submit(p, "/authkit/organization", nil, "Acme"))
}

func TestSSORequired(t *testing.T) {
	k := newKit(t)
	ctx := context.Background()
	o, err := k.app.CreateOrganization(ctx, k.meta(), app.CreateOrganizationInput{Name: "Initech",
		Domains: []app.DomainInput{{Domain: "initech.com", State: "verified"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.app.SetPolicies(ctx, k.meta(), o.ID, organization.Policies{SSORequired: true, JITMembership: true}); err != nil {
		t.Fatal(err)
	}
	b := k.browser()
	if p := b.methodsFor("peter@initech.com"); p.h1() != "Single sign-on required" {
		t.Fatalf("sso: %d %q", p.status, p.h1())
	}
}

func TestInvalidEmail(t *testing.T) {
	k := newKit(t)
	b := k.browser()
	p := b.submit(b.signInPage(), "/authkit/sign-in", url.Values{"email": {"not an email"}}, "Continue")
	in := p.input("Email")
	if p.status != http.StatusBadRequest || p.alert() != "Enter a valid email address." || attr(in, "aria-invalid") != "true" ||
		attr(in, "aria-describedby") != "form-error" || !hasAttr(in, "autofocus") {
		t.Fatalf("invalid email: %d %q %v", p.status, p.alert(), in.Attr)
	}
}

func TestPasswordReset(t *testing.T) {
	k := newKit(t)
	k.user("lin@example.com", true)
	b := k.browser()
	p := b.get(linkHref(t, b.methodsFor("lin@example.com"), "Forgot password?"))
	if p.h1() != "Reset your password" || p.input("Email") == nil || !contains(p.names("button"), "Send reset link") {
		t.Fatalf("forgot page: %d %s", p.status, p.body)
	}
	// An unknown email gets the same answer, and no mail.
	if r := b.submit(p, "/authkit/forgot-password", url.Values{"email": {"nobody@example.com"}}, "Send reset link"); r.status != http.StatusOK || r.h1() != "Check your email" || len(k.mail.links) != 0 {
		t.Fatalf("unknown email: %d %q, %d links", r.status, r.h1(), len(k.mail.links))
	}
	if r := b.submit(p, "/authkit/forgot-password", url.Values{"email": {"lin@example.com"}}, "Send reset link"); r.status != http.StatusOK || r.h1() != "Check your email" {
		t.Fatalf("known email: %d %q", r.status, r.h1())
	}
	link, err := url.Parse(k.mail.lastLink(t))
	if err != nil || link.Path != "/authkit/reset-password" || link.Query().Get("client_id") != k.client {
		t.Fatalf("reset link %v", link)
	}
	r := b.get(link.RequestURI())
	if r.h1() != "Choose a new password" || r.input("New password") == nil || !contains(r.names("button"), "Reset password") {
		t.Fatalf("reset page: %d %s", r.status, r.body)
	}
	weak := b.submit(r, "/authkit/reset-password", url.Values{"password": {"short"}}, "Reset password")
	if weak.status != http.StatusBadRequest || !strings.Contains(weak.alert(), "at least 8 characters") {
		t.Fatalf("weak password: %d %q", weak.status, weak.alert())
	}
	const newPassword = "an entirely different passphrase"
	if link.Query().Get("flow") == "" {
		t.Fatalf("the reset link does not carry the sign-in flow: %v", link)
	}
	d := b.submit(weak, "/authkit/reset-password", url.Values{"password": {newPassword}}, "Reset password")
	if d.h1() != "Password changed" {
		t.Fatalf("reset: %d %s", d.status, d.body)
	}
	// The page leads back into the sign-in the reset was asked from.
	if again := b.get(linkHref(t, d, "Sign in with your new password")); again.h1() != "Sign in" || again.input("Email") == nil {
		t.Fatalf("back to sign in: %d %s", again.status, again.body)
	}
	if d := b.submit(weak, "/authkit/reset-password", url.Values{"password": {newPassword + "!"}}, "Reset password"); d.status != http.StatusBadRequest || d.h1() != "Something went wrong" {
		t.Fatalf("a used link: %d %q", d.status, d.h1())
	}
	if d := b.get("/authkit/reset-password?client_id=client_nope&token=x"); d.status != http.StatusBadRequest || d.h1() != "Something went wrong" {
		t.Fatalf("unknown client: %d %q", d.status, d.h1())
	}
	b2 := k.browser()
	codeFrom(t, b2.submit(b2.methodsFor("lin@example.com"), "/authkit/password", url.Values{"password": {newPassword}}, "Sign in"))

	// A link whose flow is forged, or from another environment, works
	// but offers no way back.
	if _, err := k.app.CreatePasswordReset(context.Background(), k.meta(), "lin@example.com"); err != nil {
		t.Fatal(err)
	}
	plain, _ := url.Parse(k.mail.lastLink(t))
	q := plain.Query()
	q.Set("flow", "forged")
	plain.RawQuery = q.Encode()
	r = b.get(plain.RequestURI())
	d = b.submit(r, "/authkit/reset-password", url.Values{"password": {newPassword + " again"}}, "Reset password")
	if d.h1() != "Password changed" || contains(d.names("a"), "Sign in with your new password") {
		t.Fatalf("reset with a forged flow: %d %s", d.status, d.body)
	}

	// Past the send limit the page answers the same, and mails nothing more:
	// a "too many" would tell that the account exists.
	for i := range 12 {
		if r := b.submit(p, "/authkit/forgot-password", url.Values{"email": {"lin@example.com"}}, "Send reset link"); r.status != http.StatusOK || r.h1() != "Check your email" {
			t.Fatalf("request %d: %d %q", i, r.status, r.h1())
		}
	}
	if n := len(k.mail.links); n != 10 {
		t.Fatalf("%d reset links mailed in 10 minutes, want 10", n)
	}
}

// linkHref is the href of the link named name.
func linkHref(t *testing.T, p page, name string) string {
	t.Helper()
	for _, a := range p.find(func(n *html.Node) bool { return n.Data == "a" }) {
		if text(a) == name {
			return attr(a, "href")
		}
	}
	t.Fatalf("no link %q", name)
	return ""
}
