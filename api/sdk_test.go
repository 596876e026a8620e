package api_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/linkd/linkd/access"
	"github.com/linkd/linkd/api"
)

// TestMarketingAPINodeSDK runs the custom-audience flow with the
// Marketing API's Node SDK (facebook-nodejs-business-sdk, unmodified,
// installed from package-lock.json) against a real server: create,
// upload in a session of two batches, read with fields, remove, replace,
// refusals, delete.
func TestMarketingAPINodeSDK(t *testing.T) {
	node, nerr := exec.LookPath("node")
	npm, perr := exec.LookPath("npm")
	if nerr != nil || perr != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("node and npm are needed for the Marketing API SDK test")
		}
		t.Skip("node or npm not found")
	}
	dir := t.TempDir()
	for _, name := range []string{"package.json", "package-lock.json", "flow.mjs"} {
		b, err := os.ReadFile(filepath.Join("testdata", "graphsdk", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	install := exec.Command(npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--prefer-offline")
	install.Dir = dir
	if b, err := install.CombinedOutput(); err != nil {
		t.Fatalf("npm ci: %v\n%s", err, b)
	}

	f := newFixtureLimits(t, api.Limits{RequestsPerMinute: 60, OPRFPerDay: 5})
	users := f.people(t, 3, 600)
	hashes := filepath.Join(t.TempDir(), "hashes")
	if err := os.WriteFile(hashes, []byte(strings.Join(users, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	run := exec.Command(node, "flow.mjs")
	run.Dir = dir
	run.Env = append(os.Environ(), "LINKD_URL="+f.srv.URL, "LINKD_TOKEN="+f.keys[access.RoleAdvertiser],
		"LINKD_ACCOUNT=act_acme", "LINKD_HASHES="+hashes)
	var stderr strings.Builder
	run.Stderr = &stderr
	b, err := run.Output()
	if err != nil {
		t.Fatalf("the SDK's flow: %v\n%s", err, stderr.String())
	}

	type upload struct {
		AudienceID string `json:"audience_id"`
		Received   int    `json:"num_received"`
		Invalid    int    `json:"num_invalid_entries"`
	}
	type refusal struct {
		Status  int
		Name    string
		Code    int
		Subcode int
		Message string
	}
	var out struct {
		ID                                     string
		Empty, Full, AfterRemove, AfterReplace graphAudience
		Added1, Added2, Removed, Replaced      upload
		BadField, OtherAccount, AfterDelete    *refusal
		Deleted                                struct{ Success bool }
	}
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("the SDK's output: %v\n%s", err, b)
	}

	within := func(r graphAudience, n int64) bool {
		return r.Lower != nil && r.Upper != nil && *r.Lower <= n && n <= *r.Upper
	}
	switch {
	case !strings.HasPrefix(out.ID, "aud_"):
		t.Errorf("create answered id %q", out.ID)
	case out.Empty.Name != "Spring buyers" || out.Empty.Subtype != "CUSTOM" || out.Empty.FileSource != "USER_PROVIDED_ONLY" ||
		out.Empty.Description != "Customers who bought in spring" || out.Empty.Operation.Code != 410 || out.Empty.Delivery.Code != 300 || out.Empty.Lower != nil:
		t.Errorf("the new audience read %+v", out.Empty)
	case out.Added1.Received != 300 || out.Added2.Received != 300 || out.Added1.Invalid != 0 || out.Added2.AudienceID != out.ID:
		t.Errorf("the batches answered %+v, %+v", out.Added1, out.Added2)
	case out.Full.Operation.Code != 200 || out.Full.Delivery.Code != 200 || !within(out.Full, 600):
		t.Errorf("the full audience read %+v", out.Full)
	case out.Removed.Received != 300 || !within(out.AfterRemove, 300):
		t.Errorf("after removing 300: %+v, %+v", out.Removed, out.AfterRemove)
	case out.Replaced.Received != 600 || !within(out.AfterReplace, 600):
		t.Errorf("after replacing: %+v, %+v", out.Replaced, out.AfterReplace)
	case out.BadField == nil || out.BadField.Status != 422 || out.BadField.Code != 100 || !strings.Contains(out.BadField.Message, "colour"):
		t.Errorf("an unknown field: %+v", out.BadField)
	case out.OtherAccount == nil || out.OtherAccount.Status != 404 || out.OtherAccount.Code != 100 || out.OtherAccount.Subcode != 33:
		t.Errorf("another ad account: %+v", out.OtherAccount)
	case !out.Deleted.Success:
		t.Errorf("delete answered %+v", out.Deleted)
	case out.AfterDelete == nil || out.AfterDelete.Status != 404 || out.AfterDelete.Name != "FacebookRequestError" || out.AfterDelete.Subcode != 33:
		t.Errorf("a read after the delete: %+v", out.AfterDelete)
	}
	if t.Failed() {
		t.Logf("the SDK's flow printed %s%s", b, stderr.String())
	}
}
