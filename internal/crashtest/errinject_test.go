package crashtest

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

// errnos are the injected errors and how the kernel words them.
var errnos = []struct{ name, text string }{
	{"ENOSPC", "no space left on device"},
	{"EROFS", "read-only file system"},
	{"EIO", "input/output error"},
}

// TestInjectedErrors makes every point of each command that can fail
// return ENOSPC, EROFS or EIO in turn (BSI_FAULT_ERR_AT): the command must
// exit 1 (operational, not security or freshness) with a message naming
// the cause and a file, and remove what spec.undone names before it
// returns; then bed.after holds as for a kill: the state is old or new
// (after the read command, which recovers what an operation left in its
// journal when its own undo could not finish) and the next run, the fault
// lifted, succeeds and gives NEW.
func TestInjectedErrors(t *testing.T) {
	t.Parallel()
	f := getFixture(t)
	var total atomic.Int64
	t.Run("cmd", func(t *testing.T) {
		for _, s := range specs() {
			t.Run(strings.ReplaceAll(s.name, " ", "_"), func(t *testing.T) {
				skipBug(t, s)
				t.Parallel()
				n := injectEveryPoint(t, f, s)
				total.Add(int64(n))
				t.Logf("%s: %d injected errors", s.name, n)
			})
		}
	})
	t.Logf("total: %d injected errors", total.Load())
}

func injectEveryPoint(t *testing.T, f *fixture, s *spec) int {
	b := newBed(t, f, s)
	n, skipped := 0, 0
	for k := 1; k <= len(b.ops); k++ {
		if !b.checked[k-1] {
			continue
		}
		e := errnos[n%len(errnos)]
		r, op, ok := inject(t, b, k, e.name)
		if !ok {
			skipped++
			continue
		}
		n++
		where := fmt.Sprintf("%s at point %d (%s)", e.name, k, op)
		if r.code != 1 || !strings.Contains(r.stderr, e.text) || !strings.Contains(r.stderr, "/") {
			t.Errorf("%s: want exit 1 and an error naming a file and %q: %s", where, e.text, r)
		}
		if s.undone != nil {
			if left := s.undone(snapshot(t, b.dir)); len(left) > 0 {
				t.Errorf("%s: the command returned its error without removing %v", where, left)
			}
		}
		b.after(where)
	}
	if n == 0 {
		t.Errorf("%s has no point that can fail", s.name)
	}
	t.Logf("%s: %d injected errors, %d reruns; %d points never reached a check in %d tries", s.name, n, b.reruns, skipped, injectTries)
	if skipped > n/4 {
		t.Errorf("%s: %d points never reached a check, %d did", s.name, skipped, n)
	}
	return n
}

// injectTries bounds the runs that try to hit one point with an error.
const injectTries = 4

// inject resets b and runs its command with errno at point k, tracing the
// run: where goroutines reach points concurrently (a workspace syncs
// several files at once) the kth point of a run may be another one than
// in the ordinary trace, and when it is not a check the error is not
// injected. Then it tries again; ok is false when no try injected it.
func inject(t *testing.T, b *bed, k int, errno string) (r result, op string, ok bool) {
	t.Helper()
	trace := filepath.Join(t.TempDir(), "trace")
	for range injectTries {
		b.reset()
		os.Remove(trace)
		r = run(t, []string{fmt.Sprintf("BSI_FAULT_ERR_AT=%d", k), "BSI_FAULT_ERR=" + errno, "BSI_FAULT_TRACE=" + trace},
			b.s.args(b.f, b.dir)...)
		data, err := os.ReadFile(trace)
		if err != nil {
			t.Fatalf("no trace of the run with %s at %d: %v", errno, k, err)
		}
		prefix := strconv.Itoa(k) + " "
		for _, line := range strings.Split(string(data), "\n") {
			if rest, found := strings.CutPrefix(line, prefix); found {
				op, checked := strings.CutSuffix(rest, " error")
				if checked {
					return r, op, true
				}
			}
		}
	}
	return r, "", false
}
