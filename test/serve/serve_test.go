// Package serve_test runs the real keyway binary: first-start seeding,
// data that survives a restart, graceful shutdown, and the HTTP throughput
// benchmarks of keyway serve.
package serve_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keywayhq/keyway/test/peers"
)

var keywayBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "keyway-serve")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	keywayBin, err = peers.BuildKeyway(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "build keyway:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// start runs keyway serve in dir with env and waits until it is healthy.
func start(t testing.TB, dir string, env ...string) *peers.Peer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := peers.StartKeyway(ctx, keywayBin, dir, append([]string{"KEYWAY_LOG_LEVEL=warn"}, env...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stop(t, s) })
	return s
}

// stop sends SIGTERM and requires a clean exit within 10 s.
func stop(t testing.TB, s *peers.Peer) {
	t.Helper()
	if s.Exited() {
		return
	}
	if err := s.Terminate(10 * time.Second); err != nil {
		t.Errorf("%v\n%s", err, s.Output())
	}
}

var keyLine = regexp.MustCompile(`WORKOS_API_KEY=(sk_test_[a-z0-9]+)`)
var clientLine = regexp.MustCompile(`WORKOS_CLIENT_ID=(client_[0-9A-Z]{26})`)

func call(t testing.TB, method, url, key, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	b, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(b, &out)
	return resp.StatusCode, out
}

func TestFirstStartSeedsAndDataSurvivesARestart(t *testing.T) {
	dir := t.TempDir() // the working directory: data goes to ./.keyway by default
	s := start(t, dir)
	key := keyLine.FindStringSubmatch(s.Output())
	client := clientLine.FindStringSubmatch(s.Output())
	if key == nil || client == nil {
		t.Fatalf("first start did not print the key and client id:\n%s", s.Output())
	}
	status, u := call(t, "POST", s.URL+"/user_management/users", key[1], `{"email":"persist@example.com"}`)
	if status != 201 {
		t.Fatalf("create: %d %v", status, u)
	}
	stop(t, s)
	if _, err := os.Stat(filepath.Join(dir, ".keyway", "keyway.db")); err != nil {
		t.Fatalf("no data under ./.keyway: %v", err)
	}

	s = start(t, dir)
	if keyLine.MatchString(s.Output()) {
		t.Fatalf("restart printed a new key:\n%s", s.Output())
	}
	if !strings.Contains(s.Output(), client[1]) {
		t.Fatalf("restart did not print the same client id %s:\n%s", client[1], s.Output())
	}
	status, got := call(t, "GET", s.URL+"/user_management/users/"+u["id"].(string), key[1], "")
	if status != 200 || got["email"] != "persist@example.com" {
		t.Fatalf("after restart: %d %v", status, got)
	}
}

func TestFixedKeyAndClientID(t *testing.T) {
	const key = "sk_test_fixedfixedfixedfixedfixed1234"
	const client = "client_01JABCDEFGHJKMNPQRSTVWXYZ0"
	s := start(t, t.TempDir(), "KEYWAY_DATA_DIR="+t.TempDir(), "KEYWAY_API_KEY="+key, "KEYWAY_CLIENT_ID="+client)
	if keyLine.MatchString(s.Output()) || !strings.Contains(s.Output(), client) {
		t.Fatalf("fixed key/client id not used:\n%s", s.Output())
	}
	if status, body := call(t, "GET", s.URL+"/user_management/users", key, ""); status != 200 {
		t.Fatalf("list with the fixed key: %d %v", status, body)
	}
	if status, _ := call(t, "GET", s.URL+"/user_management/users", "sk_test_other", ""); status != 401 {
		t.Fatalf("other key: %d", status)
	}
}

// The first start registers the default redirect URI; KEYWAY_REDIRECT_URIS
// replaces the list on a later start, and a start without it keeps what is
// registered.
func TestRedirectURISeeding(t *testing.T) {
	const key = "sk_test_redirectsredirectsredirects12"
	dir, data := t.TempDir(), "KEYWAY_DATA_DIR="+t.TempDir()
	settings := func(s *peers.Peer) map[string]any {
		t.Helper()
		status, body := call(t, "GET", s.URL+"/keyway/settings", key, "")
		if status != 200 {
			t.Fatalf("GET /keyway/settings: %d %v", status, body)
		}
		return body
	}
	uris := func(v any) string {
		var out []string
		for _, u := range v.([]any) {
			out = append(out, u.(string))
		}
		return strings.Join(out, ",")
	}
	s := start(t, dir, data, "KEYWAY_API_KEY="+key)
	if got := settings(s); uris(got["redirect_uris"]) != "http://localhost:3000/callback" || uris(got["logout_redirect_uris"]) != "http://localhost:3000" {
		t.Fatalf("first start: %v", got)
	}
	if !strings.Contains(s.Output(), "redirect URIs: http://localhost:3000/callback") {
		t.Fatalf("serve did not print the redirect URIs:\n%s", s.Output())
	}
	stop(t, s)
	s = start(t, dir, data, "KEYWAY_API_KEY="+key, "KEYWAY_REDIRECT_URIS=https://app.example.com/callback, http://localhost:4000/cb")
	if got := settings(s); uris(got["redirect_uris"]) != "https://app.example.com/callback,http://localhost:4000/cb" || uris(got["logout_redirect_uris"]) != "http://localhost:3000" {
		t.Fatalf("with KEYWAY_REDIRECT_URIS: %v", got)
	}
	stop(t, s)
	s = start(t, dir, data, "KEYWAY_API_KEY="+key)
	if got := settings(s); uris(got["redirect_uris"]) != "https://app.example.com/callback,http://localhost:4000/cb" {
		t.Fatalf("a restart without KEYWAY_REDIRECT_URIS: %v", got)
	}
	stop(t, s)
	cmd := exec.Command(keywayBin, "serve")
	cmd.Env = append(os.Environ(), data, "KEYWAY_API_KEY="+key, "KEYWAY_ADDR=127.0.0.1:0", "KEYWAY_REDIRECT_URIS=javascript:alert(1)")
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "redirect_uris") {
		t.Fatalf("a bad KEYWAY_REDIRECT_URIS: exit %v, output %q", err, out)
	}
}

