package crashtest

import (
	"fmt"
	"path/filepath"
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
// the cause, leave the state old or new without temporary files, and the
// next run, the fault lifted, must succeed.
func TestInjectedErrors(t *testing.T) {
	f := getFixture(t)
	var total atomic.Int64
	t.Run("cmd", func(t *testing.T) {
		for _, s := range specs() {
			if s.knownBug == "" {
				s.knownBug = bugInstallErrors
			}
			t.Run(strings.ReplaceAll(s.name, " ", "_"), func(t *testing.T) {
				t.Parallel()
				n := injectEveryPoint(t, f, s)
				total.Add(int64(n))
				t.Logf("%s: %d injected errors", s.name, n)
			})
		}
	})
	t.Logf("total: %d injected errors", total.Load())
}

// bugInstallErrors is the reported bug of install and agent that injected
// errors in client install and rollback hit.
const bugInstallErrors = "install/agent: an error returned mid-operation (journal written; extraction, placing, " +
	"switch or journal removal failing) leaves a temporary version directory or a half-done switch until " +
	"a later run recovers it, and for some points (EIO at install.journal.remove, ENOSPC/EROFS at a " +
	"directory sync after the switch) the next run fails too"

func injectEveryPoint(t *testing.T, f *fixture, s *spec) int {
	work := workDir(t)
	dir, oldCopy := filepath.Join(work, "state"), filepath.Join(work, "old")
	s.prepare(t, f, dir)
	copyTree(t, dir, oldCopy)
	oldTree := snapshot(t, dir)
	ops, checked := tracePoints(t, s.args(f, dir)...)
	newTree := snapshot(t, dir)
	n, known := 0, 0
	fail := func(format string, args ...any) {
		t.Helper()
		if s.knownBug != "" {
			known++
			t.Logf("known bug (%s): "+format, append([]any{s.knownBug}, args...)...)
			return
		}
		t.Errorf(format, args...)
	}
	for k := 1; k <= len(ops); k++ {
		if !checked[k-1] {
			continue
		}
		e := errnos[n%len(errnos)]
		n++
		where := fmt.Sprintf("%s at point %d (%s)", e.name, k, ops[k-1])
		reset(t, oldCopy, dir)
		r := run(t, []string{fmt.Sprintf("BSI_FAULT_ERR_AT=%d", k), "BSI_FAULT_ERR=" + e.name}, s.args(f, dir)...)
		if r.code != 1 || !strings.Contains(r.stderr, e.text) || !strings.Contains(r.stderr, "/") {
			fail("%s: want exit 1 and an error naming a file and %q: %s", where, e.text, r)
		}
		got := snapshot(t, dir)
		st := s.classify(oldTree, newTree, got)
		if st == torn || len(got.temps()) > 0 {
			fail("%s: the state is neither old nor new (temporary files: %v);\nold→got:\n%s", where, got.temps(), s.diff(oldTree, got))
		}
		if st == isNew && !s.idempotent {
			continue
		}
		if r := run(t, nil, s.args(f, dir)...); r.code != 0 {
			fail("%s: the next run fails: %s", where, r)
			continue
		}
		if got := snapshot(t, dir); s.classify(oldTree, newTree, got) != isNew || len(got.temps()) > 0 {
			fail("%s: the next run does not give the new state (temporary files: %v):\n%s", where, got.temps(), s.diff(newTree, got))
		}
	}
	if n == 0 {
		t.Errorf("%s has no point that can fail", s.name)
	}
	if known > 0 {
		t.Logf("%s: %d of %d injected errors hit the known bug: %s", s.name, known, n, s.knownBug)
	}
	return n
}
