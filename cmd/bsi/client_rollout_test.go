package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bsiframework/bsi/agent/testrepo"
	"github.com/bsiframework/bsi/manifest"
	"github.com/bsiframework/bsi/rollout"
)

// newRolloutClientFixture is newClientFixture with a rollout role.
func newRolloutClientFixture(t *testing.T, now time.Time) *clientFixture {
	t.Helper()
	f := &clientFixture{t: t, now: now}
	repo, err := testrepo.New(f.clock, "webkit", "safari", rollout.Role)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(repo.Close)
	f.repo = repo
	dir := t.TempDir()
	f.root = filepath.Join(dir, "root.json")
	f.state = filepath.Join(dir, "state")
	if err := os.WriteFile(f.root, repo.RootJSON(), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

// schedule lists s in the rollout role and publishes.
func (f *clientFixture) schedule(s *rollout.Schedule) {
	f.t.Helper()
	b, err := s.Encode()
	if err != nil {
		f.t.Fatal(err)
	}
	custom, _ := s.Custom()
	if err := f.repo.AddTarget(rollout.Role, s.Path(), b, custom); err != nil {
		f.t.Fatal(err)
	}
	if err := f.repo.Publish(); err != nil {
		f.t.Fatal(err)
	}
}

func scheduleFor(t *testing.T, m *manifest.Manifest, stages string, at time.Time) *rollout.Schedule {
	t.Helper()
	st, err := rollout.ParseStages(stages)
	if err != nil {
		t.Fatal(err)
	}
	return &rollout.Schedule{Schema: rollout.Schema, Component: m.Component, ID: m.ID,
		Improvement: m.Component + "/" + m.ID + ".tar.gz", Start: at, Stages: st}
}

func TestClientRolloutCommands(t *testing.T) {
	f := newRolloutClientFixture(t, clientStart)
	wb := improvement("webkit", "26.3", 1)
	f.publish(wb)
	s := scheduleFor(t, wb, "canary:100%:24h,50%:24h,100%", clientStart)
	f.schedule(s)
	f.want(exitUsage, "ring", "client", "init", f.state, "--root", f.root, "--url", f.repo.URL(),
		"--platform", "macos", "--release", "26.3", "--ring", "Canary")
	f.init()
	out := f.must("client", "check", f.state)
	if !strings.Contains(out, "rollouts (no ring):\n  webkit/webkit-26.3-a: waiting: stage 1 of 3 (canary) until 2026-11-28T12:00:00Z") {
		t.Fatalf("check:\n%s", out)
	}
	if out := f.must("client", "set-ring", f.state, "canary"); out != "ring none -> canary\n" {
		t.Fatalf("set-ring: %q", out)
	}
	f.want(exitUsage, "only a-z", "client", "set-ring", f.state, "can ary")
	f.want(exitUsage, "--none", "client", "set-ring", f.state, "")
	out = f.must("client", "check", f.state, "--json")
	if !strings.Contains(out, `"ring": "canary"`) || !strings.Contains(out, `"status": "offered"`) {
		t.Fatalf("check --json:\n%s", out)
	}
	f.must("client", "install", f.state, "--all")
	f.wantCurrent("webkit", wb.ID)
	if out := f.must("client", "set-ring", f.state, "--none"); out != "ring canary -> none\n" {
		t.Fatalf("set-ring --none: %q", out)
	}

	// Halted: a second device does not get it, even by name, without
	// the override; the first keeps it.
	s.Halted = &rollout.Halt{At: clientStart, Reason: "crash reports"}
	f.schedule(s)
	other := filepath.Join(t.TempDir(), "other")
	f.must("client", "init", other, "--root", f.root, "--url", f.repo.URL(), "--platform", "macos", "--release", "26.3")
	if out := f.must("client", "check", other); !strings.Contains(out, "halted at 2026-11-27T12:00:00Z: crash reports") {
		t.Fatalf("check of a halted rollout:\n%s", out)
	}
	f.want(exitFailure, "--override-halt", "client", "install", other, wb.ID)
	f.want(exitUsage, "--override-halt", "client", "install", other, "--all", "--override-halt")
	f.must("client", "install", f.state, "--all")
	f.wantCurrent("webkit", wb.ID)
	f.must("client", "install", other, wb.ID, "--override-halt")
	if out := f.must("client", "status", other); !strings.Contains(out, "rollouts (no ring):\n  webkit/webkit-26.3-a: halted at") {
		t.Fatalf("status:\n%s", out)
	}
}

// TestClientRolloutConvergence drives 200 device states with the bsi
// command, in parallel, through a rollout of webkit-26.3-a (canary, 10%,
// 50%, 100%) served on 127.0.0.1: at each stage the devices that have it
// are exactly those the stage admits by ring or bucket; after the halt no
// device installs it and none removes it; after the withdrawal every
// device is back at the baseline.
func TestClientRolloutConvergence(t *testing.T) {
	n := 200
	if testing.Short() {
		n = 40
	}
	f := newRolloutClientFixture(t, clientStart)
	wa := improvement("webkit", "26.3", 1)
	f.publish(wa)
	f.schedule(scheduleFor(t, wa, "canary:100%:1h,10%:1h,50%:1h,100%", clientStart.Add(time.Hour)))
	dir := t.TempDir()
	states := make([]string, n)
	canary := make([]bool, n)
	for i := range states {
		states[i] = filepath.Join(dir, fmt.Sprint(i))
		args := []string{"client", "init", states[i], "--root", f.root, "--url", f.repo.URL(), "--platform", "macos", "--release", "26.3"}
		if canary[i] = i%10 == 0; canary[i] {
			args = append(args, "--ring", "canary")
		}
		f.must(args...)
	}
	buckets := make([]int, n)
	for i, st := range states {
		b, err := os.ReadFile(filepath.Join(st, "seed"))
		if err != nil || len(b) != 32 {
			t.Fatalf("seed of device %d: %d bytes, %v", i, len(b), err)
		}
		buckets[i] = rollout.Bucket(rollout.Seed(b), "webkit", wa.ID)
	}
	converge := func() []bool {
		t.Helper()
		var wg sync.WaitGroup
		work := make(chan int)
		errs := make(chan string, n)
		for range 8 {
			wg.Go(func() {
				for i := range work {
					if code, out, errOut := f.bsi(context.Background(), "client", "install", states[i], "--all"); code != 0 {
						errs <- fmt.Sprintf("device %d: exit %d\n%s%s", i, code, out, errOut)
					}
				}
			})
		}
		for i := range states {
			work <- i
		}
		close(work)
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Fatal(e)
		}
		has := make([]bool, n)
		for i, st := range states {
			b, err := os.ReadFile(filepath.Join(st, "root", "webkit", "current", "lib", "webkit.txt"))
			has[i] = err == nil && strings.TrimSpace(string(b)) == wa.ID
		}
		return has
	}
	check := func(stage string, want func(i int) bool) {
		t.Helper()
		got := converge()
		count := 0
		for i := range got {
			if got[i] != want(i) {
				t.Errorf("%s: device %d (bucket %d, canary %v) has it: %v, want %v", stage, i, buckets[i], canary[i], got[i], want(i))
			}
			if got[i] {
				count++
			}
		}
		t.Logf("%s: %d of %d devices have %s", stage, count, n, wa.ID)
	}
	step := func() {
		f.advance(time.Hour)
		if err := f.repo.Publish(); err != nil {
			t.Fatal(err)
		}
	}
	check("before the start", func(int) bool { return false })
	step()
	check("stage 1 (canary)", func(i int) bool { return canary[i] })
	step()
	check("stage 2 (10%)", func(i int) bool { return canary[i] || buckets[i] < 1000 })
	step()
	stage3 := func(i int) bool { return canary[i] || buckets[i] < 5000 }
	check("stage 3 (50%)", stage3)
	s := scheduleFor(t, wa, "canary:100%:1h,10%:1h,50%:1h,100%", clientStart.Add(time.Hour))
	s.Halted = &rollout.Halt{At: f.clock(), Reason: "health checks fail"}
	f.schedule(s)
	step()
	check("halted at stage 4 (100%)", stage3)
	w := *wa
	w.Status, w.WithdrawnReason = manifest.StatusWithdrawn, "health checks fail"
	f.publish(&w)
	check("withdrawn", func(int) bool { return false })
}
