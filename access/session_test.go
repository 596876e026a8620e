package access_test

import (
	"strings"
	"testing"
	"time"

	"github.com/linkd/linkd/access"
)

func TestSessionCSRF(t *testing.T) {
	a, _, err := access.NewSession("key_1", "Ada", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	b, _, _ := access.NewSession("key_1", "Ada", time.Now())
	if a == b || !strings.HasPrefix(a, "lks_") {
		t.Fatalf("secrets %q, %q", a, b)
	}
	ta := access.CSRFToken(a)
	if !access.CheckCSRF(a, ta) {
		t.Fatal("a session's own token is refused")
	}
	for _, bad := range []string{"", access.CSRFToken(b), ta[:len(ta)-1], ta + "A", strings.ToUpper(ta)} {
		if bad != ta && access.CheckCSRF(a, bad) {
			t.Fatalf("token %q accepted for another session", bad)
		}
	}
	if strings.Contains(ta, a) {
		t.Fatal("the token shows the session's secret")
	}
}

func TestSessionName(t *testing.T) {
	for _, bad := range []string{"", "   ", "a\nb", "tab\there", strings.Repeat("x", access.MaxNameLen+1), "\xff"} {
		if _, _, err := access.NewSession("key_1", bad, time.Now()); err == nil {
			t.Errorf("name %q accepted", bad)
		}
	}
	if _, s, err := access.NewSession("key_1", "José Ñúñez", time.Now()); err != nil || s.Name != "José Ñúñez" {
		t.Fatalf("NewSession = %+v, %v", s, err)
	}
}
