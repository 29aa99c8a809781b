package devmail

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"html"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keywayhq/keyway/infra/mail"
)

var brand = mail.Branding{AppName: "Acme", SenderEmail: "no-reply@acme.example"}

func newOutbox(t *testing.T, opts ...Option) (*Outbox, string, *bytes.Buffer) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "outbox")
	var logs bytes.Buffer
	return New(dir, slog.New(slog.NewTextHandler(&logs, nil)), opts...), dir, &logs
}

func send(t *testing.T, o *Outbox, m mail.Message) {
	t.Helper()
	if err := o.Send(context.Background(), m); err != nil {
		t.Fatalf("Send: %v", err)
	}
}

func TestSendWritesFileAndLogs(t *testing.T) {
	o, dir, logs := newOutbox(t)
	m := mail.MagicAuth(brand, "ada@example.com", "918273", 10*time.Minute)
	m.Environment = "environment_01DEV"
	send(t, o, m)

	fi, err := os.Stat(dir)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("dir mode = %v, %v; want 0700", fi.Mode().Perm(), err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || !strings.HasSuffix(entries[0].Name(), ".json") {
		t.Fatalf("dir holds %v, want one .json file", entries)
	}
	path := filepath.Join(dir, entries[0].Name())
	info, _ := os.Stat(path)
	if info.Mode().Perm() != 0o600 {
		t.Errorf("file mode = %v, want 0600", info.Mode().Perm())
	}
	b, _ := os.ReadFile(path)
	var s Stored
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	if s.Message != m || s.ID+".json" != entries[0].Name() || s.At.IsZero() {
		t.Errorf("file holds %+v", s)
	}

	line := logs.String()
	if strings.Count(line, "\n") != 1 {
		t.Errorf("want one log line, got:\n%s", line)
	}
	for _, want := range []string{"ada@example.com", m.Subject, "918273", "kind=magic_auth"} {
		if !strings.Contains(line, want) {
			t.Errorf("log lacks %q:\n%s", want, line)
		}
	}

	got, ok := o.Latest("ADA@example.com")
	if !ok || got.Message != m {
		t.Errorf("Latest = %+v, %v", got, ok)
	}
}

func TestSendRejectsInvalidMessages(t *testing.T) {
	o, dir, logs := newOutbox(t)
	m := mail.MagicAuth(brand, "ada@example.com", "1", time.Minute)
	m.Subject = "Hi\r\nBcc: victim@example.com"
	if err := o.Send(context.Background(), m); !errors.Is(err, mail.ErrInvalidMessage) {
		t.Fatalf("Send = %v, want ErrInvalidMessage", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 || len(o.Messages()) != 0 || logs.Len() != 0 {
		t.Errorf("an invalid message was kept, written or logged")
	}
}

func TestKeepsNewestN(t *testing.T) {
	o, dir, _ := newOutbox(t, WithKeep(3))
	for _, code := range []string{"000001", "000002", "000003", "000004", "000005"} {
		send(t, o, mail.MagicAuth(brand, "u"+code+"@example.com", code, time.Minute))
	}
	msgs := o.Messages()
	if len(msgs) != 3 {
		t.Fatalf("kept %d messages, want 3", len(msgs))
	}
	for i, want := range []string{"u000005@example.com", "u000004@example.com", "u000003@example.com"} {
		if msgs[i].To != want {
			t.Errorf("Messages()[%d].To = %q, want %q (newest first)", i, msgs[i].To, want)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 5 {
		t.Errorf("dir holds %d files, want all 5", len(entries))
	}

	// A new outbox on the same dir shows the newest messages of the last run.
	again := New(dir, slog.New(slog.DiscardHandler), WithKeep(2))
	msgs = again.Messages()
	if len(msgs) != 2 || msgs[0].To != "u000005@example.com" || msgs[1].To != "u000004@example.com" {
		t.Errorf("reloaded %+v", msgs)
	}
}

func TestMemoryOnlyAndBadDir(t *testing.T) {
	o := New("", nil)
	send(t, o, mail.MagicAuth(brand, "a@example.com", "1", time.Minute))
	if len(o.Messages()) != 1 {
		t.Errorf("memory-only outbox kept %d", len(o.Messages()))
	}
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o600)
	bad := New(filepath.Join(file, "sub"), slog.New(slog.DiscardHandler))
	if err := bad.Send(context.Background(), mail.MagicAuth(brand, "a@example.com", "1", time.Minute)); err == nil {
		t.Error("Send into an impossible dir succeeded")
	}
}

// get serves one request from addr with the given Host and headers.
func get(o *Outbox, target, remote, host string, hdr ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodGet, target, nil)
	r.RemoteAddr = remote
	r.Host = host
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Add(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	o.Handler().ServeHTTP(w, r)
	return w
}

func TestLoopbackOnly(t *testing.T) {
	o, _, _ := newOutbox(t)
	send(t, o, mail.MagicAuth(brand, "ada@example.com", "555666", time.Minute))
	cases := []struct {
		name, remote, host string
		hdr                []string
		want               int
	}{
		{"ipv4 loopback", "127.0.0.1:5000", "localhost:8080", nil, 200},
		{"other 127/8", "127.0.0.2:5000", "127.0.0.1:8080", nil, 200},
		{"ipv6 loopback", "[::1]:5000", "[::1]:8080", nil, 200},
		{"mapped loopback", "[::ffff:127.0.0.1]:5000", "keyway.localhost", nil, 200},
		{"lan address", "192.168.1.20:5000", "localhost:8080", nil, 403},
		{"public address", "203.0.113.9:5000", "localhost", nil, 403},
		{"ipv6 public", "[2001:db8::1]:5000", "localhost", nil, 403},
		{"unspecified", "0.0.0.0:5000", "localhost", nil, 403},
		{"garbage remote", "nonsense", "localhost", nil, 403},
		{"rebinding host", "127.0.0.1:5000", "evil.example:8080", nil, 403},
		{"localhost suffix trick", "127.0.0.1:5000", "localhost.evil.example", nil, 403},
		{"forwarded public", "127.0.0.1:5000", "localhost", []string{"X-Forwarded-For", "203.0.113.9"}, 403},
		{"forwarded chain", "127.0.0.1:5000", "localhost", []string{"X-Forwarded-For", "127.0.0.1, 203.0.113.9"}, 403},
		{"forwarded loopback", "127.0.0.1:5000", "localhost", []string{"X-Forwarded-For", "127.0.0.1"}, 200},
		{"real ip public", "127.0.0.1:5000", "localhost", []string{"X-Real-IP", "203.0.113.9"}, 403},
		{"rfc7239 public", "127.0.0.1:5000", "localhost", []string{"Forwarded", `for="203.0.113.9:1";proto=http`}, 403},
		{"rfc7239 loopback", "127.0.0.1:5000", "localhost", []string{"Forwarded", `for="[::1]:1"`}, 200},
	}
	for _, c := range cases {
		for _, target := range []string{"/", "/?format=json"} {
			w := get(o, target, c.remote, c.host, c.hdr...)
			if w.Code != c.want {
				t.Errorf("%s %s: status %d, want %d", c.name, target, w.Code, c.want)
			}
			if c.want == 403 && strings.Contains(w.Body.String(), "555666") {
				t.Errorf("%s: a refused request got the message", c.name)
			}
		}
	}
}

func TestInboxPage(t *testing.T) {
	o, _, _ := newOutbox(t)
	first := mail.MagicAuth(brand, "first@example.com", "111111", time.Minute)
	second := mail.Invitation(brand, "second@example.com", "https://acme.example/i?t=1&u=2", `<script>alert(1)</script>`, "Org", time.Hour)
	send(t, o, first)
	send(t, o, second)

	w := get(o, "/dev/outbox", "127.0.0.1:5000", "localhost:8080")
	if w.Code != 200 || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("status %d, %q", w.Code, w.Header().Get("Content-Type"))
	}
	csp := w.Header().Get("Content-Security-Policy")
	if !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "script-src") {
		t.Errorf("CSP = %q", csp)
	}
	page := w.Body.String()
	i1, i2 := strings.Index(page, "first@example.com"), strings.Index(page, "second@example.com")
	if i1 < 0 || i2 < 0 || i2 > i1 {
		t.Errorf("list is not newest first (first at %d, second at %d)", i1, i2)
	}
	if strings.Contains(page, "<script>") || !strings.Contains(page, "&lt;script&gt;") {
		t.Errorf("subject not escaped in the list")
	}
	assertNoExternalLoads(t, page)

	// Open the invitation.
	id := o.Messages()[0].ID
	w = get(o, "/dev/outbox?id="+id, "127.0.0.1:5000", "localhost:8080")
	if w.Code != 200 {
		t.Fatalf("message page: %d", w.Code)
	}
	page = w.Body.String()
	if strings.Contains(page, "<script>") {
		t.Errorf("message page contains an unescaped script")
	}
	if !strings.Contains(page, "https://acme.example/i?t=1&amp;u=2") {
		t.Errorf("text part not shown (escaped)")
	}
	iframe := regexp.MustCompile(`<iframe[^>]*>`).FindString(page)
	if !strings.Contains(iframe, `sandbox="allow-popups allow-popups-to-escape-sandbox"`) || strings.Contains(iframe, "allow-scripts") || strings.Contains(iframe, "allow-same-origin") {
		t.Errorf("iframe not sandboxed: %s", iframe)
	}
	src := regexp.MustCompile(`srcdoc="([^"]*)"`).FindStringSubmatch(iframe)
	if src == nil {
		t.Fatalf("iframe has no srcdoc: %s", iframe)
	}
	if got := html.UnescapeString(src[1]); got != `<base target="_blank">`+second.HTML {
		t.Errorf("srcdoc does not decode to the HTML part:\n%s", got)
	}
	assertNoExternalLoads(t, strings.Replace(page, src[1], "", 1))

	if w := get(o, "/?id=nope", "127.0.0.1:5000", "localhost"); w.Code != 404 {
		t.Errorf("unknown id: %d", w.Code)
	}
	r := httptest.NewRequest(http.MethodPost, "/", nil)
	r.RemoteAddr, r.Host = "127.0.0.1:1", "localhost"
	rec := httptest.NewRecorder()
	o.Handler().ServeHTTP(rec, r)
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", rec.Code)
	}
}

func TestEmptyInbox(t *testing.T) {
	o, _, _ := newOutbox(t)
	w := get(o, "/", "127.0.0.1:5000", "localhost")
	if w.Code != 200 || !strings.Contains(w.Body.String(), "No messages yet") {
		t.Errorf("empty inbox: %d %s", w.Code, w.Body.String())
	}
	w = get(o, "/?format=json", "127.0.0.1:5000", "localhost")
	if strings.TrimSpace(w.Body.String()) != `{"messages":[]}` {
		t.Errorf("empty JSON = %s", w.Body.String())
	}
}

// assertNoExternalLoads fails when the page references anything outside
// itself (stylesheets, scripts, images, fonts).
func assertNoExternalLoads(t *testing.T, page string) {
	t.Helper()
	for _, bad := range []string{"<script", "<link", `src="http`, `src="//`, "@import", "url(", `href="http`, `href="//`} {
		if strings.Contains(page, bad) {
			t.Errorf("page contains %q", bad)
		}
	}
}

func TestJSONOutput(t *testing.T) {
	o, _, _ := newOutbox(t)
	a := mail.MagicAuth(brand, "a@example.com", "123123", time.Minute)
	b := mail.PasswordReset(brand, "b@example.com", "https://acme.example/r?t=x", time.Hour)
	b.Environment = "env_1"
	send(t, o, a)
	send(t, o, b)

	// Served by a real loopback listener, as a test of another package would use it.
	srv := httptest.NewServer(o.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/?format=json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("status %d, %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var list struct {
		Messages []struct {
			ID, To, Subject, Text, HTML, Kind, Environment string
			At                                             time.Time
		} `json:"messages"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		t.Fatal(err)
	}
	if len(list.Messages) != 2 {
		t.Fatalf("got %d messages", len(list.Messages))
	}
	got := list.Messages[0]
	if got.To != b.To || got.Subject != b.Subject || got.Text != b.Text || got.HTML != b.HTML ||
		got.Kind != mail.KindPasswordReset || got.Environment != "env_1" || got.ID == "" || got.At.IsZero() {
		t.Errorf("newest message = %+v", got)
	}
	if list.Messages[1].To != a.To || !strings.Contains(list.Messages[1].Text, "123123") {
		t.Errorf("older message = %+v", list.Messages[1])
	}

	resp2, err := http.Get(srv.URL + "/?format=json&id=" + got.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer resp2.Body.Close()
	var one Stored
	if err := json.NewDecoder(resp2.Body).Decode(&one); err != nil || one.Message != b {
		t.Errorf("single message = %+v, %v", one, err)
	}
	resp3, err := http.Get(srv.URL + "/?format=json&id=missing")
	if err != nil {
		t.Fatal(err)
	}
	resp3.Body.Close()
	if resp3.StatusCode != 404 || resp3.Header.Get("Content-Type") != "application/json" {
		t.Errorf("missing id: %d %q", resp3.StatusCode, resp3.Header.Get("Content-Type"))
	}
}
