package main

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"sync"

	"github.com/linkd/linkd/phone"
)

// numbersInput is where normalize and hash read numbers.
type numbersInput struct {
	Country string `placeholder:"CC" help:"Default country (ISO 3166 code) for numbers written without + (a CSV's country column comes first)."`
	File    string `arg:"" optional:"" default:"-" placeholder:"FILE" help:"The numbers: one a line, or a CSV whose header names a phone column and optionally a country column; - (the default) for standard input."`
	outputFlag
}

const numbersInputHelp = `

The input is one number a line, or a CSV with a header naming a "phone"
column and optionally a "country" column (as linkd dev and advertisers'
exports write), whose rows are read in their own country first. With
--output json, each output line is a JSON object: {"line":N,"e164":...}
or {"line":N,"invalid":REASON}.`

type normalizeCmd struct {
	numbersInput
}

func (normalizeCmd) Help() string {
	return `Reads phone numbers and writes one line per input line (or CSV row), in
order: the number in E.164 form, or "invalid: REASON". National formats are
read in the row's country, else --country. Exits 1 if any line was
invalid.` + numbersInputHelp
}

func (c *normalizeCmd) Run(e *env) error {
	region, err := phone.CheckRegion(c.Country)
	if err != nil {
		return usage(e, "normalize", "--country: %v", err)
	}
	return c.mapNumbers(e, "normalize", region, "e164", func(n phone.Number) string { return n.E164() })
}

type hashCmd struct {
	Schema string `required:"" placeholder:"SCHEMA" help:"Upload schema: PHONE_SHA256, PHONE_E164_SHA256 or PHONE_E164_SHA256_B64."`
	numbersInput
}

func (hashCmd) Help() string {
	return `Reads phone numbers and writes one line per input line (or CSV row), in
order: the hash an advertiser uploads for the number under SCHEMA, or
"invalid: REASON". Exits 1 if any line was invalid.

Schemas:
  PHONE_SHA256            SHA-256 of the digits without +, lowercase hex
  PHONE_E164_SHA256       SHA-256 of the E.164 string with +, lowercase hex
  PHONE_E164_SHA256_B64   the same hash, standard base64` + strings.Replace(numbersInputHelp, `"e164"`, `"hash"`, 1)
}

func (c *hashCmd) Run(e *env) error {
	schema, err := phone.ParseSchema(c.Schema)
	if err != nil {
		return usage(e, "hash", "--schema: %v", err)
	}
	region, err := phone.CheckRegion(c.Country)
	if err != nil {
		return usage(e, "hash", "--country: %v", err)
	}
	return c.mapNumbers(e, "hash", region, "hash", func(n phone.Number) string { return n.Hash(schema).Encode(schema) })
}

// mapNumbers normalizes every number of the input in its row's country,
// else region, and writes f of each, in order.
func (in numbersInput) mapNumbers(e *env, cmd, region, field string, f func(phone.Number) string) error {
	src := e.stdin
	if in.File != "-" {
		file, err := os.Open(in.File)
		if err != nil {
			return failed(e, cmd, "%v", err)
		}
		defer file.Close()
		src = file
	}
	format := func(line int, out string, err error) string {
		if err != nil {
			return "invalid: " + reasonOf(err)
		}
		return out
	}
	if in.Output == outputJSON {
		format = func(line int, out string, err error) string {
			var b []byte
			if err != nil {
				b, _ = json.Marshal(struct {
					Line    int    `json:"line"`
					Invalid string `json:"invalid"`
				}{line, reasonOf(err)})
				return string(b)
			}
			v, _ := json.Marshal(out)
			b, _ = json.Marshal(line)
			return `{"line":` + string(b) + `,"` + field + `":` + string(v) + `}`
		}
	}
	return done(mapLines(e, src, func(r record) (string, bool) {
		if r.err != nil {
			return format(r.line, "", r.err), false
		}
		rg := region
		if r.country != "" {
			c, err := phone.CheckRegion(r.country)
			if err != nil {
				return format(r.line, "", fmt.Errorf("country %q: %w", r.country, err)), false
			}
			rg = c
		}
		n, err := phone.Normalize(r.phone, rg)
		if err != nil {
			return format(r.line, "", err), false
		}
		return format(r.line, f(n), nil), true
	}))
}

// chunkLines is how many lines one worker takes at a time.
const chunkLines = 2048

// record is one number of the input: its line, the number as written and
// the country of its CSV row, if any.
type record struct {
	line           int
	phone, country string
	err            error // the row could not be read
}

type chunk struct {
	records []record
	out     []byte
	bad     bool
	done    chan struct{}
}

// mapLines applies f to every record of in on all cores and writes the
// results, a line each, in input order, with memory bounded by a few
// chunks per core. The exit code is 1 if f failed on any record (ok
// false) or one could not be read.
func mapLines(e *env, in io.Reader, f func(record) (out string, ok bool)) int {
	workers := runtime.GOMAXPROCS(0)
	work := make(chan *chunk, workers)
	ordered := make(chan *chunk, 2*workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for c := range work {
				for _, r := range c.records {
					out, ok := f(r)
					c.bad = c.bad || !ok
					c.out = append(c.out, out...)
					c.out = append(c.out, '\n')
				}
				close(c.done)
			}
		})
	}
	readErr := make(chan error, 1)
	go func() {
		defer close(ordered)
		defer close(work)
		readErr <- readRecords(in, func(rs []record) {
			c := &chunk{records: rs, done: make(chan struct{})}
			ordered <- c
			work <- c
		})
	}()
	w := bufio.NewWriterSize(e.stdout, 64<<10)
	code := exitOK
	var writeErr error
	for c := range ordered {
		<-c.done
		if c.bad {
			code = exitInput
		}
		if writeErr == nil {
			_, writeErr = w.Write(c.out)
		}
	}
	wg.Wait()
	if writeErr == nil {
		writeErr = w.Flush()
	}
	if err := <-readErr; err != nil {
		fmt.Fprintf(e.stderr, "linkd: reading the input: %v\n", err)
		return exitInput
	}
	if writeErr != nil {
		fmt.Fprintf(e.stderr, "linkd: writing standard output: %v\n", writeErr)
		return exitInput
	}
	return code
}

