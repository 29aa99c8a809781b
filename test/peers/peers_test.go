package peers

import (
	"context"
	"encoding/json"
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
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = Start(context.Background(), Spec{
		Name: "failing",
		Path: sh,
		Args: []string{"-c", "echo boom >&2; exit 3"},
		Port: port,
	})
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
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	_, err = Start(context.Background(), Spec{
		Name:    "silent",
		Path:    sh,
		Args:    []string{"-c", "sleep 30"},
		Port:    port,
		Timeout: 500 * time.Millisecond,
	})
	if err == nil {
		t.Fatal("Start succeeded for a process that never listens")
	}
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
