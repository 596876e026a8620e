package party

import (
	"errors"
	"testing"
)

func TestParse(t *testing.T) {
	for _, c := range []struct {
		in    string
		want  Party
		other Party
	}{{"social", Social, Messenger}, {"messenger", Messenger, Social}} {
		p, err := Parse(c.in)
		if err != nil || p != c.want || p.Other() != c.other || p.Other().Other() != p {
			t.Errorf("Parse(%q) = %q, %v; other %q", c.in, p, err, p.Other())
		}
	}
	for _, bad := range []string{"", "Social", "social ", "both", "messenger\x00"} {
		if p, err := Parse(bad); !errors.Is(err, ErrUnknown) || p != "" {
			t.Errorf("Parse(%q) = %q, %v; want ErrUnknown", bad, p, err)
		}
	}
}
