package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"slices"

	"github.com/schollz/progressbar/v3"

	"github.com/linkd/linkd/linking/directory"
	"github.com/linkd/linkd/linking/party"
	"github.com/linkd/linkd/linking/pseudonym"
	"github.com/linkd/linkd/policies"
	"github.com/linkd/linkd/store/storeerr"
)

const directoryHelp = `
Imports the party's account list from FILE: CSV with a header naming
account_id, phone, country, ad_opt_out and optionally blocked_businesses
(tenant ids separated by ";") and, for each purpose of the catalogue the
person consented to or withdrew from, PURPOSE_consent (granted or
withdrawn), PURPOSE_consent_notice (the notice's version) and
PURPOSE_consent_at (RFC 3339); or NDJSON with the same fields, consents as
"consents": {"ads": {"granted": true, "notice": "v2", "at": "..."}}. Each
number is normalized with the row's country as default region, its
pseudonyms are derived under the key file's current epoch, and the number
is dropped. A consent adds an entry to the account's consent ledger when
it changed since the directory's last one. The purposes are those of the
bundle in --policies DIR (default $LINKD_POLICIES, else the built-in one).

Each bad row is reported as "line N: REASON" on stderr and nothing of it is
stored; good rows are stored. The exit status is 1 if any row was bad.
Running an import again, whole or after an interruption, gives the same end
state.`

func runDirectory(e *env, args []string) int {
	fs := newFlags(e, "directory", "directory import --party P [--database-url URL] [--keys FILE] FILE", directoryHelp)
	if _, code, ok := subcommand(e, fs, args, "import"); !ok {
		return code
	}
	fs = newFlags(e, "directory import", "directory import --party P [--database-url URL] [--keys FILE] FILE", directoryHelp)
	partyName := fs.String("party", "", "the `party` importing: messenger or social")
	sf := addStateFlags(e, fs)
	batch := fs.Int("batch", 5000, "rows per database `transaction`")
	policyDir := fs.String("policies", "", "policy bundle `directory` whose catalogue names the purposes (default $LINKD_POLICIES, else the built-in bundle)")
	if code, ok := parse(e, fs, args[1:]); !ok {
		return code
	}
	if fs.NArg() != 1 {
		return usageError(e, fs, "want exactly one FILE")
	}
	if _, err := party.Parse(*partyName); err != nil {
		return usageError(e, fs, "--party must be messenger or social")
	}
	if *batch < 1 || *batch > 100000 {
		return usageError(e, fs, "--batch must be between 1 and 100000")
	}
	ring, err := sf.openRing(e)
	if err != nil {
		fmt.Fprintf(e.stderr, "linkd directory import: %v\n", err)
		return exitInput
	}
	if ring.Party() != *partyName {
		fmt.Fprintf(e.stderr, "linkd directory import: the key file belongs to %s, not %s\n", ring.Party(), *partyName)
		return exitInput
	}
	d, err := pseudonym.NewDeriver(ring, ring.Current())
	if err != nil {
		fmt.Fprintf(e.stderr, "linkd directory import: %v\n", err)
		return exitInput
	}
	f, err := os.Open(fs.Arg(0))
	if err != nil {
		fmt.Fprintf(e.stderr, "linkd directory import: %v\n", err)
		return exitInput
	}
	defer f.Close()

	fsys, name := bundleSource(e, *policyDir)
	bundle, err := policies.Load(fsys)
	if err != nil {
		printProblems(e.stderr, name, err)
		return exitInput
	}
	purposes := slices.Sorted(maps.Keys(bundle.Catalogue.Purposes))

	ctx, stop := e.context()
	defer stop()
	st, closeStore, err := sf.openStore(ctx)
	if err != nil {
		fmt.Fprintf(e.stderr, "linkd directory import: %v\n", err)
		return exitInput
	}
	defer closeStore()

	var in io.Reader = f
	if info, err := f.Stat(); err == nil && isTerminal(e.stderr) {
		bar := progressbar.DefaultBytes(info.Size(), "importing")
		in = io.TeeReader(f, bar)
		defer bar.Finish() //nolint:errcheck // display only
	}
	im := &directory.Importer{Store: st, Deriver: d, BatchSize: *batch, Purposes: purposes,
		Log: slog.New(slog.NewJSONHandler(io.Discard, nil))}
	stats, err := im.Import(ctx, in, func(re *directory.RowError) {
		fmt.Fprintln(e.stderr, re.Error())
	})
	fmt.Fprintf(e.stdout, "imported %d of %d rows (%d invalid) for party %s, key epoch %d\n",
		stats.Imported, stats.Rows, stats.Invalid, *partyName, d.Epoch)
	if err != nil {
		fmt.Fprintf(e.stderr, "linkd directory import: %v\n", err)
		if !errors.Is(err, directory.ErrFormat) && !errors.Is(err, storeerr.ErrNoSchema) {
			fmt.Fprintln(e.stderr, "linkd directory import: run the same import again to finish it")
		}
		return exitInput
	}
	if stats.Invalid > 0 {
		return exitInput
	}
	return exitOK
}

// isTerminal reports whether w is a character device (a person watching).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}
