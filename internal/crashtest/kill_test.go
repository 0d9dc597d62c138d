package crashtest

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// spec is one state-changing command under test.
type spec struct {
	name string
	// prepare makes the OLD state at dir.
	prepare func(t *testing.T, f *fixture, dir string)
	args    func(f *fixture, dir string) []string
	// read is the ordinary read command that may recover an interrupted
	// operation.
	read func(dir string) []string
	// follower, when set, makes a check of what others see of dir after
	// a kill (a device following a publish destination), one per worker.
	follower func() func(t *testing.T, dir string)
	// perFile are path prefixes whose files are each checked on their own
	// (see classify).
	perFile []string
	// idempotent: running the command again after it completed succeeds
	// (install --all, publish); add and rollback rightly refuse.
	idempotent bool
	// mid, when set, accepts a committed intermediate state that the next
	// run of the command completes (counted as old).
	mid func(old, new, got tree) bool
	// knownBug names a reported bug that makes some kill points fail; they
	// are logged and counted instead of failing the test.
	knownBug string
}

// clientRead is "bsi client check": "bsi client status" only reads (it
// neither recovers nor removes temporary files, by design: it does not
// wait for a running agent's lock), check recovers and reports.
func clientRead(dir string) []string { return []string{"client", "check", dir} }
func repoRead(dir string) []string   { return []string{"repo", "status", dir} }

// bugWorkspace is the reported bug of trust/repo that the add and publish
// kill points hit.
const bugWorkspace = "trust/repo: Workspace.commit writes role files and workspace.json as separate atomic files " +
	"(a kill between leaves a role listing an improvement that workspace.json does not record, and the next add fails), " +
	"and nothing removes the temporary files of a killed atomicfile.Write in the workspace or a directory destination"

// declinedFirst accepts the state a rollback commits before its journaled
// switch: installed.json already records the decline, the install root is
// untouched. The next rollback (or install --all) finishes the switch.
func declinedFirst(old, new, got tree) bool {
	for p, v := range got {
		if p != "installed.json" && !strings.HasPrefix(p, "cache/") && old[p] != v {
			return false
		}
	}
	var o, n, g map[string]any
	for _, x := range []struct {
		tr tree
		v  *map[string]any
	}{{old, &o}, {new, &n}, {got, &g}} {
		v := x.tr["installed.json"]
		if i := strings.IndexByte(v, '{'); i < 0 || json.Unmarshal([]byte(v[i:]), x.v) != nil {
			return false
		}
	}
	n["installed"] = o["installed"]
	return cmp.Diff(n, g) == ""
}

// specs are the four commands: install (a installed, b offered), rollback
// (b installed, a offered), repo add (b to a workspace with a published)
// and repo publish (b added, not published).
func specs() []*spec {
	return []*spec{
		{
			name: "client install",
			prepare: func(t *testing.T, f *fixture, dir string) {
				f.initDevice(t, dir, f.url)
				must(t, "client", "install", dir, "webkit-26.3-a")
			},
			args:       func(_ *fixture, dir string) []string { return []string{"client", "install", dir, "--all"} },
			read:       clientRead,
			perFile:    []string{"cache/"},
			idempotent: true,
		},
		{
			name: "client rollback",
			prepare: func(t *testing.T, f *fixture, dir string) {
				f.initDevice(t, dir, f.url)
				must(t, "client", "install", dir, "--all")
			},
			args:    func(_ *fixture, dir string) []string { return []string{"client", "rollback", dir, "webkit-26.3-b"} },
			read:    clientRead,
			perFile: []string{"cache/"},
			mid:     declinedFirst,
		},
		{
			name:    "repo add",
			prepare: func(t *testing.T, f *fixture, dir string) { copyTree(t, f.wsA, dir) },
			args:    func(f *fixture, dir string) []string { return f.addArgs(dir) },
			read:    repoRead,
			// Content is addressed by its hash and written before any role
			// lists it: a blob nothing lists yet is reused by the next add.
			perFile:  []string{"content/"},
			knownBug: bugWorkspace,
		},
		publishSpec(),
	}
}

// publishSpec is "bsi repo publish WS" to WS/public, followed by a device
// that trusted the old repository: after every kill it must verify what
// the destination holds.
func publishSpec() *spec {
	return &spec{
		name:    "repo publish",
		prepare: func(t *testing.T, f *fixture, dir string) { copyTree(t, f.wsAdded, dir) },
		args:    func(_ *fixture, dir string) []string { return []string{"repo", "publish", dir} },
		read:    repoRead,
		// Payloads, versioned roles and N.root.json go out first; only
		// timestamp.json (and root.json) make them visible, and the device
		// in follow checks what a client sees.
		perFile:    []string{"public/"},
		idempotent: true,
		knownBug:   bugWorkspace,
		follower:   newFollower,
	}
}

// newFollower returns a check that a device which trusted the old
// repository verifies what WS/public holds.
func newFollower() func(t *testing.T, dir string) {
	var (
		sw     swapHandler
		f      *fixture
		dev    string // the device state, reset from devOld before each check
		devOld string
		ready  atomic.Bool
	)
	return func(t *testing.T, dir string) {
		t.Helper()
		if !ready.Load() {
			f = getFixture(t)
			srv := httptest.NewServer(&sw)
			t.Cleanup(srv.Close)
			work := workDir(t)
			dev, devOld = filepath.Join(work, "dev"), filepath.Join(work, "devOld")
			sw.serveDir(t, filepath.Join(f.wsA, "public"))
			f.initDevice(t, dev, srv.URL)
			must(t, "client", "check", dev)
			copyTree(t, dev, devOld)
			ready.Store(true)
		}
		reset(t, devOld, dev)
		sw.serveDir(t, filepath.Join(dir, "public"))
		r := run(t, nil, "client", "check", dev)
		if r.code != 0 {
			t.Errorf("a device following the destination does not verify it: %s", r)
		}
	}
}

