package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/linkd/linkd/audience"
	"github.com/linkd/linkd/client"
	"github.com/linkd/linkd/crypto/oprf"
	"github.com/linkd/linkd/phone"
)

const audienceHelp = `
Uploads a customer list to an audience of a linkd server, in batches, as an
advertiser's tool would.

FILE has one phone number (or, in hash mode, one ready hash of --schema) a
line, or is a CSV whose header names a "phone" column and optionally a
"country" column. Numbers are normalized here (national numbers in the
row's country, else --country) and never leave this machine:

  --mode hash     each number is hashed with --schema (default PHONE_SHA256)
                  and the hashes are uploaded;
  --mode private  each number is blinded, evaluated by the server's OPRF
                  (POST /v1/oprf/evaluate), the proof checked against the
                  server's published key, and the finalized outputs uploaded
                  as PHONE_OPRF: the server sees neither numbers nor hashes.

Progress goes to stderr. The upload can be interrupted and run again with
the same arguments: it resumes from its state file (FILE.upload-state.json,
or --state), which holds the session and the batches done, never a number.
Lines that are not numbers are reported by line number and skipped.`

func runAudience(e *env, args []string) int {
	fs := newFlags(e, "audience", "audience upload --server URL --key KEY --audience ID [--mode hash|private] [--schema S] [--country CC] FILE", audienceHelp)
	sub, code, ok := subcommand(e, fs, args, "upload")
	if !ok {
		return code
	}
	_ = sub
	return audienceUpload(e, args[1:])
}

// uploadState is what a resumed upload needs: never a number or a hash.
type uploadState struct {
	Audience  string `json:"audience"`
	File      string `json:"file_sha256"`
	Mode      string `json:"mode"`
	Schema    string `json:"schema"`
	Batch     int    `json:"batch_size"`
	SessionID string `json:"session_id"`
	Done      int    `json:"batches_done"`
	Received  int    `json:"num_received"`
	Invalid   int    `json:"num_invalid_entries"`
	Local     int    `json:"invalid_here"`
}

