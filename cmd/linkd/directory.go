package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/schollz/progressbar/v3"

	"github.com/linkd/linkd/linking/directory"
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

// directoryCmd is a party's account list.
type directoryCmd struct {
	Import directoryImportCmd `cmd:"" help:"Import the party's account list."`
}

type directoryImportCmd struct {
	stateFlags
	outputFlag
	Party    string `required:"" enum:"messenger,social" placeholder:"PARTY" help:"The party importing: messenger or social."`
	Batch    int    `default:"5000" help:"Rows per database transaction (1 to 100000)."`
	Policies string `env:"LINKD_POLICIES" placeholder:"DIR" help:"The policy bundle whose catalogue names the purposes (default: the built-in bundle)."`
	File     string `arg:"" placeholder:"FILE" help:"The account list, CSV or NDJSON; - for standard input."`
}

func (directoryImportCmd) Help() string { return strings.TrimSpace(directoryHelp) }

func (c *directoryImportCmd) Run(e *env) error {
	const cmd = "directory import"
	if c.Batch < 1 || c.Batch > 100000 {
		return usage(e, cmd, "--batch must be between 1 and 100000")
	}
	sf, partyName := c.stateFlags, &c.Party
	ring, err := sf.openRing(e)
	if err != nil {
		return failed(e, cmd, "%v", err)
	}
	if ring.Party() != *partyName {
		return failed(e, cmd, "the key file belongs to %s, not %s", ring.Party(), *partyName)
	}
	d, err := pseudonym.NewDeriver(ring, ring.Current())
	if err != nil {
		return failed(e, cmd, "%v", err)
	}
	var in io.Reader = e.stdin
	if c.File != "-" {
		f, err := os.Open(c.File)
		if err != nil {
			return failed(e, cmd, "%v", err)
		}
		defer f.Close()
		in = f
		if info, err := f.Stat(); err == nil && isTerminal(e.stderr) {
			bar := progressbar.DefaultBytes(info.Size(), "importing")
			in = io.TeeReader(f, bar)
			defer bar.Finish() //nolint:errcheck // display only
		}
	}

	fsys, name := bundleSource(e, c.Policies)
	bundle, err := policies.Load(fsys)
	if err != nil {
		printProblems(e.stderr, name, err)
		return exitCode(exitInput)
	}
	purposes := slices.Sorted(maps.Keys(bundle.Catalogue.Purposes))

	ctx, stop := e.context()
	defer stop()
	st, closeStore, err := sf.openStore(ctx)
	if err != nil {
		return failed(e, cmd, "%v", err)
	}
	defer closeStore()

	im := &directory.Importer{Store: st, Deriver: d, BatchSize: c.Batch, Purposes: purposes,
		Log: slog.New(slog.NewJSONHandler(io.Discard, nil))}
	stats, err := im.Import(ctx, in, func(re *directory.RowError) {
		fmt.Fprintln(e.stderr, re.Error())
	})
	if c.Output == outputJSON {
		if werr := writeJSON(e, map[string]any{"party": *partyName, "key_epoch": d.Epoch, "rows": stats.Rows,
			"imported": stats.Imported, "invalid": stats.Invalid}); werr != nil {
			return werr
		}
	} else {
		fmt.Fprintf(e.stdout, "imported %d of %d rows (%d invalid) for party %s, key epoch %d\n",
			stats.Imported, stats.Rows, stats.Invalid, *partyName, d.Epoch)
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "linkd directory import: %v\n", err)
		if !errors.Is(err, directory.ErrFormat) && !errors.Is(err, storeerr.ErrNoSchema) {
			fmt.Fprintln(e.stderr, "linkd directory import: run the same import again to finish it")
		}
		return exitCode(exitInput)
	}
	if stats.Invalid > 0 {
		return exitCode(exitInput)
	}
	return nil
}
