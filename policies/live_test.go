package policies_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/linkd/linkd/internal/pgtest"
	"github.com/linkd/linkd/policies"
)

// A bundle directory is reloaded on a file change and on SIGHUP; a bundle
// that fails its tests or lint is refused, logged and counted, and the
// running one stays.
func TestPolicyReload(t *testing.T) {
	dir := t.TempDir()
	if err := os.CopyFS(dir, policies.DefaultFS()); err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	st := pgtest.Store(t)
	reg := prometheus.NewRegistry()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l, err := policies.LoadLive(ctx, dir, st, slog.New(slog.NewJSONHandler(&logs, nil)), reg)
	if err != nil {
		t.Fatal(err)
	}
	first := l.Bundle().Hash()
	if first != policies.Default().Hash() {
		t.Fatal("a copy of the default bundle has another hash")
	}
	if err := l.Watch(ctx, 20*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for range 200 {
			if cond() {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Fatalf("%s\nlogs:\n%s", what, logs.String())
	}
	catalogue := filepath.Join(dir, policies.CatalogueFile)
	orig, _ := os.ReadFile(catalogue)

	// A change that breaks a policy test: refused.
	write(t, catalogue, strings.Replace(string(orig), "min_audience_size: 100", "min_audience_size: 5000", 1))
	waitFor("a failing bundle was not refused", func() bool { return metric(t, reg, "linkd_policy_reload_failing") == 1 })
	if l.Bundle().Hash() != first || !strings.Contains(logs.String(), "policy bundle refused") ||
		!strings.Contains(logs.String(), "tests/audiences.yaml:") {
		t.Fatalf("after a failing bundle: hash %s, logs:\n%s", l.Bundle().Hash(), logs.String())
	}
	// A syntax error in a policy: refused too.
	write(t, catalogue, string(orig))
	waitFor("the restored bundle was not taken", func() bool { return metric(t, reg, "linkd_policy_reload_failing") == 0 })
	roles := filepath.Join(dir, "roles.cedar")
	origRoles, _ := os.ReadFile(roles)
	write(t, roles, string(origRoles)+"\npermit (principal, action, resource) when {")
	waitFor("a bundle that does not parse was not refused", func() bool { return metric(t, reg, "linkd_policy_reload_failing") == 1 })
	if l.Bundle().Hash() != first {
		t.Fatal("a bundle that does not parse was put in force")
	}
	if f := l.Failure(); f == nil || !strings.Contains(f.Problems, "roles.cedar:") || f.At.IsZero() {
		t.Fatalf("the refusal as operators read it: %+v", f)
	}

	// A good change on disk, picked up by SIGHUP as well.
	write(t, roles, string(origRoles))
	write(t, catalogue, strings.Replace(string(orig), "requests_per_minute: 600", "requests_per_minute: 900", 1))
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor("the good bundle was not loaded", func() bool { return l.Bundle().Hash() != first && metric(t, reg, "linkd_policy_reload_failing") == 0 })
	if l.Bundle().Catalogue.Limits.RequestsPerMinute != 900 {
		t.Fatal("the loaded bundle is not the one on disk")
	}
	if f := l.Failure(); f != nil {
		t.Fatalf("a refusal stands after a good bundle loaded: %+v", f)
	}
	if n, err := testutil.GatherAndCount(reg, "linkd_policy_bundle_info"); err != nil || n != 1 ||
		metric(t, reg, "linkd_policy_bundle_info", "hash", l.Bundle().Hash()) != 1 {
		t.Fatalf("the bundle info metric does not name the bundle in force alone: %d series, %v", n, err)
	}
	// Both bundles are archived for explaining old decisions.
	for _, h := range []string{first, l.Bundle().Hash()} {
		if _, err := st.BundleFiles(ctx, h); err != nil {
			t.Fatalf("bundle %s not archived: %v", h, err)
		}
	}
}

func write(t *testing.T, name, content string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// metric is the value of the gathered series of name whose labels are
// those given (name, value, ...); -1 if there is none.
func metric(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, l := range m.GetLabel() {
					found = found || l.GetName() == labels[i] && l.GetValue() == labels[i+1]
				}
				if !found {
					continue series
				}
			}
			return m.GetGauge().GetValue()
		}
	}
	return -1
}

// syncBuffer is a bytes.Buffer safe for concurrent log writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
