// Command linkd is the privacy-preserving identity linking service: one
// binary whose subcommands normalize and hash phone numbers, manage a
// party's keys, and run the service.
//
// Every command answers --help, exits 0 on success, 1 on bad input and 2 on
// a usage error.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"sort"
	"strings"
	"syscall"
)

// Exit codes shared by every command.
const (
	exitOK    = 0
	exitInput = 1
	exitUsage = 2
)

// env is what a command reads and writes besides its arguments, so tests
// run commands in-process with their own streams and environment.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	// ctx, if set, ends long-running commands (tests); otherwise they end
	// on SIGINT or SIGTERM.
	ctx context.Context
}

// context returns the command's context: it ends on SIGINT or SIGTERM, or
// with e.ctx.
func (e *env) context() (context.Context, context.CancelFunc) {
	parent := e.ctx
	if parent == nil {
		parent = context.Background()
	}
	return signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
}

type command struct {
	name    string
	summary string
	run     func(e *env, args []string) int
}

// commands are linkd's subcommands, in the order help lists them.
var commands = []command{
	{"apikey", "create, list and revoke API keys", runAPIKey},
	{"audit", "verify the audit log's hash chain", runAudit},
	{"audience", "upload a customer list to an audience", runAudience},
	{"dev", "run both parties with synthetic directories, for trying linkd", runDev},
	{"directory", "import a party's account list", runDirectory},
	{"keys", "create, show and rotate a party's key file", runKeys},
	{"link", "link this party's directory with the other party's", runLink},
	{"migrate", "apply (or revert) the PostgreSQL schema migrations", runMigrate},
	{"normalize", "read phone numbers on stdin, write their E.164 forms", runNormalize},
	{"hash", "read phone numbers on stdin, write the hashes an advertiser uploads", runHash},
	{"policy", "lint, test, explain, diff and report the policy bundle", runPolicy},
	{"serve", "run one party's HTTP API", runServe},
}

func main() {
	os.Exit(run(&env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}, os.Args[1:]))
}

func run(e *env, args []string) int {
	if len(args) == 0 {
		usage(e.stderr)
		return exitUsage
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		usage(e.stdout)
		return exitOK
	}
	for _, c := range commands {
		if c.name == args[0] {
			return c.run(e, args[1:])
		}
	}
	fmt.Fprintf(e.stderr, "linkd: unknown command %q\n\n", args[0])
	usage(e.stderr)
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprint(w, "linkd: privacy-preserving identity linking\n\nUsage: linkd COMMAND [flags]\n\nCommands:\n")
	sort.Slice(commands, func(i, j int) bool { return commands[i].name < commands[j].name })
	for _, c := range commands {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, "\nRun 'linkd COMMAND --help' for a command's flags.\n")
}

// newFlags returns a flag set that reports errors instead of exiting, with
// a usage text of the command's synopsis and description.
func newFlags(e *env, name, synopsis, description string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "Usage: linkd %s\n\n%s\n", synopsis, strings.TrimSpace(description))
		var any bool
		fs.VisitAll(func(*flag.Flag) { any = true })
		if any {
			fmt.Fprint(w, "\nFlags:\n")
			fs.PrintDefaults()
		}
	}
	return fs
}

// parse parses flags; ok is false when the command must return code at
// once: 0 after --help (usage on stdout), 2 after a usage error.
func parse(e *env, fs *flag.FlagSet, args []string) (code int, ok bool) {
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	fs.SetOutput(e.stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fs.SetOutput(e.stdout)
		fs.Usage()
		return exitOK, false
	case err != nil:
		fmt.Fprintf(e.stderr, "linkd %s: %v\n\n", fs.Name(), err)
		fs.Usage()
		return exitUsage, false
	}
	return 0, true
}

// subcommand picks the subcommand args[0] among subs. When there is none,
// or an unknown one, ok is false and code is what the command returns: 0
// after --help, 2 otherwise, with the command's usage.
func subcommand(e *env, fs *flag.FlagSet, args []string, subs ...string) (sub string, code int, ok bool) {
	if len(args) > 0 && slices.Contains(subs, args[0]) {
		return args[0], 0, true
	}
	if code, ok := parse(e, fs, args); !ok {
		return "", code, false
	}
	want := "the subcommand " + subs[0]
	if len(subs) > 1 {
		want = "a subcommand: " + strings.Join(subs[:len(subs)-1], ", ") + " or " + subs[len(subs)-1]
	}
	if len(args) > 0 {
		return "", usageError(e, fs, "unknown subcommand %q: want %s", args[0], want), false
	}
	return "", usageError(e, fs, "want %s", want), false
}

// usageError reports a usage problem found after flag parsing.
func usageError(e *env, fs *flag.FlagSet, format string, args ...any) int {
	fmt.Fprintf(e.stderr, "linkd %s: %s\n\n", fs.Name(), fmt.Sprintf(format, args...))
	fs.Usage()
	return exitUsage
}
