package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/linkd/linkd/internal/pgtest"
	"github.com/linkd/linkd/policies"
)

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

func write(t *testing.T, name, content string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
