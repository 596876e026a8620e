// Command gendir writes a synthetic directory CSV for benchmarks: rows
// [from, to) of the people drawn with a seed, in national format, account
// ids prefixed with the party's initial.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"

	"github.com/linkd/linkd/internal/synth"
)

func main() {
	seed := flag.Uint64("seed", 2016, "seed of the people")
	n := flag.Int("n", 1000, "people drawn")
	from := flag.Int("from", 0, "first row")
	to := flag.Int("to", 1000, "row after the last")
	prefix := flag.String("prefix", "a", "account id prefix")
	flag.Parse()
	if *from < 0 || *to > *n || *from > *to {
		fmt.Fprintln(os.Stderr, "gendir: want 0 <= from <= to <= n")
		os.Exit(2)
	}
	people := synth.People(*seed, *n)
	w := bufio.NewWriter(os.Stdout)
	defer w.Flush()
	fmt.Fprintln(w, "account_id,phone,country,ad_opt_out")
	for i, p := range people[*from:*to] {
		fmt.Fprintf(w, "%s%08d,%s,%s,false\n", *prefix, *from+i, p.National, p.Country)
	}
}
