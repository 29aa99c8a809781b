package peers

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestFreePort(t *testing.T) {
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	if port <= 0 || port > 65535 {
		t.Fatalf("port %d out of range", port)
	}
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatalf("port %d is not free: %v", port, err)
	}
	l.Close()
}

func TestRepoRoot(t *testing.T) {
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("no go.mod in %s: %v", root, err)
	}
	if _, err := os.Stat(filepath.Join(root, "test", "peers")); err != nil {
		t.Fatalf("%s does not look like the repo root: %v", root, err)
	}
}

func TestDynamoDBLocal(t *testing.T) {
	p := startOrSkip(t, StartDynamoDBLocal)

	// A real DynamoDB answers the JSON protocol; ListTables needs no table.
	req, err := http.NewRequest(http.MethodPost, p.URL+"/", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	req.Header.Set("X-Amz-Target", "DynamoDB_20120810.ListTables")
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/dynamodb/aws4_request, SignedHeaders=host;x-amz-date;x-amz-target, Signature=0000")
	req.Header.Set("X-Amz-Date", time.Now().UTC().Format("20060102T150405Z"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("ListTables: %v\n%s", err, p.Output())
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("ListTables: status %d: %s", resp.StatusCode, body)
	}
	var out struct{ TableNames []string }
	if err := json.Unmarshal(body, &out); err != nil || out.TableNames == nil {
		t.Fatalf("ListTables: unexpected body %q (%v)", body, err)
	}

	stopAndCheck(t, p)
}

func TestMoto(t *testing.T) {
	p := startOrSkip(t, StartMoto)

	resp, err := http.Get(p.URL + "/moto-api/data.json")
	if err != nil {
		t.Fatalf("data.json: %v\n%s", err, p.Output())
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("data.json: status %d: %s", resp.StatusCode, body)
	}
	var state map[string]any
	if err := json.Unmarshal(body, &state); err != nil {
		t.Fatalf("data.json is not JSON: %v: %.200s", err, body)
	}

	resp, err = http.Post(p.URL+"/moto-api/reset", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("reset: status %d", resp.StatusCode)
	}

	stopAndCheck(t, p)
}

func TestStartReportsEarlyExit(t *testing.T) {
	spec := shSpec(t, "failing", "echo boom >&2; exit 3")
	start := time.Now()
	_, err := Start(context.Background(), spec)
	if err == nil {
		t.Fatal("Start succeeded for a process that exits")
	}
	if !strings.Contains(err.Error(), "boom") {
		t.Fatalf("error does not carry the output: %v", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Fatalf("early exit took %v to notice", time.Since(start))
	}
}

func TestStartTimeout(t *testing.T) {
	spec := shSpec(t, "silent", "sleep 30")
	spec.Timeout = 500 * time.Millisecond
	if _, err := Start(context.Background(), spec); err == nil {
		t.Fatal("Start succeeded for a process that never listens")
	}
}

func TestBaseEnv(t *testing.T) {
	t.Setenv("KEYWAY_PEERS_TEST_SHELL", "leaked")
	spec := shSpec(t, "env", `echo "[$KEYWAY_PEERS_TEST_SHELL][$KEYWAY_PEERS_TEST_SET]"; echo ready; sleep 30`)
	spec.BaseEnv = KeywayEnv()
	spec.Env = []string{"KEYWAY_PEERS_TEST_SET=set"}
	p := startShell(t, spec)
	if out := p.Output(); !strings.Contains(out, "[][set]") {
		t.Fatalf("BaseEnv/Env not applied: %q", out)
	}
}

func TestKeywayEnv(t *testing.T) {
	t.Setenv("KEYWAY_STORE", "dynamodb")
	t.Setenv("AWS_REGION", "eu-west-1")
	env := KeywayEnv("KEYWAY_STORE=embedded")
	for _, kv := range env {
		if strings.HasPrefix(kv, "AWS_") || (strings.HasPrefix(kv, "KEYWAY_") && kv != "KEYWAY_STORE=embedded") {
			t.Errorf("the caller's %s got through", kv)
		}
	}
	if env[len(env)-1] != "KEYWAY_STORE=embedded" {
		t.Errorf("extra is not last: %q", env[len(env)-1])
	}
}

func TestTerminate(t *testing.T) {
	// Each script prints "ready" once its TERM trap is set, so that SIGTERM
	// cannot arrive before the trap.
	loop := "echo ready; while :; do sleep 0.05; done"
	// "gone" exits by itself, but only once the test creates $GONE: exiting
	// before Start has seen "ready" would fail Start instead.
	gone := filepath.Join(t.TempDir(), "gone")
	for _, tc := range []struct {
		name, script, wantErr string
	}{
		{"clean", "trap 'exit 0' TERM; " + loop, ""},
		{"failing", "trap 'exit 3' TERM; " + loop, "did not exit cleanly"},
		{"stuck", "trap '' TERM; " + loop, "did not exit within"},
		{"gone", `echo ready; while [ ! -e "$GONE" ]; do sleep 0.01; done; exit 0`, "exited before SIGTERM"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := shSpec(t, tc.name, tc.script)
			spec.Env = []string{"GONE=" + gone}
			p := startShell(t, spec)
			if tc.name == "gone" {
				if err := os.WriteFile(gone, nil, 0o600); err != nil {
					t.Fatal(err)
				}
				for !p.Exited() {
					time.Sleep(10 * time.Millisecond)
				}
			}
			err := p.Terminate(500 * time.Millisecond)
			if tc.wantErr == "" && err != nil {
				t.Fatalf("Terminate: %v", err)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("Terminate: %v, want an error with %q", err, tc.wantErr)
			}
			if !p.Exited() {
				t.Fatal("process still running after Terminate")
			}
			if err := p.Terminate(time.Second); err == nil {
				t.Fatal("second Terminate succeeded")
			}
		})
	}
}

// shSpec returns a Spec that runs script under sh on a free port.
func shSpec(t *testing.T, name, script string) Spec {
	t.Helper()
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return Spec{Name: name, Path: sh, Args: []string{"-c", script}, Port: port}
}

// startShell starts spec and waits until it prints "ready".
func startShell(t *testing.T, spec Spec) *Peer {
	t.Helper()
	spec.Ready = func(_ context.Context, p *Peer) error {
		if !strings.Contains(p.Output(), "ready") {
			return errors.New(`no "ready" yet`)
		}
		return nil
	}
	spec.Timeout = 10 * time.Second
	p, err := Start(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Stop() })
	return p
}

// startOrSkip starts a peer, skipping the test when the peers are not
// installed (outside CI) and failing it otherwise.
func startOrSkip(t *testing.T, start func(context.Context) (*Peer, error)) *Peer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	p, err := start(ctx)
	if err != nil {
		if strings.Contains(err.Error(), installHint) && os.Getenv("CI") == "" {
			t.Skip(err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Stop() })
	if !strings.HasPrefix(p.URL, "http://127.0.0.1:") {
		t.Fatalf("URL %q", p.URL)
	}
	return p
}

// stopAndCheck stops p and asserts that its port is closed afterwards.
func stopAndCheck(t *testing.T, p *Peer) {
	t.Helper()
	if err := p.Stop(); err != nil {
		t.Fatalf("Stop: %v\n%s", err, p.Output())
	}
	if !p.Exited() {
		t.Fatal("process still running after Stop")
	}
	if err := p.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	c, err := net.DialTimeout("tcp", p.Addr(), time.Second)
	if err == nil {
		c.Close()
		t.Fatalf("%s still accepts connections after Stop", p.Addr())
	}
}
