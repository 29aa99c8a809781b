package ses_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/smithy-go"

	"github.com/keywayhq/keyway/infra/mail"
	"github.com/keywayhq/keyway/infra/mail/ses"
	"github.com/keywayhq/keyway/test/peers"
)

// sesLocal is aws-ses-v2-local, moto is moto's server; both are started
// once by TestMain and shared by the tests, which do not run in parallel.
var sesLocal, moto *peers.Peer

func TestMain(m *testing.M) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	var err error
	sesLocal, err = peers.StartSESLocal(ctx)
	if err == nil {
		moto, err = peers.StartMoto(ctx)
	}
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "ses tests need aws-ses-v2-local (npm, in test/node_modules) and moto:", err)
		if sesLocal != nil {
			sesLocal.Stop()
		}
		os.Exit(1)
	}
	code := m.Run()
	sesLocal.Stop()
	moto.Stop()
	os.Exit(code)
}

// client returns an SES v2 client for endpoint with static test credentials.
func client(endpoint string) *sesv2.Client {
	return sesv2.New(sesv2.Options{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
		BaseEndpoint: aws.String(endpoint),
	})
}

// isolateAWSEnv clears every AWS setting of the caller's shell for the
// test and points the SDK at static credentials and no shared files.
func isolateAWSEnv(t *testing.T) {
	t.Helper()
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "AWS_") {
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
	dir := t.TempDir()
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
}

var brand = mail.Branding{
	AppName:     "Acme",
	SenderEmail: "no-reply@acme.example",
	SenderName:  "Acme Accounts",
}

type storedEmail struct {
	MessageID   string `json:"messageId"`
	From        string `json:"from"`
	Destination struct {
		To []string `json:"to"`
	} `json:"destination"`
	Subject string `json:"subject"`
	Body    struct {
		Text string `json:"text"`
		HTML string `json:"html"`
	} `json:"body"`
}

func sesLocalStore(t *testing.T) []storedEmail {
	t.Helper()
	resp, err := http.Get(sesLocal.URL + "/store")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var store struct {
		Emails []storedEmail `json:"emails"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&store); err != nil {
		t.Fatal(err)
	}
	return store.Emails
}

func clearSESLocal(t *testing.T) {
	t.Helper()
	resp, err := http.Post(sesLocal.URL+"/clear-store", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
}

func TestSendMagicAuthToSESLocal(t *testing.T) {
	clearSESLocal(t)
	var logs bytes.Buffer
	m := ses.New(client(sesLocal.URL), ses.Senders(brand, nil),
		ses.WithLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))

	msg := mail.MagicAuth(brand, "ada@example.com", "837461", 10*time.Minute)
	msg.Environment = "environment_01TEST"
	if err := m.Send(context.Background(), msg); err != nil {
		t.Fatalf("Send: %v", err)
	}

	emails := sesLocalStore(t)
	if len(emails) != 1 {
		t.Fatalf("store has %d emails, want 1: %+v", len(emails), emails)
	}
	e := emails[0]
	if e.Subject != msg.Subject {
		t.Errorf("subject = %q, want %q", e.Subject, msg.Subject)
	}
	if len(e.Destination.To) != 1 || e.Destination.To[0] != "ada@example.com" {
		t.Errorf("to = %v", e.Destination.To)
	}
	if !strings.Contains(e.From, "no-reply@acme.example") || !strings.Contains(e.From, "Acme Accounts") {
		t.Errorf("from = %q", e.From)
	}
	if !strings.Contains(e.Body.Text, "837461") {
		t.Errorf("text body lacks the code: %q", e.Body.Text)
	}
	if !strings.Contains(e.Body.HTML, "837461") || !strings.Contains(e.Body.HTML, "<!DOCTYPE html>") {
		t.Errorf("html body lacks the code or markup: %.200q", e.Body.HTML)
	}
	if strings.Contains(logs.String(), "837461") || strings.Contains(logs.String(), "sign in") {
		t.Errorf("the log carries the message body:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "ses: sent") || !strings.Contains(logs.String(), "kind=magic_auth") {
		t.Errorf("missing send log line:\n%s", logs.String())
	}
}

func TestSendPerEnvironmentSender(t *testing.T) {
	clearSESLocal(t)
	other := mail.Branding{AppName: "Beta", SenderEmail: "hello@beta.example", SenderName: "Beta"}
	m := ses.New(client(sesLocal.URL), ses.Senders(brand, map[string]mail.Branding{"env_beta": other}))

	a := mail.PasswordReset(brand, "a@example.com", "https://acme.example/reset?t=1", time.Hour)
	b := mail.Invitation(other, "b@example.com", "https://beta.example/invite?t=2", "Ada", "Beta Org", 24*time.Hour)
	b.Environment = "env_beta"
	for _, msg := range []mail.Message{a, b} {
		if err := m.Send(context.Background(), msg); err != nil {
			t.Fatalf("Send %s: %v", msg.Kind, err)
		}
	}
	from := map[string]string{}
	for _, e := range sesLocalStore(t) {
		from[e.Destination.To[0]] = e.From
		if !strings.Contains(e.Body.Text, "https://") || !strings.Contains(e.Body.HTML, `href="https://`) {
			t.Errorf("%s: link missing from a part", e.Subject)
		}
	}
	if !strings.Contains(from["a@example.com"], "no-reply@acme.example") {
		t.Errorf("default sender: from = %q", from["a@example.com"])
	}
	if !strings.Contains(from["b@example.com"], "hello@beta.example") {
		t.Errorf("environment sender: from = %q", from["b@example.com"])
	}
}

