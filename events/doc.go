// Package events is the vocabulary of Keyway's event log: the envelope every
// event travels in, the registry that maps event type names to Go types, and
// the Store port that every backend (memory, embedded, DynamoDB) implements.
//
// One Append is one atomic write: the events of one or more streams at their
// expected versions, the unique claims the command needs, the read-model items
// the projector derived from those events, and an optional idempotency record.
// Either all of it is written or none of it is.
package events
