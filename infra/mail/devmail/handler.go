package devmail

import (
	"bytes"
	"embed"
	"encoding/json"
	"html/template"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

//go:embed assets
var assetFS embed.FS

var (
	pageCSS  = template.CSS(mustRead("assets/style.css"))
	pageTmpl = template.Must(template.New("inbox").Funcs(template.FuncMap{
		// srcdoc returns the email's HTML for the sandboxed iframe, with a
		// base target so its links open in a new tab (the sandbox blocks
		// navigating the frame itself). html/template escapes it as an
		// attribute value.
		"srcdoc": func(html string) string { return `<base target="_blank">` + html },
	}).ParseFS(assetFS, "assets/inbox.html.tmpl"))
)

func mustRead(name string) string {
	b, err := assetFS.ReadFile(name)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// contentSecurityPolicy allows nothing to load: the inbox's CSS is inline,
// and the iframe's srcdoc document inherits this policy, so an email can
// use inline styles but cannot run scripts or fetch anything.
const contentSecurityPolicy = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; " +
	"base-uri 'none'; form-action 'none'"

type pageData struct {
	CSS      template.CSS
	Messages []Stored
	Current  *Stored
}

type listJSON struct {
	Messages []Stored `json:"messages"`
}

// Handler serves the inbox. It works under any mount path and routes by
// query: no query lists the messages (newest first), ?id=ID shows one
// (text part, and the HTML part in a sandboxed iframe), and format=json
// returns the list ({"messages":[...]}) or the one message as JSON.
// Requests from a non-loopback address, or naming a Host other than
// localhost or a loopback address (DNS rebinding), get 403.
func (o *Outbox) Handler() http.Handler {
	return http.HandlerFunc(o.serve)
}

func (o *Outbox) serve(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")

	if !isLocalRequest(r) {
		http.Error(w, "devmail: the dev outbox is local-only", http.StatusForbidden)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}

	q := r.URL.Query()
	id := q.Get("id")
	asJSON := q.Get("format") == "json"

	var cur *Stored
	if id != "" {
		s, ok := o.Message(id)
		if !ok {
			if asJSON {
				writeJSON(w, http.StatusNotFound, map[string]string{"error": "message not found"})
			} else {
				http.Error(w, "message not found", http.StatusNotFound)
			}
			return
		}
		cur = &s
	}

	if asJSON {
		if cur != nil {
			writeJSON(w, http.StatusOK, cur)
		} else {
			writeJSON(w, http.StatusOK, listJSON{Messages: o.Messages()})
		}
		return
	}

	var buf bytes.Buffer
	if err := pageTmpl.ExecuteTemplate(&buf, "page", pageData{CSS: pageCSS, Messages: o.Messages(), Current: cur}); err != nil {
		http.Error(w, "devmail: render failed", http.StatusInternalServerError)
		return
	}
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf.Bytes())
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "devmail: encode failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// isLocalRequest reports whether r comes from a loopback address, names a
// local Host, and (when a local proxy added forwarding headers) was
// forwarded for a loopback client only.
func isLocalRequest(r *http.Request) bool {
	if !isLoopbackHostPort(r.RemoteAddr) {
		return false
	}
	if !isLocalHost(r.Host) {
		return false
	}
	for _, v := range r.Header.Values("X-Forwarded-For") {
		for _, part := range strings.Split(v, ",") {
			if !isLoopbackIP(strings.TrimSpace(part)) {
				return false
			}
		}
	}
	for _, v := range r.Header.Values("X-Real-Ip") {
		if !isLoopbackIP(strings.TrimSpace(v)) {
			return false
		}
	}
	for _, v := range r.Header.Values("Forwarded") {
		for _, elem := range strings.Split(v, ",") {
			for _, pair := range strings.Split(elem, ";") {
				k, val, _ := strings.Cut(strings.TrimSpace(pair), "=")
				if strings.EqualFold(k, "for") && !isLoopbackHostPort(strings.Trim(val, `"`)) && !isLoopbackIP(strings.Trim(val, `"[]`)) {
					return false
				}
			}
		}
	}
	return true
}

// isLoopbackHostPort reports whether "host:port" (or a bare host) is a
// loopback IP address.
func isLoopbackHostPort(s string) bool {
	host, _, err := net.SplitHostPort(s)
	if err != nil {
		host = s
	}
	return isLoopbackIP(host)
}

func isLoopbackIP(s string) bool {
	a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]"))
	return err == nil && a.Unmap().IsLoopback()
}

// isLocalHost reports whether a Host header names this machine: localhost,
// a *.localhost name, or a loopback IP, with or without a port.
func isLocalHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	return isLoopbackIP(host)
}
