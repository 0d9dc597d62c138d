package install

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/bsiframework/bsi/internal/gzpool"
)

// TestAttackHostileArchiveShapesNoOtherCheck: gzip and buffered readers
// are reused between archives (gzpool, bufReaders). A publisher or
// mirror whose payload is hostile (a bomb, a truncated or corrupt stream,
// a path escape) must not change how any other archive checked after it,
// or at the same time, is judged: every archive, checked in any order by
// several goroutines sharing the pools, gets the result it gets alone,
// with readers of its own.
func TestAttackHostileArchiveShapesNoOtherCheck(t *testing.T) {
	type archive struct {
		name string
		data []byte
		lim  Limits
	}
	var archives []archive
	for _, h := range hostileArchives() {
		archives = append(archives, archive{h.name, h.data, h.lim})
	}
	for i := range 4 {
		// Good archives of different lengths, so that a reader left
		// pointing at another stream shows.
		body := string(garbage(100 + 3000*i))
		archives = append(archives, archive{fmt.Sprint("good ", i),
			tarBytes(t, true, dir("d/"), file("d/f", body), file(fmt.Sprint("g", i), "x")), Limits{}})
	}
	// What each archive gets alone, with a fresh reader.
	alone := make([]string, len(archives))
	for i, a := range archives {
		gzpool.Drop()
		bufReaders = sync.Pool{}
		alone[i] = judge(ValidateArchive(bytes.NewReader(a.data), a.lim))
	}
	gzpool.Drop()
	bufReaders = sync.Pool{}

	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for w := range 8 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 1))
			for range 300 {
				i := r.IntN(len(archives))
				a := archives[i]
				if got := judge(ValidateArchive(bytes.NewReader(a.data), a.lim)); got != alone[i] {
					select {
					case errs <- fmt.Sprintf("%s: %s, alone: %s", a.name, got, alone[i]):
					default:
					}
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

// judge renders what ValidateArchive returned: the entries, or the problem
// and the entry it blames.
func judge(entries []Entry, err error) string {
	if ae, ok := errors.AsType[*ArchiveError](err); ok {
		return fmt.Sprintf("refused: %s %q", ae.Problem, ae.Entry)
	}
	if err != nil {
		return "error: " + err.Error()
	}
	return "accepted: " + cmp.Diff([]Entry(nil), entries)
}
