// Package sdk_test runs the official WorkOS Node SDK suite (users.test.mjs
// and any other *.test.mjs here) against a real `keyway serve`, once on the
// embedded store and once on DynamoDB Local, and checks that the server shuts
// down cleanly on SIGTERM.
//
// It needs node 20+, test/node_modules and DynamoDB Local: run
// scripts/install-peers.sh once.
package sdk_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/keywayhq/keyway/test/peers"
)

// The staging credentials the server is seeded with.
const (
	stagingKey = "sk_test_keyway_sdk_suite_0123456789abcdef"
	clientID   = "client_01JABCDEFGHJKMNPQRSTVWXYZ0"
)

const (
	buildTimeout    = 2 * time.Minute
	peerTimeout     = 90 * time.Second
	commandTimeout  = 30 * time.Second // bootstrap, env create
	healthTimeout   = 30 * time.Second
	nodeTimeout     = 90 * time.Second
	shutdownTimeout = 10 * time.Second
	installHint     = "run scripts/install-peers.sh"
)

var (
	repoRoot  string
	keywayBin string
	ddb       *peers.Peer
)

func TestMain(m *testing.M) {
	os.Exit(setup(m))
}

// setup builds keyway and starts DynamoDB Local (in parallel), runs the
// tests, and cleans up.
func setup(m *testing.M) int {
	root, err := peers.RepoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "sdk:", err)
		return 1
	}
	repoRoot = root
	tmp, err := os.MkdirTemp("", "keyway-sdk-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "sdk:", err)
		return 1
	}
	defer os.RemoveAll(tmp)
	keywayBin = filepath.Join(tmp, "keyway")

	var wg sync.WaitGroup
	var buildErr, ddbErr error
	wg.Add(2)
	go func() {
		defer wg.Done()
		buildErr = buildKeyway(root, keywayBin)
	}()
	go func() {
		defer wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), peerTimeout)
		defer cancel()
		ddb, ddbErr = peers.StartDynamoDBLocal(ctx)
	}()
	wg.Wait()
	if ddb != nil {
		defer ddb.Stop()
	}
	if err := errors.Join(buildErr, ddbErr); err != nil {
		fmt.Fprintln(os.Stderr, "sdk:", err)
		return 1
	}
	return m.Run()
}

func buildKeyway(root, out string) error {
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, goTool, "build", "-o", out, "./cmd/keyway")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/keyway: %v\n%s", err, b)
	}
	return nil
}

func TestSDKEmbedded(t *testing.T) {
	requireNode(t)
	env := []string{
		"KEYWAY_STORE=embedded",
		"KEYWAY_DATA_DIR=" + t.TempDir(),
	}
	// The bbolt file is locked by a running server, so create the
	// production environment before serving.
	prodKey := createProduction(t, env)
	runSuite(t, env, prodKey)
}

func TestSDKDynamoDB(t *testing.T) {
	requireNode(t)
	if ddb == nil {
		t.Fatal("DynamoDB Local is not running (" + installHint + ")")
	}
	suffix := strconv.FormatInt(time.Now().UnixNano(), 36)
	env := []string{
		"KEYWAY_STORE=dynamodb",
		"KEYWAY_DATA_DIR=" + t.TempDir(),
		"KEYWAY_EVENTS_TABLE=keyway-sdk-events-" + suffix,
		"KEYWAY_STATE_TABLE=keyway-sdk-state-" + suffix,
		"AWS_ENDPOINT_URL_DYNAMODB=" + ddb.URL,
		"AWS_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=test",
		"AWS_SECRET_ACCESS_KEY=test",
		"AWS_EC2_METADATA_DISABLED=true",
	}
	out := keyway(t, env, "bootstrap")
	if !strings.Contains(out, "tables ready") {
		t.Fatalf("keyway bootstrap: unexpected output:\n%s", out)
	}
	prodKey := createProduction(t, env)
	runSuite(t, env, prodKey)
}

// requireNode fails (never skips) when node or the SDK is missing.
func requireNode(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatalf("node not found on PATH: %s", installHint)
	}
	sdk := filepath.Join(repoRoot, "test", "node_modules", "@workos-inc", "node", "package.json")
	if _, err := os.Stat(sdk); err != nil {
		t.Fatalf("@workos-inc/node is not installed in test/node_modules (%v): %s", err, installHint)
	}
}

// childEnv is this process's environment without any KEYWAY_* or AWS_*
// setting of the caller's shell, plus extra (later entries win).
func childEnv(extra ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "KEYWAY_") || strings.HasPrefix(kv, "AWS_") {
			continue
		}
		out = append(out, kv)
	}
	return append(out, extra...)
}