func audienceUpload(e *env, args []string) int {
	fs := newFlags(e, "audience upload", "audience upload --server URL --key KEY --audience ID [--mode hash|private] [--schema S] [--country CC] FILE", audienceHelp)
	server := fs.String("server", e.getenv("LINKD_SERVER"), "the party's `URL` (default $LINKD_SERVER)")
	key := fs.String("key", e.getenv("LINKD_KEY"), "advertiser API `key` (default $LINKD_KEY)")
	aud := fs.String("audience", "", "the audience `id`")
	mode := fs.String("mode", "hash", "`mode`: hash or private")
	schema := fs.String("schema", string(phone.SchemaSHA256), "hash mode's `schema`: PHONE_SHA256, PHONE_E164_SHA256 or PHONE_E164_SHA256_B64")
	country := fs.String("country", "", "ISO 3166 `code` of national numbers without a country column")
	batch := fs.Int("batch", audience.MaxBatch, "entries a `batch` (at most 10000)")
	statePath := fs.String("state", "", "state `file` for resuming (default FILE.upload-state.json)")
	if code, ok := parse(e, fs, args); !ok {
		return code
	}
	switch {
	case fs.NArg() != 1:
		return usageError(e, fs, "want one FILE")
	case *server == "" || *key == "":
		return usageError(e, fs, "--server (or LINKD_SERVER) and --key (or LINKD_KEY) are required")
	case *aud == "":
		return usageError(e, fs, "--audience is required")
	case *mode != "hash" && *mode != "private":
		return usageError(e, fs, "--mode must be hash or private")
	case *batch < 1 || *batch > audience.MaxBatch:
		return usageError(e, fs, "--batch must be from 1 to %d", audience.MaxBatch)
	}
	sch, err := phone.ParseSchema(*schema)
	if *mode == "hash" && err != nil {
		return usageError(e, fs, "--schema: %v", err)
	}
	uploadSchema := string(sch)
	if *mode == "private" {
		uploadSchema = audience.SchemaOPRF
	}
	file := fs.Arg(0)
	if *statePath == "" {
		*statePath = file + ".upload-state.json"
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(e.stderr, "linkd audience upload: "+format+"\n", a...)
		return exitInput
	}
	sum, lines, err := fileDigest(file)
	if err != nil {
		return fail("%v", err)
	}
	st := uploadState{Audience: *aud, File: sum, Mode: *mode, Schema: uploadSchema, Batch: *batch}
	if prev, err := os.ReadFile(*statePath); err == nil {
		var old uploadState
		if json.Unmarshal(prev, &old) == nil && old.Audience == st.Audience && old.File == st.File && old.Mode == st.Mode &&
			old.Schema == st.Schema && old.Batch == st.Batch {
			st = old
			fmt.Fprintf(e.stderr, "resuming session %s after %d batches (%s)\n", st.SessionID, st.Done, *statePath)
		} else {
			return fail("%s is the state of another upload: remove it, or pass another --state", *statePath)
		}
	}
	if st.SessionID == "" {
		var b [8]byte
		_, _ = rand.Read(b[:])
		st.SessionID = hex.EncodeToString(b[:])
	}
	batches := (lines + *batch - 1) / *batch
	if batches == 0 {
		return fail("%s has no entries", file)
	}
	if st.Done >= batches {
		fmt.Fprintf(e.stdout, "already uploaded: session %s, %d batches, %d received, %d invalid at the server\n",
			st.SessionID, st.Done, st.Received, st.Invalid)
		return exitOK
	}

	ctx, stop := e.context()
	defer stop()
	c := client.New(*server, *key, 2*time.Minute)
	var oc *oprf.Client
	if *mode == "private" {
		var cfg struct {
			PublicKey string `json:"public_key"`
			Suite     string `json:"suite"`
		}
		if err := c.Call(ctx, http.MethodGet, "/v1/oprf/config", nil, &cfg); err != nil {
			return fail("%v", err)
		}
		pk, err := base64.StdEncoding.DecodeString(cfg.PublicKey)
		if err != nil || cfg.Suite != oprf.Suite {
			return fail("the server's OPRF configuration is not %s with a public key", oprf.Suite)
		}
		if oc, err = oprf.NewClient(pk); err != nil {
			return fail("the server's OPRF key: %v", err)
		}
	}

	var bar *progressbar.ProgressBar
	if isTerminal(e.stderr) {
		bar = progressbar.NewOptions(lines, progressbar.OptionSetWriter(e.stderr), progressbar.OptionSetDescription("uploading"),
			progressbar.OptionShowCount(), progressbar.OptionSetPredictTime(true))
		_ = bar.Set(st.Done * *batch)
	}
	r, err := newEntryReader(file, *country)
	if err != nil {
		return fail("%v", err)
	}
	defer r.close()
	var local []string // line-numbered local problems
	localInvalid := 0
	for b := 0; b < batches; b++ {
		entries, probs, err := r.next(*batch)
		if err != nil {
			return fail("%v", err)
		}
		if b < st.Done {
			continue // sent before the interruption
		}
		data := make([]string, 0, len(entries))
		for _, en := range entries {
			if en.hash != "" && *mode == "hash" {
				data = append(data, en.hash)
				continue
			}
			if en.hash != "" {
				probs = append(probs, fmt.Sprintf("line %d: a ready hash cannot be uploaded in private mode", en.line))
				continue
			}
			if *mode == "hash" {
				data = append(data, en.number.Hash(sch).Encode(sch))
			} else {
				data = append(data, en.number.E164())
			}
		}
		localInvalid += len(probs)
		st.Local += len(probs)
		for _, p := range probs {
			if len(local) < 20 {
				local = append(local, p)
			}
		}
		if *mode == "private" && len(data) > 0 {
			if data, err = evaluateParallel(ctx, c, oc, data); err != nil {
				return fail("batch %d: %v (run the same command again to resume)", b+1, err)
			}
		}
		if len(data) == 0 {
			data = nil
		}
		body := map[string]any{
			"payload": map[string]any{"schema": uploadSchema, "data": data},
			"session": map[string]any{"session_id": st.SessionID, "batch_seq": b + 1, "last_batch_flag": b == batches-1, "estimated_num_total": lines},
		}
		var res struct {
			Received int  `json:"num_received"`
			Invalid  int  `json:"num_invalid_entries"`
			Replayed bool `json:"replayed"`
		}
		if len(data) > 0 || b == batches-1 {
			if len(data) == 0 {
				// A last batch must carry an entry: an empty one would be
				// refused, so the session ends with the previous batch's
				// flag unset. Send one entry that matches no one.
				body["payload"] = map[string]any{"schema": uploadSchema, "data": []string{placeholder(uploadSchema)}}
			}
			if err := c.Call(ctx, http.MethodPost, "/v1/audiences/"+*aud+"/users", body, &res); err != nil {
				return fail("batch %d: %v (run the same command again to resume)", b+1, err)
			}
		}
		st.Done, st.Received, st.Invalid = b+1, st.Received+res.Received, st.Invalid+res.Invalid
		if err := writeState(*statePath, st); err != nil {
			return fail("writing the state file: %v", err)
		}
		if bar != nil {
			_ = bar.Add(len(entries) + len(probs))
		} else if (b+1)%10 == 0 || b == batches-1 {
			fmt.Fprintf(e.stderr, "batch %d of %d sent\n", b+1, batches)
		}
	}
	if bar != nil {
		_ = bar.Finish()
		fmt.Fprintln(e.stderr)
	}
	for _, p := range local {
		fmt.Fprintln(e.stderr, p)
	}
	var a struct {
		Status  string `json:"status"`
		Lower   *int64 `json:"approximate_count_lower_bound"`
		Upper   *int64 `json:"approximate_count_upper_bound"`
		Release *struct {
			Stale bool `json:"stale"`
		} `json:"size_release"`
		Budget *struct {
			PerDay    float64   `json:"epsilon_per_day"`
			Remaining float64   `json:"epsilon_remaining"`
			RenewsAt  time.Time `json:"renews_at"`
		} `json:"privacy_budget"`
	}
	size := "unknown"
	if err := c.Call(ctx, http.MethodGet, "/v1/audiences/"+*aud, nil, &a); err == nil {
		size = a.Status
		if a.Lower != nil && a.Upper != nil {
			size = fmt.Sprintf("%s, between %d and %d members", a.Status, *a.Lower, *a.Upper)
		}
		if a.Status == audience.StatusBudgetSpent && a.Budget != nil {
			size += fmt.Sprintf(" (the tenant's privacy budget is spent, and this audience has had no release yet; one from %s)",
				a.Budget.RenewsAt.Format(time.RFC3339))
		} else if a.Release != nil && a.Release.Stale && a.Budget != nil {
			size += fmt.Sprintf(" (the tenant's privacy budget is spent: a release from before this upload; a fresh one from %s)",
				a.Budget.RenewsAt.Format(time.RFC3339))
		} else if a.Budget != nil {
			size += fmt.Sprintf(" (privacy budget: %g of %g left today)", a.Budget.Remaining, a.Budget.PerDay)
		}
	}
	unit := "batches"
	if batches == 1 {
		unit = "batch"
	}
	fmt.Fprintf(e.stdout, "uploaded %d lines in %d %s (%s mode, session %s): %d received, %d invalid at the server, %d invalid here\n",
		lines, batches, unit, *mode, st.SessionID, st.Received, st.Invalid, st.Local)
	fmt.Fprintf(e.stdout, "audience %s: %s\n", *aud, size)
	_ = os.Remove(*statePath)
	if st.Local > 0 {
		return exitInput
	}
	return exitOK
}

