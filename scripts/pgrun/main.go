// Command pgrun runs a command with TEST_DATABASE_URL naming a PostgreSQL
// server that answers: the one it names already, if it answers, else a
// throwaway server (package pgtemp) that pgrun starts for the command and
// removes when the command ends. make test runs through it, so that the
// database tests run on a machine without a PostgreSQL service.
//
//	go run ./scripts/pgrun COMMAND [ARG...]
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/linkd/linkd/internal/pgtemp"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: pgrun COMMAND [ARG...]")
		os.Exit(2)
	}
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT)
	defer stop()
	url := os.Getenv("TEST_DATABASE_URL")
	if url == "" || !answers(ctx, url) {
		fmt.Fprintln(os.Stderr, "pgrun: no PostgreSQL server answers at TEST_DATABASE_URL: starting a throwaway one")
		pg, err := pgtemp.Start(ctx)
		if err != nil {
			fmt.Fprintf(os.Stderr, "pgrun: %v\n", err)
			return 1
		}
		defer pg.Stop()
		// The tests' database: as TEST_DATABASE_URL's default names it.
		if url, err = pg.CreateDatabase(ctx, "test"); err != nil {
			fmt.Fprintf(os.Stderr, "pgrun: %v\n", err)
			return 1
		}
		os.Setenv("TEST_DATABASE_URL", url)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "pgrun: %v\n", err)
		return 1
	}
	// What stops pgrun stops the command first (Ctrl-C reaches both
	// from the terminal), then the server.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT)
	defer signal.Stop(sigs)
	go func() {
		for sig := range sigs {
			_ = cmd.Process.Signal(sig)
		}
	}()
	if err := cmd.Wait(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return max(exit.ExitCode(), 1)
		}
		fmt.Fprintf(os.Stderr, "pgrun: %v\n", err)
		return 1
	}
	return 0
}

// answers says whether a server accepts a connection at url within five
// seconds.
func answers(ctx context.Context, url string) bool {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return false
	}
	conn.Close(ctx)
	return true
}
