package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
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
	l, err := loadPolicies(ctx, dir, st, slog.New(slog.NewJSONHandler(&logs, nil)), reg)
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
	waitFor("a failing bundle was not refused", func() bool { return testutil.ToFloat64(l.failing) == 1 })
	if l.Bundle().Hash() != first || !strings.Contains(logs.String(), "policy bundle refused") ||
		!strings.Contains(logs.String(), "tests/audiences.yaml:") {
		t.Fatalf("after a failing bundle: hash %s, logs:\n%s", l.Bundle().Hash(), logs.String())
	}
	// A syntax error in a policy: refused too.
	write(t, catalogue, string(orig))
	waitFor("the restored bundle was not taken", func() bool { return testutil.ToFloat64(l.failing) == 0 })
	roles := filepath.Join(dir, "roles.cedar")
	origRoles, _ := os.ReadFile(roles)
	write(t, roles, string(origRoles)+"\npermit (principal, action, resource) when {")
	waitFor("a bundle that does not parse was not refused", func() bool { return testutil.ToFloat64(l.failing) == 1 })
	if l.Bundle().Hash() != first {
		t.Fatal("a bundle that does not parse was put in force")
	}

	// A good change on disk, picked up by SIGHUP as well.
	write(t, roles, string(origRoles))
	write(t, catalogue, strings.Replace(string(orig), "requests_per_minute: 600", "requests_per_minute: 900", 1))
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor("the good bundle was not loaded", func() bool { return l.Bundle().Hash() != first && testutil.ToFloat64(l.failing) == 0 })
	if l.Bundle().Catalogue.Limits.RequestsPerMinute != 900 {
		t.Fatal("the loaded bundle is not the one on disk")
	}
	if testutil.ToFloat64(l.info.WithLabelValues(l.Bundle().Hash())) != 1 || testutil.CollectAndCount(l.info) != 1 {
		t.Fatal("the bundle info metric does not name the bundle in force alone")
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

// serve refuses to start on a bundle with problems, and says where.
func TestServeRefusesABadBundle(t *testing.T) {
	dir := t.TempDir()
	if err := os.CopyFS(dir, policies.DefaultFS()); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, policies.CatalogueFile), "version: 1\nregions: {EU: [FR]}\nsurprise: true\n")
	_, schema := pgtest.Schema(t)
	environ := map[string]string{"LINKD_PASSPHRASE": "correct horse battery staple", "LINKD_KEYS": filepath.Join(t.TempDir(), "keys.json"),
		"DATABASE_URL": pgtest.AppURL(t, schema)}
	if code, _, errs := runCmd(t, environ, "keys", "init", "--party", "social"); code != 0 {
		t.Fatal(errs)
	}
	code, _, errs := runCmd(t, environ, "serve", "--party", "social", "--addr", freeAddr(t), "--metrics-addr", "off", "--migrate", "--policies", dir)
	if code != exitInput || !strings.Contains(errs, "catalogue.yaml:3:1:") || !strings.Contains(errs, "does not load") {
		t.Fatalf("exit %d, stderr:\n%s", code, errs)
	}
}
