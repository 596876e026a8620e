package client

import (
	"strings"
	"testing"
)

// FuzzEntryReader: any customer-list file reads as entries and per-line
// problems, one per line, never a panic; a problem never quotes its line.
func FuzzEntryReader(f *testing.F) {
	f.Add("phone,country\n0532 123 45 67,TR\n+44 7911 123456,\n")
	f.Add("+905321234567\nnot a number\n" + strings.Repeat("ab", 32) + "\n")
	f.Add("\"phone\",x\n\"unterminated\n")
	f.Fuzz(func(t *testing.T, in string) {
		r, err := newEntryReaderFrom(strings.NewReader(in), "TR")
		if err != nil {
			return
		}
		lines := 0
		for {
			entries, probs, err := r.next(7)
			if err != nil {
				return
			}
			if len(entries)+len(probs) == 0 {
				break
			}
			for _, p := range probs {
				if _, rest, ok := strings.Cut(p, ": "); !ok || (len(rest) > 20 && strings.Contains(in, rest)) {
					t.Fatalf("problem %q", p)
				}
			}
			lines += len(entries) + len(probs)
			if lines > strings.Count(in, "\n")+1 {
				t.Fatalf("%d entries from %d lines", lines, strings.Count(in, "\n")+1)
			}
		}
	})
}
