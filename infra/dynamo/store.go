package dynamo

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/keywayhq/keyway/events"
)

// MaxActions is DynamoDB's limit on the actions of one TransactWriteItems.
const MaxActions = 100

// Store is the DynamoDB events.Store.
type Store struct {
	client *dynamodb.Client
	tables Tables
	now    func() time.Time

	// Retries after cancellations caused only by TransactionConflict (or
	// throttling) of concurrent transactions on the same items.
	maxRetries int
	backoff    time.Duration
}

var _ events.Store = (*Store)(nil)

// New returns a store on the given tables (see Bootstrap) that reads time
// from now; now decides expiry of read-model items and idempotency records.
func New(client *dynamodb.Client, t Tables, now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	return &Store{client: client, tables: t, now: now, maxRetries: 10, backoff: 10 * time.Millisecond}
}

// Tables returns the tables the store uses.
func (s *Store) Tables() Tables { return s.tables }

// Close implements events.Store; the client needs no closing.
func (s *Store) Close() error { return nil }

// ---------------------------------------------------------------- Append

type actionKind int

const (
	actEvent  actionKind = iota // Put of an event
	actCheck                    // ConditionCheck of a stream's version (ExpectedVersion or a StreamCheck)
	actClaim                    // Put or Delete of a unique claim
	actPut                      // read-model Put
	actDelete                   // read-model Delete
	actIdem                     // idempotency Put
)

// action describes TransactItems[i], to map a cancellation reason back to it.
type action struct {
	kind   actionKind
	stream string       // actEvent, actCheck
	claim  *claimAction // actClaim
}

// claimAction merges the claims and releases of one unique value in an append
// (DynamoDB allows one action per item and transaction).
type claimAction struct {
	kind, value string
	owners      []string // owners the current holder may be (besides none)
	claimOwner  string   // owner after the append; "" releases
}

// condition is the claim's precondition: the value is free, or held by the
// one owner that every claim and release of it names.
func (c *claimAction) allows(current string, exists bool) bool {
	if !exists {
		return true
	}
	return len(c.owners) == 1 && current == c.owners[0]
}

// plan is a validated append turned into transaction items.
type plan struct {
	items   []types.TransactWriteItem
	actions []action
	claims  []*claimAction
}

