// Package sdk_test runs the official WorkOS Node SDK suite (users.test.mjs
// and any other *.test.mjs here) against a real `keyway serve`, once on the
// embedded store and once on DynamoDB Local, and checks that the server shuts
// down cleanly on SIGTERM. A real DNS server (test/dnstest) answers the
// server's domain-verification lookups (KEYWAY_DNS_RESOLVER); the suite
// publishes TXT records through its HTTP control API (KEYWAY_DNS_CONTROL).
//
// Mail: those two runs use the default dev mailer, whose inbox the suite
// reads at /_dev/inbox. A third run (TestSDKEmbeddedSES) serves the
// embedded store with KEYWAY_MAILER=ses against aws-ses-v2-local and runs
// only the mail tests (magic_auth.test.mjs), which read the codes from that
// peer's /store. KEYWAY_MAIL_SOURCE tells node where to look:
// "dev:<inbox URL>" or "ses:<aws-ses-v2-local URL>".
//
// It needs node 20+, test/node_modules (with aws-ses-v2-local) and DynamoDB
// Local: run scripts/install-peers.sh once.
package sdk_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/keywayhq/keyway/test/dnstest"
	"github.com/keywayhq/keyway/test/peers"
)

// The staging credentials the server is seeded with.
const (
	stagingKey = "sk_test_keyway_sdk_suite_0123456789abcdef"
	clientID   = "client_01JABCDEFGHJKMNPQRSTVWXYZ0"
	// kek seals the signing keys at rest (KEYWAY_KEY_ENCRYPTION_KEY, 32
	// bytes, base64): required with DynamoDB, used on both stores.
	kek = "a2V5d2F5LXNkay1zdWl0ZS1rZWstMDEyMzQ1Njc4OWE="
)

const (
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
	// sesLocal is aws-ses-v2-local, the SES v2 endpoint of the SES run.
	sesLocal *peers.Peer
	// dnsAddr is the DNS server keyway serve resolves with; dnsControl is
	// the base URL of its control API, for node.
	dnsAddr    string
	dnsControl string
)

func TestMain(m *testing.M) {
	os.Exit(setup(m))
}

// setup builds keyway and starts DynamoDB Local and aws-ses-v2-local (in
// parallel), runs the tests, and cleans up.
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

	var wg sync.WaitGroup
	var buildErr, ddbErr, sesErr error
	wg.Add(3)
	go func() {
		defer wg.Done()
		keywayBin, buildErr = peers.BuildKeyway(tmp)
	}()
	go func() {
		defer wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), peerTimeout)
		defer cancel()
		ddb, ddbErr = peers.StartDynamoDBLocal(ctx)
	}()
	go func() {
		defer wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), peerTimeout)
		defer cancel()
		sesLocal, sesErr = peers.StartSESLocal(ctx)
	}()
	wg.Wait()
	if ddb != nil {
		defer ddb.Stop()
	}
	if sesLocal != nil {
		defer sesLocal.Stop()
	}
	if err := errors.Join(buildErr, ddbErr, sesErr); err != nil {
		fmt.Fprintln(os.Stderr, "sdk:", err)
		return 1
	}

	stopDNS, err := startDNS()
	if err != nil {
		fmt.Fprintln(os.Stderr, "sdk:", err)
		return 1
	}
	defer stopDNS()
	return m.Run()
}

