package authkit

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"html/template"
	"io/fs"
	"math"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"golang.org/x/net/idna"

	"github.com/keywayhq/keyway/domain/environment"
	"github.com/keywayhq/keyway/domain/password"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed assets
var assetFS embed.FS

// pageNames are the templates, one per page; each defines "content".
var pageNames = []string{"sign-in", "methods", "code", "sign-up", "verify-email", "organization",
	"forgot-password", "sent", "reset-password", "done", "sso", "error"}

// pages are the parsed templates by page name, each with the base layout.
type pages map[string]*template.Template

func parsePages() pages {
	p := pages{}
	for _, name := range pageNames {
		p[name] = template.Must(template.New("").ParseFS(templateFS, "templates/base.html", "templates/"+name+".html"))
	}
	return p
}

// view is what a page shows. Title is the document title; pages write
// their own <h1>, except the error page, whose h1 is Title.
type view struct {
	Title  string
	Brand  brand
	Assets assetURLs
	Nonce  string
	CSRF   string
	Flow   string // the sealed flow, "" outside one
	State  string // the sealed step state

	Errors    []string // shown in the alert before the form
	ErrorLink *link
	Notice    string
	invalid   map[string]bool
	focus     string // the field to focus when none is invalid

	Email, FirstName, LastName string
	Password, MagicAuth        bool // methods offered
	Orgs                       []org

	Message   string
	RequestID string
	Back      *link

	MinPassword int
}

type link struct{ Href, Text string }

// fail records an error for the alert, marking fields invalid.
func (v *view) fail(msg string, fields ...string) {
	v.Errors = append(v.Errors, msg)
	if v.invalid == nil {
		v.invalid = map[string]bool{}
	}
	for _, f := range fields {
		v.invalid[f] = true
	}
}

// Field returns an input's state attributes: aria-invalid and the alert's
// id when the field is wrong, the hints that describe it, and autofocus on
// the first wrong field (or the page's default).
func (v view) Field(name string, hints ...string) template.HTMLAttr {
	var b strings.Builder
	describedBy := hints
	if v.invalid[name] {
		b.WriteString(` aria-invalid="true"`)
		describedBy = append([]string{"form-error"}, hints...)
	}
	if len(describedBy) > 0 {
		b.WriteString(` aria-describedby="` + template.HTMLEscapeString(strings.Join(describedBy, " ")) + `"`)
	}
	if name == v.firstFocus() {
		b.WriteString(" autofocus")
	}
	return template.HTMLAttr(b.String())
}

func (v view) firstFocus() string {
	for _, f := range []string{"first_name", "last_name", "email", "password", "code"} {
		if v.invalid[f] {
			return f
		}
	}
	return v.focus
}

// render writes a page with the security headers of this call.
func (c *call) render(status int, name string, v view) {
	v.Brand = c.brand()
	v.Assets = c.h.assets.urls
	v.Flow = c.flowToken
	v.MinPassword = password.MinLength
	if c.keys != nil {
		v.CSRF = c.csrfToken()
	}
	nonce := make([]byte, 16)
	rand.Read(nonce)
	v.Nonce = base64.RawStdEncoding.EncodeToString(nonce)
	var buf bytes.Buffer
	if err := c.h.pages[name].ExecuteTemplate(&buf, "base", v); err != nil {
		c.log.Error("authkit: render", "page", name, "error", err)
		http.Error(c.w, "Internal server error. Request ID: "+c.reqID, http.StatusInternalServerError)
		return
	}
	formAction := ""
	if c.flowToken != "" {
		formAction = origin(c.flow.RedirectURI)
	}
	securityHeaders(c.w.Header(), v.Nonce, v.Brand.logoOrigin, formAction)
	c.w.Header().Set("Content-Type", "text/html; charset=utf-8")
	c.w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	c.w.WriteHeader(status)
	if c.r.Method != http.MethodHead {
		_, _ = c.w.Write(buf.Bytes())
	}
}

// errorPage shows "Something went wrong" with a message; with the
// request id for internal errors.
func (c *call) errorPage(status int, msg string, withID bool) {
	v := view{Title: "Something went wrong", Message: msg}
	if withID {
		v.RequestID = c.reqID
	}
	c.render(status, "error", v)
}