func TestKillPoints(t *testing.T) {
	f := getFixture(t)
	var total atomic.Int64
	t.Run("cmd", func(t *testing.T) {
		for _, s := range specs() {
			for w := range workers {
				t.Run(fmt.Sprintf("%s/%d", strings.ReplaceAll(s.name, " ", "_"), w), func(t *testing.T) {
					t.Parallel()
					n, all := killEveryPoint(t, f, s, w)
					total.Add(int64(n))
					t.Logf("%s: worker %d: %d of %d kill points survived", s.name, w, n, all)
				})
			}
		}
	})
	t.Logf("total: %d kill points", total.Load())
	if !t.Failed() && total.Load() < 200 {
		t.Errorf("only %d kill points across the four commands, want at least 200", total.Load())
	}
}

// workers is how many sets of kill points of one command run side by
// side, each in its own directory (the states hold their own path).
const workers = 2

// killEveryPoint runs s once ordinarily to count its points and get NEW,
// then once per point k with BSI_FAULT_KILL_AT (the points with
// k%workers == worker), checking each outcome. It returns the number of
// points it killed at and the number of points of the command.
func killEveryPoint(t *testing.T, f *fixture, s *spec, worker int) (int, int) {
	work := workDir(t)
	dir, oldCopy := filepath.Join(work, "state"), filepath.Join(work, "old")
	s.prepare(t, f, dir)
	copyTree(t, dir, oldCopy)
	oldTree := snapshot(t, dir)
	ops, _ := tracePoints(t, s.args(f, dir)...)
	newTree := snapshot(t, dir)
	if diff(oldTree, newTree) == "" {
		t.Fatalf("%s changed nothing", s.name)
	}
	if tmp := newTree.temps(); len(tmp) > 0 {
		t.Fatalf("%s left temporary files in an ordinary run: %v", s.name, tmp)
	}
	var follow func(*testing.T, string)
	if s.follower != nil {
		follow = s.follower()
		follow(t, dir)
	}
	known, n := 0, 0
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
		if k%workers != worker {
			continue
		}
		n++
		where := fmt.Sprintf("killed at point %d (%s)", k, ops[k-1])
		reset(t, oldCopy, dir)
		r := run(t, []string{fmt.Sprintf("BSI_FAULT_KILL_AT=%d", k)}, s.args(f, dir)...)
		if !r.killed {
			t.Errorf("%s: not killed: %s", where, r)
			continue
		}
		got := snapshot(t, dir)
		st := s.classify(oldTree, newTree, got)
		if st == torn || len(got.temps()) > 0 {
			run(t, nil, s.read(dir)...)
			got = snapshot(t, dir)
			if st = s.classify(oldTree, newTree, got); st == torn || len(got.temps()) > 0 {
				fail("%s: after %q the state is neither old nor new (temporary files: %v);\nold→got:\n%s\nnew→got:\n%s",
					where, strings.Join(s.read(dir), " "), got.temps(), s.diff(oldTree, got), s.diff(newTree, got))
			}
		}
		if follow != nil {
			follow(t, dir)
		}
		if st == isNew && !s.idempotent {
			continue // done: running it again is rightly refused
		}
		if r := run(t, nil, s.args(f, dir)...); r.code != 0 {
			fail("%s: the next run fails: %s", where, r)
			continue
		}
		if got := snapshot(t, dir); s.classify(oldTree, newTree, got) != isNew || len(got.temps()) > 0 {
			fail("%s: the next run does not give the new state (temporary files: %v):\n%s", where, got.temps(), s.diff(newTree, got))
		}
		if follow != nil {
			follow(t, dir)
		}
	}
	if known > 0 {
		t.Logf("%s: %d of %d kill points hit the known bug: %s", s.name, known, len(ops), s.knownBug)
	}
	return n, len(ops)
}

// outcome is what a state is after a kill.
type outcome int

const (
	torn outcome = iota
	isOld
	isNew
)

// classify compares got with old and new: the paths under s.perFile must
// each be old or new on their own (files nothing points at until the
// atomic step, such as a publish's versioned files or the client's
// verified payload cache), everything else must be old or new as a whole.
func (s *spec) classify(old, new, got tree) outcome {
	for p, v := range got {
		if s.isPerFile(p) && v != old[p] && v != new[p] {
			return torn
		}
	}
	for p, v := range old {
		if s.isPerFile(p) && got[p] != v && got[p] != new[p] {
			return torn
		}
	}
	g := s.whole(got)
	switch {
	case diff(s.whole(new), g) == "":
		return isNew
	case diff(s.whole(old), g) == "":
		return isOld
	case s.mid != nil && s.mid(old, new, got):
		return isOld
	}
	return torn
}

func (s *spec) isPerFile(p string) bool {
	for _, pre := range s.perFile {
		if strings.HasPrefix(p, pre) {
			return true
		}
	}
	return false
}

// whole is tr without the per-file paths.
func (s *spec) whole(tr tree) tree {
	out := tree{}
	for p, v := range tr {
		if !s.isPerFile(p) {
			out[p] = v
		}
	}
	return out
}

// diff shows how got differs from want outside the per-file paths.
func (s *spec) diff(want, got tree) string { return diff(s.whole(want), s.whole(got)) }
