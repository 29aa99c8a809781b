// Package serve_test runs the real keyway binary: first-start seeding,
// data that survives a restart, graceful shutdown, and the HTTP throughput
// benchmarks of keyway serve.
package serve_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
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
	keywayBin = filepath.Join(dir, "keyway")
	root, err := peers.RepoRoot()
	if err == nil {
		cmd := exec.Command("go", "build", "-o", keywayBin, "./cmd/keyway")
		cmd.Dir = root
		var out []byte
		if out, err = cmd.CombinedOutput(); err != nil {
			err = fmt.Errorf("%v\n%s", err, out)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "build keyway:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// server is a running keyway serve.
type server struct {
	cmd  *exec.Cmd
	url  string
	out  *syncBuffer
	done chan error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// start runs keyway serve in dir with env and waits until it is healthy.
func start(t testing.TB, dir string, env ...string) *server {
	t.Helper()
	port, err := peers.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	s := &server{url: fmt.Sprintf("http://127.0.0.1:%d", port), out: &syncBuffer{}, done: make(chan error, 1)}
	s.cmd = exec.Command(keywayBin, "serve")
	s.cmd.Dir = dir
	s.cmd.Env = append(os.Environ(), append([]string{fmt.Sprintf("KEYWAY_ADDR=127.0.0.1:%d", port), "KEYWAY_LOG_LEVEL=warn"}, env...)...)
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.done <- s.cmd.Wait() }()
	t.Cleanup(func() { s.stop(t) })
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(s.url + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return s
			}
		}
		select {
		case err := <-s.done:
			t.Fatalf("keyway serve exited: %v\n%s", err, s.out)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("keyway serve not healthy after 20 s\n%s", s.out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop sends SIGTERM and requires a clean exit within 10 s.
func (s *server) stop(t testing.TB) {
	t.Helper()
	if s.cmd.ProcessState != nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.done:
		if err != nil {
			t.Errorf("keyway serve exited with %v after SIGTERM\n%s", err, s.out)
		}
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		t.Errorf("keyway serve did not stop within 10 s of SIGTERM")
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
	key := keyLine.FindStringSubmatch(s.out.String())
	client := clientLine.FindStringSubmatch(s.out.String())
	if key == nil || client == nil {
		t.Fatalf("first start did not print the key and client id:\n%s", s.out)
	}
	status, u := call(t, "POST", s.url+"/user_management/users", key[1], `{"email":"persist@example.com"}`)
	if status != 201 {
		t.Fatalf("create: %d %v", status, u)
	}
	s.stop(t)
	if _, err := os.Stat(filepath.Join(dir, ".keyway", "keyway.db")); err != nil {
		t.Fatalf("no data under ./.keyway: %v", err)
	}

	s = start(t, dir)
	if keyLine.MatchString(s.out.String()) {
		t.Fatalf("restart printed a new key:\n%s", s.out)
	}
	if !strings.Contains(s.out.String(), client[1]) {
		t.Fatalf("restart did not print the same client id %s:\n%s", client[1], s.out)
	}
	status, got := call(t, "GET", s.url+"/user_management/users/"+u["id"].(string), key[1], "")
	if status != 200 || got["email"] != "persist@example.com" {
		t.Fatalf("after restart: %d %v", status, got)
	}
}

func TestFixedKeyAndClientID(t *testing.T) {
	const key = "sk_test_fixedfixedfixedfixedfixed1234"
	const client = "client_01JABCDEFGHJKMNPQRSTVWXYZ0"
	s := start(t, t.TempDir(), "KEYWAY_DATA_DIR="+t.TempDir(), "KEYWAY_API_KEY="+key, "KEYWAY_CLIENT_ID="+client)
	if keyLine.MatchString(s.out.String()) || !strings.Contains(s.out.String(), client) {
		t.Fatalf("fixed key/client id not used:\n%s", s.out)
	}
	if status, body := call(t, "GET", s.url+"/user_management/users", key, ""); status != 200 {
		t.Fatalf("list with the fixed key: %d %v", status, body)
	}
	if status, _ := call(t, "GET", s.url+"/user_management/users", "sk_test_other", ""); status != 401 {
		t.Fatalf("other key: %d", status)
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
	m := keyLine.FindStringSubmatch(s.out.String())
	if m == nil {
		b.Fatalf("no key printed:\n%s", s.out)
	}
	return s.url, m[1]
}

func BenchmarkPostUser(b *testing.B) {
	url, key := bench(b)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	var n sync.Mutex
	i := 0
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n.Lock()
			i++
			body := fmt.Sprintf(`{"email":"bench%d@example.com","first_name":"Bench"}`, i)
			n.Unlock()
			req, _ := http.NewRequest("POST", url+"/user_management/users", strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+key)
			resp, err := client.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 201 {
				b.Fatalf("status %d", resp.StatusCode)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}

func BenchmarkGetUser(b *testing.B) {
	url, key := bench(b)
	status, u := call(b, "POST", url+"/user_management/users", key, `{"email":"get@example.com"}`)
	if status != 201 {
		b.Fatal(status)
	}
	target := url + "/user_management/users/" + u["id"].(string)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest("GET", target, nil)
			req.Header.Set("Authorization", "Bearer "+key)
			resp, err := client.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Fatalf("status %d", resp.StatusCode)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}
