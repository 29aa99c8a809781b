// Package dynamo is the DynamoDB events.Store, Keyway's production store.
//
// Two tables hold everything (see TableInputs for their exact definitions;
// template.yaml and the LocalStack init script declare the same):
//
//	events table (default "keyway-events")
//	  pk (S, HASH)  "<env>#<stream>"     sk (N, RANGE)  version
//	  id, type, data (JSON string), occurred_at (RFC3339Nano, UTC), actor,
//	  request_id, env, stream
//	  feed_pk "<env>", feed_sk event id: GSI "feed" (ALL), the environment's feed
//	  stream NEW_IMAGE, PAY_PER_REQUEST
//
//	state table (default "keyway-state")
//	  pk (S, HASH) only
//	  read-model item  "<env>#item#<collection>#<id>": data, collection, id,
//	                   gsi1pk "<env>#<partition>"/gsi1sk, gsi2pk/gsi2sk,
//	                   expires_at (N, unix ms) and ttl (N, unix s) if it expires
//	  unique claim     "<env>#unique#<kind>#<value>": owner
//	  idempotency      "<env>#idem#<key>": fingerprint, status, body (B),
//	                   expires_at, ttl
//	  GSIs "gsi1" (gsi1pk, gsi1sk) and "gsi2" (gsi2pk, gsi2sk), ALL
//	  TTL on "ttl", stream NEW_AND_OLD_IMAGES, PAY_PER_REQUEST
//
// One events.Append is one TransactWriteItems call.
package dynamo

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Default table names, and the environment variables that override them.
const (
	DefaultEventsTable = "keyway-events"
	DefaultStateTable  = "keyway-state"
	EventsTableEnv     = "KEYWAY_EVENTS_TABLE"
	StateTableEnv      = "KEYWAY_STATE_TABLE"
)

// Index and attribute names of the layout.
const (
	FeedIndex    = "feed" // events table GSI: feed_pk HASH, feed_sk RANGE
	GSI1         = "gsi1" // state table GSI: gsi1pk HASH, gsi1sk RANGE
	GSI2         = "gsi2" // state table GSI: gsi2pk HASH, gsi2sk RANGE
	TTLAttribute = "ttl"  // state table TTL attribute (unix seconds)
)

// Tables names the two tables of a deployment.
type Tables struct{ Events, State string }

// DefaultTables returns keyway-events and keyway-state.
func DefaultTables() Tables { return Tables{Events: DefaultEventsTable, State: DefaultStateTable} }

// TablesFromEnv reads KEYWAY_EVENTS_TABLE and KEYWAY_STATE_TABLE, falling
// back to the defaults for unset or empty variables.
func TablesFromEnv() Tables {
	t := DefaultTables()
	if v := strings.TrimSpace(os.Getenv(EventsTableEnv)); v != "" {
		t.Events = v
	}
	if v := strings.TrimSpace(os.Getenv(StateTableEnv)); v != "" {
		t.State = v
	}
	return t
}

func keyElem(name string, kt types.KeyType) types.KeySchemaElement {
	return types.KeySchemaElement{AttributeName: aws.String(name), KeyType: kt}
}

func attrDef(name string, at types.ScalarAttributeType) types.AttributeDefinition {
	return types.AttributeDefinition{AttributeName: aws.String(name), AttributeType: at}
}

func gsi(name, hash, rng string) types.GlobalSecondaryIndex {
	return types.GlobalSecondaryIndex{
		IndexName:  aws.String(name),
		KeySchema:  []types.KeySchemaElement{keyElem(hash, types.KeyTypeHash), keyElem(rng, types.KeyTypeRange)},
		Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll},
	}
}

// EventsTableInput is the definition of the events table named name.
func EventsTableInput(name string) *dynamodb.CreateTableInput {
	return &dynamodb.CreateTableInput{
		TableName:   aws.String(name),
		BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			attrDef(attrPK, types.ScalarAttributeTypeS),
			attrDef(attrSK, types.ScalarAttributeTypeN),
			attrDef(attrFeedPK, types.ScalarAttributeTypeS),
			attrDef(attrFeedSK, types.ScalarAttributeTypeS),
		},
		KeySchema:              []types.KeySchemaElement{keyElem(attrPK, types.KeyTypeHash), keyElem(attrSK, types.KeyTypeRange)},
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{gsi(FeedIndex, attrFeedPK, attrFeedSK)},
		StreamSpecification:    &types.StreamSpecification{StreamEnabled: aws.Bool(true), StreamViewType: types.StreamViewTypeNewImage},
	}
}

// StateTableInput is the definition of the state table named name. Its TTL
// (on TTLAttribute) is not part of CreateTable; Bootstrap enables it.
func StateTableInput(name string) *dynamodb.CreateTableInput {
	return &dynamodb.CreateTableInput{
		TableName:   aws.String(name),
		BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			attrDef(attrPK, types.ScalarAttributeTypeS),
			attrDef(attrGSI1PK, types.ScalarAttributeTypeS),
			attrDef(attrGSI1SK, types.ScalarAttributeTypeS),
			attrDef(attrGSI2PK, types.ScalarAttributeTypeS),
			attrDef(attrGSI2SK, types.ScalarAttributeTypeS),
		},
		KeySchema: []types.KeySchemaElement{keyElem(attrPK, types.KeyTypeHash)},
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{
			gsi(GSI1, attrGSI1PK, attrGSI1SK),
			gsi(GSI2, attrGSI2PK, attrGSI2SK),
		},
		StreamSpecification: &types.StreamSpecification{StreamEnabled: aws.Bool(true), StreamViewType: types.StreamViewTypeNewAndOldImages},
	}
}

