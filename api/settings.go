package api

import (
	"net/http"

	"github.com/keywayhq/keyway/app"
	"github.com/keywayhq/keyway/domain/environment"
)

// settingsBody is PUT /keyway/settings: omitted fields stay as they are.
type settingsBody struct {
	RedirectURIs *[]string `json:"redirect_uris"`
	LogoutURLs   *[]string `json:"logout_redirect_uris"`
	AppName      *string   `json:"app_name"`
	LogoURL      *string   `json:"logo_url"`
	PrimaryColor *string   `json:"primary_color"`
}

type settingsJSON struct {
	Object       string   `json:"object"`
	ClientID     string   `json:"client_id"`
	RedirectURIs []string `json:"redirect_uris"`
	LogoutURLs   []string `json:"logout_redirect_uris"`
	AppName      string   `json:"app_name"`
	LogoURL      *string  `json:"logo_url"`
	PrimaryColor *string  `json:"primary_color"`
}

func renderSettings(clientID string) func(any) any {
	return func(v any) any {
		s := v.(environment.Settings)
		out := settingsJSON{Object: "environment_settings", ClientID: clientID, RedirectURIs: s.RedirectURIs, LogoutURLs: s.LogoutURLs,
			AppName: s.AppName, LogoURL: optionalString(s.LogoURL), PrimaryColor: optionalString(s.PrimaryColor)}
		if out.RedirectURIs == nil {
			out.RedirectURIs = []string{}
		}
		if out.LogoutURLs == nil {
			out.LogoutURLs = []string{}
		}
		return out
	}
}

// getSettings is GET /keyway/settings: the hosted-login settings of the
// API key's environment.
func (s *Server) getSettings(w http.ResponseWriter, r *http.Request, c *call) {
	set, err := s.app.HostedSettings(r.Context(), c.principal.EnvironmentID)
	s.respond(w, c, http.StatusOK, set, err, renderSettings(c.principal.ClientID))
}

// putSettings is PUT /keyway/settings. Redirect URIs match exactly, so
// they are registered one by one, never as patterns.
func (s *Server) putSettings(w http.ResponseWriter, r *http.Request, c *call) {
	var b settingsBody
	if err := decode(c.body, &b); err != nil {
		s.writeError(w, c, err)
		return
	}
	p := app.SettingsPatch{RedirectURIs: b.RedirectURIs, LogoutURLs: b.LogoutURLs, AppName: b.AppName, LogoURL: b.LogoURL, PrimaryColor: b.PrimaryColor}
	set, err := s.app.UpdateSettings(r.Context(), c.meta(), c.principal.EnvironmentID, p)
	s.respond(w, c, http.StatusOK, set, err, renderSettings(c.principal.ClientID))
}

func optionalString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
