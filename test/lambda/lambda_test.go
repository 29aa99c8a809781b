// Package lambda_test builds the real functions/api bootstrap, runs it under
// aws-lambda-rie and invokes it with API Gateway HTTP API v2 events, on the
// embedded store and on DynamoDB Local.
package lambda_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/keywayhq/keyway/test/peers"
)

const (
	apiKey   = "sk_test_lambdaxxxxxxxxxxxxxxxxxxxxxxxx"
	clientID = "client_01JABCDEFGHJKMNPQRSTVWXYZ0"
)

var (
	bootstrap string // path of the built functions/api binary
	ddbURL    string // DynamoDB Local
)

func TestMain(m *testing.M) {
	code, err := setup(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "lambda test setup:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func setup(m *testing.M) (int, error) {
	dir, err := os.MkdirTemp("", "keyway-lambda")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	if bootstrap, err = buildBootstrap(dir); err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ddb, err := peers.StartDynamoDBLocal(ctx)
	if err != nil {
		return 0, err
	}
	defer ddb.Stop()
	ddbURL = ddb.URL
	return m.Run(), nil
}

// buildBootstrap builds functions/api the way the Makefile does for Lambda,
// but for this machine's architecture so aws-lambda-rie can run it.
func buildBootstrap(dir string) (string, error) {
	root, err := peers.RepoRoot()
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, "bootstrap")
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-trimpath", "-ldflags", "-s -w", "-o", out, "./functions/api")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build functions/api: %v\n%s", err, b)
	}
	return out, nil
}

func embeddedEnv(t testing.TB) []string {
	return []string{"KEYWAY_STORE=embedded", "KEYWAY_DATA_DIR=" + t.TempDir(), "KEYWAY_API_KEY=" + apiKey,
		"KEYWAY_CLIENT_ID=" + clientID, "KEYWAY_LOG_LEVEL=warn"}
}

func dynamoEnv(t testing.TB) []string {
	t.Helper()
	tables, err := peers.FreshTables(context.Background(), ddbURL, "lambda")
	if err != nil {
		t.Fatal(err)
	}
	env := []string{"KEYWAY_STORE=dynamodb", "KEYWAY_EVENTS_TABLE=" + tables.Events, "KEYWAY_STATE_TABLE=" + tables.State,
		"AWS_ENDPOINT_URL_DYNAMODB=" + ddbURL, "AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test",
		"KEYWAY_API_KEY=" + apiKey, "KEYWAY_CLIENT_ID=" + clientID, "KEYWAY_LOG_LEVEL=warn"}
	return env
}

// rie starts the bootstrap under aws-lambda-rie.
func rie(t testing.TB, env []string) *peers.Peer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := peers.StartRIE(ctx, bootstrap, env)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Stop() })
	return p
}

func invoke(t testing.TB, p *peers.Peer, method, path, query, key, body string) events.APIGatewayV2HTTPResponse {
	t.Helper()
	ev := events.APIGatewayV2HTTPRequest{
		Version: "2.0", RouteKey: "$default", RawPath: path, RawQueryString: query,
		Headers: map[string]string{"content-type": "application/json", "user-agent": "workos-node/11.0.0"},
		Body:    body,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			DomainName: "abc.execute-api.us-east-1.amazonaws.com", RequestID: "apigw-req", Stage: "$default",
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: method, Path: path, SourceIP: "198.51.100.7"},
		},
	}
	if key != "" {
		ev.Headers["authorization"] = "Bearer " + key
	}
	payload, _ := json.Marshal(ev)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	raw, err := p.Invoke(ctx, payload)
	if err != nil {
		t.Fatalf("invoke %s %s: %v\n%s", method, path, err, p.Output())
	}
	var resp events.APIGatewayV2HTTPResponse
	if err := json.Unmarshal(raw, &resp); err != nil || resp.StatusCode == 0 {
		t.Fatalf("invoke %s %s: not an HTTP API response: %s\n%s", method, path, raw, p.Output())
	}
	if resp.Headers["X-Request-Id"] == "" {
		t.Fatalf("%s %s: no X-Request-ID in %v", method, path, resp.Headers)
	}
	return resp
}

func TestUsersOverLambda(t *testing.T) {
	for name, env := range map[string]func(testing.TB) []string{"Embedded": embeddedEnv, "DynamoDB": dynamoEnv} {
		t.Run(name, func(t *testing.T) {
			p := rie(t, env(t))
			created := invoke(t, p, "POST", "/user_management/users", "", apiKey, `{"email":"Lambda@Example.com","first_name":"Lam"}`)
			var u map[string]any
			_ = json.Unmarshal([]byte(created.Body), &u)
			if created.StatusCode != 201 || u["email"] != "lambda@example.com" || created.Headers["Content-Type"] != "application/json" {
				t.Fatalf("create: %d %s", created.StatusCode, created.Body)
			}
			id := u["id"].(string)
			got := invoke(t, p, "GET", "/user_management/users/"+id, "", apiKey, "")
			if got.StatusCode != 200 || !json.Valid([]byte(got.Body)) {
				t.Fatalf("get: %d %s", got.StatusCode, got.Body)
			}
			list := invoke(t, p, "GET", "/user_management/users", "email=lambda%40example.com&limit=5", apiKey, "")
			var l struct{ Data []map[string]any }
			_ = json.Unmarshal([]byte(list.Body), &l)
			if list.StatusCode != 200 || len(l.Data) != 1 || l.Data[0]["id"] != id {
				t.Fatalf("list: %d %s", list.StatusCode, list.Body)
			}
			if r := invoke(t, p, "POST", "/user_management/users", "", apiKey, `{"email":"lambda@example.com"}`); r.StatusCode != 422 {
				t.Fatalf("duplicate: %d %s", r.StatusCode, r.Body)
			}
			if r := invoke(t, p, "GET", "/user_management/users", "", "", ""); r.StatusCode != 401 || !json.Valid([]byte(r.Body)) {
				t.Fatalf("no key: %d %s", r.StatusCode, r.Body)
			}
			if r := invoke(t, p, "DELETE", "/user_management/users/"+id, "", apiKey, ""); r.StatusCode != 200 {
				t.Fatalf("delete: %d %s", r.StatusCode, r.Body)
			}
		})
	}
}

// BenchmarkColdStart measures the first invoke of a fresh runtime, which
// includes the bootstrap's init, and reports the binary's size.
func BenchmarkColdStart(b *testing.B) {
	st, err := os.Stat(bootstrap)
	if err != nil {
		b.Fatal(err)
	}
	var total time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		p := rie(b, embeddedEnv(b))
		b.StartTimer()
		start := time.Now()
		if r := invoke(b, p, "GET", "/health", "", "", ""); r.StatusCode != 200 {
			b.Fatalf("health: %d", r.StatusCode)
		}
		total += time.Since(start)
		b.StopTimer()
		_ = p.Stop()
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/cold-start")
	b.ReportMetric(float64(st.Size())/(1<<20), "MiB-binary")
}
