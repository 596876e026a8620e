package memstore

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/linkd/linkd/audit"
)

func TestAuditTamper(t *testing.T) {
	ctx := context.Background()
	s := New()
	for range 4 {
		if _, err := s.AppendAudit(ctx, audit.Entry{Time: time.Now(), Actor: "cli", Decision: "allow"}); err != nil {
			t.Fatal(err)
		}
	}
	s.TamperAudit(2, "forged")
	_, err := audit.Verify(ctx, s)
	var be *audit.BrokenError
	if !errors.As(err, &be) || be.Seq != 2 || !errors.Is(err, audit.ErrBroken) {
		t.Fatalf("Verify = %v", err)
	}
}
