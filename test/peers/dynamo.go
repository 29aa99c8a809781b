package peers

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/keywayhq/keyway/infra/dynamo"
)

// DynamoClient is a DynamoDB client for a local peer at url, with static
// credentials and no shared config files. httpClient may be nil.
func DynamoClient(url string, httpClient aws.HTTPClient) *dynamodb.Client {
	cfg, err := config.LoadDefaultConfig(context.Background(),
		config.WithRegion("us-east-1"),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("keyway", "keyway", "")),
		config.WithSharedConfigFiles([]string{}),
		config.WithSharedCredentialsFiles([]string{}),
	)
	if err != nil {
		panic(err) // static options only; cannot fail
	}
	return dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
		o.BaseEndpoint = aws.String(url)
		if httpClient != nil {
			o.HTTPClient = httpClient
		}
	})
}

// FreshTables bootstraps tables with names of their own on the peer at url,
// so that tests sharing one peer do not see each other's data.
func FreshTables(ctx context.Context, url, prefix string) (dynamo.Tables, error) {
	suffix := fmt.Sprintf("%d", time.Now().UnixNano())
	t := dynamo.Tables{Events: prefix + "-events-" + suffix, State: prefix + "-state-" + suffix}
	if err := dynamo.Bootstrap(ctx, DynamoClient(url, nil), t); err != nil {
		return t, fmt.Errorf("peers: bootstrap tables on %s: %w", url, err)
	}
	return t, nil
}
