package authkit

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"
)

// Cookies of the hosted pages.
const (
	// SessionCookie holds the hosted session's token.
	SessionCookie = "keyway_session"
	csrfCookie    = "keyway_csrf"
	// sessionMaxAge is the session cookie's lifetime (the app's hosted
	// session lasts an hour by default).
	sessionMaxAge = 3600
)

// maxFormBytes limits POST bodies: the largest form holds a few sealed values.
const maxFormBytes = 64 << 10

// isHTTPS reports whether the browser reached us over TLS, directly or
// through a proxy that says so.
func isHTTPS(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	proto, _, _ := strings.Cut(r.Header.Get("X-Forwarded-Proto"), ",")
	return strings.EqualFold(strings.TrimSpace(proto), "https")
}

// cookie is a cookie of the pages: HttpOnly, SameSite=Lax, Secure over HTTPS.
// A negative maxAge deletes it; zero makes it last the browser session.
func cookie(r *http.Request, name, value, path string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: name, Value: value, Path: path, MaxAge: maxAge,
		HttpOnly: true, Secure: isHTTPS(r), SameSite: http.SameSiteLaxMode}
}

// csrfMAC is the form token of a CSRF cookie value: the double-submit is
// signed, so a cookie planted by a sibling subdomain is useless without
// the server's key.
func csrfMAC(key []byte, value string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(value))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// validCSRFValue reports whether v looks like a cookie value we issued.
func validCSRFValue(v string) bool {
	b, err := base64.RawURLEncoding.DecodeString(v)
	return err == nil && len(b) == 32
}

// csrfToken returns the token the forms of this response carry, setting
// the CSRF cookie first when the browser has none.
func (c *call) csrfToken() string {
	if c.csrfValue == "" {
		if ck, err := c.r.Cookie(csrfCookie); err == nil && validCSRFValue(ck.Value) {
			c.csrfValue = ck.Value
		} else {
			b := make([]byte, 32)
			rand.Read(b)
			c.csrfValue = base64.RawURLEncoding.EncodeToString(b)
			http.SetCookie(c.w, cookie(c.r, csrfCookie, c.csrfValue, "/", 0))
		}
	}
	return csrfMAC(c.keys.csrf, c.csrfValue)
}

// csrfOK checks the form's token against the cookie, in constant time.
func (c *call) csrfOK() bool {
	ck, err := c.r.Cookie(csrfCookie)
	if err != nil || !validCSRFValue(ck.Value) {
		return false
	}
	want := csrfMAC(c.keys.csrf, ck.Value)
	return hmac.Equal([]byte(c.form.Get("csrf")), []byte(want))
}

var (
	errFormTooLarge = errors.New("authkit: form too large")
	errBadForm      = errors.New("authkit: form could not be read")
)

// readForm reads a urlencoded POST body strictly: at most 64 KiB, valid
// UTF-8, each field once. The query string is never mixed in.
func readForm(w http.ResponseWriter, r *http.Request) (url.Values, error) {
	ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || ct != "application/x-www-form-urlencoded" {
		return nil, errBadForm
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxFormBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, errFormTooLarge
		}
		return nil, errBadForm
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, errBadForm
	}
	for k, vs := range form {
		if len(vs) != 1 || !utf8.ValidString(k) || !utf8.ValidString(vs[0]) {
			return nil, errBadForm
		}
	}
	return form, nil
}
