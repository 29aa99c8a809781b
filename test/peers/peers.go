// Package peers starts the real local peers Keyway's tests run against
// (DynamoDB Local, moto, aws-lambda-rie, and keyway serve itself) as child
// processes on 127.0.0.1, waits until they answer, and stops them again.
//
// It is meant for TestMain:
//
//	func TestMain(m *testing.M) {
//		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
//		ddb, err := peers.StartDynamoDBLocal(ctx)
//		cancel()
//		if err != nil {
//			fmt.Fprintln(os.Stderr, err)
//			os.Exit(1)
//		}
//		code := m.Run()
//		ddb.Stop()
//		os.Exit(code)
//	}
//
// The binaries come from scripts/install-peers.sh, which caches them in
// <repo>/.cache. The context given to the Start functions bounds only the
// start-up wait; a started peer runs until Stop is called.
//
// Each peer is started in its own process group so that Stop also ends the
// processes it spawned (the Lambda bootstrap under aws-lambda-rie, for one).
package peers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

const (
	// DefaultStartTimeout bounds the wait for a peer to answer when the
	// context given to Start has no earlier deadline.
	DefaultStartTimeout = 60 * time.Second

	// stopGrace is how long Stop waits after SIGTERM before SIGKILL.
	stopGrace = 5 * time.Second

	// buildTimeout bounds BuildKeyway's go build.
	buildTimeout = 2 * time.Minute

	// startAttempts is how often a Start* helper retries with a new port when
	// the peer exits before it is ready (another process took the port).
	startAttempts = 3

	// outputLimit caps the captured output of a peer; older bytes are dropped.
	outputLimit = 1 << 20

	// VerboseEnv, when set to 1, also copies every peer's output to stderr.
	VerboseEnv = "KEYWAY_PEERS_VERBOSE"

	installHint = "run scripts/install-peers.sh"
)

// Peer is a running peer process.
type Peer struct {
	// Name names the peer in errors and logs ("dynamodb-local", "moto", ...).
	Name string
	// Port is the TCP port on 127.0.0.1 the peer listens on.
	Port int
	// URL is the peer's base URL, http://127.0.0.1:PORT.
	URL string

	cmd      *exec.Cmd
	out      *tailBuffer
	done     chan struct{} // closed when the process has exited
	waitErr  error         // set before done is closed
	stopOnce sync.Once
	stopErr  error
}

// Spec describes a peer process for Start.
type Spec struct {
	// Name names the peer in errors and logs.
	Name string
	// Path is the program to run; Args are its arguments (without argv[0]).
	Path string
	Args []string
	// Dir is the working directory; empty means the current one.
	Dir string
	// Env is added to BaseEnv (later entries win).
	Env []string
	// BaseEnv is the environment Env is added to; nil means the current
	// process's.
	BaseEnv []string
	// Port is the port the peer will listen on; it sets Peer.Port and Peer.URL.
	Port int
	// Ready probes the peer once and returns nil when it is ready to serve.
	// Start calls it repeatedly until it succeeds, the process exits, or the
	// start-up wait ends. Nil means TCPReady.
	Ready func(ctx context.Context, p *Peer) error
	// Timeout bounds the start-up wait; zero means DefaultStartTimeout.
	Timeout time.Duration
}

// Start runs the process described by spec and waits until spec.Ready
// reports that it is ready. On failure the process is stopped and the error
// includes the process's output.
func Start(ctx context.Context, spec Spec) (*Peer, error) {
	if spec.Name == "" {
		spec.Name = filepath.Base(spec.Path)
	}
	ready := spec.Ready
	if ready == nil {
		ready = TCPReady
	}
	timeout := spec.Timeout
	if timeout <= 0 {
		timeout = DefaultStartTimeout
	}

	out := &tailBuffer{limit: outputLimit}
	var w io.Writer = out
	if os.Getenv(VerboseEnv) == "1" {
		w = io.MultiWriter(out, prefixWriter{prefix: "[" + spec.Name + "] ", w: os.Stderr})
	}

	cmd := exec.Command(spec.Path, spec.Args...)
	cmd.Dir = spec.Dir
	base := spec.BaseEnv
	if base == nil {
		base = os.Environ()
	}
	cmd.Env = slices.Concat(base, spec.Env)
	cmd.Stdout = w
	cmd.Stderr = w
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}

	p := &Peer{
		Name: spec.Name,
		Port: spec.Port,
		URL:  "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(spec.Port)),
		cmd:  cmd,
		out:  out,
		done: make(chan struct{}),
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("peers: start %s (%s): %w", spec.Name, spec.Path, err)
	}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()

	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := p.waitReady(wctx, ready); err != nil {
		p.Stop()
		return nil, fmt.Errorf("peers: %s not ready: %w\n--- %s output ---\n%s", spec.Name, err, spec.Name, p.Output())
	}
	return p, nil
}

