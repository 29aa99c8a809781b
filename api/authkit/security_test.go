package authkit

import (
	"bytes"
	"encoding/base64"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"
)

func TestSeal(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s, err := newSealer(bytes.Repeat([]byte{7}, 32), func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	other, _ := newSealer(bytes.Repeat([]byte{8}, 32), func() time.Time { return now })
	type secret struct{ Email, Pending string }
	in := secret{"ada@example.com", "pending-token-123"}
	token, err := s.seal("step:f", in)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(token)
	if strings.Contains(string(raw), "ada@") || strings.Contains(string(raw), "pending-token") {
		t.Fatal("the sealed value shows its content")
	}
	if again, _ := s.seal("step:f", in); again == token {
		t.Fatal("two seals of one value are equal: the nonce is not random")
	}
	var out secret
	if err := s.open("step:f", token, &out); err != nil || out != in {
		t.Fatalf("open: %+v %v", out, err)
	}
	flip := func(i int) string {
		b, _ := base64.RawURLEncoding.DecodeString(token)
		b[i] ^= 1
		return base64.RawURLEncoding.EncodeToString(b)
	}
	cases := map[string]struct {
		s       *sealer
		purpose string
		token   string
	}{
		"nonce flipped":      {s, "step:f", flip(0)},
		"ciphertext flipped": {s, "step:f", flip(len(raw) / 2)},
		"tag flipped":        {s, "step:f", flip(len(raw) - 1)},
		"truncated":          {s, "step:f", token[:20]},
		"empty":              {s, "step:f", ""},
		"not base64":         {s, "step:f", "!!" + token},
		"other purpose":      {s, "flow", token},
		"other flow":         {s, "step:g", token},
		"other key":          {other, "step:f", token},
	}
	for name, c := range cases {
		if err := c.s.open(c.purpose, c.token, &out); err != errSealed {
			t.Errorf("%s: %v, want errSealed", name, err)
		}
	}
	now = now.Add(sealTTL - time.Second)
	if err := s.open("step:f", token, &out); err != nil {
		t.Fatalf("just before expiry: %v", err)
	}
	now = now.Add(time.Second)
	if err := s.open("step:f", token, &out); err != errSealed {
		t.Fatalf("at expiry: %v", err)
	}
}

// TestFlowTamperedOrExpired: a changed or stale ?flow= is the error page.
func TestFlowTamperedOrExpired(t *testing.T) {
	k := newKit(t)
	b := k.browser()
	loc := b.get(k.authorizeURL()).header.Get("Location")
	token := strings.TrimPrefix(loc, "/authkit/sign-in?flow=")
	bad := []byte(token)
	bad[len(bad)/2] ^= 'A' ^ 'B'
	for name, target := range map[string]string{
		"tampered": "/authkit/sign-in?flow=" + string(bad),
		"missing":  "/authkit/sign-in",
		"sign-up":  "/authkit/sign-up?flow=x",
	} {
		p := b.get(target)
		if p.status != http.StatusBadRequest || p.h1() != "Something went wrong" || !strings.Contains(text(p.doc), msgExpired) {
			t.Errorf("%s: %d %q", name, p.status, p.h1())
		}
	}
	start := time.Now()
	k.h.now = func() time.Time { return start.Add(31 * time.Minute) }
	if p := b.get(loc); p.status != http.StatusBadRequest || !strings.Contains(text(p.doc), msgExpired) {
		t.Fatalf("expired: %d %q", p.status, p.h1())
	}
}

// TestCSRF: a POST without the signed token, with a forged one, or from
// another origin is refused with 403 before anything happens.
func TestCSRF(t *testing.T) {
	k := newKit(t)
	k.user("eve@example.com", true)
	b := k.browser()
	p := b.methodsFor("eve@example.com")
	f, _ := p.form("/authkit/password")
	f.fields.Set("password", testPassword)
	csrfValue := b.cookies[csrfCookie].Value
	before := k.eventCount()

	refuse := func(name string, fields url.Values, setup func(*browser)) {
		t.Helper()
		other := &browser{k: k, cookies: map[string]*http.Cookie{}, header: http.Header{}}
		for n, c := range b.cookies {
			other.cookies[n] = c
		}
		setup(other)
		res := other.do(http.MethodPost, "/authkit/password", fields)
		if res.status != http.StatusForbidden || res.h1() != "Something went wrong" || !strings.Contains(text(res.doc), msgCSRF) {
			t.Errorf("%s: %d %q", name, res.status, res.h1())
		}
		if res.header.Get("Location") != "" || other.cookies[SessionCookie] != nil {
			t.Errorf("%s: signed in anyway", name)
		}
	}
	without := func(key string) url.Values {
		v := url.Values{}
		for k, vs := range f.fields {
			if k != key {
				v[k] = vs
			}
		}
		return v
	}
	with := func(key, value string) url.Values {
		v := without(key)
		v.Set(key, value)
		return v
	}
	refuse("no token", without("csrf"), func(*browser) {})
	refuse("forged token", with("csrf", csrfMAC(bytes.Repeat([]byte{1}, 32), csrfValue)), func(*browser) {})
	refuse("unsigned double submit", with("csrf", csrfValue), func(*browser) {})
	refuse("no cookie", f.fields, func(o *browser) { delete(o.cookies, csrfCookie) })
	refuse("another cookie", f.fields, func(o *browser) {
		o.cookies[csrfCookie] = &http.Cookie{Name: csrfCookie, Value: base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{2}, 32)), Path: "/authkit"}
	})
	refuse("cross-origin", f.fields, func(o *browser) { o.header.Set("Origin", "https://evil.example") })
	refuse("cross-site fetch", f.fields, func(o *browser) { o.header.Set("Sec-Fetch-Site", "cross-site") })
	refuse("sibling subdomain", f.fields, func(o *browser) { o.header.Set("Sec-Fetch-Site", "same-site") })
	refuse("null origin, old browser", f.fields, func(o *browser) { o.header.Set("Origin", "null") })
	if n := k.eventCount(); n != before {
		t.Fatalf("refused POSTs appended %d events", n-before)
	}

	// The same form, untouched, signs in when posted as Chromium posts it
	// from a no-referrer page: Origin null, Sec-Fetch-Site same-origin.
	b.header.Set("Origin", "null")
	b.header.Set("Sec-Fetch-Site", "same-origin")
	codeFrom(t, b.do(http.MethodPost, "/authkit/password", f.fields))
}

