// Package browser_test drives the hosted login pages (AuthKit) in a real
// browser: Debian's chromium under playwright-core, from node. TestMain builds
// keyway and serves it on the embedded store in a temporary folder, with the
// dev mailer, and starts the example app (examples/authkit-node, the AuthKit
// quick start on the official WorkOS Node SDK) beside it; each test runs one
// *.test.mjs file here with `node --test`.
//
// Keyway allows the example's callback (http://localhost:PORT/callback) and a
// second redirect URI for the PKCE test (http://localhost:PORT/pkce/callback,
// which nothing serves: the test intercepts the redirect), and logout may
// return to http://localhost:PORT/.
//
// Screenshots of every page and page-weight.json go to artifacts/ here
// (ignored by git). It needs node 20+, test/node_modules (playwright-core,
// @workos-inc/node), examples/authkit-node/node_modules and /usr/bin/chromium:
// run scripts/install-peers.sh once. A missing piece fails the tests; they
// never skip.
package browser_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/keywayhq/keyway/test/peers"
)

// The staging credentials the server is seeded with.
const (
	apiKey   = "sk_test_keyway_browser_suite_0123456789abcdef"
	clientID = "client_01JBR0WSER5V1TE0123456789A"
	// kek seals the signing keys (KEYWAY_KEY_ENCRYPTION_KEY, 32 bytes, base64).
	kek = "a2V5d2F5LWJyb3dzZXItc3VpdGUta2VrLTAxMjM0NTY="
	// cookiePassword seals the example app's session cookie.
	cookiePassword = "keyway-browser-suite-cookie-password-0123456789"
)

const (
	startTimeout   = 30 * time.Second // keyway serve and the example app, each
	nodeTimeout    = 5 * time.Minute  // one node --test file
	startAttempts  = 3
	serverLogLines = 80
	installHint    = "run scripts/install-peers.sh (it installs Debian's chromium, test/node_modules and examples/authkit-node/node_modules)"
)

// chromiumPath is where Debian's chromium package puts the browser.
const chromiumPath = "/usr/bin/chromium"

var (
	repoRoot     string
	artifacts    string
	keywaySrv    *peers.Peer
	exampleApp   *peers.Peer
	exampleURL   string // http://localhost:PORT, as the browser and Keyway name it
	pkceRedirect string
	// setupErr is why the servers are not running; every test fails with it.
	setupErr error
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	stop, err := setup()
	if err != nil {
		setupErr = err
		fmt.Fprintln(os.Stderr, "browser:", err)
	}
	code := m.Run()
	if stop != nil {
		stop()
	}
	return code
}

// setup checks what the tests need, builds keyway, and starts keyway serve
// and the example app. stop ends both and removes the temporary folder.
func setup() (stop func(), err error) {
	root, err := peers.RepoRoot()
	if err != nil {
		return nil, err
	}
	repoRoot = root
	artifacts = filepath.Join(root, "test", "browser", "artifacts")
	if err := prerequisites(); err != nil {
		return nil, err
	}
	if err := cleanArtifacts(); err != nil {
		return nil, err
	}

	tmp, err := os.MkdirTemp("", "keyway-browser-")
	if err != nil {
		return nil, err
	}
	var stops []func()
	stop = func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
		os.RemoveAll(tmp)
	}
	bin, err := peers.BuildKeyway(tmp)
	if err != nil {
		stop()
		return nil, err
	}

	// The example's port goes into Keyway's settings, so it is chosen first;
	// if something takes it before the example listens, start both again.
	var lastErr error
	for attempt := 0; attempt < startAttempts; attempt++ {
		port, err := peers.FreePort()
		if err != nil {
			stop()
			return nil, err
		}
		srv, ex, err := startBoth(bin, filepath.Join(tmp, "data"), port)
		if err == nil {
			keywaySrv, exampleApp = srv, ex
			stops = append(stops, func() { srv.Stop() }, func() { ex.Stop() })
			return stop, nil
		}
		lastErr = err
	}
	stop()
	return nil, lastErr
}

// prerequisites fails with an install hint when chromium, node or a node
// package is missing.
func prerequisites() error {
	var errs []error
	if fi, err := os.Stat(chromiumPath); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
		errs = append(errs, fmt.Errorf("chromium not found at %s (apt-get install chromium): %s", chromiumPath, installHint))
	}
	if _, err := exec.LookPath("node"); err != nil {
		errs = append(errs, fmt.Errorf("node not found on PATH: %s", installHint))
	}
	for _, p := range []string{
		"test/node_modules/playwright-core/package.json",
		"test/node_modules/@workos-inc/node/package.json",
		"examples/authkit-node/node_modules/@workos-inc/node/package.json",
	} {
		if _, err := os.Stat(filepath.Join(repoRoot, p)); err != nil {
			errs = append(errs, fmt.Errorf("%s is missing: %s", filepath.Dir(p), installHint))
		}
	}
	return errors.Join(errs...)
}

