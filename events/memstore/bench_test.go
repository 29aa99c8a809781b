package memstore_test

import (
	"testing"
	"time"

	"github.com/keywayhq/keyway/events/memstore"
	"github.com/keywayhq/keyway/events/storetest"
)

func BenchmarkAppend(b *testing.B) { storetest.BenchAppend(b, memstore.New(time.Now), "dev") }
func BenchmarkLoad(b *testing.B)   { storetest.BenchLoad(b, memstore.New(time.Now), "dev") }
