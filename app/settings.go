package app

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/keywayhq/keyway/domain"
	"github.com/keywayhq/keyway/domain/environment"
	"github.com/keywayhq/keyway/events"
)

// Default settings of a new environment's hosted login, as `keyway serve`
// seeds them: an app on localhost:3000.
var (
	DefaultRedirectURIs = []string{"http://localhost:3000/callback"}
	DefaultLogoutURLs   = []string{"http://localhost:3000"}
)

// SettingsPatch changes some settings; nil fields stay as they are.
type SettingsPatch struct {
	RedirectURIs *[]string
	LogoutURLs   *[]string
	AppName      *string
	LogoURL      *string
	PrimaryColor *string
}

func (p SettingsPatch) apply(s environment.Settings) environment.Settings {
	if p.RedirectURIs != nil {
		s.RedirectURIs = *p.RedirectURIs
	}
	if p.LogoutURLs != nil {
		s.LogoutURLs = *p.LogoutURLs
	}
	if p.AppName != nil {
		s.AppName = *p.AppName
	}
	if p.LogoURL != nil {
		s.LogoURL = *p.LogoURL
	}
	if p.PrimaryColor != nil {
		s.PrimaryColor = *p.PrimaryColor
	}
	return s
}

// HostedSettings returns an environment's hosted-login settings.
func (a *App) HostedSettings(ctx context.Context, env string) (environment.Settings, error) {
	e, err := a.environment(ctx, env)
	return e.Settings, err
}

// UpdateSettings changes an environment's settings and returns them. The
// whole result is validated; a refused change changes nothing.
func (a *App) UpdateSettings(ctx context.Context, m Meta, env string, p SettingsPatch) (environment.Settings, error) {
	_, set, err := a.updateSettings(ctx, env, func(environment.State) (SettingsPatch, bool) { return p, true })
	return set, err
}

// SeedSettings gives an environment whose settings were never set the
// given ones, and replaces the redirect URIs or logout URLs when force says so.
func (a *App) SeedSettings(ctx context.Context, env string, redirectURIs, logoutURLs []string, forceRedirects, forceLogout bool) (environment.Settings, error) {
	_, set, err := a.updateSettings(ctx, env, func(s environment.State) (SettingsPatch, bool) {
		var p SettingsPatch
		if !s.SettingsSet || forceRedirects {
			p.RedirectURIs = &redirectURIs
		}
		if !s.SettingsSet || forceLogout {
			p.LogoutURLs = &logoutURLs
		}
		return p, p.RedirectURIs != nil || p.LogoutURLs != nil
	})
	return set, err
}

func (a *App) updateSettings(ctx context.Context, env string, patch func(environment.State) (SettingsPatch, bool)) (bool, environment.Settings, error) {
	stream := events.StreamName(environment.Aggregate, env)
	m := Meta{Env: environment.System, Actor: "keyway"}
	type result struct {
		changed bool
		set     environment.Settings
	}
	r, err := execute(ctx, a, m, func() (write, result, error) {
		st, version, err := load(ctx, a, environment.System, stream, environment.Evolve)
		if err != nil {
			return write{}, result{}, err
		}
		if !st.Exists {
			return write{}, result{}, domain.NotFoundf("entity_not_found", "Environment not found: '%s'.", env)
		}
		p, ok := patch(st)
		if !ok {
			return write{}, result{set: st.Settings}, nil
		}
		evs, err := environment.Decide(st, environment.UpdateSettings{Settings: p.apply(st.Settings), At: a.now()})
		if err != nil || len(evs) == 0 {
			return write{}, result{set: st.Settings}, err
		}
		after := st
		for _, e := range evs {
			after = environment.Evolve(after, e)
		}
		return write{streams: []streamEvents{{stream: stream, version: version, events: evs}},
			puts: projectEnvironment(after)[:1]}, result{true, after.Settings}, nil
	}, nil)
	return r.changed, r.set, err
}

// ClientEnvironment finds the environment of a client id; an unknown one
// is not found.
func (a *App) ClientEnvironment(ctx context.Context, clientID string) (environment.Environment, error) {
	nf := domain.NotFoundf("entity_not_found", "Client not found: '%s'.", clientID)
	if !ValidID(clientID, "client") {
		return environment.Environment{}, nf
	}
	owner, err := a.store.Owner(ctx, environment.System, claimClientID, clientID)
	if errors.Is(err, events.ErrNotFound) {
		return environment.Environment{}, nf
	}
	if err != nil {
		return environment.Environment{}, fmt.Errorf("app: client lookup: %w", err)
	}
	return a.environment(ctx, strings.TrimPrefix(owner, environment.Aggregate+"#"))
}

// ClientPrincipal is what a public client (PKCE, no secret) may act as:
// its environment, without an API key.
func (a *App) ClientPrincipal(ctx context.Context, clientID string) (Principal, error) {
	env, err := a.ClientEnvironment(ctx, clientID)
	if err != nil {
		return Principal{}, err
	}
	return Principal{EnvironmentID: env.ID, Environment: env.Name, Type: env.Type, ClientID: env.ClientID, KeyID: "public_client"}, nil
}

// HostedKey derives a 32-byte secret of the hosted pages for one purpose
// (sealing their state, CSRF tokens) from the code key.
func (a *App) HostedKey(purpose string) ([]byte, error) {
	if a.codeKey == nil {
		return nil, errors.New("app: no code key configured")
	}
	k, err := a.codeKey()
	if err != nil {
		return nil, err
	}
	mac := hmac.New(sha256.New, k)
	mac.Write([]byte("keyway hosted pages: " + purpose))
	return mac.Sum(nil), nil
}

// logoutAllowed reports whether return_to is an allowed logout URL of env:
// one of its settings, or of the server's configuration. URLs match
// exactly, except that an empty path and "/" are the same (RFC 3986 §6.2.3).
func (a *App) logoutAllowed(ctx context.Context, env, returnTo string) (bool, error) {
	set, err := a.HostedSettings(ctx, env)
	if err != nil {
		return false, err
	}
	want := rootSlash(returnTo)
	for _, u := range append(slices.Clone(a.logoutURLs), set.LogoutURLs...) {
		if rootSlash(u) == want {
			return true, nil
		}
	}
	return false, nil
}

// rootSlash gives a URL without a path the path "/".
func rootSlash(u string) string {
	p, err := url.Parse(u)
	if err != nil || p.Path != "" || p.Opaque != "" || p.Host == "" {
		return u
	}
	p.Path = "/"
	return p.String()
}