func (s *Store) plan(a events.Append, nowMs int64) (*plan, error) {
	env := a.Environment
	if strings.Contains(env, "#") {
		return nil, fmt.Errorf("dynamo: environment %q contains '#'", env)
	}
	p := &plan{}
	add := func(it types.TransactWriteItem, act action) {
		p.items = append(p.items, it)
		p.actions = append(p.actions, act)
	}
	pkName := map[string]string{"#pk": attrPK}

	for _, sa := range a.Streams {
		if sa.ExpectedVersion > 0 {
			add(types.TransactWriteItem{ConditionCheck: &types.ConditionCheck{
				TableName:                aws.String(s.tables.Events),
				Key:                      eventKey(env, sa.Stream, sa.ExpectedVersion),
				ConditionExpression:      aws.String("attribute_exists(#pk)"),
				ExpressionAttributeNames: pkName,
			}}, action{kind: actCheck, stream: sa.Stream})
		}
		for _, e := range sa.Events {
			add(types.TransactWriteItem{Put: &types.Put{
				TableName:                aws.String(s.tables.Events),
				Item:                     encodeEvent(e),
				ConditionExpression:      aws.String("attribute_not_exists(#pk)"),
				ExpressionAttributeNames: pkName,
			}}, action{kind: actEvent, stream: sa.Stream})
		}
	}

	// Stream checks: the stream has no event at Version+1 and (unless it is
	// to be empty) one at Version. Validate ensures that a checked stream is
	// not also appended to, so these items are not touched twice.
	for _, c := range a.Checks {
		add(types.TransactWriteItem{ConditionCheck: &types.ConditionCheck{
			TableName:                aws.String(s.tables.Events),
			Key:                      eventKey(env, c.Stream, c.Version+1),
			ConditionExpression:      aws.String("attribute_not_exists(#pk)"),
			ExpressionAttributeNames: pkName,
		}}, action{kind: actCheck, stream: c.Stream})
		if c.Version > 0 {
			add(types.TransactWriteItem{ConditionCheck: &types.ConditionCheck{
				TableName:                aws.String(s.tables.Events),
				Key:                      eventKey(env, c.Stream, c.Version),
				ConditionExpression:      aws.String("attribute_exists(#pk)"),
				ExpressionAttributeNames: pkName,
			}}, action{kind: actCheck, stream: c.Stream})
		}
	}

	// Claims and releases, merged per value. As in memstore, releases apply
	// before claims, and the last claim of a value decides its owner.
	byPK := map[string]*claimAction{}
	note := func(c events.Claim, claim bool) {
		k := claimPK(env, c.Kind, c.Value)
		ca := byPK[k]
		if ca == nil {
			ca = &claimAction{kind: c.Kind, value: c.Value}
			byPK[k] = ca
			p.claims = append(p.claims, ca)
		}
		found := false
		for _, o := range ca.owners {
			found = found || o == c.Owner
		}
		if !found {
			ca.owners = append(ca.owners, c.Owner)
		}
		if claim {
			ca.claimOwner = c.Owner
		}
	}
	for _, c := range a.Claims {
		note(c, true)
	}
	for _, c := range a.Releases {
		note(c, false)
	}
	for _, ca := range p.claims {
		pk := claimPK(env, ca.kind, ca.value)
		cond := "attribute_not_exists(#pk)"
		names := map[string]string{"#pk": attrPK}
		var values map[string]types.AttributeValue
		if len(ca.owners) == 1 {
			cond += " OR #o = :o"
			names["#o"] = attrOwner
			values = map[string]types.AttributeValue{":o": avS(ca.owners[0])}
		}
		var it types.TransactWriteItem
		if ca.claimOwner != "" {
			it.Put = &types.Put{
				TableName:                 aws.String(s.tables.State),
				Item:                      map[string]types.AttributeValue{attrPK: avS(pk), attrOwner: avS(ca.claimOwner)},
				ConditionExpression:       aws.String(cond),
				ExpressionAttributeNames:  names,
				ExpressionAttributeValues: values,
			}
		} else {
			it.Delete = &types.Delete{
				TableName:                 aws.String(s.tables.State),
				Key:                       pkKey(pk),
				ConditionExpression:       aws.String(cond),
				ExpressionAttributeNames:  names,
				ExpressionAttributeValues: values,
			}
		}
		add(it, action{kind: actClaim, claim: ca})
	}

	// Read-model items: the last Put of a key wins, and a Put beats a Delete.
	putAt := map[string]int{}
	var puts []map[string]types.AttributeValue
	for _, it := range a.Puts {
		m, err := encodeItem(env, it)
		if err != nil {
			return nil, err
		}
		pk := itemPK(env, it.ItemKey)
		if i, ok := putAt[pk]; ok {
			puts[i] = m
			continue
		}
		putAt[pk] = len(puts)
		puts = append(puts, m)
	}
	for _, m := range puts {
		add(types.TransactWriteItem{Put: &types.Put{TableName: aws.String(s.tables.State), Item: m}}, action{kind: actPut})
	}
	deleted := map[string]bool{}
	for _, k := range a.Deletes {
		pk := itemPK(env, k)
		if _, ok := putAt[pk]; ok || deleted[pk] {
			continue
		}
		deleted[pk] = true
		add(types.TransactWriteItem{Delete: &types.Delete{TableName: aws.String(s.tables.State), Key: pkKey(pk)}}, action{kind: actDelete})
	}

	if r := a.Idempotency; r != nil {
		if r.Key == "" {
			return nil, errors.New("dynamo: idempotency record without key")
		}
		add(types.TransactWriteItem{Put: &types.Put{
			TableName:                 aws.String(s.tables.State),
			Item:                      encodeIdem(env, *r),
			ConditionExpression:       aws.String("attribute_not_exists(#pk) OR #x <= :now"),
			ExpressionAttributeNames:  map[string]string{"#pk": attrPK, "#x": attrExpiresAt},
			ExpressionAttributeValues: map[string]types.AttributeValue{":now": avN(nowMs)},
		}}, action{kind: actIdem})
	}

	if len(p.items) > MaxActions {
		return nil, fmt.Errorf("dynamo: append needs %d transaction actions, more than DynamoDB's %d", len(p.items), MaxActions)
	}
	return p, nil
}

