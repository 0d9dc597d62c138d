// Package pooltest checks that reusing readers changes no result: each
// input, checked many times from several goroutines sharing the pools in
// a random order, must get what it gets alone with fresh readers. Tests
// only; it imports testing.
package pooltest

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
)

// SameAsAlone runs check(i) for each of n inputs once after fresh(), which
// empties the pools, then rounds times from each of 8 goroutines on
// inputs picked at random, and reports every goroutine's first result
// that differs from the input's result alone. name(i) names input i in
// the report.
func SameAsAlone(t *testing.T, n, rounds int, fresh func(), check func(i int) string, name func(i int) string) {
	t.Helper()
	alone := make([]string, n)
	for i := range n {
		fresh()
		alone[i] = check(i)
	}
	fresh()
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for w := range 8 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), uint64(n)))
			for range rounds {
				i := r.IntN(n)
				if got := check(i); got != alone[i] {
					errs <- fmt.Sprintf("%s: %s, alone: %s", name(i), got, alone[i])
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
