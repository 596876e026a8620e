package pgtemp

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	neturl "net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5"
)

// A throwaway server answers on its socket only, takes a database, runs
// as someone other than root, and leaves nothing behind once stopped.
func TestStartStop(t *testing.T) {
	if _, err := Bin(); errors.Is(err, ErrNoPostgres) && os.Getenv("CI") == "" {
		t.Skip(err)
	}
	ctx := context.Background()
	s, err := Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	url, err := s.CreateDatabase(ctx, "linkd_x")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	var db string
	var superuser bool
	if err := conn.QueryRow(ctx, `SELECT current_database(), rolsuper FROM pg_roles WHERE rolname = current_user`).Scan(&db, &superuser); err != nil || db != "linkd_x" || !superuser {
		t.Fatalf("connected to %q as superuser %v: %v", db, superuser, err)
	}
	// The superuser needs the password only URL holds.
	u, _ := neturl.Parse(url)
	u.User = neturl.User("postgres")
	if c, err := pgx.Connect(ctx, u.String()); err == nil {
		c.Close(ctx)
		t.Fatal("the superuser logged in without the password")
	}
	// No TCP port: only the socket in the server's own directory.
	var listen string
	if err := conn.QueryRow(ctx, `SHOW listen_addresses`).Scan(&listen); err != nil || listen != "" {
		t.Fatalf("listen_addresses = %q, %v; want none", listen, err)
	}
	conn.Close(ctx)
	// Run by root, the cluster belongs to an unprivileged user.
	fi, err := os.Stat(s.dir)
	if err != nil {
		t.Fatal(err)
	}
	if uid := fi.Sys().(*syscall.Stat_t).Uid; uid != uint32(os.Geteuid()) && os.Geteuid() != 0 || os.Geteuid() == 0 && uid == 0 {
		t.Fatalf("the cluster's directory belongs to uid %d, run by uid %d", uid, os.Geteuid())
	}
	dir := s.dir
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("the cluster's directory is left: %v", err)
	}
	if _, err := pgx.Connect(ctx, url); err == nil {
		t.Fatal("the server still answers after Stop")
	}
	if err := s.Stop(); err != nil {
		t.Fatalf("Stop again: %v", err)
	}
}

