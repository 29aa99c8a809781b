package app

import (
	"context"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/keywayhq/keyway/domain"
	"github.com/keywayhq/keyway/domain/environment"
	"github.com/keywayhq/keyway/events"
)

// Read-model and claim names of environments, all in the System namespace.
const (
	environmentCollection = "environment"
	apiKeyCollection      = "api_key"
	environmentsPartition = "environments"
	claimEnvName          = "environment_name"
	claimClientID         = "client_id"
	claimAPIKey           = "api_key"
)

// Principal is what an API key grants: one environment.
type Principal struct {
	EnvironmentID string `json:"environment_id"`
	Environment   string `json:"environment"` // its name
	Type          string `json:"type"`
	ClientID      string `json:"client_id"`
	KeyID         string `json:"key_id"`
}

// ErrUnauthorized is returned for a missing or unknown API key.
var ErrUnauthorized = &domain.Error{Kind: domain.Unauthorized, Code: "unauthorized", Message: "Invalid API key provided."}

// HashAPIKey is the stored form of an API key. Keys are 256-bit random
// values, so an unsalted SHA-256 cannot be brute-forced.
func HashAPIKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// Authenticate resolves an API key to its environment.
func (a *App) Authenticate(ctx context.Context, key string) (Principal, error) {
	if key == "" || len(key) > 200 {
		return Principal{}, ErrUnauthorized
	}
	hash := HashAPIKey(key)
	if p, ok := a.keys.get(hash); ok {
		return p, nil
	}
	it, err := a.store.Get(ctx, environment.System, events.ItemKey{Collection: apiKeyCollection, ID: hash})
	if errors.Is(err, events.ErrNotFound) {
		return Principal{}, ErrUnauthorized
	}
	if err != nil {
		return Principal{}, fmt.Errorf("app: api key lookup: %w", err)
	}
	var p Principal
	if err := json.Unmarshal(it.Data, &p); err != nil {
		return Principal{}, fmt.Errorf("app: decode api key: %w", err)
	}
	a.keys.put(hash, p)
	return p, nil
}

// EnsureEnvironmentInput seeds an environment. Key and ClientID fix the
// values; empty ones are generated.
type EnsureEnvironmentInput struct {
	Name     string
	Type     string
	Key      string
	ClientID string
}

// EnsureResult says what EnsureEnvironment did. Key is set only when a key
// was created now, since stored keys cannot be read back.
type EnsureResult struct {
	Environment environment.Environment
	Created     bool
	Key         string
	KeyHint     string
}

// EnsureEnvironment creates the named environment if it is missing, and
// registers in.Key on it if that key is new. It is safe to race.
func (a *App) EnsureEnvironment(ctx context.Context, in EnsureEnvironmentInput) (EnsureResult, error) {
	if in.Key != "" && !validKey(in.Key, in.Type) {
		return EnsureResult{}, domain.InvalidField("api_key", "invalid_api_key",
			"An API key of a %s environment starts with %s and has 24 to 128 letters, digits or underscores.", in.Type, environment.KeyPrefix(in.Type))
	}
	if in.ClientID != "" && !ValidID(in.ClientID, "client") {
		return EnsureResult{}, domain.InvalidField("client_id", "invalid_client_id", "A client id is client_ followed by a ULID.")
	}
	for attempt := 0; attempt < maxAttempts; attempt++ {
		env, err := a.EnvironmentByName(ctx, in.Name)
		if err == nil {
			res := EnsureResult{Environment: env}
			if in.Key != "" {
				res.KeyHint, err = a.addKey(ctx, env, in.Key)
			}
			return res, err
		}
		if _, ok := domain.As(err); !ok {
			return EnsureResult{}, err
		}
		res, err := a.CreateEnvironment(ctx, in)
		if errors.Is(err, events.ErrClaimed) || errors.Is(err, events.ErrConflict) {
			continue // another process created it first
		}
		return res, err
	}
	return EnsureResult{}, fmt.Errorf("app: environment %s: too many concurrent changes", in.Name)
}