// errExited reports that a peer's process ended while Start waited for it.
var errExited = errors.New("process exited")

func (p *Peer) waitReady(ctx context.Context, ready func(context.Context, *Peer) error) error {
	delay := 25 * time.Millisecond
	for {
		select {
		case <-p.done:
			return fmt.Errorf("%w: %v", errExited, p.waitErr)
		default:
		}
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := ready(pctx, p)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("%w: %v", errExited, p.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("%w (last probe: %v)", ctx.Err(), err)
		case <-time.After(delay):
		}
		if delay < 250*time.Millisecond {
			delay *= 2
		}
	}
}

// Addr returns the peer's host:port, 127.0.0.1:PORT.
func (p *Peer) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(p.Port)) }

// Output returns what the peer has written to stdout and stderr so far (the
// last MiB of it).
func (p *Peer) Output() string { return p.out.String() }

// Exited reports whether the peer's process has ended.
func (p *Peer) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Stop ends the peer's whole process group (SIGTERM, then SIGKILL after a
// grace period) and waits for the process to exit. It is safe to call more
// than once and from several goroutines. It returns an error only when the
// process had already failed on its own before Stop was called.
func (p *Peer) Stop() error {
	p.stopOnce.Do(func() {
		if p.Exited() {
			// Exited by itself: still sweep any children left in its group.
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			if p.waitErr != nil {
				p.stopErr = fmt.Errorf("peers: %s had exited: %w", p.Name, p.waitErr)
			}
			return
		}
		pgid := p.cmd.Process.Pid
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(stopGrace):
		}
		// Kill whatever is left in the group, the leader included.
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.done
	})
	return p.stopErr
}

// Terminate sends SIGTERM to the peer's process (the group leader only, so
// that its own shutdown is what is tested) and waits up to timeout for it to
// exit. It returns nil only when the process was still running and then
// exited with status 0, which is how a test proves a graceful shutdown.
// Whatever the outcome, the rest of the group is killed afterwards, as by
// Stop; once the peer is stopped, Terminate returns an error.
func (p *Peer) Terminate(timeout time.Duration) error {
	err := fmt.Errorf("peers: %s was already stopped", p.Name)
	p.stopOnce.Do(func() { err = p.terminate(timeout) })
	return err
}

func (p *Peer) terminate(timeout time.Duration) error {
	pgid := p.cmd.Process.Pid
	defer func() {
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.done
	}()
	if p.Exited() {
		if p.waitErr != nil {
			p.stopErr = fmt.Errorf("peers: %s had exited: %w", p.Name, p.waitErr)
		}
		return fmt.Errorf("peers: %s exited before SIGTERM: %v", p.Name, p.waitErr)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return fmt.Errorf("peers: %s: SIGTERM: %w", p.Name, err)
	}
	select {
	case <-p.done:
	case <-time.After(timeout):
		return fmt.Errorf("peers: %s did not exit within %s of SIGTERM", p.Name, timeout)
	}
	if p.waitErr != nil {
		return fmt.Errorf("peers: %s did not exit cleanly after SIGTERM: %w", p.Name, p.waitErr)
	}
	return nil
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("peers: free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// RepoRoot returns the repository root: the nearest directory at or above
// the working directory that contains go.mod.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("peers: %w", err)
	}
	for {
		if fi, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil && !fi.IsDir() {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("peers: no go.mod found above the working directory")
		}
		dir = parent
	}
}

// CacheDir returns <repo>/.cache, where scripts/install-peers.sh puts the peers.
func CacheDir() (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, ".cache"), nil
}

