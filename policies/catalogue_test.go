package policies

import "testing"

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