// CreateEnvironment creates an environment with one API key.
func (a *App) CreateEnvironment(ctx context.Context, in EnsureEnvironmentInput) (EnsureResult, error) {
	if in.Name == "" || len(in.Name) > 64 || strings.ContainsAny(in.Name, " \t\r\n#") {
		return EnsureResult{}, domain.InvalidField("name", "invalid_name", "An environment name is 1 to 64 characters without spaces or #.")
	}
	if in.Type != environment.Staging && in.Type != environment.Production {
		return EnsureResult{}, domain.InvalidField("type", "invalid_type", "Environment type must be staging or production.")
	}
	key, generated := in.Key, false
	if key == "" {
		var err error
		if key, err = newAPIKey(a.rand, in.Type); err != nil {
			return EnsureResult{}, err
		}
		generated = true
	}
	clientID := in.ClientID
	if clientID == "" {
		clientID = a.ids.New("client")
	}
	env := environment.Environment{ID: a.ids.New("environment"), Name: in.Name, Type: in.Type, ClientID: clientID, CreatedAt: a.now()}
	apiKey := environment.APIKey{ID: a.ids.New("api_key"), Hash: HashAPIKey(key), Hint: keyHint(key), CreatedAt: a.now()}
	stream := events.StreamName(environment.Aggregate, env.ID)
	evs, err := environment.Decide(environment.State{}, environment.Create{Environment: env, Key: apiKey})
	if err != nil {
		return EnsureResult{}, err
	}
	envItem := newItem(environmentCollection, env.ID, env, events.Index1, environmentsPartition, env.ID)
	keyItem := apiKeyItem(env, apiKey)
	w := write{
		streams: []streamEvents{{stream: stream, events: evs}},
		claims: []events.Claim{{Kind: claimEnvName, Value: env.Name, Owner: stream}, {Kind: claimClientID, Value: env.ClientID, Owner: stream},
			{Kind: claimAPIKey, Value: apiKey.Hash, Owner: stream}},
		puts: []events.Item{envItem, keyItem},
	}
	m := Meta{Env: environment.System, Actor: "keyway"}
	if _, err := execute(ctx, a, m, func() (write, struct{}, error) { return w, struct{}{}, nil }, func(ce *events.ClaimError) error { return ce }); err != nil {
		return EnsureResult{}, err
	}
	res := EnsureResult{Environment: env, Created: true, KeyHint: apiKey.Hint}
	if generated {
		res.Key = key
	}
	return res, nil
}

// AddAPIKey creates a new API key for an environment and returns it once.
func (a *App) AddAPIKey(ctx context.Context, envName string) (string, error) {
	env, err := a.EnvironmentByName(ctx, envName)
	if err != nil {
		return "", err
	}
	key, err := newAPIKey(a.rand, env.Type)
	if err != nil {
		return "", err
	}
	if _, err := a.addKey(ctx, env, key); err != nil {
		return "", err
	}
	return key, nil
}

func (a *App) addKey(ctx context.Context, env environment.Environment, key string) (string, error) {
	if !validKey(key, env.Type) {
		return "", domain.InvalidField("api_key", "invalid_api_key", "A %s key starts with %s.", env.Type, environment.KeyPrefix(env.Type))
	}
	apiKey := environment.APIKey{ID: a.ids.New("api_key"), Hash: HashAPIKey(key), Hint: keyHint(key), CreatedAt: a.now()}
	stream := events.StreamName(environment.Aggregate, env.ID)
	m := Meta{Env: environment.System, Actor: "keyway"}
	_, err := execute(ctx, a, m, func() (write, struct{}, error) {
		st, version, err := load(ctx, a, environment.System, stream, environment.Evolve)
		if err != nil {
			return write{}, struct{}{}, err
		}
		evs, err := environment.Decide(st, environment.AddKey{Key: apiKey})
		if err != nil || len(evs) == 0 {
			return write{}, struct{}{}, err
		}
		return write{streams: []streamEvents{{stream: stream, version: version, events: evs}},
			claims: []events.Claim{{Kind: claimAPIKey, Value: apiKey.Hash, Owner: stream}}, puts: []events.Item{apiKeyItem(env, apiKey)}}, struct{}{}, nil
	}, func(ce *events.ClaimError) error {
		return domain.Errorf(domain.Conflict, "api_key_in_use", "That API key belongs to another environment.")
	})
	return apiKey.Hint, err
}

