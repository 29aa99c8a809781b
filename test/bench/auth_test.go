package bench

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/url"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"

	"github.com/keywayhq/keyway/app"
	"github.com/keywayhq/keyway/domain/password"
	"github.com/keywayhq/keyway/events"
	"github.com/keywayhq/keyway/infra/bolt"
	"github.com/keywayhq/keyway/infra/boot"
	"github.com/keywayhq/keyway/infra/dynamo"
	"github.com/keywayhq/keyway/test/peers"
)

// codeCatcher is a Mailer that keeps the last code per address.
type codeCatcher struct {
	app.Mailer // other kinds of mail are not sent here
	mu         sync.Mutex
	codes      map[string]string
}

func (c *codeCatcher) SendCode(_ context.Context, m app.CodeMessage) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.codes[m.To] = m.Code
	return nil
}

func (c *codeCatcher) code(to string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.codes[to]
}

// authFixture is an app with real argon2id parameters, signing keys and
// a pool of verified users with passwords.
type authFixture struct {
	app      *app.App
	meta     app.Meta
	emails   []string
	mail     *codeCatcher
	requests func() int64
}

const benchPassword = "correct horse battery staple"

func authSetup(b *testing.B, store events.Store, requests func() int64, users int) authFixture {
	ctx := context.Background()
	kek := make([]byte, 32)
	_, _ = rand.Read(kek)
	mail := &codeCatcher{codes: map[string]string{}}
	a := app.New(app.Config{Store: store, Signer: boot.NewRingSigner(store, func() ([]byte, error) { return kek, nil }, time.Now),
		Mailer: mail, CodeKey: func() ([]byte, error) { return kek, nil }})
	env, err := a.EnsureEnvironment(ctx, app.EnsureEnvironmentInput{Name: "staging", Type: "staging"})
	if err != nil {
		b.Fatal(err)
	}
	f := authFixture{app: a, meta: app.Meta{Env: env.Environment.ID}, mail: mail, requests: requests}
	pw := benchPassword
	for i := range users {
		e := fmt.Sprintf("signin%d@example.com", i)
		if _, err := a.CreateUser(ctx, f.meta, app.CreateUserInput{Email: e, Password: &pw, EmailVerified: true}); err != nil {
			b.Fatal(err)
		}
		f.emails = append(f.emails, e)
	}
	return f
}

// BenchmarkArgon2id is one password hash with the production parameters;
// cores divided by its time is the ceiling of password sign-ins per second.
func BenchmarkArgon2id(b *testing.B) {
	b.ReportAllocs()
	for range b.N {
		if _, err := password.New(benchPassword, password.Default, rand.Reader); err != nil {
			b.Fatal(err)
		}
	}
	perHash := b.Elapsed().Seconds() / float64(b.N)
	b.ReportMetric(float64(runtime.GOMAXPROCS(0))/perHash, "limit-signins/s")
}

