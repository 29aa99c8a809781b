// Package boot assembles a running Keyway from settings: the store, the app
// and the HTTP handler. keyway serve and the Lambda functions share it, so
// both runtimes read the same settings.
package boot

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/keywayhq/keyway/api"
	"github.com/keywayhq/keyway/app"
	"github.com/keywayhq/keyway/domain/environment"
	"github.com/keywayhq/keyway/events"
	"github.com/keywayhq/keyway/infra/bolt"
	"github.com/keywayhq/keyway/infra/dns"
	"github.com/keywayhq/keyway/infra/dynamo"
)

// Settings are read from the environment; see README.md for the list.
type Settings struct {
	Addr    string // KEYWAY_ADDR, default 127.0.0.1:8080
	DataDir string // KEYWAY_DATA_DIR, default ./.keyway
	Store   string // KEYWAY_STORE: embedded (default) or dynamodb
	// Environment names the environment that is seeded on start, staging by
	// default (KEYWAY_ENVIRONMENT); a stack deployed for production sets production.
	Environment string
	APIKey      string // KEYWAY_API_KEY: fixes the seeded environment's key
	ClientID    string // KEYWAY_CLIENT_ID: fixes the seeded environment's client id
	Tables      dynamo.Tables
	Issuer      string // KEYWAY_ISSUER: iss of access tokens, default http://<KEYWAY_ADDR>
	PublicURL   string // KEYWAY_PUBLIC_URL: the base URL browsers reach Keyway at, default http://<KEYWAY_ADDR>
	// RedirectURIs (KEYWAY_REDIRECT_URIS) and LogoutURLs
	// (KEYWAY_LOGOUT_REDIRECTS), comma-separated, replace the seeded
	// environment's lists when set; an environment whose settings were never
	// set gets the defaults, app.DefaultRedirectURIs and app.DefaultLogoutURLs.
	RedirectURIs    []string
	RedirectURIsSet bool
	LogoutURLs      []string
	LogoutURLsSet   bool
	DNS             string     // KEYWAY_DNS_RESOLVER: host:port of the resolver for domain verification; empty: the system's
	LogLevel        slog.Level // KEYWAY_LOG_LEVEL: debug, info (default), warn, error
}

// Store kinds.
const (
	StoreEmbedded = "embedded"
	StoreDynamoDB = "dynamodb"
)

// SettingsFromEnv reads Settings from the process environment.
func SettingsFromEnv() (Settings, error) {
	s := Settings{
		Addr:        getenv("KEYWAY_ADDR", "127.0.0.1:8080"),
		DataDir:     getenv("KEYWAY_DATA_DIR", ".keyway"),
		Store:       getenv("KEYWAY_STORE", StoreEmbedded),
		Environment: getenv("KEYWAY_ENVIRONMENT", environment.Staging),
		APIKey:      os.Getenv("KEYWAY_API_KEY"),
		ClientID:    os.Getenv("KEYWAY_CLIENT_ID"),
		Tables:      dynamo.TablesFromEnv(),
		DNS:         os.Getenv("KEYWAY_DNS_RESOLVER"),
	}
	s.PublicURL = strings.TrimSuffix(getenv("KEYWAY_PUBLIC_URL", "http://"+s.Addr), "/")
	s.Issuer = getenv("KEYWAY_ISSUER", s.PublicURL)
	s.RedirectURIs, s.RedirectURIsSet = urlList("KEYWAY_REDIRECT_URIS", app.DefaultRedirectURIs)
	s.LogoutURLs, s.LogoutURLsSet = urlList("KEYWAY_LOGOUT_REDIRECTS", app.DefaultLogoutURLs)
	if s.Store != StoreEmbedded && s.Store != StoreDynamoDB {
		return s, fmt.Errorf("KEYWAY_STORE must be %s or %s, not %q", StoreEmbedded, StoreDynamoDB, s.Store)
	}
	if err := s.LogLevel.UnmarshalText([]byte(getenv("KEYWAY_LOG_LEVEL", "info"))); err != nil {
		return s, fmt.Errorf("KEYWAY_LOG_LEVEL: %w", err)
	}
	return s, nil
}

