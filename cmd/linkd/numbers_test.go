package main

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"
)

// FuzzReadRecords reads any input as normalize and hash do: no panic, a
// record for every line of a plain list, and for a CSV records in order
// of their lines, each written out as one line in input order.
func FuzzReadRecords(f *testing.F) {
	for _, s := range []string{"", "\n", "+44 844 412 4653\n0532 123 45 67", "phone,country\n0532,TR\n\"a\nb\",GB\n",
		"phone\n\"unterminated\n", "phone,country\nx\n1,2,3\n", "a,b\r\n1,2\r\n", strings.Repeat("9", 5000) + "\n1\n",
		"phone,country\n" + strings.Repeat("9", 5000) + ",TR\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var recs []record
		err := readRecords(bytes.NewReader(in), func(rs []record) { recs = append(recs, rs...) })
		first, _, _ := strings.Cut(string(in), "\n")
		_, isCSV := csvHeader(strings.TrimSuffix(first, "\r"))
		if len(first) > maxLine {
			isCSV = false
		}
		if !isCSV {
			if err != nil {
				t.Fatalf("a plain list: %v", err)
			}
			lines := strings.Count(string(in), "\n")
			if len(in) > 0 && in[len(in)-1] != '\n' {
				lines++
			}
			if len(recs) != lines {
				t.Fatalf("%d records of %d lines", len(recs), lines)
			}
		}
		for i, r := range recs {
			if isCSV && (r.line < 2 || (i > 0 && r.line <= recs[i-1].line)) {
				t.Fatalf("record %d at line %d after %v", i, r.line, recs[max(i-1, 0)])
			}
			if len(r.phone) > maxLine+1 {
				t.Fatalf("record %d holds %d bytes", i, len(r.phone))
			}
		}
		if err != nil {
			return
		}
		var out bytes.Buffer
		e := &env{stdout: &out, stderr: io.Discard}
		mapLines(e, bytes.NewReader(in), func(r record) (string, bool) { return fmt.Sprint(r.line), true })
		if got := strings.Count(out.String(), "\n"); got != len(recs) {
			t.Fatalf("%d output lines for %d records", got, len(recs))
		}
	})
}