// maxLine bounds one input line; a longer line is kept as a marker that
// fails as "too long" rather than buffered whole.
const maxLine = 4096

// readRecords reads r and hands its records on in chunks: one a line, or,
// when the first line is a CSV header naming a "phone" column, one a CSV
// row, with its "country" column if there is one. Lines end in "\n" or
// "\r\n"; a final line without a newline counts; an empty input has no
// records.
func readRecords(r io.Reader, emit func([]record)) error {
	br := bufio.NewReaderSize(r, 64<<10)
	recs := make([]record, 0, chunkLines)
	add := func(rec record) {
		recs = append(recs, rec)
		if len(recs) == chunkLines {
			emit(recs)
			recs = make([]record, 0, chunkLines)
		}
	}
	first, err := readLine(br)
	if errors.Is(err, io.EOF) {
		return nil
	}
	if err != nil {
		return err
	}
	if cols, ok := csvHeader(first); ok {
		if err := readCSV(br, cols, add); err != nil {
			return err
		}
	} else {
		add(record{line: 1, phone: first})
		for n := 2; ; n++ {
			line, err := readLine(br)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return err
			}
			add(record{line: n, phone: line})
		}
	}
	if len(recs) > 0 {
		emit(recs)
	}
	return nil
}

// csvColumns are the columns of a CSV input that matter.
type csvColumns struct{ fields, phone, country int }

// csvHeader reads line as a CSV header: ok when a column is named phone.
func csvHeader(line string) (csvColumns, bool) {
	if !strings.Contains(line, ",") {
		return csvColumns{}, false
	}
	fields, err := csv.NewReader(strings.NewReader(line)).Read()
	if err != nil {
		return csvColumns{}, false
	}
	c := csvColumns{fields: len(fields), phone: -1, country: -1}
	for i, f := range fields {
		switch strings.ToLower(strings.TrimSpace(f)) {
		case "phone":
			c.phone = i
		case "country":
			c.country = i
		}
	}
	return c, c.phone >= 0
}

// readCSV reads the rows after a CSV header; a row that cannot be read
// becomes a record with its error, so that every row has its output line.
func readCSV(br *bufio.Reader, cols csvColumns, add func(record)) error {
	lines := &lineCounter{r: br, line: 1}
	cr := csv.NewReader(lines)
	cr.FieldsPerRecord = cols.fields
	cr.ReuseRecord = true
	for {
		start := lines.line + 1
		row, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		var pe *csv.ParseError
		switch {
		case errors.As(err, &pe) && errors.Is(err, csv.ErrFieldCount):
			add(record{line: pe.StartLine + 1, err: fmt.Errorf("row has %d fields, the header %d", len(row), cols.fields)})
			continue
		case errors.As(err, &pe):
			add(record{line: pe.StartLine + 1, err: fmt.Errorf("not a CSV row: %w", pe.Err)})
			continue
		case errors.Is(err, errLineTooLong):
			return fmt.Errorf("line %d is longer than %d bytes", start, maxLine)
		case err != nil:
			return err
		}
		line, _ := cr.FieldPos(0)
		rec := record{line: line + 1, phone: row[cols.phone]}
		if cols.country >= 0 {
			rec.country = strings.TrimSpace(row[cols.country])
		}
		add(rec)
	}
}

var errLineTooLong = errors.New("line too long")

// lineCounter passes r through line by line, refusing a line over maxLine
// bytes, and counts the lines read.
type lineCounter struct {
	r    *bufio.Reader
	line int
	rest []byte
}

func (l *lineCounter) Read(p []byte) (int, error) {
	if len(l.rest) == 0 {
		b, err := l.r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) || len(b) > maxLine+2 {
			return 0, errLineTooLong
		}
		if len(b) == 0 {
			return 0, err
		}
		l.line++
		l.rest = b
	}
	n := copy(p, l.rest)
	l.rest = l.rest[n:]
	return n, nil
}

// tooLongLine stands for a line over maxLine bytes: it is longer than any
// number, so every parser rejects it as too long without seeing it whole.
var tooLongLine = string(make([]byte, phone.MaxInputLen+1))

func readLine(br *bufio.Reader) (string, error) {
	b, err := br.ReadSlice('\n')
	switch {
	case err == nil:
		b = b[:len(b)-1]
	case errors.Is(err, bufio.ErrBufferFull):
		for errors.Is(err, bufio.ErrBufferFull) {
			_, err = br.ReadSlice('\n')
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return "", err
		}
		return tooLongLine, nil
	case errors.Is(err, io.EOF):
		if len(b) == 0 {
			return "", io.EOF
		}
	default:
		return "", err
	}
	if len(b) > 0 && b[len(b)-1] == '\r' {
		b = b[:len(b)-1]
	}
	if len(b) > maxLine {
		return tooLongLine, nil
	}
	return string(b), nil
}

// reasonOf is the text after "invalid: " for a rejected line.
func reasonOf(err error) string {
	var pe *phone.Error
	if errors.As(err, &pe) {
		return pe.ReasonText()
	}
	return err.Error()
}
