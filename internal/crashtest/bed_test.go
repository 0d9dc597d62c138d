package crashtest

import (
	"crypto/sha256"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// bed is one command's OLD state prepared at a fixed path (the states
// hold their own path, so each bed has its own), the OLD and NEW trees its
// ordinary run gives, and the points of that run. A test resets the state
// to OLD, runs the command with a fault, and calls after.
type bed struct {
	t                *testing.T
	f                *fixture
	s                *spec
	dir, oldCopy     string
	oldTree, newTree tree
	ops              []string // the points of an ordinary run, in order
	checked          []bool   // which of them can return an error
	follow           func(*testing.T, string)
	reruns           int             // runs of the command after a fault
	passed           map[string]bool // fingerprints of trees a rerun took to NEW
}

// newBed prepares s in a new work directory: OLD, then one ordinary run
// with BSI_FAULT_TRACE giving the points and NEW. For a command that may
// run again after it completed, one more ordinary run checks that it keeps
// NEW (so a fault run that leaves NEW exactly needs no rerun of its own).
func newBed(t *testing.T, f *fixture, s *spec) *bed {
	work := workDir(t)
	b := &bed{t: t, f: f, s: s, dir: filepath.Join(work, "state"), oldCopy: filepath.Join(work, "old"),
		passed: map[string]bool{}}
	s.prepare(t, f, b.dir)
	copyTree(t, b.dir, b.oldCopy)
	b.oldTree = snapshot(t, b.dir)
	b.ops, b.checked = tracePoints(t, s.args(f, b.dir)...)
	b.newTree = snapshot(t, b.dir)
	if diff(b.oldTree, b.newTree) == "" {
		t.Fatalf("%s changed nothing", s.name)
	}
	if tmp := b.newTree.temps(); len(tmp) > 0 {
		t.Fatalf("%s left temporary files in an ordinary run: %v", s.name, tmp)
	}
	if s.idempotent {
		must(t, s.args(f, b.dir)...)
		if d := diff(b.newTree, snapshot(t, b.dir)); d != "" {
			t.Fatalf("%s run again on its new state changed it:\n%s", s.name, d)
		}
	}
	if s.follower != nil {
		b.follow = s.follower()
		b.follow(t, b.dir)
	}
	return b
}

// reset makes the state OLD again.
func (b *bed) reset() { reset(b.t, b.oldCopy, b.dir) }

// after checks what a run of the command that was killed (or failed with
// an injected error) left at b.dir, where names the fault:
//
//   - the state is OLD or NEW (see classify) with no temporary file, as
//     it is or after the read command, which recovers interrupted
//     operations;
//   - paths under s.nextRun may remain after the read command: they are
//     invisible to readers and the next run of the command clears them,
//     so that run is then made and checked even for an exact OLD or NEW;
//   - a device following a publish destination verifies it;
//   - unless the state is exactly OLD or NEW (every path, the per-file
//     ones too), running the command again succeeds and gives NEW. An
//     exact OLD is not run again: newBed's ordinary run from the same
//     tree at the same path gave NEW; nor is an exact NEW (it is done, or
//     newBed ran the command on it again); nor a tree that an earlier
//     rerun of this bed already took from the same tree to NEW (many
//     points leave the same state, such as OLD plus a verified payload in
//     the cache, and the same tree at the same path gives the same run,
//     unless s.clocked).
func (b *bed) after(where string) {
	t, s := b.t, b.s
	t.Helper()
	got := snapshot(t, b.dir)
	st := s.classify(b.oldTree, b.newTree, got)
	if st == torn || len(got.temps()) > 0 {
		run(t, nil, s.read(b.dir)...)
		got = snapshot(t, b.dir)
		left := s.nextRunPaths(got)
		if st = s.classify(b.oldTree, b.newTree, s.without(got, left)); st == torn || len(s.without(got, left).temps()) > 0 {
			t.Errorf("%s: after %q the state is neither old nor new (temporary files: %v);\nold→got:\n%s\nnew→got:\n%s",
				where, strings.Join(s.read(b.dir), " "), got.temps(), s.diff(b.oldTree, got), s.diff(b.newTree, got))
			return
		}
	}
	if b.follow != nil {
		b.follow(t, b.dir)
	}
	exact := diff(b.oldTree, got) == "" || diff(b.newTree, got) == ""
	if exact {
		return
	}
	if st == isNew && !s.idempotent {
		return // done: running it again is rightly refused
	}
	fp := got.fingerprint()
	if b.passed[fp] && !s.clocked {
		return
	}
	b.reruns++
	if r := run(t, nil, s.args(b.f, b.dir)...); r.code != 0 {
		t.Errorf("%s: the next run fails: %s", where, r)
		return
	}
	if got := snapshot(t, b.dir); s.classify(b.oldTree, b.newTree, got) != isNew || len(got.temps()) > 0 {
		if !s.supersedes || len(got.temps()) > 0 || !b.settled(got) {
			t.Errorf("%s: the next run does not give the new state (temporary files: %v):\n%s", where, got.temps(), s.diff(b.newTree, got))
			return
		}
	}
	b.passed[fp] = true
	if b.follow != nil {
		b.follow(t, b.dir)
	}
}

// settled reports whether a state above NEW (see spec.supersedes) is
// final: the follower verifies it (checked by the caller after this
// returns) and running the command once more changes nothing.
func (b *bed) settled(got tree) bool {
	if r := run(b.t, nil, b.s.args(b.f, b.dir)...); r.code != 0 {
		b.t.Errorf("a further run after a superseding one fails: %s", r)
		return false
	}
	again := snapshot(b.t, b.dir)
	if d := diff(b.s.whole(got), b.s.whole(again)); d != "" {
		b.t.Errorf("a further run after a superseding one changes the state:\n%s", d)
		return false
	}
	return true
}

// fingerprint is a digest of the whole tree.
func (tr tree) fingerprint() string {
	paths := make([]string, 0, len(tr))
	for p := range tr {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	h := sha256.New()
	for _, p := range paths {
		fmt.Fprintf(h, "%q %q\n", p, tr[p])
	}
	return string(h.Sum(nil))
}

// nextRunPaths lists the paths of got under s.nextRun.
func (s *spec) nextRunPaths(got tree) []string {
	var out []string
	for p := range got {
		for _, pre := range s.nextRun {
			if p == pre || strings.HasPrefix(p, pre+"/") {
				out = append(out, p)
			}
		}
	}
	return out
}

// without is tr less the paths.
func (s *spec) without(tr tree, paths []string) tree {
	if len(paths) == 0 {
		return tr
	}
	out := tree{}
	for p, v := range tr {
		out[p] = v
	}
	for _, p := range paths {
		delete(out, p)
	}
	return out
}
