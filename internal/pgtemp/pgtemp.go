// Package pgtemp runs a throwaway PostgreSQL server: a cluster created by
// initdb in a temporary directory, served on a Unix socket in that
// directory only (no TCP port, so no other user of the machine reaches
// it: the directory is the server user's alone), removed with everything
// in it by Stop. linkd dev runs on one, and so do the tests
// when no server answers at TEST_DATABASE_URL.
//
// It runs PostgreSQL's server programs (initdb and postgres) of the
// machine: on PATH, or where the usual distributions put them (see Bin).
// On a machine without them, Start fetches the official binaries once
// into a cache directory (see Fetch) and runs those.
// PostgreSQL refuses to run as root; started by root, the server runs as
// the "postgres" user if there is one, else as "nobody". Its superuser
// has a random password held only in URL, so that other processes of
// that user cannot log in as it; other roles log in without one. On
// Linux the kernel stops the server if the process that started it dies
// without Stop (its directory then stays behind).
//
// The server is tuned for throwaway data: fsync, full-page writes and
// synchronous commit are off, so a crash of the machine may lose or
// corrupt it. Never point anything worth keeping at it.
package pgtemp

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// Server is a running throwaway server.
type Server struct {
	dir  string
	cmd  *exec.Cmd
	done chan struct{} // closed when the server process has exited
	// URL reaches the server's postgres database as its superuser,
	// "postgres", over the server's socket, without a password.
	URL string
}

// ErrNoPostgres is Start's error on a machine without PostgreSQL's
// server programs.
var ErrNoPostgres = errors.New("pgtemp: PostgreSQL's server programs (initdb, postgres) are not on this machine, nor could they be fetched: install PostgreSQL's server package, or give a database URL")

// searched are the directories, other than PATH, where distributions
// install PostgreSQL's server programs: Debian and Ubuntu, Red Hat's
// packages, source builds and Homebrew. The newest version found wins.
var searched = []string{
	"/usr/lib/postgresql/*/bin",
	"/usr/pgsql-*/bin",
	"/usr/local/pgsql/bin",
	"/opt/homebrew/opt/postgresql@*/bin",
	"/usr/local/opt/postgresql@*/bin",
	"/opt/homebrew/bin",
}

// Bin returns the directory that holds initdb and postgres: the one on
// PATH, else the newest of the usual places.
func Bin() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		dir := filepath.Dir(p)
		if isExec(filepath.Join(dir, "postgres")) {
			return dir, nil
		}
	}
	var found []string
	for _, pattern := range searched {
		dirs, _ := filepath.Glob(pattern)
		for _, d := range dirs {
			if isExec(filepath.Join(d, "initdb")) && isExec(filepath.Join(d, "postgres")) {
				found = append(found, d)
			}
		}
	}
	if len(found) == 0 {
		return "", ErrNoPostgres
	}
	slices.SortStableFunc(found, func(a, b string) int { return version(b) - version(a) })
	return found[0], nil
}

