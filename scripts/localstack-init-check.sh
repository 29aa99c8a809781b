#!/usr/bin/env bash
# Checks localstack/init/ready.d/10-tables.sh without Docker: runs it against a
# moto server on a free 127.0.0.1 port, verifies both tables' keys, indexes,
# streams and TTL with `aws dynamodb describe-table`, runs it again to prove it
# is idempotent, and once more with custom table names.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
INIT="$ROOT/localstack/init/ready.d/10-tables.sh"

PY=""
if command -v pyenv >/dev/null 2>&1; then
	PY="$(pyenv which python3 2>/dev/null || true)"
fi
[ -n "$PY" ] || PY="$(command -v python3 || true)"
[ -n "$PY" ] || { echo "localstack-init-check: python3 not found" >&2; exit 1; }
command -v aws >/dev/null 2>&1 || { echo "localstack-init-check: aws CLI not found (run scripts/install-peers.sh)" >&2; exit 1; }

PORT="$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')"
LOG="$(mktemp)"
"$PY" -m moto.server -H 127.0.0.1 -p "$PORT" >"$LOG" 2>&1 &
MOTO_PID=$!
cleanup() {
	kill "$MOTO_PID" 2>/dev/null || true
	wait "$MOTO_PID" 2>/dev/null || true
	rm -f "$LOG"
}
trap cleanup EXIT

fail() {
	echo "localstack-init-check: FAIL: $*" >&2
	echo "localstack init: 0 passed, 1 failed"
	exit 1
}

for _ in $(seq 1 150); do
	if curl -fsS -o /dev/null "http://127.0.0.1:$PORT/moto-api/" 2>/dev/null; then
		break
	fi
	kill -0 "$MOTO_PID" 2>/dev/null || { cat "$LOG" >&2; fail "moto exited"; }
	sleep 0.2
done
curl -fsS -o /dev/null "http://127.0.0.1:$PORT/moto-api/" || { cat "$LOG" >&2; fail "moto not ready on port $PORT"; }

export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1
export AWS_ENDPOINT_URL="http://127.0.0.1:$PORT" AWS_PAGER=""
unset AWS_PROFILE AWS_SESSION_TOKEN

ddb() { aws --endpoint-url "$AWS_ENDPOINT_URL" dynamodb "$@"; }

# check_table NAME KIND: describe-table and describe-time-to-live NAME once
# each and compare the result with what KIND (events|state) must look like.
check_table() {
	local desc ttl
	desc="$(ddb describe-table --table-name "$1" --output json)" || fail "describe-table $1"
	ttl="$(ddb describe-time-to-live --table-name "$1" --output json)" || fail "describe-time-to-live $1"
	"$PY" - "$2" "$desc" "$ttl" <<'PYEOF' || fail "table $1 ($2) does not match"
import json, sys

kind, desc, ttl = sys.argv[1], json.loads(sys.argv[2])["Table"], json.loads(sys.argv[3])
errors = []

def want(what, got, exp):
    if got != exp:
        errors.append(f"{what}: got {got!r}, want {exp!r}")

def keys(ks):
    return [(k["AttributeName"], k["KeyType"]) for k in ks]

types = {a["AttributeName"]: a["AttributeType"] for a in desc.get("AttributeDefinitions", [])}
gsis = {g["IndexName"]: g for g in desc.get("GlobalSecondaryIndexes", [])}
stream = desc.get("StreamSpecification", {})
ttl_desc = ttl.get("TimeToLiveDescription", {})

want("billing mode", desc.get("BillingModeSummary", {}).get("BillingMode"), "PAY_PER_REQUEST")
want("local secondary indexes", desc.get("LocalSecondaryIndexes", []), [])
if kind == "events":
    want("key schema", keys(desc["KeySchema"]), [("pk", "HASH"), ("sk", "RANGE")])
    want("attribute types", types, {"pk": "S", "sk": "N", "feed_pk": "S", "feed_sk": "S"})
    want("GSIs", sorted(gsis), ["feed"])
    if "feed" in gsis:
        want("feed keys", keys(gsis["feed"]["KeySchema"]), [("feed_pk", "HASH"), ("feed_sk", "RANGE")])
        want("feed projection", gsis["feed"]["Projection"]["ProjectionType"], "ALL")
    want("stream", (stream.get("StreamEnabled"), stream.get("StreamViewType")), (True, "NEW_IMAGE"))
    want("TTL", ttl_desc.get("TimeToLiveStatus"), "DISABLED")
else:
    want("key schema", keys(desc["KeySchema"]), [("pk", "HASH")])
    want("attribute types", types, {"pk": "S", "gsi1pk": "S", "gsi1sk": "S", "gsi2pk": "S", "gsi2sk": "S"})
    want("GSIs", sorted(gsis), ["gsi1", "gsi2"])
    for n in ("gsi1", "gsi2"):
        if n in gsis:
            want(n + " keys", keys(gsis[n]["KeySchema"]), [(n + "pk", "HASH"), (n + "sk", "RANGE")])
            want(n + " projection", gsis[n]["Projection"]["ProjectionType"], "ALL")
    want("stream", (stream.get("StreamEnabled"), stream.get("StreamViewType")), (True, "NEW_AND_OLD_IMAGES"))
    want("TTL", (ttl_desc.get("TimeToLiveStatus"), ttl_desc.get("AttributeName")), ("ENABLED", "ttl"))

for e in errors:
    print(f"  {desc.get('TableName')}: {e}", file=sys.stderr)
sys.exit(1 if errors else 0)
PYEOF
}

check_tables() {
	check_table "$1" events
	check_table "$2" state
}

run_init() {
	bash "$INIT" >/dev/null || fail "init script failed ($*)"
}

# Default names, twice (the second run must change nothing and not fail).
(unset KEYWAY_EVENTS_TABLE KEYWAY_STATE_TABLE; run_init "first run")
check_tables keyway-events keyway-state
(unset KEYWAY_EVENTS_TABLE KEYWAY_STATE_TABLE; run_init "second run")
check_tables keyway-events keyway-state
n="$(ddb list-tables --query 'length(TableNames)' --output text)"
[ "$n" = "2" ] || fail "want 2 tables after two runs, got $n"

# Names from the environment.
KEYWAY_EVENTS_TABLE=kw-check-events KEYWAY_STATE_TABLE=kw-check-state run_init "custom names"
check_tables kw-check-events kw-check-state

echo "localstack init: 1 passed, 0 failed"