// securityHeaders are set on every response; the CSP allows the page's
// own nonce, the logo's origin and, for a flow's forms, the origin the
// browser is redirected to after a POST (Chromium checks form-action on
// that redirect too).
func securityHeaders(h http.Header, nonce, imgOrigin, formOrigin string) {
	style := "'self'"
	if nonce != "" {
		style += " 'nonce-" + nonce + "'"
	}
	img := "'self'"
	if imgOrigin != "" {
		img += " " + imgOrigin
	}
	form := "'self'"
	if formOrigin != "" {
		form += " " + formOrigin
	}
	h.Set("Content-Security-Policy", "default-src 'none'; style-src "+style+"; img-src "+img+" data:; form-action "+form+"; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
}

// cspHost is what a CSP host-source may hold, so no value can add a directive.
var cspHost = regexp.MustCompile(`^[a-z0-9.-]+(:[0-9]{1,5})?$|^\[[0-9a-f:.]+\](:[0-9]{1,5})?$`)

// origin is the CSP source of an http(s) URL's origin, or "".
func origin(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return ""
	}
	host := u.Hostname()
	if ip := net.ParseIP(host); ip != nil {
		if ip.To4() == nil {
			host = "[" + ip.String() + "]"
		}
	} else if host, err = idna.Lookup.ToASCII(host); err != nil {
		return ""
	}
	if p := u.Port(); p != "" {
		host += ":" + p
	}
	host = strings.ToLower(host)
	if !cspHost.MatchString(host) {
		return ""
	}
	return u.Scheme + "://" + host
}

// brand is the environment's branding, checked again before use.
type brand struct {
	Name                               string
	Logo                               string
	Primary, OnPrimary, Link, LinkDark template.CSS
	logoOrigin                         string
}

const (
	defaultAppName = "Keyway"
	defaultPrimary = "#4f46e5"
	darkText       = "#111827"
	lightCard      = "#ffffff"
	darkCard       = "#18181b"
)

func (c *call) brand() brand {
	var s environment.Settings
	if c.env != "" {
		set, err := c.h.app.HostedSettings(c.ctx, c.env)
		if err != nil {
			c.log.Warn("authkit: settings unavailable, default branding", "error", err)
		} else {
			s = set
		}
	}
	return brandOf(s, c.h.assets.urls.Logo)
}

func brandOf(s environment.Settings, defaultLogo string) brand {
	b := brand{Name: strings.TrimSpace(s.AppName), Logo: defaultLogo}
	if b.Name == "" {
		b.Name = defaultAppName
	}
	if s.LogoURL != "" {
		if u, msg := environment.CheckURL(s.LogoURL, environment.Production); msg == "" {
			if o := origin(u.String()); o != "" {
				b.Logo, b.logoOrigin = u.String(), o
			}
		}
	}
	primary := defaultPrimary
	if environment.ValidColor(s.PrimaryColor) {
		primary = strings.ToLower(s.PrimaryColor)
	}
	l := luminance(primary)
	on := "#ffffff"
	if contrast(l, luminance(darkText)) > contrast(l, 1) {
		on = darkText
	}
	link, linkDark := primary, primary
	if contrast(l, luminance(lightCard)) < 4.5 {
		link = "#4338ca"
	}
	if contrast(l, luminance(darkCard)) < 4.5 {
		linkDark = "#a5b4fc"
	}
	b.Primary, b.OnPrimary, b.Link, b.LinkDark = template.CSS(primary), template.CSS(on), template.CSS(link), template.CSS(linkDark)
	return b
}

// luminance is the WCAG relative luminance of a #rrggbb colour.
func luminance(hex string) float64 {
	n, _ := strconv.ParseUint(strings.TrimPrefix(hex, "#"), 16, 32)
	ch := func(v uint64) float64 {
		c := float64(v) / 255
		if c <= 0.03928 {
			return c / 12.92
		}
		return math.Pow((c+0.055)/1.055, 2.4)
	}
	return 0.2126*ch(n>>16&0xff) + 0.7152*ch(n>>8&0xff) + 0.0722*ch(n&0xff)
}

func contrast(a, b float64) float64 {
	return (math.Max(a, b) + 0.05) / (math.Min(a, b) + 0.05)
}

// assets are the embedded CSS and logo, served under /authkit/assets/.
type assets struct {
	files map[string]asset
	urls  assetURLs
}

type asset struct {
	body        []byte
	contentType string
}

// assetURLs carry a content hash, so browsers may keep the files long.
type assetURLs struct{ CSS, Logo string }

func loadAssets() assets {
	a := assets{files: map[string]asset{}}
	types := map[string]string{".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}
	entries, _ := fs.ReadDir(assetFS, "assets")
	for _, e := range entries {
		body, _ := assetFS.ReadFile("assets/" + e.Name()) // embedded: cannot fail
		ext := e.Name()[strings.LastIndexByte(e.Name(), '.'):]
		a.files[e.Name()] = asset{body: body, contentType: types[ext]}
	}
	version := func(name string) string {
		sum := sha256.Sum256(a.files[name].body)
		return "/authkit/assets/" + name + "?v=" + hex.EncodeToString(sum[:4])
	}
	a.urls = assetURLs{CSS: version("style.css"), Logo: version("logo.svg")}
	return a
}

func (a assets) serve(w http.ResponseWriter, r *http.Request, name string) {
	f, ok := a.files[name]
	if !ok || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", f.contentType)
	w.Header().Set("Cache-Control", "public, max-age=86400")
	w.Header().Set("Content-Length", strconv.Itoa(len(f.body)))
	if r.Method == http.MethodGet {
		_, _ = w.Write(f.body)
	}
}
