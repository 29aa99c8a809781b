package memstore_test

import (
	"testing"
	"time"

	"github.com/keywayhq/keyway/events"
	"github.com/keywayhq/keyway/events/memstore"
	"github.com/keywayhq/keyway/events/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, now func() time.Time) events.Store { return memstore.New(now) })
}
