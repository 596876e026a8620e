package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"
)

// outputJSON is --output json.
const outputJSON = "json"

// outputFlag is --output, for commands that print data: a table for
// people (the default) or JSON for programs.
type outputFlag struct {
	Output string `short:"o" enum:"table,json" default:"table" placeholder:"FORMAT" help:"How to print what the command returns: table or json."`
}

// writeJSON prints v as indented JSON.
func writeJSON(e *env, v any) error {
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return failed(e, "output", "%v", err)
	}
	return nil
}

// table prints aligned columns.
type table struct {
	e *env
	w *tabwriter.Writer
}

func newTable(e *env, header ...string) *table {
	t := &table{e: e, w: tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)}
	fmt.Fprintln(t.w, strings.Join(header, "\t"))
	return t
}

// row adds a row; times print in RFC 3339, a zero time and nil as "-".
func (t *table) row(cells ...any) {
	s := make([]string, len(cells))
	for i, c := range cells {
		switch v := c.(type) {
		case nil:
			s[i] = "-"
		case time.Time:
			s[i] = "-"
			if !v.IsZero() {
				s[i] = v.UTC().Format(time.RFC3339)
			}
		case *time.Time:
			s[i] = "-"
			if v != nil && !v.IsZero() {
				s[i] = v.UTC().Format(time.RFC3339)
			}
		case string:
			s[i] = v
			if v == "" {
				s[i] = "-"
			}
		default:
			s[i] = fmt.Sprint(v)
		}
		s[i] = strings.NewReplacer("\t", " ", "\n", " ").Replace(s[i])
	}
	fmt.Fprintln(t.w, strings.Join(s, "\t"))
}

func (t *table) flush() error {
	if err := t.w.Flush(); err != nil {
		return failed(t.e, "output", "%v", err)
	}
	return nil
}