// keyway runs a keyway subcommand to completion and returns its stdout.
func keyway(t *testing.T, env []string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, keywayBin, args...)
	cmd.Env = childEnv(append([]string{"KEYWAY_LOG_LEVEL=warn"}, env...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("keyway %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

var liveKey = regexp.MustCompile(`WORKOS_API_KEY=(sk_live_[A-Za-z0-9_]{24,128})\b`)

// createProduction creates the production environment and returns its key.
func createProduction(t *testing.T, env []string) string {
	t.Helper()
	out := keyway(t, env, "env", "create", "production", "-type", "production")
	m := liveKey.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("keyway env create production: no WORKOS_API_KEY=sk_live_... in the output:\n%s", out)
	}
	return m[1]
}

// server is a running `keyway serve`.
type server struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	err  error // set before done is closed
	port int
}

func (s *server) exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// startServer runs keyway serve on a free port and waits for GET /health.
// It tries another port if the server exits during start-up (the port was
// taken in between).
func startServer(t *testing.T, env []string) *server {
	t.Helper()
	var last string
	for attempt := 0; attempt < 3; attempt++ {
		port, err := peers.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		s := &server{out: &syncBuffer{}, done: make(chan struct{}), port: port}
		s.cmd = exec.Command(keywayBin, "serve")
		s.cmd.Env = childEnv(append(append([]string{}, env...),
			"KEYWAY_ADDR=127.0.0.1:"+strconv.Itoa(port),
			"KEYWAY_API_KEY="+stagingKey,
			"KEYWAY_CLIENT_ID="+clientID,
			"KEYWAY_LOG_LEVEL=info",
		)...)
		s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
		if err := s.cmd.Start(); err != nil {
			t.Fatalf("start keyway serve: %v", err)
		}
		go func() {
			s.err = s.cmd.Wait()
			close(s.done)
		}()
		t.Cleanup(func() {
			if !s.exited() {
				_ = s.cmd.Process.Kill()
				<-s.done
			}
		})
		err = waitHealthy(s)
		if err == nil {
			return s
		}
		if !s.exited() {
			t.Fatalf("keyway serve: %v\n--- server output ---\n%s", err, s.out.String())
		}
		last = fmt.Sprintf("%v\n--- server output ---\n%s", err, s.out.String())
	}
	t.Fatalf("keyway serve did not start: %s", last)
	return nil
}

func waitHealthy(s *server) error {
	url := fmt.Sprintf("http://127.0.0.1:%d/health", s.port)
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(healthTimeout)
	for {
		if s.exited() {
			return fmt.Errorf("exited during start-up: %v", s.err)
		}
		resp, err := client.Get(url)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("GET /health: %s", resp.Status)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not healthy after %s: %v", healthTimeout, err)
		}
		select {
		case <-s.done:
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// stop sends SIGTERM and checks that the server exits with status 0 in time.
func (s *server) stop(t *testing.T) {
	t.Helper()
	if s.exited() {
		t.Errorf("keyway serve exited before SIGTERM: %v", s.err)
		return
	}
	start := time.Now()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Errorf("SIGTERM: %v", err)
	}
	select {
	case <-s.done:
	case <-time.After(shutdownTimeout):
		_ = s.cmd.Process.Kill()
		<-s.done
		t.Errorf("keyway serve did not exit within %s of SIGTERM", shutdownTimeout)
		return
	}
	if s.err != nil {
		t.Errorf("keyway serve did not exit cleanly after SIGTERM: %v", s.err)
		return
	}
	t.Logf("keyway serve exited with status 0, %s after SIGTERM", time.Since(start).Round(time.Millisecond))
}

// runSuite serves on env, runs `node --test` on this folder against it and
// stops the server.
func runSuite(t *testing.T, env []string, prodKey string) {
	srv := startServer(t, env)
	defer func() {
		if t.Failed() {
			t.Logf("--- keyway serve output (last %d lines) ---\n%s", serverLogLines, tail(srv.out.String(), serverLogLines))
		}
	}()

	ctx, cancel := context.WithTimeout(context.Background(), nodeTimeout)
	defer cancel()
	testDir := filepath.Join(repoRoot, "test")
	cmd := exec.CommandContext(ctx, "node", "--test", "--test-reporter=spec", "sdk/")
	cmd.Dir = testDir
	cmd.Env = childEnv(
		"KEYWAY_PORT="+strconv.Itoa(srv.port),
		"KEYWAY_API_KEY="+stagingKey,
		"KEYWAY_CLIENT_ID="+clientID,
		"KEYWAY_PROD_API_KEY="+prodKey,
		"NO_COLOR=1",
	)
	// node --test runs each file in a child process: end the whole group.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	lw := &lineLogger{t: t, prefix: "node: "}
	cmd.Stdout, cmd.Stderr = lw, lw
	start := time.Now()
	err := cmd.Run()
	lw.Flush()
	switch {
	case ctx.Err() != nil:
		t.Errorf("node --test did not finish within %s", nodeTimeout)
	case err != nil:
		t.Errorf("node --test sdk/ failed: %v", err)
	default:
		t.Logf("node --test sdk/ passed in %s", time.Since(start).Round(time.Millisecond))
	}

	srv.stop(t)
}

// serverLogLines is how much of the server's log a failed test shows.
const serverLogLines = 60

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// lineLogger writes each complete line to t.Log as it arrives.
type lineLogger struct {
	t      *testing.T
	prefix string
	mu     sync.Mutex
	buf    []byte
}

func (l *lineLogger) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		l.t.Log(l.prefix + strings.TrimRight(string(l.buf[:i]), "\r"))
		l.buf = l.buf[i+1:]
	}
	return len(p), nil
}

// Flush logs a last line without a newline.
func (l *lineLogger) Flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buf) > 0 {
		l.t.Log(l.prefix + string(l.buf))
		l.buf = nil
	}
}

// syncBuffer is a goroutine-safe bytes.Buffer.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
