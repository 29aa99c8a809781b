package authkit

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/keywayhq/keyway/app"
	"github.com/keywayhq/keyway/domain/password"
	"github.com/keywayhq/keyway/events"
	"github.com/keywayhq/keyway/events/eventstest"
	"github.com/keywayhq/keyway/events/memstore"
)

const (
	testRedirect = "http://localhost:3000/callback"
	testPassword = "a long enough passphrase"
	testPublic   = "https://auth.keyway.test"
)

// kit is the pages on a real app over the in-memory store.
type kit struct {
	t      *testing.T
	app    *app.App
	h      *Handler
	store  events.Store
	clock  *eventstest.Clock
	mail   *mailbox
	env    string
	client string
}

func newKit(t *testing.T) *kit {
	t.Helper()
	clock := eventstest.NewClock(time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC))
	store := memstore.New(clock.Now)
	kek := bytes.Repeat([]byte{0x4b}, 32)
	mail := &mailbox{}
	a := app.New(app.Config{Store: store, Now: clock.Now, Mailer: mail, PublicURL: testPublic,
		Password: password.Params{MemoryKiB: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32},
		Signer:   fakeSigner{},
		Sessions: app.SessionConfig{Issuer: testPublic}, CodeKey: func() ([]byte, error) { return kek, nil }})
	ctx := context.Background()
	st, err := a.EnsureEnvironment(ctx, app.EnsureEnvironmentInput{Name: "staging", Type: "staging"})
	if err != nil {
		t.Fatal(err)
	}
	uris := []string{testRedirect}
	if _, err := a.UpdateSettings(ctx, app.Meta{Env: st.Environment.ID, Actor: "test"}, st.Environment.ID, app.SettingsPatch{RedirectURIs: &uris}); err != nil {
		t.Fatal(err)
	}
	return &kit{t: t, app: a, h: New(a, nil), store: store, clock: clock, mail: mail, env: st.Environment.ID, client: st.Environment.ClientID}
}

func (k *kit) meta() app.Meta { return app.Meta{Env: k.env, Actor: "test"} }

// user creates a user with testPassword.
func (k *kit) user(email string, verified bool) {
	k.t.Helper()
	pw := testPassword
	if _, err := k.app.CreateUser(context.Background(), k.meta(), app.CreateUserInput{Email: email, Password: &pw, EmailVerified: verified}); err != nil {
		k.t.Fatal(err)
	}
}

// eventCount is how many events the environment's log holds.
func (k *kit) eventCount() int {
	k.t.Helper()
	evs, err := k.store.Feed(context.Background(), events.FeedQuery{Environment: k.env, Limit: 10000})
	if err != nil {
		k.t.Fatal(err)
	}
	return len(evs)
}

// authorizeURL is an authorize request of the kit's client.
func (k *kit) authorizeURL(extra ...string) string {
	q := url.Values{"client_id": {k.client}, "redirect_uri": {testRedirect}, "response_type": {"code"}, "provider": {"authkit"}, "state": {"st-123"}}
	for i := 0; i+1 < len(extra); i += 2 {
		q.Set(extra[i], extra[i+1])
	}
	return "/user_management/authorize?" + q.Encode()
}

// fakeSigner stands in for the signing keys (infra/boot's signer would
// import api, which imports this package).
type fakeSigner struct{}

func (fakeSigner) Sign(_ context.Context, _ string, t app.AccessToken) (string, error) {
	return "access-token-of-" + t.Subject, nil
}

func (fakeSigner) JWKS(context.Context, string) ([]byte, error) { return []byte(`{"keys":[]}`), nil }

// mailbox captures what the app mails.
type mailbox struct {
	mu    sync.Mutex
	codes []app.CodeMessage
	links []app.LinkMessage
}

func (m *mailbox) SendCode(_ context.Context, c app.CodeMessage) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.codes = append(m.codes, c)
	return nil
}

func (m *mailbox) SendLink(_ context.Context, l app.LinkMessage) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.links = append(m.links, l)
	return nil
}

func (m *mailbox) SendInvitation(context.Context, app.InvitationMessage) error {
	return errors.New("mailbox: no invitations")
}

func (m *mailbox) lastCode(t *testing.T) string {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.codes) == 0 {
		t.Fatal("no code was mailed")
	}
	return m.codes[len(m.codes)-1].Code
}

func (m *mailbox) lastLink(t *testing.T) string {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.links) == 0 {
		t.Fatal("no link was mailed")
	}
	return m.links[len(m.links)-1].URL
}

// browser keeps cookies like a browser (by name; the tests use one host)
// and sends requests straight to the handler.
type browser struct {
	k       *kit
	cookies map[string]*http.Cookie
	header  http.Header // added to every request
}

func (k *kit) browser() *browser {
	return &browser{k: k, cookies: map[string]*http.Cookie{}, header: http.Header{}}
}

// page is a response, parsed.
type page struct {
	status int
	header http.Header
	body   string
	doc    *html.Node
}