// cleanArtifacts empties artifacts/ of the previous run's files.
func cleanArtifacts() error {
	if err := os.MkdirAll(artifacts, 0o755); err != nil {
		return err
	}
	for _, pat := range []string{"*.png", "*.json"} {
		old, _ := filepath.Glob(filepath.Join(artifacts, pat))
		for _, f := range old {
			if err := os.Remove(f); err != nil {
				return err
			}
		}
	}
	return nil
}

// cleanEnv is this process's environment without KEYWAY_*, AWS_* or
// WORKOS_* settings, plus extra.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range peers.KeywayEnv() {
		if !strings.HasPrefix(kv, "WORKOS_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// startBoth serves keyway on a free port, allowing the example on
// examplePort, and then starts the example there.
func startBoth(bin, dataDir string, examplePort int) (*peers.Peer, *peers.Peer, error) {
	origin := "http://localhost:" + strconv.Itoa(examplePort)
	callback := origin + "/callback"
	pkce := origin + "/pkce/callback"
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	srv, err := peers.StartKeyway(ctx, bin, "", []string{
		"KEYWAY_STORE=embedded",
		"KEYWAY_DATA_DIR=" + dataDir,
		"KEYWAY_KEY_ENCRYPTION_KEY=" + kek,
		"KEYWAY_API_KEY=" + apiKey,
		"KEYWAY_CLIENT_ID=" + clientID,
		"KEYWAY_MAILER=dev",
		"KEYWAY_REDIRECT_URIS=" + callback + "," + pkce,
		"KEYWAY_LOGOUT_REDIRECTS=" + origin + "/",
		"KEYWAY_LOG_LEVEL=info",
	})
	if err != nil {
		return nil, nil, err
	}
	node, err := exec.LookPath("node")
	if err != nil {
		srv.Stop()
		return nil, nil, err
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), startTimeout)
	defer cancel2()
	ex, err := peers.Start(ctx2, peers.Spec{
		Name:    "authkit-node example",
		Path:    node,
		Args:    []string{"server.mjs"},
		Dir:     filepath.Join(repoRoot, "examples", "authkit-node"),
		BaseEnv: cleanEnv(),
		Env: []string{
			"WORKOS_API_KEY=" + apiKey,
			"WORKOS_CLIENT_ID=" + clientID,
			"WORKOS_COOKIE_PASSWORD=" + cookiePassword,
			"KEYWAY_URL=" + srv.URL,
			"PORT=" + strconv.Itoa(examplePort),
			"HOST=127.0.0.1",
		},
		Port:    examplePort,
		Ready:   peers.HTTPReady("/", 200),
		Timeout: startTimeout,
	})
	if err != nil {
		srv.Stop()
		return nil, nil, err
	}
	exampleURL, pkceRedirect = origin, pkce
	return srv, ex, nil
}

// runNode runs `node --test` on file (in this folder) against the servers,
// logging its output line by line.
func runNode(t *testing.T, file string) {
	t.Helper()
	if setupErr != nil {
		t.Fatal(setupErr)
	}
	defer func() {
		if t.Failed() {
			t.Logf("--- keyway serve output (last %d lines) ---\n%s", serverLogLines, peers.Tail(keywaySrv.Output(), serverLogLines))
			t.Logf("--- example app output (last %d lines) ---\n%s", serverLogLines, peers.Tail(exampleApp.Output(), serverLogLines))
			t.Logf("screenshots of failures: %s/failure-*.png", artifacts)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), nodeTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "--test", "--test-concurrency=1", "--test-reporter=spec", file)
	cmd.Dir = filepath.Join(repoRoot, "test", "browser")
	cmd.Env = cleanEnv(
		"KEYWAY_URL="+keywaySrv.URL,
		"KEYWAY_PORT="+strconv.Itoa(keywaySrv.Port),
		"KEYWAY_MAIL_SOURCE=dev:"+keywaySrv.URL+"/_dev/inbox",
		"KEYWAY_API_KEY="+apiKey,
		"KEYWAY_CLIENT_ID="+clientID,
		"EXAMPLE_URL="+exampleURL,
		"EXAMPLE_COOKIE_PASSWORD="+cookiePassword,
		"PKCE_REDIRECT_URI="+pkceRedirect,
		"ARTIFACTS="+artifacts,
		"CHROMIUM="+chromiumPath,
		"NO_COLOR=1",
	)
	// node --test runs the file in a child process, which runs chromium: end
	// the whole group on timeout.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	lw := &peers.LineLogger{T: t, Prefix: "node: "}
	cmd.Stdout, cmd.Stderr = lw, lw
	start := time.Now()
	err := cmd.Run()
	lw.Flush()
	// Whatever the outcome, nothing of the group may outlive the test.
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	switch {
	case ctx.Err() != nil:
		t.Errorf("node --test %s did not finish within %s", file, nodeTimeout)
	case err != nil:
		t.Errorf("node --test %s failed: %v", file, err)
	default:
		t.Logf("node --test %s passed in %s", file, time.Since(start).Round(time.Millisecond))
	}
	if keywaySrv.Exited() {
		t.Errorf("keyway serve exited during the test")
	}
	if exampleApp.Exited() {
		t.Errorf("the example app exited during the test")
	}
}