// placeholder is an entry of the schema that is no one's: the hash of the
// empty string.
func placeholder(schema string) string {
	if schema == audience.SchemaOPRF {
		return strings.Repeat("00", oprf.OutputSize)
	}
	sum := sha256.Sum256(nil)
	if schema == string(phone.SchemaE164SHA256B64) {
		return base64.StdEncoding.EncodeToString(sum[:])
	}
	return hex.EncodeToString(sum[:])
}

func writeState(path string, st uploadState) error {
	b, _ := json.MarshalIndent(st, "", "  ")
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// fileDigest hashes the file (to know a resumed upload is of the same
// file) and counts its entries.
func fileDigest(path string) (string, int, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	r, err := newEntryReaderFrom(io.TeeReader(f, h), "")
	if err != nil {
		return "", 0, err
	}
	n := 0
	for {
		entries, probs, err := r.next(audience.MaxBatch)
		if err != nil {
			return "", 0, err
		}
		if len(entries)+len(probs) == 0 {
			break
		}
		n += len(entries) + len(probs)
	}
	_, _ = io.Copy(h, f)
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// entry is one line of a customer list.
type entry struct {
	line   int
	number phone.Number
	hash   string // a ready hash, as written
}

type entryReader struct {
	f       *os.File
	csv     *csv.Reader
	lines   *bufio.Scanner
	phone   int
	country int
	region  string
	line    int
}

func newEntryReader(path, region string) (*entryReader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	r, err := newEntryReaderFrom(f, region)
	if err != nil {
		f.Close()
		return nil, err
	}
	r.f = f
	return r, nil
}

// newEntryReaderFrom reads a CSV with a phone column, or one entry a line.
func newEntryReaderFrom(in io.Reader, region string) (*entryReader, error) {
	br := bufio.NewReader(in)
	first, err := br.Peek(4096)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return nil, err
	}
	head, _, _ := strings.Cut(string(first), "\n")
	r := &entryReader{region: region, phone: -1, country: -1}
	cols := strings.Split(strings.TrimSpace(strings.ToLower(head)), ",")
	if i := slices.Index(cols, "phone"); i >= 0 {
		r.csv = csv.NewReader(br)
		r.csv.FieldsPerRecord = -1
		if _, err := r.csv.Read(); err != nil {
			return nil, err
		}
		r.phone, r.country, r.line = i, slices.Index(cols, "country"), 1
		return r, nil
	}
	r.lines = bufio.NewScanner(br)
	r.lines.Buffer(make([]byte, 64*1024), 1<<20)
	return r, nil
}

func (r *entryReader) close() {
	if r.f != nil {
		r.f.Close()
	}
}

// next reads up to n lines: the good entries, and a message for each bad
// line. Fewer than n at the end of the file.
func (r *entryReader) next(n int) ([]entry, []string, error) {
	var out []entry
	var probs []string
	for len(out)+len(probs) < n {
		var raw, cc string
		if r.csv != nil {
			rec, err := r.csv.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			r.line++
			if err != nil {
				probs = append(probs, fmt.Sprintf("line %d: not CSV: %v", r.line, csvReason(err)))
				continue
			}
			if r.phone < len(rec) {
				raw = rec[r.phone]
			}
			if r.country >= 0 && r.country < len(rec) {
				cc = rec[r.country]
			}
		} else {
			if !r.lines.Scan() {
				if err := r.lines.Err(); err != nil {
					return nil, nil, err
				}
				break
			}
			r.line++
			raw = r.lines.Text()
		}
		if cc == "" {
			cc = r.region
		}
		raw = strings.TrimSpace(raw)
		if isHash(raw) {
			out = append(out, entry{line: r.line, hash: raw})
			continue
		}
		num, err := phone.Normalize(raw, cc)
		if err != nil {
			probs = append(probs, fmt.Sprintf("line %d: %s", r.line, strings.TrimPrefix(err.Error(), "phone: ")))
			continue
		}
		out = append(out, entry{line: r.line, number: num})
	}
	return out, probs, nil
}

func csvReason(err error) string {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return "unreadable"
}

// isHash tells a ready hash (64 hex characters, or 44 of base64) from a
// number, which is never that long.
func isHash(s string) bool {
	if len(s) == 64 {
		_, err := hex.DecodeString(s)
		return err == nil
	}
	if len(s) == 44 && strings.HasSuffix(s, "=") {
		_, err := base64.StdEncoding.DecodeString(s)
		return err == nil
	}
	return false
}

// evaluateParallel evaluates a batch as one part per core, each blinded,
// evaluated and finalized on its own: the client's blinding and
// finalizing, serial within a part, then use every core.
func evaluateParallel(ctx context.Context, c *client.Client, oc *oprf.Client, e164 []string) ([]string, error) {
	parts := min(runtime.GOMAXPROCS(0), (len(e164)+999)/1000)
	if parts <= 1 {
		return evaluate(ctx, c, oc, e164)
	}
	out := make([]string, len(e164))
	errs := make([]error, parts)
	var wg sync.WaitGroup
	size := (len(e164) + parts - 1) / parts
	for p := range parts {
		lo, hi := p*size, min((p+1)*size, len(e164))
		wg.Go(func() {
			res, err := evaluate(ctx, c, oc, e164[lo:hi])
			if err == nil {
				copy(out[lo:hi], res)
			}
			errs[p] = err
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// evaluate turns E.164 numbers into finalized OPRF outputs through the
// server, checking its proof.
func evaluate(ctx context.Context, c *client.Client, oc *oprf.Client, e164 []string) ([]string, error) {
	inputs := make([][]byte, len(e164))
	for i, s := range e164 {
		inputs[i] = []byte(s)
	}
	bl, blinded, err := oc.Blind(inputs)
	if err != nil {
		return nil, err
	}
	req := struct {
		Blinded []string `json:"blinded"`
	}{make([]string, len(blinded))}
	for i, b := range blinded {
		req.Blinded[i] = base64.StdEncoding.EncodeToString(b)
	}
	var res struct {
		Evaluated []string `json:"evaluated"`
		Proof     string   `json:"proof"`
	}
	if err := c.Call(ctx, http.MethodPost, "/v1/oprf/evaluate", req, &res); err != nil {
		return nil, err
	}
	ev := make([][]byte, len(res.Evaluated))
	for i, s := range res.Evaluated {
		if ev[i], err = base64.StdEncoding.DecodeString(s); err != nil {
			return nil, errors.New("the server's evaluation is not base64")
		}
	}
	proof, err := base64.StdEncoding.DecodeString(res.Proof)
	if err != nil {
		return nil, errors.New("the server's proof is not base64")
	}
	outs, err := oc.Finalize(bl, ev, proof)
	if err != nil {
		return nil, fmt.Errorf("the server's evaluation does not verify against its published key: %w", err)
	}
	hexed := make([]string, len(outs))
	for i, o := range outs {
		hexed[i] = hex.EncodeToString(o)
	}
	return hexed, nil
}
