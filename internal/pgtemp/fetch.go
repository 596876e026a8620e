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
// against its published SHA-256 and unpacks it; later calls find them
// there. cache "" is CacheDir(). Processes fetching at once wait for one
// another.
//
// The library unpacks the binaries only on the way to starting a server
// of its own, so Fetch lets it: run by an unprivileged user, that server
// (on a free loopback port, with a random password, its data in a
// temporary directory) is stopped at once; run by root, it never starts,
// as PostgreSQL refuses root, and the programs are unpacked all the same.
func Fetch(ctx context.Context, repository, cache string) (string, error) {
	if cache == "" {
		cache = CacheDir()
	}
	dest := filepath.Join(cache, string(FetchVersion))
	bin := filepath.Join(dest, "bin")
	if hasPrograms(bin) {
		return bin, nil
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return "", fmt.Errorf("pgtemp: %w", err)
	}
	unlock, err := lock(ctx, filepath.Join(cache, ".lock"))
	if err != nil {
		return "", err
	}
	defer unlock()
	if hasPrograms(bin) {
		return bin, nil
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
		RuntimePath(runtime).DataPath(filepath.Join(runtime, "data")).Logger(io.Discard)
	if repository != "" {
		cfg = cfg.BinaryRepositoryURL(repository)
	}
	db := embeddedpostgres.NewDatabase(cfg)
	startErr := db.Start()
	if startErr == nil {
		_ = db.Stop()
	}
	if hasPrograms(bin) {
		return bin, nil
	}
	if startErr == nil {
		startErr = errors.New("the archive holds no bin/initdb and bin/postgres")
	}
	return "", fmt.Errorf("pgtemp: fetching PostgreSQL %s: %w", FetchVersion, startErr)
}

// CacheDir is where Fetch keeps binaries by default: under the user's
// cache directory, or, for root, under /var/cache, which the
// unprivileged user the server then runs as may enter.
func CacheDir() string {
	if os.Geteuid() == 0 {
		return "/var/cache/linkd/postgres"
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "linkd", "postgres")
	}
	return filepath.Join(os.TempDir(), "linkd-postgres")
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
