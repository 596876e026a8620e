package memstore_test

import (
	"testing"

	"github.com/linkd/linkd/internal/memstore"
	"github.com/linkd/linkd/internal/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(*testing.T) storetest.Store { return memstore.New() })
}
