package environment

import (
	"strings"
	"testing"

	"github.com/keywayhq/keyway/domain"
)

func TestNormalize(t *testing.T) {
	got, err := Settings{RedirectURIs: []string{" https://a.example/cb ", "https://a.example/cb", "", "http://localhost:3000/callback"},
		PrimaryColor: "#ABCDEF", AppName: "  Acme  "}.Normalize(Production)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.RedirectURIs) != 2 || got.RedirectURIs[0] != "https://a.example/cb" || got.PrimaryColor != "#abcdef" || got.AppName != "Acme" ||
		got.LogoutURLs == nil {
		t.Fatalf("Normalize = %+v", got)
	}
	many := make([]string, MaxURIs+1)
	for i := range many {
		many[i] = "https://a.example/" + strings.Repeat("x", i+1)
	}
	bad := []struct {
		s     Settings
		typ   string
		field string
	}{
		{Settings{RedirectURIs: []string{"javascript:alert(1)"}}, Staging, "redirect_uris"},
		{Settings{RedirectURIs: []string{"data:text/html,hi"}}, Staging, "redirect_uris"},
		{Settings{RedirectURIs: []string{"//evil.example/cb"}}, Staging, "redirect_uris"},
		{Settings{RedirectURIs: []string{"https://a.example/cb#x"}}, Staging, "redirect_uris"},
		{Settings{RedirectURIs: []string{"https://a.example/cb#"}}, Staging, "redirect_uris"},
		{Settings{RedirectURIs: []string{"https://u@a.example/cb"}}, Staging, "redirect_uris"},
		{Settings{RedirectURIs: []string{"http://a.example/cb"}}, Production, "redirect_uris"},
		{Settings{RedirectURIs: []string{"https://a.example/" + strings.Repeat("x", MaxURILength)}}, Staging, "redirect_uris"},
		{Settings{RedirectURIs: many}, Staging, "redirect_uris"},
		{Settings{LogoutURLs: []string{"mailto:a@b.example"}}, Staging, "logout_redirect_uris"},
		{Settings{PrimaryColor: "#abc"}, Staging, "primary_color"},
		{Settings{PrimaryColor: "#abcdeg"}, Staging, "primary_color"},
		{Settings{AppName: "a\nb"}, Staging, "app_name"},
		{Settings{LogoURL: "http://cdn.example/logo.png"}, Staging, "logo_url"},
	}
	for _, c := range bad {
		_, err := c.s.Normalize(c.typ)
		de, ok := domain.As(err)
		if !ok || de.Kind != domain.Invalid || len(de.Fields) != 1 || de.Fields[0].Field != c.field {
			t.Errorf("%+v in %s: err = %v, want a 422 on %s", c.s, c.typ, err, c.field)
		}
	}
	if _, err := (Settings{RedirectURIs: []string{"http://a.example/cb", "http://[::1]:3000/cb"}}).Normalize(Staging); err != nil {
		t.Fatalf("staging http: %v", err)
	}
	if _, err := (Settings{RedirectURIs: []string{"http://127.0.0.1:3000/cb", "http://localhost/cb"}}).Normalize(Production); err != nil {
		t.Fatalf("production loopback: %v", err)
	}
}
