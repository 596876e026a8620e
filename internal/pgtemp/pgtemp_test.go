package pgtemp

import (
	"context"
	"errors"
	neturl "net/url"
	"os"
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