func TestCookieFlags(t *testing.T) {
	k := newKit(t)
	k.user("flags@example.com", true)
	for _, https := range []bool{false, true} {
		b := k.browser()
		if https {
			b.header.Set("X-Forwarded-Proto", "https")
		}
		p := b.methodsFor("flags@example.com")
		csrf := b.cookies[csrfCookie]
		if csrf == nil || !csrf.HttpOnly || csrf.SameSite != http.SameSiteLaxMode || csrf.Path != "/" || csrf.Secure != https {
			t.Errorf("https=%v: csrf cookie %+v", https, csrf)
		}
		b.header.Set("Origin", map[bool]string{false: "http://example.com", true: "https://example.com"}[https])
		codeFrom(t, b.submit(p, "/authkit/password", url.Values{"password": {testPassword}}, "Sign in"))
		s := b.cookies[SessionCookie]
		if s == nil || !s.HttpOnly || s.SameSite != http.SameSiteLaxMode || s.Path != "/" || s.MaxAge != 3600 || s.Secure != https || s.Value == "" {
			t.Errorf("https=%v: session cookie %+v", https, s)
		}
	}
}

// TestDeadSessionCookie: an unknown session token is cleared and the form shown.
func TestDeadSessionCookie(t *testing.T) {
	k := newKit(t)
	b := k.browser()
	b.cookies[SessionCookie] = &http.Cookie{Name: SessionCookie, Value: "gone", Path: "/"}
	res := b.get(k.authorizeURL())
	if !strings.HasPrefix(res.header.Get("Location"), "/authkit/sign-in?flow=") || b.cookies[SessionCookie] != nil {
		t.Fatalf("dead session: %d %q, cookie %v", res.status, res.header.Get("Location"), b.cookies[SessionCookie])
	}
}

func TestHeaders(t *testing.T) {
	k := newKit(t)
	b := k.browser()
	p := b.signInPage()
	csp := p.header.Get("Content-Security-Policy")
	style := p.find(func(n *html.Node) bool { return n.Data == "style" })
	if len(style) != 1 || attr(style[0], "nonce") == "" {
		t.Fatal("no nonce'd style block")
	}
	want := "default-src 'none'; style-src 'self' 'nonce-" + attr(style[0], "nonce") + "'; img-src 'self' data:; form-action 'self' http://localhost:3000; frame-ancestors 'none'; base-uri 'none'"
	if csp != want {
		t.Errorf("CSP\n got %s\nwant %s", csp, want)
	}
	for h, v := range map[string]string{"X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store",
		"X-Content-Type-Options": "nosniff", "Content-Type": "text/html; charset=utf-8"} {
		if got := p.header.Get(h); got != v {
			t.Errorf("%s: %q, want %q", h, got, v)
		}
	}
	if again := b.signInPage(); strings.Contains(again.header.Get("Content-Security-Policy"), attr(style[0], "nonce")) {
		t.Error("the nonce is reused across responses")
	}
	// Error pages have them too, without a form-action beyond 'self'.
	e := b.get("/authkit/nope")
	if e.status != http.StatusNotFound || !strings.Contains(e.header.Get("Content-Security-Policy"), "form-action 'self';") || e.header.Get("X-Frame-Options") != "DENY" {
		t.Errorf("404 page: %d %q", e.status, e.header.Get("Content-Security-Policy"))
	}
}

