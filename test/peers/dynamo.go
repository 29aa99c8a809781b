package peers

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/keywayhq/keyway/infra/dynamo"
)

// DynamoClient is a DynamoDB client for a local peer at url, with static
// credentials and no shared config files. httpClient may be nil.
func DynamoClient(url string, httpClient aws.HTTPClient, optFns ...func(*dynamodb.Options)) *dynamodb.Client {
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
	}, func(o *dynamodb.Options) {
		for _, f := range optFns {
			f(o)
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

// SerialClient sends one request at a time. moto runs requests on
// concurrent threads without isolating transactions (a cancelled one
// restores a copy of the whole table, undoing others' writes), so its
// clients serialize, as DynamoDB serializes conflicting transactions.
type SerialClient struct {
	mu    sync.Mutex
	Inner aws.HTTPClient
}

// Do implements aws.HTTPClient.
func (c *SerialClient) Do(r *http.Request) (*http.Response, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.Inner.Do(r)
}

// DynamoBackend is a DynamoDB peer started for a test package.
type DynamoBackend struct {
	Name   string
	Peer   *Peer
	Client *dynamodb.Client
	Err    error // why it is unavailable
}

// StartDynamoBackends starts DynamoDB Local and moto in parallel. A peer
// that fails to start has Err set; Need turns that into a test failure.
func StartDynamoBackends(ctx context.Context) (local, moto *DynamoBackend) {
	local, moto = &DynamoBackend{Name: "DynamoDBLocal"}, &DynamoBackend{Name: "Moto"}
	var wg sync.WaitGroup
	for _, b := range []*DynamoBackend{local, moto} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start, hc := StartDynamoDBLocal, aws.HTTPClient(nil)
			if b == moto {
				start, hc = StartMoto, &SerialClient{Inner: awshttp.NewBuildableClient()}
			}
			if b.Peer, b.Err = start(ctx); b.Err != nil {
				b.Err = fmt.Errorf("start %s: %w", b.Name, b.Err)
				return
			}
			b.Client = DynamoClient(b.Peer.URL, hc)
		}()
	}
	wg.Wait()
	return local, moto
}

// Need fails the test (it does not skip) when the backend is unavailable.
func (b *DynamoBackend) Need(tb testing.TB) *dynamodb.Client {
	tb.Helper()
	if b.Err != nil {
		tb.Fatalf("%s unavailable: %v", b.Name, b.Err)
	}
	return b.Client
}

// Stop stops the peer, if it started.
func (b *DynamoBackend) Stop() {
	if b.Peer != nil {
		_ = b.Peer.Stop()
	}
}