// signIns runs parallel password sign-ins over the user pool.
func signIns(b *testing.B, f authFixture) {
	ctx := context.Background()
	var next atomic.Int64
	start := f.requests()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			e := f.emails[int(next.Add(1))%len(f.emails)]
			if _, err := f.app.AuthenticatePassword(ctx, f.meta, e, benchPassword, app.Client{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "signins/s")
	b.ReportMetric(float64(f.requests()-start)/float64(b.N), "requests/signin")
}

// refreshes rotates one session's refresh token b.N times in a row.
func refreshes(b *testing.B, f authFixture) {
	ctx := context.Background()
	res, err := f.app.AuthenticatePassword(ctx, f.meta, f.emails[0], benchPassword, app.Client{})
	if err != nil {
		b.Fatal(err)
	}
	token := res.RefreshToken
	start := f.requests()
	b.ResetTimer()
	for range b.N {
		r, err := f.app.Refresh(ctx, f.meta, token, "")
		if err != nil {
			b.Fatal(err)
		}
		token = r.RefreshToken
	}
	b.StopTimer()
	b.ReportMetric(float64(f.requests()-start)/float64(b.N), "requests/refresh")
}

// magicAuths sends a code and signs in with it, per op.
func magicAuths(b *testing.B, f authFixture) {
	ctx := context.Background()
	start := f.requests()
	b.ResetTimer()
	for i := range b.N {
		e := f.emails[i%len(f.emails)]
		if _, err := f.app.CreateMagicAuth(ctx, f.meta, e); err != nil {
			b.Fatal(err)
		}
		if _, err := f.app.AuthenticateMagicAuth(ctx, f.meta, e, f.mail.code(e), app.Client{}); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(f.requests()-start)/float64(b.N), "requests/magic-auth")
}

// hostedSignIns answers an authorize from a hosted session and exchanges
// the code, per op: a returning browser's whole sign-in, without argon2id.
func hostedSignIns(b *testing.B, f authFixture) {
	ctx := context.Background()
	envs, err := f.app.ListEnvironments(ctx)
	if err != nil {
		b.Fatal(err)
	}
	env := envs[0]
	uris := []string{"http://localhost:3000/callback"}
	if _, err := f.app.UpdateSettings(ctx, f.meta, env.ID, app.SettingsPatch{RedirectURIs: &uris}); err != nil {
		b.Fatal(err)
	}
	req, err := f.app.ParseAuthorize(ctx, url.Values{"client_id": {env.ClientID}, "redirect_uri": uris, "provider": {"authkit"}})
	if err != nil {
		b.Fatal(err)
	}
	first, err := f.app.AuthenticatePassword(ctx, f.meta, f.emails[0], benchPassword, app.Client{Authorize: &req})
	if err != nil {
		b.Fatal(err)
	}
	client, err := f.app.ClientPrincipal(ctx, env.ClientID)
	if err != nil {
		b.Fatal(err)
	}
	start := f.requests()
	b.ResetTimer()
	for range b.N {
		res, err := f.app.Authorize(ctx, f.meta, req, first.BrowserToken, app.Client{})
		if err != nil {
			b.Fatal(err)
		}
		u, _ := url.Parse(res.RedirectURL)
		if _, err := f.app.ExchangeCode(ctx, f.meta, client, app.CodeExchange{Code: u.Query().Get("code"), SecretOK: true}, app.Client{}); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(f.requests()-start)/float64(b.N), "requests/signin")
}

func authBenchmarks(b *testing.B, open func(b *testing.B) (events.Store, func() int64)) {
	b.Run("PasswordSignIn", func(b *testing.B) {
		s, n := open(b)
		signIns(b, authSetup(b, s, n, 40))
	})
	b.Run("Refresh", func(b *testing.B) {
		s, n := open(b)
		refreshes(b, authSetup(b, s, n, 1))
	})
	b.Run("MagicAuth", func(b *testing.B) {
		s, n := open(b)
		magicAuths(b, authSetup(b, s, n, 40))
	})
	b.Run("HostedSession", func(b *testing.B) {
		s, n := open(b)
		hostedSignIns(b, authSetup(b, s, n, 1))
	})
}

func BenchmarkAuthEmbedded(b *testing.B) {
	authBenchmarks(b, func(b *testing.B) (events.Store, func() int64) {
		s, err := bolt.Open(filepath.Join(b.TempDir(), "keyway.db"), time.Now)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		cs := &countingStore{Store: s}
		return cs, cs.n.Load
	})
}

func BenchmarkAuthDynamoDB(b *testing.B) {
	authBenchmarks(b, func(b *testing.B) (events.Store, func() int64) {
		tables, err := peers.FreshTables(context.Background(), ddbURL, "authbench")
		if err != nil {
			b.Fatal(err)
		}
		ch := &countingHTTP{inner: awshttp.NewBuildableClient()}
		return dynamo.New(peers.DynamoClient(ddbURL, ch), tables, time.Now), ch.n.Load
	})
}