// urlList reads a comma-separated list, or def when the variable is unset
// or empty (to clear a list, use the settings API or CLI).
func urlList(name string, def []string) ([]string, bool) {
	v := strings.TrimSpace(os.Getenv(name))
	if v == "" {
		return def, false
	}
	return SplitList(v), true
}

// SplitList splits a comma-separated list, trimming and dropping empty items.
func SplitList(v string) []string {
	list := []string{}
	for _, u := range strings.Split(v, ",") {
		if u = strings.TrimSpace(u); u != "" {
			list = append(list, u)
		}
	}
	return list
}

func getenv(name, def string) string {
	if v := strings.TrimSpace(os.Getenv(name)); v != "" {
		return v
	}
	return def
}

// Logger is the JSON slog logger at the configured level.
func (s Settings) Logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: s.LogLevel}))
}

// DynamoClient builds a DynamoDB client from the AWS SDK's standard
// settings (AWS_REGION, AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_DYNAMODB, ...).
func DynamoClient(ctx context.Context) (*dynamodb.Client, error) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("aws config: %w", err)
	}
	return dynamodb.NewFromConfig(cfg), nil
}

// OpenStore opens the configured store.
func OpenStore(ctx context.Context, s Settings, now func() time.Time) (events.Store, error) {
	switch s.Store {
	case StoreDynamoDB:
		client, err := DynamoClient(ctx)
		if err != nil {
			return nil, err
		}
		return dynamo.New(client, s.Tables, now), nil
	default:
		return bolt.Open(filepath.Join(s.DataDir, "keyway.db"), now)
	}
}

// Keyway is an assembled server.
type Keyway struct {
	Store   events.Store
	Signer  *RingSigner
	App     *app.App
	Handler http.Handler
}

// Build opens the store and wires the app and the API.
func Build(ctx context.Context, s Settings, log *slog.Logger) (*Keyway, error) {
	store, err := OpenStore(ctx, s, time.Now)
	if err != nil {
		return nil, err
	}
	kek := KEKFromSettings(s)
	signer := NewRingSigner(store, kek, time.Now)
	mailer, inbox, err := buildMailer(ctx, s, log)
	if err != nil {
		store.Close()
		return nil, err
	}
	a := app.New(app.Config{Store: store, Logger: log, DNS: dns.New(s.DNS, dns.DefaultTimeout), Signer: signer,
		Mailer: mailer, CodeKey: codeKey(kek), Sessions: app.SessionConfig{Issuer: s.Issuer}, PublicURL: s.PublicURL,
		InviteURL: os.Getenv("KEYWAY_INVITE_URL")})
	var h http.Handler = api.New(a, log, time.Now)
	if inbox != nil {
		mux := http.NewServeMux()
		mux.Handle("/_dev/inbox", inbox)
		mux.Handle("/", h)
		h = mux
	}
	return &Keyway{Store: store, App: a, Signer: signer, Handler: h}, nil
}

// Seed makes sure the configured environment exists, with the key and
// client id from the settings when they are given. An environment named
// production is of type production (sk_live_ keys); any other is staging.
func (k *Keyway) Seed(ctx context.Context, s Settings) (app.EnsureResult, error) {
	typ := environment.Staging
	if s.Environment == environment.Production {
		typ = environment.Production
	}
	res, err := k.App.EnsureEnvironment(ctx, app.EnsureEnvironmentInput{Name: s.Environment, Type: typ, Key: s.APIKey, ClientID: s.ClientID})
	if err != nil {
		return res, err
	}
	res.Environment.Settings, err = k.App.SeedSettings(ctx, res.Environment.ID, s.RedirectURIs, s.LogoutURLs, s.RedirectURIsSet, s.LogoutURLsSet)
	if err != nil {
		return res, fmt.Errorf("seed the settings of %s: %w", s.Environment, err)
	}
	return res, nil
}

// Close releases the store.
func (k *Keyway) Close() error { return k.Store.Close() }
