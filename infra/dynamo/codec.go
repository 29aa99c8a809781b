package dynamo

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/keywayhq/keyway/events"
)

// Attribute names. Several (data, type, status, owner, ttl) are DynamoDB
// reserved words, so expressions always go through ExpressionAttributeNames.
const (
	attrPK         = "pk"
	attrSK         = "sk"
	attrID         = "id"
	attrType       = "type"
	attrData       = "data"
	attrOccurredAt = "occurred_at"
	attrActor      = "actor"
	attrRequestID  = "request_id"
	attrEnv        = "env"
	attrStream     = "stream"
	attrFeedPK     = "feed_pk"
	attrFeedSK     = "feed_sk"

	attrCollection  = "collection"
	attrGSI1PK      = "gsi1pk"
	attrGSI1SK      = "gsi1sk"
	attrGSI2PK      = "gsi2pk"
	attrGSI2SK      = "gsi2sk"
	attrExpiresAt   = "expires_at"
	attrTTL         = TTLAttribute
	attrOwner       = "owner"
	attrFingerprint = "fingerprint"
	attrStatus      = "status"
	attrBody        = "body"
)

// Keys.

func eventPK(env, stream string) string          { return env + "#" + stream }
func itemPrefix(env string) string               { return env + "#item#" }
func itemPK(env string, k events.ItemKey) string { return itemPrefix(env) + k.Collection + "#" + k.ID }
func claimPK(env, kind, value string) string     { return env + "#unique#" + kind + "#" + value }
func idemPrefix(env string) string               { return env + "#idem#" }
func idemPK(env, key string) string              { return idemPrefix(env) + key }
func indexPK(env, partition string) string       { return env + "#" + partition }
func indexAttrs(ix events.Index) (pk, sk string) { return string(ix) + "pk", string(ix) + "sk" }
func validIndex(ix events.Index) bool            { return ix == events.Index1 || ix == events.Index2 }
func avS(s string) *types.AttributeValueMemberS  { return &types.AttributeValueMemberS{Value: s} }
func avN(n int64) *types.AttributeValueMemberN {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}
func avB(b []byte) *types.AttributeValueMemberB { return &types.AttributeValueMemberB{Value: b} }
func pkKey(pk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: avS(pk)}
}

func eventKey(env, stream string, version int64) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: avS(eventPK(env, stream)), attrSK: avN(version)}
}

// ttlSeconds rounds up, so DynamoDB's TTL never removes an item before it
// stops being visible (visibility is decided on expires_at, in ms).
func ttlSeconds(ms int64) int64 { return (ms + 999) / 1000 }

// Events.

func encodeEvent(e events.Envelope) map[string]types.AttributeValue {
	m := map[string]types.AttributeValue{
		attrPK:         avS(eventPK(e.Environment, e.Stream)),
		attrSK:         avN(e.Version),
		attrID:         avS(e.ID),
		attrType:       avS(e.Type),
		attrData:       avS(string(e.Data)),
		attrOccurredAt: avS(e.OccurredAt.UTC().Format(time.RFC3339Nano)),
		attrEnv:        avS(e.Environment),
		attrStream:     avS(e.Stream),
		attrFeedPK:     avS(e.Environment),
		attrFeedSK:     avS(e.ID),
	}
	if e.Actor != "" {
		m[attrActor] = avS(e.Actor)
	}
	if e.RequestID != "" {
		m[attrRequestID] = avS(e.RequestID)
	}
	return m
}

func decodeEvent(m map[string]types.AttributeValue) (events.Envelope, error) {
	var e events.Envelope
	var err error
	e.ID = getS(m, attrID)
	e.Type = getS(m, attrType)
	e.Environment = getS(m, attrEnv)
	e.Stream = getS(m, attrStream)
	e.Actor = getS(m, attrActor)
	e.RequestID = getS(m, attrRequestID)
	if d := getS(m, attrData); d != "" {
		e.Data = json.RawMessage(d)
	}
	v, ok, err := getN(m, attrSK)
	if err != nil || !ok {
		return e, fmt.Errorf("dynamo: event %s of %s has no valid version: %v", e.ID, getS(m, attrPK), err)
	}
	e.Version = v
	if s := getS(m, attrOccurredAt); s != "" {
		if e.OccurredAt, err = time.Parse(time.RFC3339Nano, s); err != nil {
			return e, fmt.Errorf("dynamo: event %s occurred_at: %w", e.ID, err)
		}
	}
	return e, nil
}

// Read-model items.

