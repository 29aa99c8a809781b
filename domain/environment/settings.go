package environment

import (
	"net"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/keywayhq/keyway/domain"
)

// Settings are an environment's hosted-login settings: where authorization
// codes may be sent, where logout may return to, and the branding of the
// hosted pages.
type Settings struct {
	RedirectURIs []string `json:"redirect_uris"`
	LogoutURLs   []string `json:"logout_redirect_uris"`
	AppName      string   `json:"app_name"`
	LogoURL      string   `json:"logo_url"`
	PrimaryColor string   `json:"primary_color"`
}

// Limits of the settings.
const (
	MaxURIs       = 32
	MaxURILength  = 2048
	MaxAppNameLen = 64
)

var colorRE = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)

// Equal reports whether two settings are the same.
func (s Settings) Equal(o Settings) bool {
	return slices.Equal(s.RedirectURIs, o.RedirectURIs) && slices.Equal(s.LogoutURLs, o.LogoutURLs) &&
		s.AppName == o.AppName && s.LogoURL == o.LogoURL && s.PrimaryColor == o.PrimaryColor
}

// Normalize validates the settings of an environment of type typ and
// returns them with whitespace trimmed, duplicates dropped and the colour
// lower-cased. URLs must be absolute http(s) URLs without a fragment or
// user info; plain http is allowed only for loopback hosts, or anywhere in
// a staging environment.
func (s Settings) Normalize(typ string) (Settings, error) {
	var out Settings
	var err error
	if out.RedirectURIs, err = normalizeURLs("redirect_uris", s.RedirectURIs, typ); err != nil {
		return Settings{}, err
	}
	if out.LogoutURLs, err = normalizeURLs("logout_redirect_uris", s.LogoutURLs, typ); err != nil {
		return Settings{}, err
	}
	out.AppName = strings.TrimSpace(s.AppName)
	if utf8.RuneCountInString(out.AppName) > MaxAppNameLen || strings.IndexFunc(out.AppName, unicode.IsControl) >= 0 {
		return Settings{}, domain.InvalidField("app_name", "invalid_app_name", "app_name is at most %d characters, without control characters.", MaxAppNameLen)
	}
	if out.LogoURL = strings.TrimSpace(s.LogoURL); out.LogoURL != "" {
		if _, msg := CheckURL(out.LogoURL, Production); msg != "" {
			return Settings{}, domain.InvalidField("logo_url", "invalid_logo_url", "logo_url %s", msg)
		}
	}
	if out.PrimaryColor = strings.ToLower(strings.TrimSpace(s.PrimaryColor)); out.PrimaryColor != "" && !colorRE.MatchString(out.PrimaryColor) {
		return Settings{}, domain.InvalidField("primary_color", "invalid_primary_color", "primary_color is a hex colour such as #4f46e5.")
	}
	return out, nil
}

// ValidColor reports whether c is a #rrggbb colour.
func ValidColor(c string) bool { return colorRE.MatchString(c) }

func normalizeURLs(field string, in []string, typ string) ([]string, error) {
	out := []string{}
	for _, raw := range in {
		u := strings.TrimSpace(raw)
		if u == "" {
			continue
		}
		if _, msg := CheckURL(u, typ); msg != "" {
			return nil, domain.InvalidField(field, "invalid_uri", "%s: %q %s", field, u, msg)
		}
		if !slices.Contains(out, u) {
			out = append(out, u)
		}
	}
	if len(out) > MaxURIs {
		return nil, domain.InvalidField(field, "too_many_uris", "%s holds at most %d URLs.", field, MaxURIs)
	}
	return out, nil
}

// CheckURL parses a URL a browser may be sent to and returns why it is
// refused ("" if it is fine).
func CheckURL(raw, typ string) (*url.URL, string) {
	if len(raw) > MaxURILength {
		return nil, "is longer than 2048 characters"
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "" {
		return nil, "is not an absolute URL"
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return nil, "must not have a fragment"
	}
	if u.User != nil {
		return nil, "must not carry user info"
	}
	switch u.Scheme {
	case "https":
	case "http":
		if typ != Staging && !IsLoopback(u.Hostname()) {
			return nil, "must use https outside staging, except on localhost"
		}
	default:
		return nil, "must be http or https"
	}
	return u, ""
}

// IsLoopback reports whether host is localhost or a loopback address.
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