// TableInputs returns the definitions of both tables, events first.
func TableInputs(t Tables) []*dynamodb.CreateTableInput {
	return []*dynamodb.CreateTableInput{EventsTableInput(t.Events), StateTableInput(t.State)}
}

// BootstrapTimeout bounds how long Bootstrap waits for a table to be ACTIVE.
var BootstrapTimeout = 2 * time.Minute

// Bootstrap creates both tables if they are missing, waits until they are
// ACTIVE and enables TTL on the state table. It is idempotent: existing tables
// are fine as long as they have the keys and indexes of the layout.
func Bootstrap(ctx context.Context, client *dynamodb.Client, t Tables) error {
	if t.Events == "" || t.State == "" {
		return errors.New("dynamo: bootstrap: empty table name")
	}
	for _, in := range TableInputs(t) {
		if err := ensureTable(ctx, client, in); err != nil {
			return err
		}
	}
	return ensureTTL(ctx, client, t.State)
}

func ensureTable(ctx context.Context, client *dynamodb.Client, in *dynamodb.CreateTableInput) error {
	name := aws.ToString(in.TableName)
	_, err := client.CreateTable(ctx, in)
	var inUse *types.ResourceInUseException
	if err != nil && !errors.As(err, &inUse) {
		return fmt.Errorf("dynamo: create table %s: %w", name, err)
	}
	desc, err := waitActive(ctx, client, name)
	if err != nil {
		return err
	}
	return checkLayout(desc, in)
}

// waitActive polls DescribeTable until the table and its indexes are ACTIVE.
func waitActive(ctx context.Context, client *dynamodb.Client, name string) (*types.TableDescription, error) {
	ctx, cancel := context.WithTimeout(ctx, BootstrapTimeout)
	defer cancel()
	delay := 50 * time.Millisecond
	for {
		out, err := client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)})
		var nf *types.ResourceNotFoundException
		switch {
		case err == nil && out.Table != nil && active(out.Table):
			return out.Table, nil
		case err != nil && !errors.As(err, &nf):
			return nil, fmt.Errorf("dynamo: describe table %s: %w", name, err)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("dynamo: table %s not ACTIVE after %v: %w", name, BootstrapTimeout, ctx.Err())
		case <-time.After(delay):
		}
		delay = min(2*delay, 2*time.Second)
	}
}

func active(td *types.TableDescription) bool {
	if td.TableStatus != types.TableStatusActive {
		return false
	}
	for _, g := range td.GlobalSecondaryIndexes {
		if g.IndexStatus != "" && g.IndexStatus != types.IndexStatusActive {
			return false
		}
	}
	return true
}

// checkLayout verifies that an existing table has the layout's key schema and
// indexes, so that a wrongly created table fails at startup, not at first use.
func checkLayout(td *types.TableDescription, want *dynamodb.CreateTableInput) error {
	name := aws.ToString(want.TableName)
	if !sameKeys(td.KeySchema, want.KeySchema) {
		return fmt.Errorf("dynamo: table %s exists with key schema %s, want %s", name, keysString(td.KeySchema), keysString(want.KeySchema))
	}
	for _, w := range want.GlobalSecondaryIndexes {
		found := false
		for _, g := range td.GlobalSecondaryIndexes {
			if aws.ToString(g.IndexName) == aws.ToString(w.IndexName) {
				found = true
				if !sameKeys(g.KeySchema, w.KeySchema) {
					return fmt.Errorf("dynamo: table %s index %s has keys %s, want %s", name, aws.ToString(w.IndexName), keysString(g.KeySchema), keysString(w.KeySchema))
				}
			}
		}
		if !found {
			return fmt.Errorf("dynamo: table %s exists without index %s", name, aws.ToString(w.IndexName))
		}
	}
	return nil
}

func sameKeys(a, b []types.KeySchemaElement) bool {
	return keysString(a) == keysString(b)
}

func keysString(ks []types.KeySchemaElement) string {
	var parts []string
	for _, k := range ks {
		parts = append(parts, aws.ToString(k.AttributeName)+":"+string(k.KeyType))
	}
	return "[" + strings.Join(parts, " ") + "]"
}

func ensureTTL(ctx context.Context, client *dynamodb.Client, table string) error {
	d, err := client.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(table)})
	if err == nil && d.TimeToLiveDescription != nil {
		st := d.TimeToLiveDescription.TimeToLiveStatus
		if (st == types.TimeToLiveStatusEnabled || st == types.TimeToLiveStatusEnabling) &&
			aws.ToString(d.TimeToLiveDescription.AttributeName) == TTLAttribute {
			return nil
		}
	}
	_, err = client.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName: aws.String(table),
		TimeToLiveSpecification: &types.TimeToLiveSpecification{
			AttributeName: aws.String(TTLAttribute),
			Enabled:       aws.Bool(true),
		},
	})
	if err != nil && !strings.Contains(strings.ToLower(err.Error()), "already enabled") {
		return fmt.Errorf("dynamo: enable TTL on %s: %w", table, err)
	}
	return nil
}
