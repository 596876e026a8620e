package client

import (
	"bufio"
	"bytes"
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

	"github.com/linkd/linkd/crypto/oprf"
	"github.com/linkd/linkd/phone"
)

// Upload is an advertiser's upload of a customer list to an audience, as
// an advertiser's tool makes it: File has one phone number (or, in hash
// mode, one ready hash of Schema) a line, or is a CSV whose header names a
// "phone" column and optionally a "country" column. Numbers are
// normalized here (national numbers in the row's country, else Country)
// and never leave this machine: hashed with Schema, or (Private) blinded
// and evaluated by the server's OPRF, whose proof is checked against its
// published key, so that the server sees neither numbers nor hashes.
type Upload struct {
	Audience string
	Private  bool
	Schema   phone.Schema // hash mode's
	Country  string
	Batch    int // entries a batch, at most the server's (10,000)
	File     string
	// StatePath is where the upload keeps its state, to resume after an
	// interruption (default File + ".upload-state.json").
	StatePath string

	// Content, when set, is the list itself, read from memory (File then
	// only names it). Without a StatePath, Save then keeps the state after
	// each batch instead of a state file, and Previous is the state an
	// earlier run saved: a browser page uploads so.
	Content  []byte
	Save     func(UploadState) error
	Previous *UploadState
}

// Caller makes the upload's API calls: a *Client with a key, or a console
// page through its session.
type Caller interface {
	Call(ctx context.Context, method, path string, in, out any) error
}

