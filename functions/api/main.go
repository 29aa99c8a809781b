// Command api is the Lambda entry point of the WorkOS API: it builds Keyway
// from the same settings as keyway serve and serves API Gateway HTTP API
// (v2) events with the same http.Handler.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/keywayhq/keyway/infra/apigw"
	"github.com/keywayhq/keyway/infra/boot"
)

func main() {
	ctx := context.Background()
	s, err := boot.SettingsFromEnv()
	if err != nil {
		fail(err)
	}
	if s.Store == boot.StoreEmbedded && os.Getenv("KEYWAY_DATA_DIR") == "" {
		s.DataDir = "/tmp/keyway" // the only writable place in Lambda
	}
	log := s.Logger()
	k, err := boot.Build(ctx, s, log)
	if err != nil {
		fail(err)
	}
	// Only a fixed key is worth seeding here: a generated one could not be shown.
	if s.APIKey != "" {
		if _, err := k.Seed(ctx, s); err != nil {
			fail(err)
		}
	}
	lambda.Start(apigw.Handler(k.Handler))
}

func fail(err error) {
	slog.Error("keyway api init failed", "error", err)
	os.Exit(1)
}
