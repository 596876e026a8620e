// Command linkd is the privacy-preserving identity linking service: one
// binary whose subcommands normalize and hash phone numbers, manage a
// party's keys, run the service, and call a running party's API for
// advertisers, trust and safety analysts and compliance officers.
//
// The commands, their flags and the environment variables each flag may
// come from are declared once, in the command structs of this package,
// and parsed by kong. Every command answers --help, exits 0 on success,
// 1 on bad input or a failed call and 2 on a usage error; commands that
// print data take --output json.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/alecthomas/kong"
	"github.com/willabides/kongplete"
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

// cli is linkd's command line: each field a command.
type cli struct {
	Version kong.VersionFlag `help:"Print linkd's version and commit, and exit."`

	APIKey     apikeyCmd     `cmd:"" name:"apikey" help:"Create, list and revoke API keys."`
	Audience   audienceCmd   `cmd:"" help:"Create, upload to, read, extend and delete audiences (an advertiser's key)."`
	Audit      auditCmd      `cmd:"" help:"List, verify and checkpoint the audit log."`
	Completion completionCmd `cmd:"" help:"Print the line that makes a shell complete linkd's commands and flags."`
	Dev        devCmd        `cmd:"" help:"Run both parties with synthetic directories, for trying linkd."`
	Directory  directoryCmd  `cmd:"" help:"Import a party's account list."`
	Hash       hashCmd       `cmd:"" help:"Read phone numbers, write the hashes an advertiser uploads."`
	Keys       keysCmd       `cmd:"" help:"Create, show and rotate a party's key file."`
	Link       linkCmd       `cmd:"" help:"Link this party's directory with the other party's."`
	Migrate    migrateCmd    `cmd:"" help:"Apply or revert the PostgreSQL schema migrations."`
	Normalize  normalizeCmd  `cmd:"" help:"Read phone numbers, write their E.164 forms."`
	Policy     policyCmd     `cmd:"" help:"Lint, test, explain, diff and report the policy bundle."`
	Serve      serveCmd      `cmd:"" help:"Run one party's HTTP API."`
	Signal     signalCmd     `cmd:"" help:"Flag accounts to the other party and work its flags (a trust and safety key)."`
}

// version and commit are set at build time (make build passes
// -ldflags "-X main.version=... -X main.commit=..."); else they come from
// the build information Go records.
var version, commit string

// versionString names the build: version and commit.
func versionString() string {
	v, c, dirty := version, commit, false
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v == "" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch {
			case s.Key == "vcs.revision" && c == "":
				c = s.Value
			case s.Key == "vcs.modified" && commit == "":
				dirty = s.Value == "true"
			}
		}
	}
	if c == "" {
		c = "unknown"
	}
	if v == "" {
		v = "(devel)"
	}
	if dirty {
		c += " (modified)"
	}
	return fmt.Sprintf("linkd %s, commit %s", v, c)
}

func main() {
	os.Exit(run(&env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}, os.Args[1:]))
}

// exited carries an exit code from kong's exit hook (after --help or
// --version) out of the parse.
type exited int

// exitCode is a command's result: the code, its message already written.
type exitCode int

func (c exitCode) Error() string { return fmt.Sprintf("exit status %d", int(c)) }

// newParser is linkd's command line parser writing to e.
func newParser(e *env, c *cli) (*kong.Kong, error) {
	return kong.New(c,
		kong.Name("linkd"),
		kong.Description("linkd links the accounts of two services by their users' phone numbers through private set intersection, "+
			"for advertisers' audiences and trust and safety signals, without a number reaching the other side."),
		kong.Writers(e.stdout, e.stderr),
		kong.Exit(func(code int) { panic(exited(code)) }),
		kong.Vars{"version": versionString()},
		kong.ConfigureHelp(kong.HelpOptions{Compact: true, NoExpandSubcommands: true, WrapUpperBound: 100}),
		kong.Bind(e),
		kong.Resolvers(envResolver{e}),
	)
}