// startDNS starts the DNS server and serves its control API on a free port
// of 127.0.0.1.
func startDNS() (stop func(), err error) {
	dns, err := dnstest.Start()
	if err != nil {
		return nil, fmt.Errorf("dnstest: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		dns.Close()
		return nil, fmt.Errorf("dns control listener: %w", err)
	}
	srv := &http.Server{Handler: dns.ControlHandler(), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	dnsAddr = dns.Addr()
	dnsControl = "http://" + ln.Addr().String()
	return func() {
		srv.Close()
		dns.Close()
	}, nil
}

func TestSDKEmbedded(t *testing.T) {
	requireNode(t)
	env := []string{
		"KEYWAY_STORE=embedded",
		"KEYWAY_DATA_DIR=" + t.TempDir(),
		"KEYWAY_KEY_ENCRYPTION_KEY=" + kek,
	}
	// The bbolt file is locked by a running server, so create the
	// production environment before serving.
	prod := createProduction(t, env)
	runSuite(t, env, prod, suite{})
}

// TestSDKEmbeddedSES serves the embedded store with the SES mailer, sending
// through aws-ses-v2-local, and runs the mail tests only.
func TestSDKEmbeddedSES(t *testing.T) {
	requireNode(t)
	if sesLocal == nil {
		t.Fatal("aws-ses-v2-local is not running (" + installHint + ")")
	}
	env := []string{
		"KEYWAY_STORE=embedded",
		"KEYWAY_DATA_DIR=" + t.TempDir(),
		"KEYWAY_KEY_ENCRYPTION_KEY=" + kek,
		"KEYWAY_MAILER=ses",
		"AWS_ENDPOINT_URL_SESV2=" + sesLocal.URL,
		"AWS_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=test",
		"AWS_SECRET_ACCESS_KEY=test",
		"AWS_EC2_METADATA_DISABLED=true",
	}
	prod := createProduction(t, env)
	runSuite(t, env, prod, suite{
		files:      []string{"sdk/magic_auth.test.mjs"},
		mailSource: func(*peers.Peer) string { return "ses:" + sesLocal.URL },
	})
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
		"KEYWAY_KEY_ENCRYPTION_KEY=" + kek,
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
	prod := createProduction(t, env)
	runSuite(t, env, prod, suite{})
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

// keyway runs a keyway subcommand to completion and returns its stdout.
func keyway(t *testing.T, env []string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, keywayBin, args...)
	cmd.Env = peers.KeywayEnv(append([]string{"KEYWAY_LOG_LEVEL=warn"}, env...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("keyway %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

var (
	liveKey      = regexp.MustCompile(`WORKOS_API_KEY=(sk_live_[A-Za-z0-9_]{24,128})\b`)
	liveClientID = regexp.MustCompile(`WORKOS_CLIENT_ID=(client_[0-9A-Za-z]{10,64})\b`)
)

// production is the production environment's credentials.
type production struct{ key, clientID string }

// createProduction creates the production environment and returns its
// credentials.
func createProduction(t *testing.T, env []string) production {
	t.Helper()
	out := keyway(t, env, "env", "create", "production", "-type", "production")
	k, c := liveKey.FindStringSubmatch(out), liveClientID.FindStringSubmatch(out)
	if k == nil || c == nil {
		t.Fatalf("keyway env create production: no WORKOS_API_KEY=sk_live_... and WORKOS_CLIENT_ID=client_... in the output:\n%s", out)
	}
	return production{key: k[1], clientID: c[1]}
}

// startServer runs keyway serve on env with the suite's credentials and
// waits for GET /health.
func startServer(t *testing.T, env []string) *peers.Peer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), healthTimeout)
	defer cancel()
	srv, err := peers.StartKeyway(ctx, keywayBin, "", append(append([]string{}, env...),
		"KEYWAY_API_KEY="+stagingKey,
		"KEYWAY_CLIENT_ID="+clientID,
		"KEYWAY_LOG_LEVEL=info",
		"KEYWAY_DNS_RESOLVER="+dnsAddr,
	))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop() })
	return srv
}

// stop sends SIGTERM and checks that the server exits with status 0 in time.
func stop(t *testing.T, srv *peers.Peer) {
	t.Helper()
	start := time.Now()
	if err := srv.Terminate(shutdownTimeout); err != nil {
		t.Error(err)
		return
	}
	t.Logf("keyway serve exited with status 0, %s after SIGTERM", time.Since(start).Round(time.Millisecond))
}

// suite says what runSuite runs and where node reads the mail.
type suite struct {
	// files are the test files, relative to test/; nil means all of sdk/.
	files []string
	// mailSource returns KEYWAY_MAIL_SOURCE for the server; nil means the
	// dev mailer's inbox on the server itself.
	mailSource func(srv *peers.Peer) string
}

// runSuite serves on env, runs `node --test` on this folder (or s.files)
// against it and stops the server.
func runSuite(t *testing.T, env []string, prod production, s suite) {
	srv := startServer(t, env)
	defer func() {
		if t.Failed() {
			t.Logf("--- keyway serve output (last %d lines) ---\n%s", serverLogLines, peers.Tail(srv.Output(), serverLogLines))
		}
	}()

	ctx, cancel := context.WithTimeout(context.Background(), nodeTimeout)
	defer cancel()
	testDir := filepath.Join(repoRoot, "test")
	// One file at a time: the files share the environment, and users.test.mjs
	// pages through every user, so no other file may create users meanwhile.
	files := s.files
	if files == nil {
		files = []string{"sdk/"}
	}
	what := strings.Join(files, " ")
	mailSource := "dev:" + srv.URL + "/_dev/inbox"
	if s.mailSource != nil {
		mailSource = s.mailSource(srv)
	}
	cmd := exec.CommandContext(ctx, "node", append([]string{"--test", "--test-concurrency=1", "--test-reporter=spec"}, files...)...)
	cmd.Dir = testDir
	cmd.Env = peers.KeywayEnv(
		"KEYWAY_PORT="+strconv.Itoa(srv.Port),
		"KEYWAY_API_KEY="+stagingKey,
		"KEYWAY_CLIENT_ID="+clientID,
		"KEYWAY_PROD_API_KEY="+prod.key,
		"KEYWAY_PROD_CLIENT_ID="+prod.clientID,
		"KEYWAY_DNS_CONTROL="+dnsControl,
		"KEYWAY_MAIL_SOURCE="+mailSource,
		"NO_COLOR=1",
	)
	// node --test runs each file in a child process: end the whole group.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	lw := &peers.LineLogger{T: t, Prefix: "node: "}
	cmd.Stdout, cmd.Stderr = lw, lw
	start := time.Now()
	err := cmd.Run()
	lw.Flush()
	switch {
	case ctx.Err() != nil:
		t.Errorf("node --test did not finish within %s", nodeTimeout)
	case err != nil:
		t.Errorf("node --test %s failed: %v", what, err)
	default:
		t.Logf("node --test %s passed in %s", what, time.Since(start).Round(time.Millisecond))
	}

	stop(t, srv)
}

// serverLogLines is how much of the server's log a failed test shows.
const serverLogLines = 60