func encodeItem(env string, it events.Item) (map[string]types.AttributeValue, error) {
	m := map[string]types.AttributeValue{
		attrPK:         avS(itemPK(env, it.ItemKey)),
		attrCollection: avS(it.Collection),
		attrID:         avS(it.ID),
		attrData:       avS(string(it.Data)),
	}
	for ix, k := range it.Indexes {
		if !validIndex(ix) {
			return nil, fmt.Errorf("dynamo: item %s/%s: unknown index %q", it.Collection, it.ID, ix)
		}
		if k.Sort == "" {
			// DynamoDB rejects empty strings in index key attributes.
			return nil, fmt.Errorf("dynamo: item %s/%s: empty sort key in index %s", it.Collection, it.ID, ix)
		}
		pk, sk := indexAttrs(ix)
		m[pk] = avS(indexPK(env, k.Partition))
		m[sk] = avS(k.Sort)
	}
	if !it.ExpiresAt.IsZero() {
		ms := it.ExpiresAt.UnixMilli()
		m[attrExpiresAt] = avN(ms)
		m[attrTTL] = avN(ttlSeconds(ms))
	}
	return m, nil
}

func decodeItem(env string, m map[string]types.AttributeValue) (events.Item, error) {
	var it events.Item
	it.Collection, it.ID = getS(m, attrCollection), getS(m, attrID)
	if it.Collection == "" {
		// Fall back on the key: "<env>#item#<collection>#<id>".
		rest, ok := strings.CutPrefix(getS(m, attrPK), itemPrefix(env))
		if !ok {
			return it, fmt.Errorf("dynamo: %q is not a read-model item of %s", getS(m, attrPK), env)
		}
		it.Collection, it.ID, _ = strings.Cut(rest, "#")
	}
	if d := getS(m, attrData); d != "" {
		it.Data = json.RawMessage(d)
	}
	it.Indexes = map[events.Index]events.IndexKey{}
	for _, ix := range []events.Index{events.Index1, events.Index2} {
		pk, sk := indexAttrs(ix)
		p, ok := m[pk].(*types.AttributeValueMemberS)
		if !ok {
			continue
		}
		part, _ := strings.CutPrefix(p.Value, env+"#")
		it.Indexes[ix] = events.IndexKey{Partition: part, Sort: getS(m, sk)}
	}
	ms, ok, err := getN(m, attrExpiresAt)
	if err != nil {
		return it, fmt.Errorf("dynamo: item %s/%s expires_at: %w", it.Collection, it.ID, err)
	}
	if ok {
		it.ExpiresAt = time.UnixMilli(ms).UTC()
	}
	return it, nil
}

// Idempotency records.

func encodeIdem(env string, r events.IdempotencyRecord) map[string]types.AttributeValue {
	m := map[string]types.AttributeValue{
		attrPK:          avS(idemPK(env, r.Key)),
		attrFingerprint: avS(r.Fingerprint),
		attrStatus:      avN(int64(r.Status)),
	}
	if len(r.Body) > 0 {
		m[attrBody] = avB(r.Body)
	}
	if !r.ExpiresAt.IsZero() {
		ms := r.ExpiresAt.UnixMilli()
		m[attrExpiresAt] = avN(ms)
		m[attrTTL] = avN(ttlSeconds(ms))
	}
	return m
}

func decodeIdem(env string, m map[string]types.AttributeValue) (events.IdempotencyRecord, error) {
	var r events.IdempotencyRecord
	r.Key, _ = strings.CutPrefix(getS(m, attrPK), idemPrefix(env))
	r.Fingerprint = getS(m, attrFingerprint)
	st, _, err := getN(m, attrStatus)
	if err != nil {
		return r, fmt.Errorf("dynamo: idempotency record %s status: %w", r.Key, err)
	}
	r.Status = int(st)
	if b, ok := m[attrBody].(*types.AttributeValueMemberB); ok && len(b.Value) > 0 {
		r.Body = b.Value
	}
	ms, ok, err := getN(m, attrExpiresAt)
	if err != nil {
		return r, fmt.Errorf("dynamo: idempotency record %s expires_at: %w", r.Key, err)
	}
	if ok {
		r.ExpiresAt = time.UnixMilli(ms).UTC()
	}
	return r, nil
}

// live reports whether an item's expires_at (unix ms, if any) is after nowMs;
// the same rule as the append condition "expires_at <= :now means expired".
func live(m map[string]types.AttributeValue, nowMs int64) bool {
	ms, ok, err := getN(m, attrExpiresAt)
	return err == nil && (!ok || nowMs < ms)
}

func getS(m map[string]types.AttributeValue, name string) string {
	if v, ok := m[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

func getN(m map[string]types.AttributeValue, name string) (int64, bool, error) {
	v, ok := m[name].(*types.AttributeValueMemberN)
	if !ok {
		return 0, false, nil
	}
	n, err := strconv.ParseInt(v.Value, 10, 64)
	if err != nil {
		return 0, false, err
	}
	return n, true, nil
}
