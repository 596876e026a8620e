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
	mu       sync.Mutex
	window   time.Time
	fails    map[string]int
	inflight map[string]int // authentications under way, across windows
}

// maxThrottled bounds the addresses a window remembers: past it, the
// addresses with the fewest failures are forgotten, never the ones at the
// limit.
const maxThrottled = 100000

// maxFailKept: an address with this many failures is never forgotten
// within its window (the default limit).
const maxFailKept = 20

// clientAddr is the address the connection comes from (not a header a
// client can set); an IPv6 address counts by its /64, which one client
// usually holds whole.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if ip := net.ParseIP(host); ip != nil && ip.To4() == nil {
		return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
	}
	return host
}

func (a *authThrottle) roll(now time.Time) {
	if a.inflight == nil {
		a.inflight = map[string]int{}
	}
	if w := now.Truncate(time.Minute); !w.Equal(a.window) {
		a.window, a.fails = w, map[string]int{}
	}
	for least := 1; len(a.fails) > maxThrottled && least < maxFailKept; least++ {
		for addr, n := range a.fails {
			if n <= least && n < maxFailKept {
				delete(a.fails, addr)
			}
		}
	}
}

// inflightAllowance is how many authentications of one address may be
// under way at once beyond its failures left: a client's concurrency (an
// upload's batches, a link run's) is not slowed, and concurrent bad keys
// cannot all pass the check before any of them fails.
const inflightAllowance = 32

// reserve admits an authentication of addr about to be tried, under one
// lock: refused (with when the window ends) when addr has failed limit
// times this minute, or has as many under way as it has failures left
// plus inflightAllowance. done must be called with the outcome.
func (a *authThrottle) reserve(addr string, limit int, now time.Time) (ok bool, retry time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.roll(now)
	f := a.fails[addr]
	if f >= limit || a.inflight[addr] >= limit-f+inflightAllowance {
		return false, a.window.Add(time.Minute).Sub(now)
	}
	a.inflight[addr]++
	return true, 0
}

// done ends an authentication reserve admitted; failed counts it.
func (a *authThrottle) done(addr string, failed bool, now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.inflight[addr] > 1 {
		a.inflight[addr]--
	} else {
		delete(a.inflight, addr)
	}
	a.roll(now)
	if failed {
		a.fails[addr]++
	}
}

// throttled is the answer to an address over its failures.
func throttled(w http.Header, retry time.Duration) error {
	secs := int64(retry/time.Second) + 1
	w.Set("Retry-After", strconv.FormatInt(secs, 10))
	return newError(http.StatusTooManyRequests, "rate_limited", "too many failed authentications from this address; retry after the window ends",
		map[string]any{"retry_after_seconds": secs})
}