func TestBadSettingsFailClearly(t *testing.T) {
	for name, env := range map[string]string{"store": "KEYWAY_STORE=sqlite", "key": "KEYWAY_API_KEY=sk_live_wrongprefixforstaging0000000"} {
		cmd := exec.Command(keywayBin, "serve")
		cmd.Env = append(os.Environ(), env, "KEYWAY_DATA_DIR="+t.TempDir(), "KEYWAY_ADDR=127.0.0.1:0")
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "keyway:") {
			t.Errorf("%s: exit %v, output %q", name, err, out)
		}
	}
}

// bench starts one server for a benchmark and returns its URL and key.
func bench(b *testing.B) (string, string) {
	s := start(b, b.TempDir(), "KEYWAY_DATA_DIR="+b.TempDir())
	m := keyLine.FindStringSubmatch(s.Output())
	if m == nil {
		b.Fatalf("no key printed:\n%s", s.Output())
	}
	return s.URL, m[1]
}

func BenchmarkPostUser(b *testing.B) {
	url, key := bench(b)
	var i atomic.Int64
	load(b, key, 201, func() *http.Request {
		body := fmt.Sprintf(`{"email":"bench%d@example.com","first_name":"Bench"}`, i.Add(1))
		req, _ := http.NewRequest("POST", url+"/user_management/users", strings.NewReader(body))
		return req
	})
}

func BenchmarkGetUser(b *testing.B) {
	url, key := bench(b)
	status, u := call(b, "POST", url+"/user_management/users", key, `{"email":"get@example.com"}`)
	if status != 201 {
		b.Fatal(status)
	}
	target := url + "/user_management/users/" + u["id"].(string)
	load(b, key, 200, func() *http.Request {
		req, _ := http.NewRequest("GET", target, nil)
		return req
	})
}

// load sends the requests that next builds (with key) from parallel
// goroutines until b.N are done, requires status want for each, and reports
// the throughput.
func load(b *testing.B, key string, want int, next func() *http.Request) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := next()
			req.Header.Set("Authorization", "Bearer "+key)
			resp, err := client.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != want {
				b.Fatalf("status %d", resp.StatusCode)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}

// keyway settings and keyway redirect-uris change what the API shows, and
// refuse a bad URL without changing anything.
func TestSettingsCommands(t *testing.T) {
	data := "KEYWAY_DATA_DIR=" + t.TempDir()
	run := func(args ...string) (string, error) {
		cmd := exec.Command(keywayBin, args...)
		cmd.Env = append(os.Environ(), data, "KEYWAY_LOG_LEVEL=warn")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := run("env", "create", "staging"); err != nil {
		t.Fatalf("env create: %v\n%s", err, out)
	}
	out, err := run("settings", "staging", "-redirect-uris", "https://a.example/cb, http://localhost:3000/callback", "-app-name", "Acme", "-primary-color", "#4F46E5")
	if err != nil || !strings.Contains(out, `"primary_color": "#4f46e5"`) || !strings.Contains(out, `"app_name": "Acme"`) {
		t.Fatalf("settings: %v\n%s", err, out)
	}
	if out, err := run("redirect-uris", "add", "staging", "javascript:alert(1)"); err == nil || !strings.Contains(out, "redirect_uris") {
		t.Fatalf("a bad URI: %v\n%s", err, out)
	}
	if out, err := run("redirect-uris", "remove", "staging", "https://a.example/cb"); err != nil || strings.TrimSpace(out) != "http://localhost:3000/callback" {
		t.Fatalf("remove: %v\n%s", err, out)
	}
	if out, err := run("redirect-uris", "list", "staging"); err != nil || strings.TrimSpace(out) != "http://localhost:3000/callback" {
		t.Fatalf("list: %v\n%s", err, out)
	}
}