// Append implements events.Store with one TransactWriteItems call (repeated
// only when concurrent transactions on the same items cancelled it).
func (s *Store) Append(ctx context.Context, a events.Append) error {
	if err := a.Validate(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	p, err := s.plan(a, s.now().UnixMilli())
	if err != nil {
		return err
	}
	in := &dynamodb.TransactWriteItemsInput{TransactItems: p.items}
	for attempt := 0; ; attempt++ {
		// The SDK fills in a ClientRequestToken (in this input), so that its
		// own retries after network errors are idempotent. An attempt of
		// ours after a cancellation must be a new request: clear the token.
		in.ClientRequestToken = nil
		_, err := s.client.TransactWriteItems(ctx, in)
		if err == nil {
			return nil
		}
		var tce *types.TransactionCanceledException
		if !errors.As(err, &tce) {
			return fmt.Errorf("dynamo: append: %w", err)
		}
		reasons := tce.CancellationReasons
		var conflict int // index of the first retryable reason, or -1
		if len(reasons) == len(p.actions) {
			failed, idx, cerr := s.classify(reasons, p, err)
			if failed != nil || cerr != nil {
				return firstNonNil(failed, cerr)
			}
			conflict = idx
		} else {
			// Some emulators send no (or mismatched) reasons: find out by
			// reading which precondition does not hold.
			if failed, derr := s.diagnose(ctx, a, p); failed != nil || derr != nil {
				return firstNonNil(failed, derr)
			}
			conflict = -1
		}
		if attempt >= s.maxRetries {
			if conflict >= 0 {
				return s.typedError(p.actions[conflict], err)
			}
			return fmt.Errorf("dynamo: append cancelled %d times, no condition failed: %w", attempt+1, err)
		}
		if err := sleep(ctx, s.backoff, attempt); err != nil {
			return err
		}
	}
}

func firstNonNil(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// classify maps cancellation reasons (parallel to the actions) to the typed
// error of the first failed condition; otherwise it returns the index of the
// first retryable reason, or a wrapped error for a reason that is neither.
func (s *Store) classify(reasons []types.CancellationReason, p *plan, cause error) (failed error, conflict int, err error) {
	conflict = -1
	var other []string
	for i, r := range reasons {
		switch code := aws.ToString(r.Code); code {
		case "", "None":
		case "ConditionalCheckFailed":
			return s.typedError(p.actions[i], cause), -1, nil
		case "TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded":
			if conflict < 0 {
				conflict = i
			}
		default:
			other = append(other, fmt.Sprintf("action %d: %s %s", i, code, aws.ToString(r.Message)))
		}
	}
	if len(other) > 0 {
		return nil, -1, fmt.Errorf("dynamo: append cancelled (%s): %w", strings.Join(other, "; "), cause)
	}
	return nil, conflict, nil
}

// typedError is the events error for a failed (or, after retries, still
// contended) action.
func (s *Store) typedError(act action, cause error) error {
	switch act.kind {
	case actEvent, actCheck:
		return &events.ConflictError{Stream: act.stream}
	case actClaim:
		return &events.ClaimError{Kind: act.claim.kind, Value: act.claim.value}
	case actIdem:
		return events.ErrIdempotencyKeyUsed
	default:
		return fmt.Errorf("dynamo: append cancelled on a read-model item: %w", cause)
	}
}

// diagnose re-reads every precondition of a cancelled append whose
// cancellation reasons are unknown. It returns the typed error of the first
// that does not hold, or nothing (then the cause was transient).
func (s *Store) diagnose(ctx context.Context, a events.Append, p *plan) (failed, err error) {
	env := a.Environment
	versions := make([]events.StreamCheck, 0, len(a.Streams)+len(a.Checks))
	for _, sa := range a.Streams {
		versions = append(versions, events.StreamCheck{Stream: sa.Stream, Version: sa.ExpectedVersion})
	}
	versions = append(versions, a.Checks...)
	for _, v := range versions {
		next, err := s.getItem(ctx, s.tables.Events, eventKey(env, v.Stream, v.Version+1))
		if err != nil {
			return nil, err
		}
		if next != nil {
			return &events.ConflictError{Stream: v.Stream}, nil
		}
		if v.Version > 0 {
			cur, err := s.getItem(ctx, s.tables.Events, eventKey(env, v.Stream, v.Version))
			if err != nil {
				return nil, err
			}
			if cur == nil {
				return &events.ConflictError{Stream: v.Stream}, nil
			}
		}
	}
	for _, ca := range p.claims {
		m, err := s.getItem(ctx, s.tables.State, pkKey(claimPK(env, ca.kind, ca.value)))
		if err != nil {
			return nil, err
		}
		if !ca.allows(getS(m, attrOwner), m != nil) {
			return &events.ClaimError{Kind: ca.kind, Value: ca.value}, nil
		}
	}
	if r := a.Idempotency; r != nil {
		m, err := s.getItem(ctx, s.tables.State, pkKey(idemPK(env, r.Key)))
		if err != nil {
			return nil, err
		}
		if m != nil && live(m, s.now().UnixMilli()) {
			return events.ErrIdempotencyKeyUsed, nil
		}
	}
	return nil, nil
}

// sleep waits a jittered, exponentially growing delay.
func sleep(ctx context.Context, base time.Duration, attempt int) error {
	d := base << min(attempt, 5)
	if d <= 0 {
		return ctx.Err()
	}
	d = d/2 + rand.N(d)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// ---------------------------------------------------------------- reads

func (s *Store) getItem(ctx context.Context, table string, key map[string]types.AttributeValue) (map[string]types.AttributeValue, error) {
	out, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: key, ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, fmt.Errorf("dynamo: get item from %s: %w", table, err)
	}
	if len(out.Item) == 0 {
		return nil, nil
	}
	return out.Item, nil
}

// Load implements events.Store with a consistent Query of the stream's partition.
func (s *Store) Load(ctx context.Context, env, stream string) ([]events.Envelope, error) {
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(s.tables.Events),
		KeyConditionExpression:    aws.String("#pk = :pk"),
		ExpressionAttributeNames:  map[string]string{"#pk": attrPK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": avS(eventPK(env, stream))},
		ConsistentRead:            aws.Bool(true),
		ScanIndexForward:          aws.Bool(true),
	}
	var out []events.Envelope
	for {
		page, err := s.client.Query(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("dynamo: load %s: %w", stream, err)
		}
		for _, m := range page.Items {
			e, err := decodeEvent(m)
			if err != nil {
				return nil, err
			}
			out = append(out, e)
		}
		if len(page.LastEvaluatedKey) == 0 {
			return out, nil
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
	}
}

// Get implements events.Store.
func (s *Store) Get(ctx context.Context, env string, key events.ItemKey) (events.Item, error) {
	m, err := s.getItem(ctx, s.tables.State, pkKey(itemPK(env, key)))
	if err != nil {
		return events.Item{}, err
	}
	if m == nil || !live(m, s.now().UnixMilli()) {
		return events.Item{}, events.ErrNotFound
	}
	return decodeItem(env, m)
}

// GetMany implements events.Store with BatchGetItem (consistent reads).
// BatchGetItem rejects repeated keys, so each key is asked for once; a key
// given twice yields its item twice, as in memstore.
func (s *Store) GetMany(ctx context.Context, env string, keys []events.ItemKey) ([]events.Item, error) {
	if len(keys) > events.MaxGetMany {
		return nil, fmt.Errorf("dynamo: GetMany of %d keys, at most %d", len(keys), events.MaxGetMany)
	}
	if len(keys) == 0 {
		return []events.Item{}, nil
	}
	pks := make([]string, len(keys))
	var want []map[string]types.AttributeValue
	seen := make(map[string]bool, len(keys))
	for i, k := range keys {
		pks[i] = itemPK(env, k)
		if !seen[pks[i]] {
			seen[pks[i]] = true
			want = append(want, pkKey(pks[i]))
		}
	}
	found := make(map[string]map[string]types.AttributeValue, len(want))
	in := &dynamodb.BatchGetItemInput{RequestItems: map[string]types.KeysAndAttributes{
		s.tables.State: {Keys: want, ConsistentRead: aws.Bool(true)},
	}}
	for idle := 0; ; {
		out, err := s.client.BatchGetItem(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("dynamo: get %d items: %w", len(want), err)
		}
		got := out.Responses[s.tables.State]
		for _, m := range got {
			found[getS(m, attrPK)] = m
		}
		left, ok := out.UnprocessedKeys[s.tables.State]
		if !ok || len(left.Keys) == 0 {
			break
		}
		// DynamoDB returns unprocessed keys when a response would be too
		// large or reads are throttled: retry those, backing off while no
		// key gets through, and give up after maxRetries such rounds.
		if len(got) > 0 {
			idle = 0
		} else if idle++; idle > s.maxRetries {
			return nil, fmt.Errorf("dynamo: get %d items: %d keys still unprocessed after %d retries", len(want), len(left.Keys), s.maxRetries)
		}
		if err := sleep(ctx, s.backoff, idle); err != nil {
			return nil, err
		}
		left.ConsistentRead = aws.Bool(true)
		in.RequestItems = map[string]types.KeysAndAttributes{s.tables.State: left}
	}
	nowMs := s.now().UnixMilli()
	items := make([]events.Item, 0, len(found))
	for _, pk := range pks {
		m := found[pk]
		if m == nil || !live(m, nowMs) {
			continue
		}
		it, err := decodeItem(env, m) // decoded per key: no two results share Data
		if err != nil {
			return nil, err
		}
		items = append(items, it)
	}
	return items, nil
}

// ScanItems implements events.Store with a consistent, paginated Scan of the
// state table, filtered to env's read-model items. It reads the whole table
// (every environment's items, claims and idempotency records), which suits
// an occasional rebuild, not a request path.
func (s *Store) ScanItems(ctx context.Context, env string, fn func(events.Item) error) error {
	if strings.Contains(env, "#") {
		return fmt.Errorf("dynamo: environment %q contains '#'", env)
	}
	nowMs := s.now().UnixMilli()
	in := &dynamodb.ScanInput{
		TableName:                 aws.String(s.tables.State),
		ConsistentRead:            aws.Bool(true),
		FilterExpression:          aws.String("begins_with(#pk, :prefix) AND (attribute_not_exists(#x) OR #x > :now)"),
		ExpressionAttributeNames:  map[string]string{"#pk": attrPK, "#x": attrExpiresAt},
		ExpressionAttributeValues: map[string]types.AttributeValue{":prefix": avS(itemPrefix(env)), ":now": avN(nowMs)},
	}
	for {
		page, err := s.client.Scan(ctx, in)
		if err != nil {
			return fmt.Errorf("dynamo: scan items of %s: %w", env, err)
		}
		for _, m := range page.Items {
			// The filter already did this; emulators may differ.
			if !strings.HasPrefix(getS(m, attrPK), itemPrefix(env)) || !live(m, nowMs) {
				continue
			}
			it, err := decodeItem(env, m)
			if err != nil {
				return err
			}
			if err := fn(it); err != nil {
				return err
			}
		}
		if len(page.LastEvaluatedKey) == 0 {
			return nil
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
	}
}

// Owner implements events.Store.
func (s *Store) Owner(ctx context.Context, env, kind, value string) (string, error) {
	m, err := s.getItem(ctx, s.tables.State, pkKey(claimPK(env, kind, value)))
	if err != nil {
		return "", err
	}
	owner := getS(m, attrOwner)
	if owner == "" {
		return "", events.ErrNotFound
	}
	return owner, nil
}

// Idempotency implements events.Store.
func (s *Store) Idempotency(ctx context.Context, env, key string) (events.IdempotencyRecord, error) {
	m, err := s.getItem(ctx, s.tables.State, pkKey(idemPK(env, key)))
	if err != nil {
		return events.IdempotencyRecord{}, err
	}
	if m == nil || !live(m, s.now().UnixMilli()) {
		return events.IdempotencyRecord{}, events.ErrNotFound
	}
	return decodeIdem(env, m)
}

// Query implements events.Store. Index queries are eventually consistent on
// AWS (GSIs have no consistent reads).
func (s *Store) Query(ctx context.Context, q events.Query) ([]events.Item, error) {
	if !validIndex(q.Index) {
		return nil, fmt.Errorf("dynamo: unknown index %q", q.Index)
	}
	pkAttr, skAttr := indexAttrs(q.Index)
	nowMs := s.now().UnixMilli()
	cond := "#p = :p"
	values := map[string]types.AttributeValue{":p": avS(indexPK(q.Environment, q.Partition)), ":now": avN(nowMs)}
	names := map[string]string{"#p": pkAttr, "#x": attrExpiresAt}
	if q.Start != "" {
		names["#s"] = skAttr
		values[":s"] = avS(q.Start)
		if q.Descending {
			cond += " AND #s < :s"
		} else {
			cond += " AND #s > :s"
		}
	}
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(s.tables.State),
		IndexName:                 aws.String(string(q.Index)),
		KeyConditionExpression:    aws.String(cond),
		FilterExpression:          aws.String("attribute_not_exists(#x) OR #x > :now"),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
		ScanIndexForward:          aws.Bool(!q.Descending),
	}
	var out []events.Item
	for {
		if q.Limit > 0 {
			in.Limit = aws.Int32(int32(min(q.Limit-len(out), 1000)))
		}
		page, err := s.client.Query(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("dynamo: query %s %s: %w", q.Index, q.Partition, err)
		}
		for _, m := range page.Items {
			if !live(m, nowMs) { // the filter already did this; emulators may differ
				continue
			}
			it, err := decodeItem(q.Environment, m)
			if err != nil {
				return nil, err
			}
			out = append(out, it)
			if q.Limit > 0 && len(out) == q.Limit {
				return out, nil
			}
		}
		if len(page.LastEvaluatedKey) == 0 {
			return out, nil
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
	}
}

// Feed implements events.Store with the feed index (eventually consistent on AWS).
func (s *Store) Feed(ctx context.Context, q events.FeedQuery) ([]events.Envelope, error) {
	names := map[string]string{"#fp": attrFeedPK}
	values := map[string]types.AttributeValue{":fp": avS(q.Environment)}
	cond := "#fp = :fp"
	dropBefore := false // BETWEEN is inclusive: drop the item equal to Before
	switch {
	case q.After != "" && q.Before != "":
		// Exclusive (After, Before) as inclusive [After+"\x00", Before]: no
		// string sorts between After and After+"\x00".
		lo := q.After + "\x00"
		if lo > q.Before {
			return nil, nil
		}
		names["#fs"] = attrFeedSK
		values[":a"], values[":b"] = avS(lo), avS(q.Before)
		cond += " AND #fs BETWEEN :a AND :b"
		dropBefore = true
	case q.After != "":
		names["#fs"] = attrFeedSK
		values[":a"] = avS(q.After)
		cond += " AND #fs > :a"
	case q.Before != "":
		names["#fs"] = attrFeedSK
		values[":b"] = avS(q.Before)
		cond += " AND #fs < :b"
	}
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(s.tables.Events),
		IndexName:                 aws.String(FeedIndex),
		KeyConditionExpression:    aws.String(cond),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
		ScanIndexForward:          aws.Bool(!q.Descending),
	}
	var out []events.Envelope
	for {
		if q.Limit > 0 {
			n := q.Limit - len(out)
			if dropBefore {
				n++
			}
			in.Limit = aws.Int32(int32(min(n, 1000)))
		}
		page, err := s.client.Query(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("dynamo: feed of %s: %w", q.Environment, err)
		}
		for _, m := range page.Items {
			if dropBefore && getS(m, attrFeedSK) == q.Before {
				continue
			}
			e, err := decodeEvent(m)
			if err != nil {
				return nil, err
			}
			out = append(out, e)
			if q.Limit > 0 && len(out) == q.Limit {
				return out, nil
			}
		}
		if len(page.LastEvaluatedKey) == 0 {
			return out, nil
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
	}
}