// TCPReady is a Spec.Ready probe that succeeds once a TCP connection to the
// peer's port succeeds.
func TCPReady(ctx context.Context, p *Peer) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", p.Addr())
	if err != nil {
		return err
	}
	return c.Close()
}

// HTTPReady returns a Spec.Ready probe that GETs path on the peer and
// succeeds on any HTTP answer when okStatus is 0, or only on okStatus.
func HTTPReady(path string, okStatus int) func(context.Context, *Peer) error {
	return func(ctx context.Context, p *Peer) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.URL+path, nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
		resp.Body.Close()
		if okStatus != 0 && resp.StatusCode != okStatus {
			return fmt.Errorf("GET %s: status %d", path, resp.StatusCode)
		}
		return nil
	}
}

// startOnFreePort picks a free port, builds a Spec for it and starts it,
// retrying with a new port if the process exits before it is ready (most
// often because something else took the port in between).
func startOnFreePort(ctx context.Context, build func(port int) Spec) (*Peer, error) {
	var lastErr error
	for attempt := 0; attempt < startAttempts; attempt++ {
		port, err := FreePort()
		if err != nil {
			return nil, err
		}
		p, err := Start(ctx, build(port))
		if err == nil {
			return p, nil
		}
		lastErr = err
		if !errors.Is(err, errExited) || ctx.Err() != nil {
			break
		}
	}
	return nil, lastErr
}

// StartDynamoDBLocal starts DynamoDB Local (in memory, one shared database
// for every access key and region) from <repo>/.cache/dynamodb-local and
// waits until it answers HTTP. Use Peer.URL as the endpoint; clients may use
// any region and credentials.
func StartDynamoDBLocal(ctx context.Context) (*Peer, error) {
	cache, err := CacheDir()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(cache, "dynamodb-local")
	if _, err := os.Stat(filepath.Join(dir, "DynamoDBLocal.jar")); err != nil {
		return nil, fmt.Errorf("peers: DynamoDB Local not found in %s (%s)", dir, installHint)
	}
	java, err := exec.LookPath("java")
	if err != nil {
		return nil, fmt.Errorf("peers: java not found on PATH (%s)", installHint)
	}
	return startOnFreePort(ctx, func(port int) Spec {
		return Spec{
			Name: "dynamodb-local",
			Path: java,
			Args: []string{
				"-Djava.library.path=./DynamoDBLocal_lib",
				"-jar", "DynamoDBLocal.jar",
				"-inMemory", "-sharedDb", "-disableTelemetry",
				"-port", strconv.Itoa(port),
			},
			Dir:   dir,
			Port:  port,
			Ready: HTTPReady("/", 0),
		}
	})
}

// PythonPath returns the Python that has moto: `pyenv which python3` when
// pyenv is available, else python3 on PATH.
func PythonPath() (string, error) {
	if pyenv, err := exec.LookPath("pyenv"); err == nil {
		out, err := exec.Command(pyenv, "which", "python3").Output()
		if p := strings.TrimSpace(string(out)); err == nil && p != "" {
			return p, nil
		}
	}
	p, err := exec.LookPath("python3")
	if err != nil {
		return "", errors.New("peers: python3 not found (the pyenv Python with moto is expected)")
	}
	return p, nil
}

// StartMoto starts a moto server (all services on one port) and waits until
// GET /moto-api/ answers 200. Reset its state with POST {URL}/moto-api/reset.
func StartMoto(ctx context.Context) (*Peer, error) {
	py, err := PythonPath()
	if err != nil {
		return nil, err
	}
	return startOnFreePort(ctx, func(port int) Spec {
		return Spec{
			Name:  "moto",
			Path:  py,
			Args:  []string{"-m", "moto.server", "-H", "127.0.0.1", "-p", strconv.Itoa(port)},
			Env:   []string{"PYTHONUNBUFFERED=1"},
			Port:  port,
			Ready: HTTPReady("/moto-api/", http.StatusOK),
		}
	})
}

// InvokePath is the aws-lambda-rie invocation route.
const InvokePath = "/2015-03-31/functions/function/invocations"