// projectEnvironment is an environment's read models: the environment and
// one item per API key hash, which authentication reads.
func projectEnvironment(s environment.State) []events.Item {
	if !s.Exists {
		return nil
	}
	items := []events.Item{newItem(environmentCollection, s.ID, s.Environment, events.Index1, environmentsPartition, s.ID)}
	for _, k := range s.Keys {
		items = append(items, apiKeyItem(s.Environment, k))
	}
	return items
}

func apiKeyItem(env environment.Environment, k environment.APIKey) events.Item {
	p := Principal{EnvironmentID: env.ID, Environment: env.Name, Type: env.Type, ClientID: env.ClientID, KeyID: k.ID}
	return newItem(apiKeyCollection, k.Hash, p, "", "", "")
}

// EnvironmentByName finds an environment by its name.
func (a *App) EnvironmentByName(ctx context.Context, name string) (environment.Environment, error) {
	owner, err := a.store.Owner(ctx, environment.System, claimEnvName, name)
	if errors.Is(err, events.ErrNotFound) {
		return environment.Environment{}, domain.NotFoundf("entity_not_found", "Environment not found: '%s'.", name)
	}
	if err != nil {
		return environment.Environment{}, fmt.Errorf("app: environment lookup: %w", err)
	}
	return a.environment(ctx, strings.TrimPrefix(owner, environment.Aggregate+"#"))
}

func (a *App) environment(ctx context.Context, id string) (environment.Environment, error) {
	var env environment.Environment
	it, err := a.store.Get(ctx, environment.System, events.ItemKey{Collection: environmentCollection, ID: id})
	if err != nil {
		return env, fmt.Errorf("app: environment %s: %w", id, err)
	}
	err = json.Unmarshal(it.Data, &env)
	return env, err
}

// ListEnvironments lists every environment, oldest first.
func (a *App) ListEnvironments(ctx context.Context) ([]environment.Environment, error) {
	page, err := listPage(ctx, a, environment.System, events.Index1, environmentsPartition, PageParams{Limit: 100, Order: "asc"},
		func(it events.Item) (environment.Environment, error) {
			var e environment.Environment
			err := json.Unmarshal(it.Data, &e)
			return e, err
		})
	return page.Data, err
}

func newAPIKey(rand io.Reader, typ string) (string, error) {
	b := make([]byte, 32)
	if _, err := io.ReadFull(rand, b); err != nil {
		return "", fmt.Errorf("app: api key: %w", err)
	}
	return environment.KeyPrefix(typ) + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b)), nil
}

func validKey(key, typ string) bool {
	rest, ok := strings.CutPrefix(key, environment.KeyPrefix(typ))
	if !ok || len(rest) < 24 || len(rest) > 128 {
		return false
	}
	for _, c := range rest {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

func keyHint(key string) string {
	return key[:strings.LastIndex(key[:8], "_")+1] + "…" + key[len(key)-4:]
}

// keyCache remembers resolved API keys briefly, so that most requests cost
// no store read for authentication.
type keyCache struct {
	ttl time.Duration
	now func() time.Time
	mu  sync.Mutex
	m   map[string]cachedKey
}

type cachedKey struct {
	p       Principal
	expires time.Time
}

func newKeyCache(ttl time.Duration, now func() time.Time) *keyCache {
	return &keyCache{ttl: ttl, now: now, m: map[string]cachedKey{}}
}

func (c *keyCache) get(hash string) (Principal, bool) {
	if c.ttl <= 0 {
		return Principal{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[hash]
	if !ok || !c.now().Before(e.expires) {
		return Principal{}, false
	}
	return e.p, true
}

func (c *keyCache) put(hash string, p Principal) {
	if c.ttl <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) > 10_000 {
		clear(c.m)
	}
	c.m[hash] = cachedKey{p: p, expires: c.now().Add(c.ttl)}
}