func TestAuthorizeErrors(t *testing.T) {
	k := newKit(t)
	b := k.browser()
	cases := map[string]struct {
		query url.Values
		h1    string
	}{
		"unregistered redirect_uri": {url.Values{"client_id": {k.client}, "redirect_uri": {"https://evil.example/cb"}, "provider": {"authkit"}}, "Something went wrong"},
		"unknown client":            {url.Values{"client_id": {"client_01NOPE"}, "redirect_uri": {testRedirect}, "provider": {"authkit"}}, "Something went wrong"},
		"no provider":               {url.Values{"client_id": {k.client}, "redirect_uri": {testRedirect}}, "Something went wrong"},
		"oauth provider":            {url.Values{"client_id": {k.client}, "redirect_uri": {testRedirect}, "provider": {"GoogleOAuth"}}, "Not configured"},
		"connection":                {url.Values{"client_id": {k.client}, "redirect_uri": {testRedirect}, "connection_id": {"conn_123"}}, "Not configured"},
	}
	for name, c := range cases {
		p := b.get("/user_management/authorize?" + c.query.Encode())
		if p.status != http.StatusBadRequest || p.h1() != c.h1 || p.header.Get("Location") != "" {
			t.Errorf("%s: %d %q Location %q", name, p.status, p.h1(), p.header.Get("Location"))
		}
	}
}

func TestBadRequests(t *testing.T) {
	k := newKit(t)
	b := k.browser()
	p := b.signInPage()
	f, _ := p.form("/authkit/sign-in")
	post := func(body, contentType string) page {
		r := http.Header{"Content-Type": {contentType}}
		b2 := &browser{k: k, cookies: b.cookies, header: r}
		return b2.doRaw(http.MethodPost, "/authkit/sign-in", body)
	}
	if res := post(f.fields.Encode()+"&email=a@b.co&email=c@d.co", "application/x-www-form-urlencoded"); res.status != http.StatusBadRequest {
		t.Errorf("duplicate field: %d", res.status)
	}
	if res := post(f.fields.Encode()+"&pad="+strings.Repeat("x", maxFormBytes), "application/x-www-form-urlencoded"); res.status != http.StatusRequestEntityTooLarge {
		t.Errorf("large body: %d", res.status)
	}
	if res := post(`{"email":"a@b.co"}`, "application/json"); res.status != http.StatusBadRequest {
		t.Errorf("JSON body: %d", res.status)
	}
	if res := b.get("/authkit/password"); res.status != http.StatusMethodNotAllowed || res.h1() != "Something went wrong" {
		t.Errorf("GET of a POST page: %d", res.status)
	}
	if res := b.get("/authkit/assets/style.css"); res.status != http.StatusOK || res.header.Get("Content-Type") != "text/css; charset=utf-8" {
		t.Errorf("stylesheet: %d %q", res.status, res.header.Get("Content-Type"))
	}
	if res := b.get("/authkit/assets/../authkit.go"); res.status != http.StatusNotFound {
		t.Errorf("asset outside the folder: %d", res.status)
	}
}

func (b *browser) doRaw(method, target, body string) page {
	b.k.t.Helper()
	return b.doBody(method, target, strings.NewReader(body))
}

// TestPanicIsA500Page: a panic below the handler is a 500 page with the
// request id, and is not passed on.
func TestPanicIsA500Page(t *testing.T) {
	k := &kit{t: t, h: New(nil, nil)} // a nil app panics when asked for keys
	p := k.browser().get("/authkit/sign-in?flow=x")
	if p.status != http.StatusInternalServerError || p.h1() != "Something went wrong" || !strings.Contains(p.body, "req_test") {
		t.Fatalf("%d %s", p.status, p.body)
	}
}

// TestNoExternalResources: every URL a page loads is our own.
func TestNoExternalResources(t *testing.T) {
	k := newKit(t)
	p := k.browser().signInPage()
	ext := regexp.MustCompile(`(?i)(src|href)="(https?:)?//`)
	if m := ext.FindString(p.body); m != "" {
		t.Fatalf("external resource %q", m)
	}
	if strings.Contains(strings.ToLower(p.body), "<script") {
		t.Fatal("a page has a script")
	}
}