func TestNewClientHonoursEndpointVariables(t *testing.T) {
	for _, name := range []string{"AWS_ENDPOINT_URL_SES", "AWS_ENDPOINT_URL_SESV2", "AWS_ENDPOINT_URL"} {
		t.Run(name, func(t *testing.T) {
			isolateAWSEnv(t)
			t.Setenv(name, sesLocal.URL)
			clearSESLocal(t)
			c, err := ses.NewClient(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			msg := mail.EmailVerification(brand, "grace@example.com", "246810", 10*time.Minute)
			if err := ses.New(c, ses.Senders(brand, nil)).Send(context.Background(), msg); err != nil {
				t.Fatalf("Send: %v", err)
			}
			emails := sesLocalStore(t)
			if len(emails) != 1 || !strings.Contains(emails[0].Body.Text, "246810") {
				t.Fatalf("store = %+v", emails)
			}
		})
	}
	t.Run("SESV2 wins over SES", func(t *testing.T) {
		isolateAWSEnv(t)
		t.Setenv("AWS_ENDPOINT_URL_SESV2", sesLocal.URL)
		t.Setenv("AWS_ENDPOINT_URL_SES", "http://127.0.0.1:1")
		c, err := ses.NewClient(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if got := aws.ToString(c.Options().BaseEndpoint); got != sesLocal.URL {
			t.Errorf("BaseEndpoint = %q, want %q", got, sesLocal.URL)
		}
	})
	t.Run("SES wins over the global one", func(t *testing.T) {
		isolateAWSEnv(t)
		t.Setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
		t.Setenv("AWS_ENDPOINT_URL_SES", sesLocal.URL)
		c, err := ses.NewClient(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if got := aws.ToString(c.Options().BaseEndpoint); got != sesLocal.URL {
			t.Errorf("BaseEndpoint = %q, want %q", got, sesLocal.URL)
		}
	})
}

func resetMoto(t *testing.T) {
	t.Helper()
	resp, err := http.Post(moto.URL+"/moto-api/reset", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
}

// motoSentMessages returns the SES messages in moto's state dump.
func motoSentMessages(t *testing.T) []map[string]any {
	t.Helper()
	resp, err := http.Get(moto.URL + "/moto-api/data.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var data map[string]map[string][]map[string]any
	body, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(body, &data); err != nil {
		t.Fatalf("data.json: %v", err)
	}
	return data["ses"]["Message"]
}

func TestMotoRejectsUnverifiedSender(t *testing.T) {
	resetMoto(t)
	c := client(moto.URL)
	m := ses.New(c, ses.Senders(brand, nil))
	msg := mail.MagicAuth(brand, "ada@example.com", "135790", 10*time.Minute)

	err := m.Send(context.Background(), msg)
	if !errors.Is(err, ses.ErrSendFailed) {
		t.Fatalf("unverified sender: Send = %v, want ErrSendFailed", err)
	}
	var se *ses.SendError
	if !errors.As(err, &se) || se.Kind != mail.KindMagicAuth {
		t.Fatalf("error is not a *SendError with the kind: %#v", err)
	}
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		t.Errorf("error does not unwrap to the API error: %v", err)
	}
	t.Logf("unverified: %v (code %q)", err, se.Code)
	if strings.Contains(err.Error(), "135790") {
		t.Errorf("error carries the code: %v", err)
	}
	if n := len(motoSentMessages(t)); n != 0 {
		t.Fatalf("moto recorded %d messages after a rejected send", n)
	}

	if _, err := c.CreateEmailIdentity(context.Background(), &sesv2.CreateEmailIdentityInput{
		EmailIdentity: aws.String(brand.SenderEmail),
	}); err != nil {
		t.Fatalf("CreateEmailIdentity: %v", err)
	}
	if err := m.Send(context.Background(), msg); err != nil {
		t.Fatalf("verified sender: Send = %v", err)
	}
	sent := motoSentMessages(t)
	if len(sent) != 1 {
		t.Fatalf("moto recorded %d messages, want 1: %v", len(sent), sent)
	}
	if s := fmt.Sprint(sent[0]); !strings.Contains(s, msg.Subject) || !strings.Contains(s, "ada@example.com") {
		t.Errorf("moto's message does not match: %v", sent[0])
	}
}

func TestMotoDomainIdentity(t *testing.T) {
	resetMoto(t)
	c := client(moto.URL)
	if _, err := c.CreateEmailIdentity(context.Background(), &sesv2.CreateEmailIdentityInput{
		EmailIdentity: aws.String("acme.example"),
	}); err != nil {
		t.Fatalf("CreateEmailIdentity: %v", err)
	}
	msg := mail.MagicAuth(brand, "ada@example.com", "111222", 10*time.Minute)
	if err := ses.New(c, ses.Senders(brand, nil)).Send(context.Background(), msg); err != nil {
		t.Fatalf("sender in a verified domain: %v", err)
	}
}

// A peer that never answers (as aws-ses-v2-local does for calls it lacks)
// must not hang Send: the deadline ends it with ErrSendFailed.
func TestSendTimesOut(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)

	m := ses.New(client(srv.URL), ses.Senders(brand, nil), ses.WithTimeout(300*time.Millisecond))
	start := time.Now()
	err := m.Send(context.Background(), mail.MagicAuth(brand, "ada@example.com", "1", time.Minute))
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("Send took %v", took)
	}
	if !errors.Is(err, ses.ErrSendFailed) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Send = %v, want ErrSendFailed wrapping DeadlineExceeded", err)
	}
}

func TestDefaultTimeoutApplies(t *testing.T) {
	var deadline time.Time
	fake := fakeAPI(func(ctx context.Context, _ *sesv2.SendEmailInput) (*sesv2.SendEmailOutput, error) {
		deadline, _ = ctx.Deadline()
		return &sesv2.SendEmailOutput{MessageId: aws.String("x")}, nil
	})
	before := time.Now()
	if err := ses.New(fake, ses.Senders(brand, nil)).Send(context.Background(), mail.MagicAuth(brand, "a@example.com", "1", time.Minute)); err != nil {
		t.Fatal(err)
	}
	if d := deadline.Sub(before); d < ses.DefaultTimeout-time.Second || d > ses.DefaultTimeout+time.Second {
		t.Errorf("deadline in %v, want about %v", d, ses.DefaultTimeout)
	}
}

type fakeAPI func(ctx context.Context, in *sesv2.SendEmailInput) (*sesv2.SendEmailOutput, error)

func (f fakeAPI) SendEmail(ctx context.Context, in *sesv2.SendEmailInput, _ ...func(*sesv2.Options)) (*sesv2.SendEmailOutput, error) {
	return f(ctx, in)
}

func TestSendValidatesBeforeCallingSES(t *testing.T) {
	calls := 0
	fake := fakeAPI(func(context.Context, *sesv2.SendEmailInput) (*sesv2.SendEmailOutput, error) {
		calls++
		return &sesv2.SendEmailOutput{}, nil
	})
	good := mail.MagicAuth(brand, "ada@example.com", "1", time.Minute)

	bad := good
	bad.Subject = "Hi\r\nBcc: victim@example.com"
	if err := ses.New(fake, ses.Senders(brand, nil)).Send(context.Background(), bad); !errors.Is(err, mail.ErrInvalidMessage) || errors.Is(err, ses.ErrSendFailed) {
		t.Errorf("CRLF subject: Send = %v", err)
	}
	bad = good
	bad.To = "ada@example.com\nBcc: victim@example.com"
	if err := ses.New(fake, ses.Senders(brand, nil)).Send(context.Background(), bad); !errors.Is(err, mail.ErrInvalidMessage) {
		t.Errorf("LF in to: Send = %v", err)
	}
	evil := brand
	evil.SenderName = "Acme\r\nBcc: victim@example.com"
	if err := ses.New(fake, ses.Senders(evil, nil)).Send(context.Background(), good); !errors.Is(err, mail.ErrInvalidSender) {
		t.Errorf("CRLF sender name: Send = %v", err)
	}
	if err := ses.New(fake, ses.Senders(mail.Branding{}, nil)).Send(context.Background(), good); !errors.Is(err, mail.ErrInvalidSender) {
		t.Errorf("no sender email: Send = %v", err)
	}
	if err := ses.New(fake, nil).Send(context.Background(), good); !errors.Is(err, mail.ErrInvalidSender) {
		t.Errorf("nil sender func: Send = %v", err)
	}
	if calls != 0 {
		t.Errorf("SES was called %d times for invalid input", calls)
	}
}

func TestSendInput(t *testing.T) {
	var got *sesv2.SendEmailInput
	fake := fakeAPI(func(_ context.Context, in *sesv2.SendEmailInput) (*sesv2.SendEmailOutput, error) {
		got = in
		return &sesv2.SendEmailOutput{MessageId: aws.String("id-1")}, nil
	})
	msg := mail.MagicAuth(brand, "ada@example.com", "424242", time.Minute)
	msg.Environment = "environment_01ABC"
	if err := ses.New(fake, ses.Senders(brand, nil), ses.WithConfigurationSet("keyway")).Send(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	s := got.Content.Simple
	if aws.ToString(got.FromEmailAddress) != `"Acme Accounts" <no-reply@acme.example>` ||
		got.Destination.ToAddresses[0] != "ada@example.com" || len(got.Destination.ToAddresses) != 1 ||
		aws.ToString(s.Subject.Data) != msg.Subject ||
		aws.ToString(s.Body.Text.Data) != msg.Text || aws.ToString(s.Body.Html.Data) != msg.HTML ||
		aws.ToString(s.Body.Html.Charset) != "UTF-8" ||
		aws.ToString(got.ConfigurationSetName) != "keyway" {
		t.Errorf("unexpected input: %+v", got)
	}
	tags := map[string]string{}
	for _, tag := range got.EmailTags {
		tags[aws.ToString(tag.Name)] = aws.ToString(tag.Value)
	}
	if tags["keyway_kind"] != "magic_auth" || tags["keyway_environment"] != "environment_01ABC" {
		t.Errorf("tags = %v", tags)
	}
}
