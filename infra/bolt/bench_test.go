package bolt_test

import (
	"path/filepath"
	"testing"

	"github.com/keywayhq/keyway/events/storetest"
)

// BenchmarkAppend: every op is one committed (fsynced) transaction.
func BenchmarkAppend(b *testing.B) {
	storetest.BenchAppend(b, open(b, filepath.Join(b.TempDir(), "keyway.db"), nil), "dev")
}

func BenchmarkLoad(b *testing.B) {
	storetest.BenchLoad(b, open(b, filepath.Join(b.TempDir(), "keyway.db"), nil), "dev")
}