// a. Sign-up with a password through the example, email verified with the
// code from the outbox; the SDK sees the user and the sealed cookie works.
func TestSignUpThroughExample(t *testing.T) { runNode(t, "signup.test.mjs") }

// b. Sign-in with a Magic Auth code from the outbox.
func TestMagicAuthSignIn(t *testing.T) { runNode(t, "magic_auth.test.mjs") }

// c. A wrong password shows the alert and does not redirect.
func TestWrongPassword(t *testing.T) { runNode(t, "wrong_password.test.mjs") }

// d. PKCE with a public client: wrong verifier, right verifier, code replay.
func TestPKCE(t *testing.T) { runNode(t, "pkce.test.mjs") }

// e. A second authorize in the same browser skips the form.
func TestSilentReauthorize(t *testing.T) { runNode(t, "reauthorize.test.mjs") }

// f. Sign-out through the example ends both sessions.
func TestSignOut(t *testing.T) { runNode(t, "signout.test.mjs") }

// g. Unregistered redirect_uri, forged CSRF token, open redirect via logout.
func TestRefusals(t *testing.T) { runNode(t, "refusals.test.mjs") }

// TestPages covers choosing an organization, the SSO-required page, a
// provider that is not configured, a 320-pixel screen, and a keyboard-only
// sign-in.
func TestPages(t *testing.T) { runNode(t, "pages.test.mjs") }

// The example app's own session handling: refresh, a bad cookie, sign-out
// of a session made through the API (no hosted pages needed).
func TestExampleSession(t *testing.T) { runNode(t, "example_session.test.mjs") }

// h. Page weight, external requests and screenshots of every page.
func TestPageWeight(t *testing.T) {
	runNode(t, "page_weight.test.mjs")
	if t.Failed() {
		return
	}
	raw, err := os.ReadFile(filepath.Join(artifacts, "page-weight.json"))
	if err != nil {
		t.Fatalf("page-weight.json: %v", err)
	}
	var report struct {
		Pages []struct {
			Page          string `json:"page"`
			Requests      int    `json:"requests"`
			HTMLBytes     int    `json:"htmlBytes"`
			AssetBytes    int    `json:"assetBytes"`
			TotalBytes    int    `json:"totalBytes"`
			TransferBytes int    `json:"transferBytes"`
		} `json:"pages"`
		Screenshots []struct {
			Screenshot string `json:"screenshot"`
		} `json:"screenshots"`
	}
	if err := json.Unmarshal(raw, &report); err != nil {
		t.Fatalf("page-weight.json: %v", err)
	}
	if len(report.Pages) == 0 {
		t.Fatal("page-weight.json lists no pages")
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%-28s %5s %10s %10s %10s %12s\n", "page", "reqs", "html B", "assets B", "total B", "transfer B")
	for _, p := range report.Pages {
		fmt.Fprintf(&b, "%-28s %5d %10d %10d %10d %12d\n", p.Page, p.Requests, p.HTMLBytes, p.AssetBytes, p.TotalBytes, p.TransferBytes)
	}
	t.Logf("page weight (%s):\n%s", filepath.Join(artifacts, "page-weight.json"), b.String())
	for _, s := range report.Screenshots {
		if _, err := os.Stat(filepath.Join(artifacts, s.Screenshot)); err != nil {
			t.Errorf("screenshot %s: %v", s.Screenshot, err)
		}
	}
}
