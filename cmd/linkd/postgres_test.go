package main

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/linkd/linkd/internal/pgstore"
	"github.com/linkd/linkd/internal/pgtest"
	"github.com/linkd/linkd/internal/synth"
)

func runCmd(t *testing.T, environ map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(&env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, getenv: func(k string) string { return environ[k] }}, args)
	return code, out.String(), errb.String()
}

// TestMigrateAndImportPostgres runs linkd migrate and linkd directory
// import against PostgreSQL, twice, and checks what is stored.
func TestMigrateAndImportPostgres(t *testing.T) {
	pool, schema := pgtest.Schema(t)
	u, err := url.Parse(pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	dir := t.TempDir()
	environ := map[string]string{"DATABASE_URL": u.String(), "LINKD_PASSPHRASE": "pw", "LINKD_KEYS": filepath.Join(dir, "k")}

	code, out, errs := runCmd(t, environ, "migrate")
	if code != 0 || !strings.Contains(out, "applied migration 0001") {
		t.Fatalf("migrate: %d %q %q", code, out, errs)
	}
	if code, out, _ := runCmd(t, environ, "migrate"); code != 0 || !strings.Contains(out, "up to date") {
		t.Fatalf("second migrate: %d %q", code, out)
	}
	if code, _, errs := runCmd(t, environ, "keys", "init", "--party", "messenger"); code != 0 {
		t.Fatalf("keys init: %s", errs)
	}
	var b strings.Builder
	b.WriteString("account_id,phone,country,ad_opt_out\n")
	for i, p := range synth.People(3, 1000) {
		fmt.Fprintf(&b, "m%04d,%s,%s,false\n", i, p.National, p.Country)
	}
	file := filepath.Join(dir, "dir.csv")
	if err := os.WriteFile(file, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		code, out, errs := runCmd(t, environ, "directory", "import", "--party", "messenger", "--batch", "300", file)
		if code != 0 || !strings.Contains(out, "imported 1000 of 1000 rows (0 invalid)") || strings.Contains(errs, "embedded") {
			t.Fatalf("import: %d %q %q", code, out, errs)
		}
	}
	n, err := pgstore.New(pool).CountAccounts(context.Background())
	if err != nil || n != 1000 {
		t.Fatalf("CountAccounts = %d, %v", n, err)
	}
}