// TestMain runs, when PGTEMP_TEST_FETCH names a repository, a fetch into
// PGTEMP_TEST_CACHE and a server from what it fetched, and exits: the
// part of TestFetch that must run as an unprivileged user when the tests
// run as root.
func TestMain(m *testing.M) {
	if repo := os.Getenv("PGTEMP_TEST_FETCH"); repo != "" {
		bin, err := fetchAndServe(repo, os.Getenv("PGTEMP_TEST_CACHE"))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Print(bin)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// fetchAndServe fetches into cache from repo and asks a server started
// from the fetched programs a question.
func fetchAndServe(repo, cache string) (string, error) {
	ctx := context.Background()
	bin, err := Fetch(ctx, repo, cache)
	if err != nil {
		return "", err
	}
	s, err := StartBin(ctx, bin)
	if err != nil {
		return "", err
	}
	defer s.Stop()
	conn, err := pgx.Connect(ctx, s.URL)
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	var one int
	if err := conn.QueryRow(ctx, `SELECT 1`).Scan(&one); err != nil || one != 1 {
		return "", fmt.Errorf("the fetched server answered %d, %v", one, err)
	}
	return bin, nil
}

// On a machine without PostgreSQL's programs, Start fetches them. Here a
// Maven repository of the test's own serves this machine's programs
// packaged as the zonky project packages its binaries (a jar holding a
// .txz of bin/) with the jar's SHA-256. Fetch unpacks them into the cache
// once and a server runs from there; a second fetch needs no repository;
// a fetch cut short is done again; a jar that does not match its
// checksum, a repository without it, a cache others may write to, and a
// fetch by root are refused with an error that says so. Run as root, the
// fetches run as "nobody".
func TestFetch(t *testing.T) {
	sys, err := Bin()
	if errors.Is(err, ErrNoPostgres) && os.Getenv("CI") == "" {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	jar := fakeJar(t, sys)
	sum := sha256.Sum256(jar)
	var fetched atomic.Int32
	var badSum atomic.Bool
	repo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasSuffix(r.URL.Path, ".jar"):
			fetched.Add(1)
			_, _ = w.Write(jar)
		case strings.HasSuffix(r.URL.Path, ".jar.sha256") && badSum.Load():
			_, _ = w.Write([]byte(strings.Repeat("0", 64)))
		case strings.HasSuffix(r.URL.Path, ".jar.sha256"):
			_, _ = w.Write([]byte(hex.EncodeToString(sum[:])))
		default:
			http.NotFound(w, r)
		}
	}))
	defer repo.Close()

	// Where the fetches run: here, or, for root, in this test binary run
	// as nobody, with a cache of nobody's.
	root := os.Geteuid() == 0
	top, err := os.MkdirTemp("", "pgtemp-fetch-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(top)
	if err := os.Chmod(top, 0o755); err != nil {
		t.Fatal(err)
	}
	var cred *syscall.Credential
	exe := ""
	if root {
		u, err := user.Lookup("nobody")
		if err != nil {
			t.Fatal(err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		self, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(self)
		if err != nil {
			t.Fatal(err)
		}
		exe = filepath.Join(top, "pgtemp.test")
		if err := os.WriteFile(exe, b, 0o755); err != nil {
			t.Fatal(err)
		}
		if _, err := Fetch(context.Background(), repo.URL, filepath.Join(top, "roots")); err == nil || !strings.Contains(err.Error(), "root") {
			t.Fatalf("a fetch by root: %v", err)
		}
	}
	newCache := func(name string) string {
		t.Helper()
		c := filepath.Join(top, name)
		if err := os.Mkdir(c, 0o700); err != nil {
			t.Fatal(err)
		}
		if cred != nil {
			if err := os.Chown(c, int(cred.Uid), int(cred.Gid)); err != nil {
				t.Fatal(err)
			}
		}
		return c
	}
	fetch := func(repoURL, cache string) (string, error) {
		t.Helper()
		if !root {
			return fetchAndServe(repoURL, cache)
		}
		cmd := exec.Command(exe, "-test.run=^$")
		cmd.Env = append(os.Environ(), "PGTEMP_TEST_FETCH="+repoURL, "PGTEMP_TEST_CACHE="+cache, "HOME="+cache)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		var out, errs bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errs
		if err := cmd.Run(); err != nil {
			return "", fmt.Errorf("%v: %s", err, errs.String())
		}
		return out.String(), nil
	}

	cache := newCache("cache")
	bin, err := fetch(repo.URL, cache)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(bin, cache+string(filepath.Separator)) || fetched.Load() != 1 {
		t.Fatalf("programs at %s, %d downloads; want under %s, one download", bin, fetched.Load(), cache)
	}
	// From the cache, without the repository.
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	if again, err := fetch(gone.URL, cache); err != nil || again != bin {
		t.Fatalf("second fetch: %s, %v; want %s from the cache", again, err, bin)
	}
	// A fetch cut short (no marker, something half unpacked) is unpacked
	// again, from the archive the library keeps once it has checked it.
	if err := os.Remove(filepath.Join(filepath.Dir(bin), fetchedMarker)); err != nil {
		t.Fatal(err)
	}
	half := filepath.Join(bin, "half-unpacked")
	if err := os.WriteFile(half, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if again, err := fetch(repo.URL, cache); err != nil || again != bin {
		t.Fatalf("after a fetch cut short: %s, %v", again, err)
	}
	if _, err := os.Stat(half); !os.IsNotExist(err) {
		t.Fatalf("a fetch cut short was taken as it was: %v", err)
	}
	// A cache others may write to is refused.
	if err := os.Chmod(cache, 0o777); err != nil {
		t.Fatal(err)
	}
	if _, err := fetch(repo.URL, cache); err == nil || !strings.Contains(err.Error(), "not safe") {
		t.Fatalf("a cache others may write to: %v", err)
	}
	badSum.Store(true)
	if _, err := fetch(repo.URL, newCache("bad-sum")); err == nil || !strings.Contains(err.Error(), "checksum") {
		t.Fatalf("a jar that does not match its checksum: %v", err)
	}
	empty := httptest.NewServer(http.NotFoundHandler())
	defer empty.Close()
	if _, err := fetch(empty.URL, newCache("empty")); err == nil || !strings.Contains(err.Error(), "fetching PostgreSQL") {
		t.Fatalf("a repository without the binaries: %v", err)
	}
}

// fakeJar packages initdb, postgres and pg_ctl of the directory sys as
// the zonky project's jars hold its binaries. (The server finds its
// share files where this machine's build put them.)
func fakeJar(t *testing.T, sys string) []byte {
	t.Helper()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"initdb", "postgres", "pg_ctl"} {
		b, err := os.ReadFile(filepath.Join(sys, p))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "bin", p), b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// The server looks for its modules in lib beside bin: a link to the
	// machine's, as the archive would carry them.
	real, err := filepath.EvalSymlinks(filepath.Join(sys, "postgres"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(filepath.Dir(filepath.Dir(real)), "lib"), filepath.Join(dir, "lib")); err != nil {
		t.Fatal(err)
	}
	txz := filepath.Join(t.TempDir(), "postgres-linux.txz")
	tar := exec.Command("tar", "-C", dir, "-cJf", txz, "bin", "lib")
	tar.Env = append(os.Environ(), "XZ_OPT=-0")
	if out, err := tar.CombinedOutput(); err != nil {
		t.Fatalf("tar: %v: %s", err, out)
	}
	b, err := os.ReadFile(txz)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.CreateHeader(&zip.FileHeader{Name: "postgres-linux-x86_64.txz", Method: zip.Store})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
