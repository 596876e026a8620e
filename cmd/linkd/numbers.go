package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"

	"github.com/linkd/linkd/phone"
)

const normalizeHelp = `
Reads phone numbers from standard input, one a line, and writes one line per
input line, in order: the number in E.164 form, or "invalid: REASON". National
formats are read in the country given by --country. Exits 1 if any line was
invalid.`

func runNormalize(e *env, args []string) int {
	fs := newFlags(e, "normalize", "normalize [--country CC] < numbers.txt", normalizeHelp)
	country := fs.String("country", "", "default `country` (ISO 3166 code) for numbers written without +")
	if code, ok := parse(e, fs, args); !ok {
		return code
	}
	if fs.NArg() != 0 {
		return usageError(e, fs, "unexpected argument %q: numbers are read from standard input", fs.Arg(0))
	}
	region, err := phone.CheckRegion(*country)
	if err != nil {
		return usageError(e, fs, "--country: %v", err)
	}
	return mapLines(e, func(line string) (string, error) {
		n, err := phone.Normalize(line, region)
		return n.E164(), err
	})
}

const hashHelp = `
Reads phone numbers from standard input, one a line, and writes one line per
input line, in order: the hash an advertiser uploads for the number under
SCHEMA, or "invalid: REASON". Exits 1 if any line was invalid.

Schemas:
  PHONE_SHA256            SHA-256 of the digits without +, lowercase hex
  PHONE_E164_SHA256       SHA-256 of the E.164 string with +, lowercase hex
  PHONE_E164_SHA256_B64   the same hash, standard base64`

func runHash(e *env, args []string) int {
	fs := newFlags(e, "hash", "hash --schema SCHEMA [--country CC] < numbers.txt", hashHelp)
	schemaName := fs.String("schema", "", "upload `schema` (required)")
	country := fs.String("country", "", "default `country` (ISO 3166 code) for numbers written without +")
	if code, ok := parse(e, fs, args); !ok {
		return code
	}
	if fs.NArg() != 0 {
		return usageError(e, fs, "unexpected argument %q: numbers are read from standard input", fs.Arg(0))
	}
	if *schemaName == "" {
		return usageError(e, fs, "--schema is required")
	}
	schema, err := phone.ParseSchema(*schemaName)
	if err != nil {
		return usageError(e, fs, "--schema: %v", err)
	}
	region, err := phone.CheckRegion(*country)
	if err != nil {
		return usageError(e, fs, "--country: %v", err)
	}
	return mapLines(e, func(line string) (string, error) {
		n, err := phone.Normalize(line, region)
		if err != nil {
			return "", err
		}
		return n.Hash(schema).Encode(schema), nil
	})
}

// chunkLines is how many lines one worker takes at a time.
const chunkLines = 2048

type chunk struct {
	lines []string
	out   []byte
	bad   bool
	done  chan struct{}
}

// mapLines applies f to every line of stdin on all cores and writes the
// results in input order, with memory bounded by a few chunks per core.
// A failed line is written as "invalid: REASON"; the exit code is 1 if any
// line failed.
func mapLines(e *env, f func(string) (string, error)) int {
	workers := runtime.GOMAXPROCS(0)
	work := make(chan *chunk, workers)
	ordered := make(chan *chunk, 2*workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for c := range work {
				for _, line := range c.lines {
					out, err := f(line)
					if err != nil {
						c.bad = true
						c.out = append(c.out, "invalid: "...)
						c.out = append(c.out, reasonOf(err)...)
					} else {
						c.out = append(c.out, out...)
					}
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
		readErr <- readChunks(e.stdin, func(lines []string) {
			c := &chunk{lines: lines, done: make(chan struct{})}
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
		fmt.Fprintf(e.stderr, "linkd: reading standard input: %v\n", err)
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

// readChunks splits r into lines (without "\n" or "\r\n") and hands them on
// in chunks. A final line without a newline counts; an empty input has no
// lines.
func readChunks(r io.Reader, emit func([]string)) error {
	br := bufio.NewReaderSize(r, 64<<10)
	lines := make([]string, 0, chunkLines)
	for {
		line, err := readLine(br)
		if errors.Is(err, io.EOF) {
			if len(lines) > 0 {
				emit(lines)
			}
			return nil
		}
		if err != nil {
			return err
		}
		lines = append(lines, line)
		if len(lines) == chunkLines {
			emit(lines)
			lines = make([]string, 0, chunkLines)
		}
	}
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
