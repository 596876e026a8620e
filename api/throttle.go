package api

import (
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// authThrottle counts failed authentications per client address in
// fixed one-minute windows, in this process: past the limit, requests
// from that address are refused before their key is looked up, so that
// guessing keys costs no database work and goes slowly.
type authThrottle struct {
	mu     sync.Mutex
	window time.Time
	fails  map[string]int
}

// maxThrottled bounds the addresses a window remembers: past it the
// window starts over (an attacker with that many addresses is not slowed
// by a per-address count anyway).
const maxThrottled = 100000

// clientAddr is the address the connection comes from (not a header a
// client can set).
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func (a *authThrottle) roll(now time.Time) {
	if w := now.Truncate(time.Minute); !w.Equal(a.window) || len(a.fails) > maxThrottled {
		a.window, a.fails = w, map[string]int{}
	}
}

// blocked reports whether addr has failed limit times this minute, and
// when the window ends.
func (a *authThrottle) blocked(addr string, limit int, now time.Time) (bool, time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.roll(now)
	return a.fails[addr] >= limit, a.window.Add(time.Minute).Sub(now)
}

func (a *authThrottle) fail(addr string, now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.roll(now)
	a.fails[addr]++
}

// throttled is the answer to an address over its failures.
func throttled(w http.Header, retry time.Duration) error {
	secs := int64(retry/time.Second) + 1
	w.Set("Retry-After", strconv.FormatInt(secs, 10))
	return newError(http.StatusTooManyRequests, "rate_limited", "too many failed authentications from this address; retry after the window ends",
		map[string]any{"retry_after_seconds": secs})
}
