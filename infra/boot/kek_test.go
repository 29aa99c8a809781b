package boot

import (
	"context"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/keywayhq/keyway/test/peers"
)

// TestKEKFromSecretsManager reads the key-encryption key from a real
// Secrets Manager API (moto), as a stack made from template.yaml does.
func TestKEKFromSecretsManager(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	moto, err := peers.StartMoto(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer moto.Stop()
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion("us-east-1"),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("keyway", "keyway", "")))
	if err != nil {
		t.Fatal(err)
	}
	sm := secretsmanager.NewFromConfig(cfg, func(o *secretsmanager.Options) { o.BaseEndpoint = aws.String(moto.URL) })
	const value = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ01"
	created, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("keyway-kek"), SecretString: aws.String(value)})
	if err != nil {
		t.Fatal(err)
	}
	kek, err := kekFromSecret(ctx, sm, *created.ARN)
	want := sha256.Sum256([]byte(value))
	if err != nil || string(kek) != string(want[:]) {
		t.Fatalf("kek = %x, %v; want %x", kek, err, want)
	}
	if _, err := kekFromSecret(ctx, sm, "missing"); err == nil {
		t.Fatal("a missing secret gave a key")
	}
	short, _ := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("short"), SecretString: aws.String("too short")})
	if _, err := kekFromSecret(ctx, sm, *short.ARN); err == nil {
		t.Fatal("a short secret gave a key")
	}
}
