package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"

	"github.com/keywayhq/keyway/app"
	"github.com/keywayhq/keyway/domain/environment"
	"github.com/keywayhq/keyway/infra/boot"
)

const settingsUsage = `usage:
  keyway settings NAME                               show an environment's hosted-login settings
  keyway settings NAME [-redirect-uris U,U] [-logout-urls U,U] [-app-name N] [-logo-url U] [-primary-color #rrggbb]
                                                     change them (a flag given empty clears the value)
  keyway redirect-uris list|add|remove NAME [URI]    list, register or unregister one redirect URI`

// settingsCommand is `keyway settings NAME [flags]`.
func settingsCommand(ctx context.Context, s boot.Settings, args []string, out io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return errors.New(settingsUsage)
	}
	fs := flag.NewFlagSet("settings", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var p app.SettingsPatch
	fs.Func("redirect-uris", "comma-separated redirect URIs", func(v string) error { p.RedirectURIs = ptr(boot.SplitList(v)); return nil })
	fs.Func("logout-urls", "comma-separated logout return_to URLs", func(v string) error { p.LogoutURLs = ptr(boot.SplitList(v)); return nil })
	fs.Func("app-name", "the app name the hosted pages show", func(v string) error { p.AppName = &v; return nil })
	fs.Func("logo-url", "the logo the hosted pages show", func(v string) error { p.LogoURL = &v; return nil })
	fs.Func("primary-color", "the colour of buttons, #rrggbb", func(v string) error { p.PrimaryColor = &v; return nil })
	if err := fs.Parse(args[1:]); err != nil {
		return fmt.Errorf("%w\n%s", err, settingsUsage)
	}
	return withEnvironment(ctx, s, args[0], func(k *boot.Keyway, env environment.Environment) error {
		set := env.Settings
		if fs.NFlag() > 0 {
			var err error
			if set, err = k.App.UpdateSettings(ctx, app.Meta{Env: environment.System, Actor: "cli"}, env.ID, p); err != nil {
				return err
			}
		}
		return printSettings(out, env, set)
	})
}

// redirectURIsCommand is `keyway redirect-uris list|add|remove NAME [URI]`.
func redirectURIsCommand(ctx context.Context, s boot.Settings, args []string, out io.Writer) error {
	if len(args) < 2 || (args[0] == "list") != (len(args) == 2) || len(args) > 3 {
		return errors.New(settingsUsage)
	}
	op, name := args[0], args[1]
	return withEnvironment(ctx, s, name, func(k *boot.Keyway, env environment.Environment) error {
		uris := slices.Clone(env.Settings.RedirectURIs)
		switch op {
		case "list":
		case "add":
			if !slices.Contains(uris, args[2]) {
				uris = append(uris, args[2])
			}
		case "remove":
			if !slices.Contains(uris, args[2]) {
				return fmt.Errorf("%s is not a redirect URI of %s", args[2], name)
			}
			uris = slices.DeleteFunc(uris, func(u string) bool { return u == args[2] })
		default:
			return errors.New(settingsUsage)
		}
		if op != "list" {
			set, err := k.App.UpdateSettings(ctx, app.Meta{Env: environment.System, Actor: "cli"}, env.ID, app.SettingsPatch{RedirectURIs: &uris})
			if err != nil {
				return err
			}
			uris = set.RedirectURIs
		}
		for _, u := range uris {
			fmt.Fprintln(out, u)
		}
		return nil
	})
}

func withEnvironment(ctx context.Context, s boot.Settings, name string, f func(*boot.Keyway, environment.Environment) error) error {
	k, err := boot.Build(ctx, s, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	defer k.Close()
	env, err := k.App.EnvironmentByName(ctx, name)
	if err != nil {
		return err
	}
	return f(k, env)
}

func printSettings(out io.Writer, env environment.Environment, set environment.Settings) error {
	if set.RedirectURIs == nil {
		set.RedirectURIs = []string{}
	}
	if set.LogoutURLs == nil {
		set.LogoutURLs = []string{}
	}
	b, err := json.MarshalIndent(map[string]any{"environment": env.Name, "client_id": env.ClientID, "settings": set}, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(out, string(b))
	return err
}

func ptr[T any](v T) *T { return &v }
