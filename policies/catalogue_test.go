package policies

import (
	"strings"
	"testing"
)

func TestNeedsConsent(t *testing.T) {
	c := Default().Catalogue
	for _, tc := range []struct {
		purpose, country string
		want             bool
	}{{"ads", "DE", true}, {"ads", "GB", true}, {"ads", "NO", true}, {"ads", "US", false}, {"ads", "TR", false},
		{"safety", "DE", false}, {"unknown", "DE", false}} {
		if got := c.NeedsConsent(tc.purpose, tc.country); got != tc.want {
			t.Errorf("NeedsConsent(%s, %s) = %v, want %v", tc.purpose, tc.country, got, tc.want)
		}
	}
}

func TestCheckAction(t *testing.T) {
	b := Default()
	if err := b.CheckAction("audience.create"); err != nil {
		t.Fatal(err)
	}
	for action, want := range map[string]string{
		"audience.craete": `unknown action "audience.craete"; did you mean "audience.create"?`,
		"signal.decied":   `did you mean "signal.decide"?`,
		"sell":            `unknown action "sell": the schema's actions are `,
	} {
		if err := b.CheckAction(action); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("CheckAction(%q) = %v, want %q", action, err, want)
		}
	}
}
