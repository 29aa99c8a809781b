package peers

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
)

// StartSESLocal starts aws-ses-v2-local from <repo>/test/node_modules on a
// free port and waits until GET /health-check answers 200. Sent mail is at
// GET {URL}/store.
func StartSESLocal(ctx context.Context) (*Peer, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(root, "test")
	cli := filepath.Join("node_modules", "aws-ses-v2-local", "dist", "cli.js")
	if _, err := os.Stat(filepath.Join(dir, cli)); err != nil {
		return nil, fmt.Errorf("peers: aws-ses-v2-local is not installed in %s (%s)", dir, installHint)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, fmt.Errorf("peers: node not found on PATH (%s)", installHint)
	}
	return startOnFreePort(ctx, func(port int) Spec {
		return Spec{
			Name:  "aws-ses-v2-local",
			Path:  node,
			Args:  []string{cli, "--host", "127.0.0.1", "--port", strconv.Itoa(port)},
			Dir:   dir,
			Env:   []string{"NO_COLOR=1"},
			Port:  port,
			Ready: HTTPReady("/health-check", http.StatusOK),
		}
	})
}
