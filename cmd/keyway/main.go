// Command keyway runs Keyway locally and administers its stores.
//
//	keyway serve                      the API on the configured store
//	keyway bootstrap                  create the DynamoDB tables
//	keyway rebuild                    replay the log into fresh read models
//	keyway keys rotate                add a new signing key; the old one stays published
//	keyway env list                   list environments
//	keyway env create NAME [-type T]  create an environment and print its key
//	keyway env key NAME               add an API key to an environment
//	keyway settings NAME [flags]      show or change the hosted-login settings
//	keyway redirect-uris list|add|remove NAME [URI]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/keywayhq/keyway/app"
	"github.com/keywayhq/keyway/domain/environment"
	"github.com/keywayhq/keyway/infra/boot"
	"github.com/keywayhq/keyway/infra/dynamo"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "keyway:", err)
		os.Exit(1)
	}
}

const usage = `usage:
  keyway serve                       serve the API (KEYWAY_ADDR, KEYWAY_STORE, KEYWAY_DATA_DIR, ...)
  keyway bootstrap                   create the DynamoDB tables (KEYWAY_EVENTS_TABLE, KEYWAY_STATE_TABLE, AWS_*)
  keyway rebuild                     replay the whole log into the read models (stop keyway serve first on the embedded store)
  keyway keys rotate                 add a new access-token signing key to every environment (the old one stays in the JWKS until its tokens expire)
  keyway env list                    list environments
  keyway env create NAME [-type T]   create an environment (T: staging or production) and print its API key
  keyway env key NAME                add an API key to an environment and print it
  keyway settings NAME [flags]       show or change the hosted-login settings (redirect URIs, logout URLs, branding)
  keyway redirect-uris list|add|remove NAME [URI]   list, register or unregister a redirect URI`

func run(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 {
		return errors.New(usage)
	}
	settings, err := boot.SettingsFromEnv()
	if err != nil {
		return err
	}
	switch args[0] {
	case "serve":
		return serve(ctx, settings, out)
	case "bootstrap":
		client, err := boot.DynamoClient(ctx)
		if err != nil {
			return err
		}
		if err := dynamo.Bootstrap(ctx, client, settings.Tables); err != nil {
			return err
		}
		fmt.Fprintf(out, "tables ready: %s, %s\n", settings.Tables.Events, settings.Tables.State)
		return nil
	case "env":
		return envCommand(ctx, settings, args[1:], out)
	case "settings":
		return settingsCommand(ctx, settings, args[1:], out)
	case "redirect-uris":
		return redirectURIsCommand(ctx, settings, args[1:], out)
	case "keys":
		if len(args) != 2 || args[1] != "rotate" {
			return errors.New("usage: keyway keys rotate")
		}
		k, err := boot.Build(ctx, settings, slog.New(slog.DiscardHandler))
		if err != nil {
			return err
		}
		defer k.Close()
		envs, err := k.App.ListEnvironments(ctx)
		if err != nil {
			return err
		}
		for _, e := range envs {
			kid, err := k.Signer.Rotate(ctx, e.ID, app.DefaultAccessTTL)
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "%s: new signing key %s; the previous key stays published for %s\n", e.Name, kid, app.DefaultAccessTTL)
		}
		return nil
	case "rebuild":
		k, err := boot.Build(ctx, settings, slog.New(slog.DiscardHandler))
		if err != nil {
			return err
		}
		defer k.Close()
		stats, err := k.App.RebuildAll(ctx)
		for _, st := range stats {
			fmt.Fprintf(out, "%s: %d written, %d deleted, %d unchanged\n", st.Environment, st.Written, st.Deleted, st.Unchanged)
		}
		return err
	case "help", "-h", "--help":
		fmt.Fprintln(out, usage)
		return nil
	}
	return fmt.Errorf("unknown command %q\n%s", args[0], usage)
}

func serve(ctx context.Context, s boot.Settings, out io.Writer) error {
	log := s.Logger()
	k, err := boot.Build(ctx, s, log)
	if err != nil {
		return err
	}
	defer k.Close()
	seed, err := k.Seed(ctx, s)
	if err != nil {
		return fmt.Errorf("seed environment: %w", err)
	}
	printSeed(out, seed)

	ln, err := net.Listen("tcp", s.Addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: k.Handler, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 60 * time.Second, IdleTimeout: 2 * time.Minute}
	fmt.Fprintf(out, "keyway listening on http://%s (store: %s)\n", ln.Addr(), s.Store)
	log.Info("listening", "addr", ln.Addr().String(), "store", s.Store)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

func printSeed(out io.Writer, r app.EnsureResult) {
	env := r.Environment
	switch {
	case r.Key != "":
		fmt.Fprintf(out, "%s environment %s created\n  WORKOS_API_KEY=%s\n  WORKOS_CLIENT_ID=%s\n  (the key is stored hashed and is shown only now)\n",
			env.Name, env.ID, r.Key, env.ClientID)
	case r.Created:
		fmt.Fprintf(out, "%s environment %s created with the key from KEYWAY_API_KEY (%s)\n  WORKOS_CLIENT_ID=%s\n", env.Name, env.ID, r.KeyHint, env.ClientID)
	default:
		fmt.Fprintf(out, "%s environment %s\n  WORKOS_CLIENT_ID=%s\n  (API keys are stored hashed; add one with: keyway env key %s)\n", env.Name, env.ID, env.ClientID, env.Name)
	}
	if uris := env.Settings.RedirectURIs; len(uris) > 0 {
		fmt.Fprintf(out, "  redirect URIs: %s\n  logout return_to URLs: %s\n", strings.Join(uris, ", "), strings.Join(env.Settings.LogoutURLs, ", "))
	}
}

func envCommand(ctx context.Context, s boot.Settings, args []string, out io.Writer) error {
	if len(args) == 0 {
		return errors.New(usage)
	}
	k, err := boot.Build(ctx, s, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	defer k.Close()
	switch args[0] {
	case "list":
		envs, err := k.App.ListEnvironments(ctx)
		if err != nil {
			return err
		}
		for _, e := range envs {
			fmt.Fprintf(out, "%s\t%s\t%s\t%s\n", e.Name, e.Type, e.ID, e.ClientID)
		}
		return nil
	case "create":
		fs := flag.NewFlagSet("env create", flag.ContinueOnError)
		typ := fs.String("type", environment.Staging, "staging or production")
		if len(args) < 2 {
			return errors.New("usage: keyway env create NAME [-type staging|production]")
		}
		if err := fs.Parse(args[2:]); err != nil {
			return err
		}
		r, err := k.App.CreateEnvironment(ctx, app.EnsureEnvironmentInput{Name: args[1], Type: *typ})
		if err != nil {
			return err
		}
		printSeed(out, r)
		return nil
	case "key":
		if len(args) != 2 {
			return errors.New("usage: keyway env key NAME")
		}
		key, err := k.App.AddAPIKey(ctx, args[1])
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "WORKOS_API_KEY=%s\n", key)
		return nil
	}
	return fmt.Errorf("unknown env command %q", args[0])
}
