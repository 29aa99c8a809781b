package authkit

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/keywayhq/keyway/app"
	"github.com/keywayhq/keyway/domain/environment"
)

// renderPage renders one page outside any request flow.
func renderPage(t *testing.T, h *Handler, name string, v view) page {
	t.Helper()
	s, err := newSealer(make([]byte, 32), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodGet, "/authkit/sign-in", nil)
	c := &call{h: h, w: &writer{ResponseWriter: w}, r: r, ctx: context.Background(), reqID: "req_1", log: h.log,
		keys: &keys{seal: s, csrf: make([]byte, 32)}, flowToken: "FLOW", flow: app.AuthorizeRequest{RedirectURI: testRedirect}}
	c.render(http.StatusOK, name, v)
	doc, err := html.Parse(strings.NewReader(w.Body.String()))
	if err != nil {
		t.Fatal(err)
	}
	return page{status: w.Code, header: w.Header(), body: w.Body.String(), doc: doc}
}

// TestPagesRender renders every page, plain and with errors, and checks
// the rules every page keeps.
func TestPagesRender(t *testing.T) {
	h := New(nil, nil)
	weight := 0
	for _, a := range h.assets.files {
		weight += len(a.body)
	}
	failing := view{Email: "ada@example.com", Password: true, MagicAuth: true, Message: "m", RequestID: "req_1",
		Orgs: []org{{"org_1", "Acme"}, {"org_2", "Globex"}}, Notice: "We sent a new code.",
		ErrorLink: &link{"/authkit/sign-in?flow=x", "Go to the sign-in page"}}
	for _, f := range []string{"email", "password", "code", "first_name"} {
		failing.fail("Problem with "+f, f)
	}
	heaviest, most := "", 0
	for _, name := range pageNames {
		for _, v := range []view{{Title: "T", Email: "a@b.co", Password: true}, failing} {
			v.Title = "T"
			p := renderPage(t, h, name, v)
			if p.status != http.StatusOK || strings.Contains(p.body, "ZgotmplZ") {
				t.Fatalf("%s: %d %s", name, p.status, p.body)
			}
			if n := len(p.body) + weight; n > 15<<10 {
				t.Errorf("%s weighs %d bytes with its assets", name, n)
			} else if n > most {
				heaviest, most = name, n
			}
			checkPage(t, name, p, len(v.Errors) > 0)
		}
	}
	t.Logf("heaviest page: %s, %d bytes with its assets (%d of them CSS and logo)", heaviest, most, weight)
}

func checkPage(t *testing.T, name string, p page, failing bool) {
	t.Helper()
	if htmls := p.find(func(n *html.Node) bool { return n.Data == "html" }); attr(htmls[0], "lang") != "en" {
		t.Errorf("%s: no lang=en", name)
	}
	if len(p.find(func(n *html.Node) bool { return n.Data == "main" })) != 1 || p.h1() == "" {
		t.Errorf("%s: want one <main> and one <h1>", name)
	}
	if len(p.find(func(n *html.Node) bool { return hasAttr(n, "style") })) > 0 {
		t.Errorf("%s: an inline style attribute, which the CSP blocks", name)
	}
	ids := map[string]bool{}
	labels := map[string]bool{}
	for _, n := range p.find(func(n *html.Node) bool { return attr(n, "id") != "" }) {
		ids[attr(n, "id")] = true
	}
	for _, l := range p.find(func(n *html.Node) bool { return n.Data == "label" }) {
		labels[attr(l, "for")] = true
	}
	for _, in := range p.find(func(n *html.Node) bool { return n.Data == "input" }) {
		if attr(in, "type") == "hidden" || hasAttr(in, "hidden") {
			continue
		}
		if !labels[attr(in, "id")] || attr(in, "autocomplete") == "" {
			t.Errorf("%s: input %q has no label or no autocomplete", name, attr(in, "name"))
		}
	}
	for _, n := range p.find(func(n *html.Node) bool { return attr(n, "aria-describedby") != "" }) {
		for _, id := range strings.Fields(attr(n, "aria-describedby")) {
			if !ids[id] {
				t.Errorf("%s: aria-describedby names a missing %q", name, id)
			}
		}
	}
	for _, f := range p.find(func(n *html.Node) bool { return n.Data == "form" }) {
		if hidden, _ := p.form(attr(f, "action")); hidden.fields.Get("csrf") == "" {
			t.Errorf("%s: form %s has no csrf field", name, attr(f, "action"))
		}
	}
	forms := p.find(func(n *html.Node) bool { return n.Data == "form" })
	if !failing || len(forms) == 0 {
		return
	}
	// The alert comes before the first form.
	seenAlert := false
	walk(p.doc, func(n *html.Node) {
		if n.Type != html.ElementNode {
			return
		}
		if attr(n, "role") == "alert" {
			seenAlert = true
		}
		if n == forms[0] && !seenAlert {
			t.Errorf("%s: no role=alert before the form", name)
		}
	})
}

