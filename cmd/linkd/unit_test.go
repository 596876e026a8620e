package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestSystemdUnit: deploy/systemd/linkd@.service, as an instance, passes
// systemd-analyze verify without a word (an unknown key or a bad value is
// a warning, and fails the test), and its exposure by systemd-analyze
// security is at most 2.0 of 10. Where systemd-analyze is not installed,
// the unit is not checked.
func TestSystemdUnit(t *testing.T) {
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed: the unit file is not checked")
	}
	raw, err := os.ReadFile("../../deploy/systemd/linkd@.service")
	if err != nil {
		t.Fatal(err)
	}
	// verify wants the binary ExecStart names to exist: any executable
	// does, the test's own.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), "ExecStart=/usr/local/bin/linkd serve --party %i") {
		t.Fatal("the unit does not start /usr/local/bin/linkd serve --party %i")
	}
	unit := filepath.Join(t.TempDir(), "linkd@social.service")
	if err := os.WriteFile(unit, []byte(strings.ReplaceAll(string(raw), "/usr/local/bin/linkd", self)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(sa, "verify", "--man=no", unit).CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	out, err = exec.Command(sa, "security", "--offline=yes", "--threshold=20", unit).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze security: exposure above 2.0 (%v)\n%s", err, out)
	}
}