// UploadState is what a resumed upload needs: never a number or a hash.
type UploadState struct {
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

// Plan is an upload ready to run: the file counted, and its state read
// back if an earlier run of the same upload was interrupted.
type Plan struct {
	Upload
	Lines, Batches int
	State          UploadState
	// Resumed says the state came from an earlier run.
	Resumed bool
	// Problems are the first lines refused here, by line number.
	Problems []string
}

// Mode is "private" or "hash".
func (u Upload) Mode() string {
	if u.Private {
		return "private"
	}
	return "hash"
}

func (u Upload) schema() string {
	if u.Private {
		return string(phone.SchemaOPRF)
	}
	return string(u.Schema)
}

// maxProblems is how many of the lines refused here a plan keeps.
const maxProblems = 20

// Prepare counts the file's entries and reads the upload's state: the
// same upload (audience, file, mode, schema, batch size) resumes from it;
// another one's state is an error.
func Prepare(u Upload) (*Plan, error) {
	if u.StatePath == "" && u.Content == nil {
		u.StatePath = u.File + ".upload-state.json"
	}
	in, err := u.open()
	if err != nil {
		return nil, err
	}
	sum, lines, err := digest(in)
	in.Close()
	if err != nil {
		return nil, err
	}
	p := &Plan{Upload: u, Lines: lines, State: UploadState{Audience: u.Audience, File: sum, Mode: u.Mode(), Schema: u.schema(), Batch: u.Batch}}
	var old *UploadState
	where := "the saved state"
	if u.Content != nil && u.StatePath == "" {
		old = u.Previous
	} else if prev, err := os.ReadFile(u.StatePath); err == nil {
		old, where = &UploadState{}, u.StatePath
		if json.Unmarshal(prev, old) != nil {
			old.Audience = "" // unreadable: not this upload's
		}
	}
	if old != nil {
		st := p.State
		if old.Audience != st.Audience || old.File != st.File || old.Mode != st.Mode || old.Schema != st.Schema || old.Batch != st.Batch {
			return nil, fmt.Errorf("%s is the state of another upload: remove it, or pass another --state", where)
		}
		p.State, p.Resumed = *old, true
	}
	if p.State.SessionID == "" {
		var b [8]byte
		_, _ = rand.Read(b[:])
		p.State.SessionID = hex.EncodeToString(b[:])
	}
	p.Batches = (lines + u.Batch - 1) / u.Batch
	if p.Batches == 0 {
		return nil, fmt.Errorf("%s has no entries", u.File)
	}
	return p, nil
}

// Finished says every batch was sent.
func (p *Plan) Finished() bool { return p.State.Done >= p.Batches }

// Run sends the batches not sent yet, keeping the state after each; sent
// is told each batch sent and how many lines it took. A batch that fails
// stops the upload: running the same plan again resumes it. Once every
// batch is sent, the state file goes.
func (p *Plan) Run(ctx context.Context, c Caller, sent func(batch, lines int)) error {
	var oc *oprf.Client
	if p.Private {
		var cfg struct {
			PublicKey string `json:"public_key"`
			Suite     string `json:"suite"`
		}
		if err := c.Call(ctx, http.MethodGet, "/v1/oprf/config", nil, &cfg); err != nil {
			return err
		}
		pk, err := base64.StdEncoding.DecodeString(cfg.PublicKey)
		if err != nil || cfg.Suite != oprf.Suite {
			return fmt.Errorf("the server's OPRF configuration is not %s with a public key", oprf.Suite)
		}
		if oc, err = oprf.NewClient(pk); err != nil {
			return fmt.Errorf("the server's OPRF key: %w", err)
		}
	}
	in, err := p.open()
	if err != nil {
		return err
	}
	defer in.Close()
	r, err := newEntryReaderFrom(in, p.Country)
	if err != nil {
		return err
	}
	schema := p.schema()
	for b := 0; b < p.Batches; b++ {
		entries, probs, err := r.next(p.Batch)
		if err != nil {
			return err
		}
		if b < p.State.Done {
			continue // sent before the interruption
		}
		data := make([]string, 0, len(entries))
		for _, en := range entries {
			switch {
			case en.hash != "" && !p.Private:
				data = append(data, en.hash)
			case en.hash != "":
				probs = append(probs, fmt.Sprintf("line %d: a ready hash cannot be uploaded in private mode", en.line))
			case !p.Private:
				data = append(data, en.number.Hash(p.Schema).Encode(p.Schema))
			default:
				data = append(data, en.number.E164())
			}
		}
		p.State.Local += len(probs)
		for _, pr := range probs {
			if len(p.Problems) < maxProblems {
				p.Problems = append(p.Problems, pr)
			}
		}
		if p.Private && len(data) > 0 {
			if data, err = evaluateParallel(ctx, c, oc, data); err != nil {
				return fmt.Errorf("batch %d: %w", b+1, err)
			}
		}
		if len(data) == 0 {
			data = nil
		}
		body := map[string]any{
			"payload": map[string]any{"schema": schema, "data": data},
			"session": map[string]any{"session_id": p.State.SessionID, "batch_seq": b + 1, "last_batch_flag": b == p.Batches-1, "estimated_num_total": p.Lines},
		}
		var res struct {
			Received int  `json:"num_received"`
			Invalid  int  `json:"num_invalid_entries"`
			Replayed bool `json:"replayed"`
		}
		placeholderSent := false
		if len(data) > 0 || b == p.Batches-1 {
			if len(data) == 0 {
				placeholderSent = true
				// A last batch must carry an entry: an empty one would be
				// refused, so the session ends with the previous batch's
				// flag unset. Send one entry that matches no one.
				body["payload"] = map[string]any{"schema": schema, "data": []string{placeholder(schema)}}
			}
			if err := c.Call(ctx, http.MethodPost, "/v1/audiences/"+p.Audience+"/users", body, &res); err != nil {
				return fmt.Errorf("batch %d: %w", b+1, err)
			}
		}
		if placeholderSent && res.Received > 0 {
			res.Received-- // the placeholder is no one's entry
		}
		p.State.Done, p.State.Received, p.State.Invalid = b+1, p.State.Received+res.Received, p.State.Invalid+res.Invalid
		if err := p.save(); err != nil {
			return fmt.Errorf("keeping the upload's state: %w", err)
		}
		if sent != nil {
			sent(b+1, len(entries)+len(probs))
		}
	}
	if p.Save == nil {
		_ = os.Remove(p.StatePath)
	}
	return nil
}

// Resumable says whether an upload that stopped with err may go on by
// running it again as it was: not when the server refused the key, the
// audience or the request itself (401, 403, 404, 422), which running it
// again does not change.
func Resumable(err error) bool {
	var ae *AnswerError
	if errors.As(err, &ae) {
		switch ae.Status {
		case http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound, http.StatusUnprocessableEntity, http.StatusBadRequest:
			return false
		}
	}
	return true
}

// open opens the list.
func (u Upload) open() (io.ReadCloser, error) {
	if u.Content != nil {
		return io.NopCloser(bytes.NewReader(u.Content)), nil
	}
	return os.Open(u.File)
}

// save keeps the upload's state.
func (p *Plan) save() error {
	if p.Save != nil {
		return p.Save(p.State)
	}
	return writeState(p.StatePath, p.State)
}

// placeholder is an entry of the schema that is no one's: the hash of the
// empty string.
func placeholder(schema string) string {
	if schema == string(phone.SchemaOPRF) {
		return strings.Repeat("00", oprf.OutputSize)
	}
	sum := sha256.Sum256(nil)
	if schema == string(phone.SchemaE164SHA256B64) {
		return base64.StdEncoding.EncodeToString(sum[:])
	}
	return hex.EncodeToString(sum[:])
}

func writeState(path string, st UploadState) error {
	b, _ := json.MarshalIndent(st, "", "  ")
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// digest hashes the list (to know a resumed upload is of the same list)
// and counts its entries.
func digest(f io.Reader) (string, int, error) {
	h := sha256.New()
	r, err := newEntryReaderFrom(io.TeeReader(f, h), "")
	if err != nil {
		return "", 0, err
	}
	n := 0
	for {
		entries, probs, err := r.next(10000)
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
	csv     *csv.Reader
	lines   *bufio.Scanner
	phone   int
	country int
	region  string
	line    int
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
	if strings.Contains(head, ",") {
		// A CSV whose header names no phone column: reading it as one
		// number a line would refuse every line for the wrong reason.
		return nil, errors.New("line 1 looks like a CSV header but names no phone column: name the column of numbers \"phone\" (and of their countries \"country\"), or give one number a line")
	}
	r.lines = bufio.NewScanner(br)
	r.lines.Buffer(make([]byte, 64*1024), 1<<20)
	return r, nil
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
func evaluateParallel(ctx context.Context, c Caller, oc *oprf.Client, e164 []string) ([]string, error) {
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
func evaluate(ctx context.Context, c Caller, oc *oprf.Client, e164 []string) ([]string, error) {
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
