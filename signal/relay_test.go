package signal_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/linkd/linkd/crypto/psi"
	"github.com/linkd/linkd/internal/pgtest"
	"github.com/linkd/linkd/linking/directory"
	"github.com/linkd/linkd/signal"
	"github.com/linkd/linkd/store"
)

// peerFunc is a receiving party in a function: the tests decide what it
// answers.
type peerFunc func([]signal.Message) ([]signal.Outcome, error)

func (f peerFunc) Deliver(_ context.Context, m []signal.Message) ([]signal.Outcome, error) {
	return f(m)
}

func TestDrain(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	st := pgtest.Store(t)
	if err := st.PutAccounts(ctx, []directory.Account{{ID: "a", Country: "TR", Epoch: 1, UpdatedAt: now}}); err != nil {
		t.Fatal(err)
	}
	var lid psi.LinkID
	_, _ = rand.Read(lid[:])
	if err := st.PutLinks(ctx, []store.Link{{AccountID: "a", ID: lid, Epoch: 1, CreatedAt: now}}, 0); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		exp := now.Add(time.Hour)
		if i == 2 {
			exp = now.Add(-time.Second) // expired before it could go
		}
		sg := signal.Signal{ID: fmt.Sprintf("sig-%d", i), Direction: signal.Outbound, AccountID: "a", LinkID: lid, Type: "spam",
			Confidence: 0.9, Status: "open", CreatedAt: now.Add(-time.Hour), ExpiresAt: exp}
		if err := st.CreateSignal(ctx, sg, true); err != nil {
			t.Fatal(err)
		}
	}
	pending := func() int {
		ob, err := st.PendingOutbox(ctx, 100)
		if err != nil {
			t.Fatal(err)
		}
		return len(ob)
	}

	// A peer that cannot be reached, or answers for the wrong number of
	// messages: an error, and nothing leaves the outbox.
	for name, p := range map[string]peerFunc{
		"down":        func([]signal.Message) ([]signal.Outcome, error) { return nil, errors.New("connection refused") },
		"short count": func(m []signal.Message) ([]signal.Outcome, error) { return make([]signal.Outcome, len(m)-1), nil },
	} {
		if _, _, err := signal.Drain(ctx, st, p, 2, clock, time.Time{}); err == nil {
			t.Fatalf("%s: no error", name)
		}
		if n := pending(); n != 5 {
			t.Fatalf("%s: %d left in the outbox, want 5", name, n)
		}
	}
	// Each failed attempt is counted on the batch it was for: the first
	// two messages (one of them the expired one, never sent).
	if b, err := st.OutboxBacklog(ctx); err != nil || b.Pending != 5 || b.Retried < 1 || b.MaxAttempts != 2 {
		t.Fatalf("backlog after two failed drains: %+v, %v", b, err)
	}

	// Past the deadline, nothing is sent and more is left.
	if _, more, err := signal.Drain(ctx, st, peerFunc(func([]signal.Message) ([]signal.Outcome, error) {
		t.Fatal("sent past the deadline")
		return nil, nil
	}), 2, clock, now.Add(-time.Second)); err != nil || !more {
		t.Fatalf("past the deadline: more %v, %v", more, err)
	}

	// In batches of two, oldest first; the expired one is dropped unsent.
	var sent [][]string
	done, more, err := signal.Drain(ctx, st, peerFunc(func(m []signal.Message) ([]signal.Outcome, error) {
		var ids []string
		out := make([]signal.Outcome, len(m))
		for i, x := range m {
			ids = append(ids, x.ID)
			out[i] = signal.Applied
			if x.LinkID != lid || x.Kind != signal.KindSignal || x.Type != "spam" {
				t.Fatalf("message %+v", x)
			}
		}
		sent = append(sent, ids)
		return out, nil
	}), 2, clock, time.Time{})
	if err != nil || more {
		t.Fatal(more, err)
	}
	if fmt.Sprint(sent) != "[[sig-0 sig-1] [sig-3] [sig-4]]" {
		t.Fatalf("sent %v", sent)
	}
	if done[signal.Applied] != 4 || done[signal.Expired] != 1 || pending() != 0 {
		t.Fatalf("delivery %v, %d pending", done, pending())
	}
	// The expired one says it did not cross, and why; the others crossed.
	for i := range 5 {
		sg, err := st.Signal(ctx, fmt.Sprintf("sig-%d", i))
		want := i != 2
		if err != nil || sg.Crosses != want || (sg.CrossReason == signal.ExpiredUnsent) == want {
			t.Fatalf("sig-%d: crosses %v, reason %q, %v", i, sg.Crosses, sg.CrossReason, err)
		}
	}
}
