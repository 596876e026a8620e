// Package parallel splits a batch of independent group operations across
// the machine's cores.
package parallel

import (
	"runtime"
	"sync"
)

// minChunk is the least work given to one goroutine: below it, starting the
// goroutine costs more than the group operations it would run (one
// ristretto255 scalar multiplication is tens of microseconds).
const minChunk = 16

// For calls fn on disjoint ranges [lo, hi) that together cover [0, n),
// on up to GOMAXPROCS goroutines, and returns when all calls have.
func For(n int, fn func(lo, hi int)) {
	workers := min(runtime.GOMAXPROCS(0), (n+minChunk-1)/minChunk)
	if workers <= 1 {
		if n > 0 {
			fn(0, n)
		}
		return
	}
	var wg sync.WaitGroup
	for w := range workers {
		lo, hi := w*n/workers, (w+1)*n/workers
		wg.Go(func() { fn(lo, hi) })
	}
	wg.Wait()
}
