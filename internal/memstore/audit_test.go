package memstore

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/linkd/linkd/audit"
	"github.com/linkd/linkd/internal/storetest"
)

func TestAuditTamper(t *testing.T) {
	ctx := context.Background()
	s := New()
	for range 4 {
		if _, err := s.AppendAudit(ctx, audit.Entry{Time: time.Now(), Actor: "cli", Decision: "allow"}, storetest.Chain(t, 1)); err != nil {
			t.Fatal(err)
		}
	}
	s.TamperAudit(2, "forged")
	_, err := audit.Verify(ctx, s, storetest.ChainKeys(t), nil)
	var be *audit.BrokenError
	if !errors.As(err, &be) || be.Seq != 2 || !errors.Is(err, audit.ErrBroken) {
		t.Fatalf("Verify = %v", err)
	}
}