// StartRIE starts aws-lambda-rie from <repo>/.cache/bin running the Lambda
// bootstrap executable at bootstrapPath, with env added to the environment
// (the bootstrap inherits it). It listens on a free port for invocations and
// gives the runtime API its own free port, so several can run at once. It is
// ready once its port accepts TCP connections; the bootstrap itself starts
// on the first Invoke.
func StartRIE(ctx context.Context, bootstrapPath string, env []string) (*Peer, error) {
	cache, err := CacheDir()
	if err != nil {
		return nil, err
	}
	rie := filepath.Join(cache, "bin", "aws-lambda-rie")
	if _, err := os.Stat(rie); err != nil {
		return nil, fmt.Errorf("peers: %s not found (%s)", rie, installHint)
	}
	boot, err := filepath.Abs(bootstrapPath)
	if err != nil {
		return nil, fmt.Errorf("peers: %w", err)
	}
	if _, err := os.Stat(boot); err != nil {
		return nil, fmt.Errorf("peers: bootstrap: %w", err)
	}
	return startOnFreePort(ctx, func(port int) Spec {
		apiPort, perr := FreePort()
		if perr != nil {
			apiPort = port + 1
		}
		return Spec{
			Name: "aws-lambda-rie",
			Path: rie,
			Args: []string{
				"--runtime-interface-emulator-address", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
				"--runtime-api-address", net.JoinHostPort("127.0.0.1", strconv.Itoa(apiPort)),
				boot,
			},
			Dir:  filepath.Dir(boot),
			Env:  env,
			Port: port,
		}
	})
}

// Invoke sends payload (a JSON event, such as an API Gateway v2 request) to
// a peer started with StartRIE and returns the function's raw response. A
// non-200 status is an error that carries the body.
func (p *Peer) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	return Invoke(ctx, p.URL, payload)
}

// Invoke posts payload to the aws-lambda-rie at baseURL (http://host:port)
// and returns the raw response body.
func Invoke(ctx context.Context, baseURL string, payload []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(baseURL, "/")+InvokePath, bytes.NewReader(payload))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("peers: invoke: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("peers: invoke: read: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return body, fmt.Errorf("peers: invoke: status %d: %s", resp.StatusCode, body)
	}
	return body, nil
}

// BuildKeyway builds ./cmd/keyway of this repository into dir and returns
// the binary's path, so that tests run the real keyway command.
func BuildKeyway(dir string) (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bin := filepath.Join(dir, "keyway")
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, goTool, "build", "-o", bin, "./cmd/keyway")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("peers: go build ./cmd/keyway: %v\n%s", err, out)
	}
	return bin, nil
}

// KeywayEnv returns this process's environment without any KEYWAY_* or AWS_*
// setting, plus extra (later entries win), so that the caller's shell cannot
// change what a keyway child process sees.
func KeywayEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "KEYWAY_") || strings.HasPrefix(kv, "AWS_") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

// StartKeyway runs `bin serve` in dir on a free port, with env added to
// KeywayEnv and KEYWAY_ADDR set to that port, and waits until GET /health
// answers 200. It retries with a new port when the server exits during
// start-up (the port was taken in between). Check a graceful shutdown with
// Terminate.
func StartKeyway(ctx context.Context, bin, dir string, env []string) (*Peer, error) {
	return startOnFreePort(ctx, func(port int) Spec {
		return Spec{
			Name:    "keyway serve",
			Path:    bin,
			Args:    []string{"serve"},
			Dir:     dir,
			BaseEnv: KeywayEnv(),
			Env:     append(slices.Clone(env), "KEYWAY_ADDR="+net.JoinHostPort("127.0.0.1", strconv.Itoa(port))),
			Port:    port,
			Ready:   HTTPReady("/health", http.StatusOK),
		}
	})
}

// tailBuffer is a goroutine-safe writer that keeps the last limit bytes.
type tailBuffer struct {
	mu    sync.Mutex
	buf   []byte
	limit int
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - b.limit; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}

// prefixWriter writes to w with prefix before each write (output of a peer
// arrives mostly line by line, so this is good enough for logs).
type prefixWriter struct {
	prefix string
	w      io.Writer
}

func (pw prefixWriter) Write(p []byte) (int, error) {
	if _, err := io.WriteString(pw.w, pw.prefix+string(p)); err != nil {
		return 0, err
	}
	return len(p), nil
}
