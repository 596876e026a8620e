package main

import (
	"cmp"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/linkd/linkd/access"
	"github.com/linkd/linkd/api"
	keyring "github.com/linkd/linkd/crypto/keys"
	"github.com/linkd/linkd/internal/pgtest"
	"github.com/linkd/linkd/linking/pseudonym"
	"github.com/linkd/linkd/store"
	"github.com/linkd/linkd/store/storetest"
)

// dbProxy stands between linkd and PostgreSQL and can freeze (accept and
// forward nothing, as a server stopped with SIGSTOP does) or go down
// (close every connection and refuse new ones).
type dbProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	state  string // "up", "frozen", "down"
	conns  []net.Conn
}

func newDBProxy(t *testing.T, target string) *dbProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &dbProxy{ln: ln, target: target, state: "up"}
	t.Cleanup(func() { ln.Close(); p.set("down") })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			state := p.state
			p.conns = append(p.conns, c)
			p.mu.Unlock()
			if state == "down" {
				c.Close()
				continue
			}
			if state == "frozen" {
				continue // held open, never answered
			}
			network := "tcp"
			if strings.HasPrefix(target, "/") {
				network = "unix" // a server on a socket (a throwaway one)
			}
			s, err := net.Dial(network, target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, s)
			p.mu.Unlock()
			go p.pipe(c, s)
			go p.pipe(s, c)
		}
	}()
	return p
}

// pipe copies while the proxy is up; frozen, it holds what it reads.
func (p *dbProxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		for {
			p.mu.Lock()
			state := p.state
			p.mu.Unlock()
			if state != "frozen" {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			dst.Close()
			return
		}
	}
}

func (p *dbProxy) set(state string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.state = state
	if state == "down" || state == "up" {
		for _, c := range p.conns {
			c.Close()
		}
		p.conns = nil
	}
}

// TestDatabaseOutage: with PostgreSQL frozen or down, keyed requests and
// /readyz answer 503 with Retry-After within their deadlines (never hang,
// never 500), and the server recovers when the database does.
func TestDatabaseOutage(t *testing.T) {
	pool, schema := pgtest.Schema(t)
	ctx := context.Background()
	if _, err := store.MigrateUp(ctx, pool); err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(pgtest.AppURL(t, schema))
	q := u.Query()
	target := u.Host
	if dir := q.Get("host"); strings.HasPrefix(dir, "/") {
		port := cmp.Or(q.Get("port"), "5432")
		target = dir + "/.s.PGSQL." + port
		q.Del("host")
		q.Del("port")
	}
	proxy := newDBProxy(t, target)
	u.Host = proxy.ln.Addr().String()
	q.Set("connect_timeout", "1")
	u.RawQuery = q.Encode()
	cfg, err := pgxpool.ParseConfig(u.String())
	if err != nil {
		t.Fatal(err)
	}
	through, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(through.Close)
	st := store.New(through)
	sec, k, _ := access.NewKey("acme", access.RoleAdvertiser, time.Now())
	if err := store.New(pool).CreateAPIKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	ring, _ := keyring.NewRing("social", time.Now())
	d, _ := pseudonym.NewDeriver(ring, 1)
	h := api.New(api.Config{Party: "social", Keys: st, Audit: st, AuditChain: storetest.Chain(t, 1), Usage: st, OPRF: d.OPRF(), Epoch: 1,
		Audiences: audienceService(st, d), RequestTimeout: 2 * time.Second, Ready: func(ctx context.Context) error { return through.Ping(ctx) }})
	srv := httptest.NewServer(h.Handler())
	defer srv.Close()
	get := func(path, key string) (int, http.Header, string, time.Duration) {
		t.Helper()
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		start := time.Now()
		resp, err := (&http.Client{Timeout: 20 * time.Second}).Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v (the request hung)", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(b), time.Since(start)
	}
	want := func(state string) {
		t.Helper()
		for _, c := range []struct {
			path, key string
			within    time.Duration
		}{{"/v1/audiences", sec, 6 * time.Second}, {"/readyz", "", 3 * time.Second}} {
			st, hd, body, took := get(c.path, c.key)
			switch {
			case state == "up" && st != 200:
				t.Errorf("%s, %s: %d %s", state, c.path, st, body)
			case state != "up" && (st != 503 || took > c.within):
				t.Errorf("%s, %s: %d in %v, want 503 within %v: %s", state, c.path, st, took, c.within, body)
			case state != "up" && c.key != "" && (hd.Get("Retry-After") == "" || !strings.Contains(body, `"unavailable"`)):
				t.Errorf("%s, %s: no Retry-After or not unavailable: %v %s", state, c.path, hd, body)
			}
		}
	}
	want("up")
	proxy.set("frozen")
	want("frozen")
	proxy.set("down")
	want("down")
	proxy.set("up")
	// The pool dials again: give it a moment, then all is well.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if st, _, _, _ := get("/v1/audiences", sec); st == 200 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	want("up")
}