func run(e *env, args []string) (code int) {
	var c cli
	parser, err := newParser(e, &c)
	if err != nil {
		fmt.Fprintf(e.stderr, "linkd: %v\n", err)
		return exitInput
	}
	defer func() {
		if r := recover(); r != nil {
			x, ok := r.(exited)
			if !ok {
				panic(r)
			}
			code = int(x)
		}
	}()
	kongplete.Complete(parser, kongplete.WithExitFunc(func(code int) { panic(exited(code)) }))
	if len(args) == 0 {
		// The overview, on stderr: a command is missing.
		toStderr := *e
		toStderr.stdout = e.stderr
		func() {
			defer func() { _ = recover() }()
			if p, err := newParser(&toStderr, &c); err == nil {
				_, _ = p.Parse([]string{"--help"})
			}
		}()
		return exitUsage
	}
	ctx, err := parser.Parse(args)
	if err != nil {
		var pe *kong.ParseError
		cmd := "linkd"
		if errors.As(err, &pe) && pe.Context != nil {
			if p := pe.Context.Command(); p != "" {
				cmd += " " + commandPath(p)
			}
		}
		fmt.Fprintf(e.stderr, "%s: %v\nRun '%s --help' for usage.\n", cmd, err, cmd)
		return exitUsage
	}
	err = ctx.Run()
	var ec exitCode
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ec):
		return int(ec)
	}
	fmt.Fprintf(e.stderr, "linkd %s: %v\n", commandPath(ctx.Command()), err)
	return exitInput
}

// commandPath is kong's command ("audience upload <file>") without its
// arguments.
func commandPath(cmd string) string {
	var words []string
	for _, w := range strings.Fields(cmd) {
		if !strings.HasPrefix(w, "<") {
			words = append(words, w)
		}
	}
	return strings.Join(words, " ")
}

// envResolver takes a flag's value, when the command line has none, from
// the environment variable its env tag names, read through e (kong reads
// the process's environment; tests give each run its own).
type envResolver struct{ e *env }

func (envResolver) Validate(*kong.Application) error { return nil }

func (r envResolver) Resolve(_ *kong.Context, _ *kong.Path, f *kong.Flag) (any, error) {
	for _, name := range f.Tag.Envs {
		if v := r.e.getenv(name); v != "" {
			return v, nil
		}
	}
	return nil, nil
}

// usage reports a usage problem found after parsing: what, and where the
// command's help is.
func usage(e *env, cmd, format string, args ...any) error {
	fmt.Fprintf(e.stderr, "linkd %s: %s\nRun 'linkd %s --help' for usage.\n", cmd, fmt.Sprintf(format, args...), cmd)
	return exitCode(exitUsage)
}

// failed reports a command's failure and returns exit status 1.
func failed(e *env, cmd, format string, args ...any) error {
	fmt.Fprintf(e.stderr, "linkd %s: %s\n", cmd, fmt.Sprintf(format, args...))
	return exitCode(exitInput)
}

// done turns an old-style exit code into a command's result.
func done(code int) error {
	if code == exitOK {
		return nil
	}
	return exitCode(code)
}

// completionCmd prints what a shell needs to complete linkd: the shell
// asks linkd itself (COMP_LINE), so the completions follow the binary.
type completionCmd struct {
	Shell string `arg:"" enum:"bash,zsh,fish" help:"The shell: bash, zsh or fish."`
}

func (c *completionCmd) Help() string {
	return `Prints the line that makes the shell ask linkd for completions of its commands,
flags and their values. Add it to the shell's start-up file, for example:

  echo "$(linkd completion bash)" >> ~/.bashrc`
}

func (c *completionCmd) Run(e *env) error {
	bin, err := os.Executable()
	if err != nil || strings.Contains(bin, "'") {
		bin = "linkd"
	}
	switch c.Shell {
	case "bash":
		fmt.Fprintf(e.stdout, "complete -C '%s' linkd\n", bin)
	case "zsh":
		fmt.Fprintf(e.stdout, "autoload -U +X bashcompinit && bashcompinit\ncomplete -o nospace -C '%s' linkd\n", bin)
	case "fish":
		fmt.Fprintf(e.stdout, "function __complete_linkd\n    set -lx COMP_LINE (commandline -cp)\n    test -z (commandline -ct)\n    and set COMP_LINE \"$COMP_LINE \"\n    '%s'\nend\ncomplete -f -c linkd -a '(__complete_linkd)'\n", bin)
	}
	return nil
}
