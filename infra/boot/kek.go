package boot

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// EnvKEKSecret names a Secrets Manager secret that holds the key-encryption
// key; template.yaml creates one per stack and passes its ARN.
const EnvKEKSecret = "KEYWAY_KEY_ENCRYPTION_KEY_SECRET"

// SecretReader reads a secret's string value.
type SecretReader interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// kekFromSecret derives the 32-byte key-encryption key from a secret's
// value (SHA-256 of it: the generated secret is 64 random characters).
func kekFromSecret(ctx context.Context, sm SecretReader, id string) ([]byte, error) {
	out, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: &id})
	if err != nil {
		return nil, fmt.Errorf("boot: read the key-encryption key secret: %w", err)
	}
	if out.SecretString == nil || len(strings.TrimSpace(*out.SecretString)) < 32 {
		return nil, errors.New("boot: the key-encryption key secret must hold at least 32 characters")
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(*out.SecretString)))
	return sum[:], nil
}

// secretKEK reads the KEK from the secret named by EnvKEKSecret, with the
// AWS SDK's standard settings (AWS_ENDPOINT_URL_SECRETS_MANAGER, ...).
func secretKEK(id string) ([]byte, error) {
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("boot: aws config: %w", err)
	}
	return kekFromSecret(ctx, secretsmanager.NewFromConfig(cfg), id)
}

func kekSecretID() string { return strings.TrimSpace(os.Getenv(EnvKEKSecret)) }
