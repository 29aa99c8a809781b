#!/usr/bin/env bash
# Creates Keyway's two DynamoDB tables, idempotently (an existing table is left
# as it is). Runs as a LocalStack ready.d hook, or by hand against any
# DynamoDB endpoint:
#   AWS_ENDPOINT_URL=http://127.0.0.1:4566 localstack/init/ready.d/10-tables.sh
# Must match what `keyway bootstrap` (infra/dynamo) and template.yaml create.
set -euo pipefail

ENDPOINT="${AWS_ENDPOINT_URL:-http://localhost:4566}"
EVENTS_TABLE="${KEYWAY_EVENTS_TABLE:-keyway-events}"
STATE_TABLE="${KEYWAY_STATE_TABLE:-keyway-state}"
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-test}"
export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-test}"
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-${AWS_REGION:-us-east-1}}"
export AWS_PAGER=""

ddb() { aws --endpoint-url "${AWS_ENDPOINT_URL:-http://localhost:4566}" dynamodb "$@"; }
log() { printf '10-tables: %s\n' "$*"; }

table_exists() {
	local out
	if out="$(ddb describe-table --table-name "$1" --query 'Table.TableStatus' --output text 2>&1)"; then
		return 0
	fi
	if grep -q 'ResourceNotFoundException' <<<"$out"; then
		return 1
	fi
	printf '10-tables: describe-table %s failed: %s\n' "$1" "$out" >&2
	exit 1
}

# Events: one item per event, pk = stream key, sk = version; GSI "feed" is the
# global time-ordered feed. Streams (NEW_IMAGE) drive webhooks and fan-out.
if table_exists "$EVENTS_TABLE"; then
	log "$EVENTS_TABLE exists"
else
	log "creating $EVENTS_TABLE"
	ddb create-table \
		--table-name "$EVENTS_TABLE" \
		--billing-mode PAY_PER_REQUEST \
		--attribute-definitions \
			AttributeName=pk,AttributeType=S \
			AttributeName=sk,AttributeType=N \
			AttributeName=feed_pk,AttributeType=S \
			AttributeName=feed_sk,AttributeType=S \
		--key-schema AttributeName=pk,KeyType=HASH AttributeName=sk,KeyType=RANGE \
		--global-secondary-indexes '[{"IndexName":"feed","KeySchema":[{"AttributeName":"feed_pk","KeyType":"HASH"},{"AttributeName":"feed_sk","KeyType":"RANGE"}],"Projection":{"ProjectionType":"ALL"}}]' \
		--stream-specification StreamEnabled=true,StreamViewType=NEW_IMAGE \
		>/dev/null
	ddb wait table-exists --table-name "$EVENTS_TABLE"
fi

# State: read models, unique claims, idempotency records, short-lived secrets
# (expired by TTL on "ttl").
if table_exists "$STATE_TABLE"; then
	log "$STATE_TABLE exists"
else
	log "creating $STATE_TABLE"
	ddb create-table \
		--table-name "$STATE_TABLE" \
		--billing-mode PAY_PER_REQUEST \
		--attribute-definitions \
			AttributeName=pk,AttributeType=S \
			AttributeName=gsi1pk,AttributeType=S \
			AttributeName=gsi1sk,AttributeType=S \
			AttributeName=gsi2pk,AttributeType=S \
			AttributeName=gsi2sk,AttributeType=S \
		--key-schema AttributeName=pk,KeyType=HASH \
		--global-secondary-indexes '[{"IndexName":"gsi1","KeySchema":[{"AttributeName":"gsi1pk","KeyType":"HASH"},{"AttributeName":"gsi1sk","KeyType":"RANGE"}],"Projection":{"ProjectionType":"ALL"}},{"IndexName":"gsi2","KeySchema":[{"AttributeName":"gsi2pk","KeyType":"HASH"},{"AttributeName":"gsi2sk","KeyType":"RANGE"}],"Projection":{"ProjectionType":"ALL"}}]' \
		--stream-specification StreamEnabled=true,StreamViewType=NEW_AND_OLD_IMAGES \
		>/dev/null
	ddb wait table-exists --table-name "$STATE_TABLE"
fi

ttl_status="$(ddb describe-time-to-live --table-name "$STATE_TABLE" \
	--query 'TimeToLiveDescription.TimeToLiveStatus' --output text 2>/dev/null || true)"
case "$ttl_status" in
ENABLED | ENABLING)
	log "TTL on $STATE_TABLE already $ttl_status"
	;;
*)
	log "enabling TTL (ttl) on $STATE_TABLE"
	ddb update-time-to-live --table-name "$STATE_TABLE" \
		--time-to-live-specification Enabled=true,AttributeName=ttl >/dev/null
	;;
esac

log "ready ($ENDPOINT: $EVENTS_TABLE, $STATE_TABLE)"