func isExec(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

var versionRE = regexp.MustCompile(`\d+`)

// version is the major version a directory's path names, 0 if none.
func version(dir string) int {
	n, _ := strconv.Atoi(versionRE.FindString(dir))
	return n
}

// Start creates a cluster in a new temporary directory and starts its
// server, from the machine's programs (Bin) or, if it has none, fetched
// ones (Fetch); it waits, up to ctx's deadline or a minute, until the
// server answers. The server is stopped and the directory removed by
// Stop, which the caller must call.
func Start(ctx context.Context) (*Server, error) {
	bin, err := Bin()
	if errors.Is(err, ErrNoPostgres) {
		if bin, err = Fetch(ctx, "", ""); err != nil {
			return nil, fmt.Errorf("%w; %w", ErrNoPostgres, err)
		}
	}
	if err != nil {
		return nil, err
	}
	return StartBin(ctx, bin)
}

// StartBin is Start with the programs of the directory bin.
func StartBin(ctx context.Context, bin string) (*Server, error) {
	cred, err := runAs()
	if err != nil {
		return nil, err
	}
	// The server's user must reach its directory: under a temporary
	// directory only root may enter, the cluster goes to /tmp.
	parent := os.TempDir()
	if cred != nil && !reachable(parent) {
		parent = "/tmp"
	}
	dir, err := os.MkdirTemp(parent, "linkd-pg-")
	if err != nil {
		return nil, fmt.Errorf("pgtemp: %w", err)
	}
	s := &Server{dir: dir, done: make(chan struct{})}
	if err := s.start(ctx, bin, cred); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

func (s *Server) start(ctx context.Context, bin string, cred *syscall.Credential) error {
	data := filepath.Join(s.dir, "data")
	if cred != nil {
		if err := os.Chown(s.dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return fmt.Errorf("pgtemp: handing %s to the server's user: %w", s.dir, err)
		}
	}
	// The superuser has a password of the moment, given to initdb on
	// its standard input and kept only in URL: whoever else runs as the
	// server's user (the machine's own PostgreSQL, say) cannot log in as
	// it. Other roles (the tests' own) log in without one.
	var pw [24]byte
	if _, err := rand.Read(pw[:]); err != nil {
		return fmt.Errorf("pgtemp: %w", err)
	}
	password := hex.EncodeToString(pw[:])
	initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "--pgdata", data, "--username", "postgres",
		"--pwfile", "/dev/stdin", "--auth", "trust", "--encoding", "UTF8", "--locale", "C", "--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	initdb.Dir = s.dir
	// A pipe, the server's user's to open (initdb opens its path).
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("pgtemp: %w", err)
	}
	defer r.Close()
	if cred != nil {
		if err := r.Chown(int(cred.Uid), int(cred.Gid)); err != nil {
			w.Close()
			return fmt.Errorf("pgtemp: %w", err)
		}
	}
	go func() {
		_, _ = w.WriteString(password + "\n")
		w.Close()
	}()
	initdb.Stdin = r
	if out, err := initdb.CombinedOutput(); err != nil {
		return fmt.Errorf("pgtemp: initdb: %w: %s", err, lastLines(string(out), 5))
	}
	hba := "local all postgres scram-sha-256\nlocal all all trust\n"
	if err := os.WriteFile(filepath.Join(data, "pg_hba.conf"), []byte(hba), 0o600); err != nil {
		return fmt.Errorf("pgtemp: %w", err)
	}
	const port = 5432 // names the socket file; no TCP port is opened
	logPath := filepath.Join(s.dir, "server.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return fmt.Errorf("pgtemp: %w", err)
	}
	defer logFile.Close()
	if cred != nil {
		if err := logFile.Chown(int(cred.Uid), int(cred.Gid)); err != nil {
			return fmt.Errorf("pgtemp: %w", err)
		}
	}
	s.cmd = exec.Command(filepath.Join(bin, "postgres"), "-D", data, "-p", strconv.Itoa(port),
		"-c", "listen_addresses=", "-c", "unix_socket_directories="+s.dir, "-c", "unix_socket_permissions=0700",
		"-c", "fsync=off", "-c", "full_page_writes=off", "-c", "synchronous_commit=off",
		"-c", "max_connections=200")
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true}
	stopWithParent(s.cmd.SysProcAttr)
	s.cmd.Dir = s.dir
	s.cmd.Stdout, s.cmd.Stderr = logFile, logFile
	started := make(chan error, 1)
	go func() {
		// The server is told to stop when the thread that started it
		// ends (stopWithParent): that thread is this goroutine's until
		// the server has exited.
		runtime.LockOSThread()
		err := s.cmd.Start()
		started <- err
		if err == nil {
			_ = s.cmd.Wait()
		}
		close(s.done)
	}()
	if err := <-started; err != nil {
		return fmt.Errorf("pgtemp: starting postgres: %w", err)
	}
	s.URL = fmt.Sprintf("postgres://postgres:%s@/postgres?host=%s&port=%d&sslmode=disable", password, url.QueryEscape(s.dir), port)
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		conn, err := pgx.Connect(ctx, s.URL)
		if err == nil {
			conn.Close(ctx)
			return nil
		}
		select {
		case <-s.done:
			log, _ := os.ReadFile(logPath)
			return fmt.Errorf("pgtemp: postgres stopped at start: %s", lastLines(string(log), 5))
		case <-ctx.Done():
			return fmt.Errorf("pgtemp: postgres did not answer: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// runAs is the user the server runs as: none (this process's) unless
// this process is root.
func runAs() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err1 == nil && err2 == nil && uid != 0 {
			return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
		}
	}
	return nil, errors.New(`pgtemp: PostgreSQL will not run as root, and this machine has neither a "postgres" nor a "nobody" user to run it as`)
}

// reachable says whether any user may pass through dir and each
// directory above it.
func reachable(dir string) bool {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return false
	}
	for {
		fi, err := os.Stat(dir)
		if err != nil || fi.Mode().Perm()&0o001 == 0 {
			return false
		}
		up := filepath.Dir(dir)
		if up == dir {
			return true
		}
		dir = up
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// Stop stops the server (a fast shutdown, then a kill after ten
// seconds) and removes its directory. It may be called more than once.
func (s *Server) Stop() error {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
			<-s.done
		}
	}
	return os.RemoveAll(s.dir)
}

// CreateDatabase creates database name on the server, owned by its
// superuser, and returns its URL.
func (s *Server) CreateDatabase(ctx context.Context, name string) (string, error) {
	conn, err := pgx.Connect(ctx, s.URL)
	if err != nil {
		return "", fmt.Errorf("pgtemp: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", fmt.Errorf("pgtemp: creating database %s: %w", name, err)
	}
	return strings.Replace(s.URL, "@/postgres?", "@/"+url.PathEscape(name)+"?", 1), nil
}