func TestBrand(t *testing.T) {
	cases := map[string]struct {
		in                    environment.Settings
		name, primary, on     string
		link, logo, imgOrigin string
	}{
		"defaults":     {environment.Settings{}, "Keyway", "#4f46e5", "#ffffff", "#4f46e5", "/logo.svg", ""},
		"light colour": {environment.Settings{AppName: " Acme ", PrimaryColor: "#FFE066"}, "Acme", "#ffe066", darkText, "#4338ca", "/logo.svg", ""},
		"bad colour":   {environment.Settings{PrimaryColor: "red;}body{x"}, "Keyway", "#4f46e5", "#ffffff", "#4f46e5", "/logo.svg", ""},
		"logo":         {environment.Settings{LogoURL: "https://cdn.acme.com/l.png"}, "Keyway", "#4f46e5", "#ffffff", "#4f46e5", "https://cdn.acme.com/l.png", "https://cdn.acme.com"},
		"script logo":  {environment.Settings{LogoURL: "javascript:alert(1)"}, "Keyway", "#4f46e5", "#ffffff", "#4f46e5", "/logo.svg", ""},
		"http logo":    {environment.Settings{LogoURL: "http://cdn.acme.com/l.png"}, "Keyway", "#4f46e5", "#ffffff", "#4f46e5", "/logo.svg", ""},
	}
	for name, c := range cases {
		b := brandOf(c.in, "/logo.svg")
		if b.Name != c.name || string(b.Primary) != c.primary || string(b.OnPrimary) != c.on || string(b.Link) != c.link || b.Logo != c.logo || b.logoOrigin != c.imgOrigin {
			t.Errorf("%s: %+v", name, b)
		}
	}
}

func TestOrigin(t *testing.T) {
	cases := map[string]string{
		"http://localhost:3000/callback":       "http://localhost:3000",
		"https://App.Example.com/cb?x=1":       "https://app.example.com",
		"https://bücher.example/cb":            "https://xn--bcher-kva.example",
		"https://[::1]:8443/cb":                "https://[::1]:8443",
		"https://a.com;script-src *":           "",
		"https://a.com%20'unsafe-inline'/":     "",
		"myapp://callback":                     "",
		"javascript:alert(1)":                  "",
		"https://a.com 'unsafe-inline' b.com/": "",
	}
	for in, want := range cases {
		if got := origin(in); got != want {
			t.Errorf("origin(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestBrandedPage: the environment's settings show on its pages.
func TestBrandedPage(t *testing.T) {
	k := newKit(t)
	name, logo, color := "Acme Cloud", "https://cdn.acme.com/logo.png", "#0f766e"
	if _, err := k.app.UpdateSettings(context.Background(), k.meta(), k.env, app.SettingsPatch{AppName: &name, LogoURL: &logo, PrimaryColor: &color}); err != nil {
		t.Fatal(err)
	}
	p := k.browser().signInPage()
	if !strings.Contains(p.body, "Acme Cloud") || !strings.Contains(p.body, `src="https://cdn.acme.com/logo.png"`) || !strings.Contains(p.body, "--brand:#0f766e") {
		t.Fatalf("branding missing: %s", p.body)
	}
	if csp := p.header.Get("Content-Security-Policy"); !strings.Contains(csp, "img-src 'self' https://cdn.acme.com data:") {
		t.Fatalf("CSP %s", csp)
	}
}
