package dynamo

import "time"

// SetRetry changes how often and how fast a store retries appends cancelled
// only by TransactionConflict.
func SetRetry(s *Store, maxRetries int, backoff time.Duration) {
	s.maxRetries, s.backoff = maxRetries, backoff
}