func (b *browser) do(method, target string, form url.Values) page {
	b.k.t.Helper()
	if form == nil {
		return b.doBody(method, target, nil)
	}
	if b.header.Get("Content-Type") == "" {
		b2 := *b
		b2.header = b.header.Clone()
		b2.header.Set("Content-Type", "application/x-www-form-urlencoded")
		return b2.doBody(method, target, strings.NewReader(form.Encode()))
	}
	return b.doBody(method, target, strings.NewReader(form.Encode()))
}

func (b *browser) doBody(method, target string, body io.Reader) page {
	b.k.t.Helper()
	r := httptest.NewRequest(method, target, body)
	for k, vs := range b.header {
		r.Header[k] = vs
	}
	path := r.URL.Path
	for _, c := range b.cookies {
		if strings.HasPrefix(path, c.Path) {
			r.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
		}
	}
	w := httptest.NewRecorder()
	w.Header().Set("X-Request-ID", "req_test")
	b.k.h.ServeHTTP(w, r)
	res := w.Result()
	for _, c := range res.Cookies() {
		if c.MaxAge < 0 {
			delete(b.cookies, c.Name)
		} else {
			b.cookies[c.Name] = c
		}
	}
	p := page{status: w.Code, header: w.Header(), body: w.Body.String()}
	if strings.HasPrefix(p.header.Get("Content-Type"), "text/html") {
		doc, err := html.Parse(strings.NewReader(p.body))
		if err != nil {
			b.k.t.Fatalf("%s %s: not HTML: %v", method, target, err)
		}
		p.doc = doc
	}
	return p
}

func (b *browser) get(target string) page { return b.do(http.MethodGet, target, nil) }

// submit posts the form whose action is action, with its hidden fields,
// the given fields and, if button is set, the submit button of that name.
func (b *browser) submit(p page, action string, fields url.Values, button string) page {
	b.k.t.Helper()
	f, ok := p.form(action)
	if !ok {
		b.k.t.Fatalf("no form posting to %s in:\n%s", action, p.body)
	}
	for k, vs := range fields {
		f.fields[k] = vs
	}
	if button != "" {
		v, ok := f.buttons[button]
		if !ok {
			b.k.t.Fatalf("no button %q in the form of %s", button, action)
		}
		if v[0] != "" {
			f.fields.Set(v[0], v[1])
		}
	}
	return b.do(http.MethodPost, action, f.fields)
}

type htmlForm struct {
	fields  url.Values
	buttons map[string][2]string // text -> name, value
}

// form finds a form by action and reads its fields, as a browser would
// send them, and its buttons.
func (p page) form(action string) (htmlForm, bool) {
	var found *html.Node
	walk(p.doc, func(n *html.Node) {
		if found == nil && n.Type == html.ElementNode && n.Data == "form" && attr(n, "action") == action {
			found = n
		}
	})
	if found == nil {
		return htmlForm{}, false
	}
	f := htmlForm{fields: url.Values{}, buttons: map[string][2]string{}}
	walk(found, func(n *html.Node) {
		if n.Type != html.ElementNode {
			return
		}
		switch {
		case n.Data == "input" && attr(n, "name") != "":
			f.fields.Set(attr(n, "name"), attr(n, "value"))
		case n.Data == "button":
			f.buttons[strings.TrimSpace(text(n))] = [2]string{attr(n, "name"), attr(n, "value")}
		}
	})
	return f, true
}

func walk(n *html.Node, fn func(*html.Node)) {
	if n == nil {
		return
	}
	fn(n)
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		walk(c, fn)
	}
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func hasAttr(n *html.Node, key string) bool {
	for _, a := range n.Attr {
		if a.Key == key {
			return true
		}
	}
	return false
}

func text(n *html.Node) string {
	var b strings.Builder
	walk(n, func(c *html.Node) {
		if c.Type == html.TextNode {
			b.WriteString(c.Data)
		}
	})
	return strings.Join(strings.Fields(b.String()), " ")
}

// find returns the elements that match.
func (p page) find(match func(*html.Node) bool) []*html.Node {
	var out []*html.Node
	walk(p.doc, func(n *html.Node) {
		if n.Type == html.ElementNode && match(n) {
			out = append(out, n)
		}
	})
	return out
}

func (p page) h1() string {
	hs := p.find(func(n *html.Node) bool { return n.Data == "h1" })
	if len(hs) != 1 {
		return ""
	}
	return text(hs[0])
}

// alert is the text of the role=alert element, "" if none.
func (p page) alert() string {
	as := p.find(func(n *html.Node) bool { return attr(n, "role") == "alert" })
	if len(as) == 0 {
		return ""
	}
	return text(as[0])
}

// input is the input labelled label, found through <label for>.
func (p page) input(label string) *html.Node {
	for _, l := range p.find(func(n *html.Node) bool { return n.Data == "label" }) {
		if text(l) == label {
			id := attr(l, "for")
			if in := p.find(func(n *html.Node) bool { return n.Data == "input" && attr(n, "id") == id }); len(in) == 1 {
				return in[0]
			}
		}
	}
	return nil
}

// names returns the accessible names of the elements with this tag.
func (p page) names(tag string) []string {
	var out []string
	for _, n := range p.find(func(n *html.Node) bool { return n.Data == tag }) {
		out = append(out, text(n))
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
