package agent

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bsiframework/bsi/agent/testrepo"
	"github.com/bsiframework/bsi/manifest"
	"github.com/bsiframework/bsi/rollout"
	"github.com/bsiframework/bsi/transparency"
	"github.com/bsiframework/bsi/transparency/tlogtest"
	"github.com/bsiframework/bsi/trust"
)

// newRolloutFixture is newFixture with a rollout role next to the webkit
// and safari roles.
func newRolloutFixture(t *testing.T) *fixture {
	t.Helper()
	c := &clock{t: start}
	repo, err := testrepo.New(c.Now, "webkit", "safari", rollout.Role)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(repo.Close)
	f := &fixture{t: t, clock: c, repo: repo, state: filepath.Join(t.TempDir(), "state")}
	f.device(f.state, "")
	return f
}

// device makes another state directory for the fixture's repository.
func (f *fixture) device(state, ring string) Options {
	f.t.Helper()
	cfg := Config{Platform: "macos", Release: "26.3", Build: "25D125", MetadataURL: f.repo.URL(), Ring: ring}
	if err := Init(state, f.repo.RootJSON(), cfg, f.clock.Now()); err != nil {
		f.t.Fatal(err)
	}
	return Options{State: state, Now: f.clock.Now}
}

// schedule lists s as an entry of the rollout role, or replaces it, and
// publishes.
func (f *fixture) schedule(s *rollout.Schedule) {
	f.t.Helper()
	b, err := s.Encode()
	if err != nil {
		f.t.Fatal(err)
	}
	custom, err := s.Custom()
	if err != nil {
		f.t.Fatal(err)
	}
	if err := f.repo.AddTarget(rollout.Role, s.Path(), b, custom); err != nil {
		f.t.Fatal(err)
	}
	if err := f.repo.Publish(); err != nil {
		f.t.Fatal(err)
	}
}

func sched(t *testing.T, m *manifest.Manifest, stages string, at time.Time) *rollout.Schedule {
	t.Helper()
	st, err := rollout.ParseStages(stages)
	if err != nil {
		t.Fatal(err)
	}
	return &rollout.Schedule{Schema: rollout.Schema, Component: m.Component, ID: m.ID,
		Improvement: m.Component + "/" + m.ID + ".tar.gz", Start: at, Stages: st}
}

// convergeOpts is converge for another device.
func convergeOpts(t *testing.T, opts Options) (*Report, error) {
	t.Helper()
	a, err := Open(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	rep, err := a.Check(context.Background())
	if rep == nil {
		return nil, err
	}
	_, err = a.Apply(context.Background(), rep, nil)
	return rep, err
}

func installedID(t *testing.T, state, component string) string {
	t.Helper()
	j, err := readJournal(filepath.Join(state, journalFile))
	if err != nil {
		t.Fatal(err)
	}
	if in := j.Installed[component]; in != nil {
		return in.ID
	}
	return ""
}

func ignoredPaths(rep *Report) string {
	var b strings.Builder
	for _, a := range rep.Plan {
		if a.Kind == Ignore && a.Component == rollout.Role {
			b.WriteString(a.Target.Path + ": " + a.Reason + "\n")
		}
	}
	return b.String()
}

// A rollout holds an improvement back until the device's stage: a canary
// gets it in stage 1, other devices when 100% comes; the other component
// is not gated.
func TestRolloutHoldsBackUntilStage(t *testing.T) {
	f := newRolloutFixture(t)
	wb, s1 := mf("webkit", 1), mf("safari", 1)
	f.publish(wb, s1)
	f.schedule(sched(t, wb, "canary:100%:24h,100%", start))
	canary := f.device(filepath.Join(t.TempDir(), "canary"), "canary")

	rep, _, err := f.converge()
	if err != nil {
		t.Fatal(err)
	}
	f.wantInstalled("safari", s1.ID)
	f.wantInstalled("webkit", "")
	st := rep.RolloutOf("webkit", wb.ID)
	if st == nil || st.Status != RolloutWaiting || !st.Held ||
		!strings.Contains(st.Text, "waiting: stage 1 of 2 (canary) until 2026-11-28T12:00:00Z") {
		t.Fatalf("rollout state %+v: want waiting for stage 2 at 2026-11-28T12:00:00Z", st)
	}
	if _, err := convergeOpts(t, canary); err != nil {
		t.Fatal(err)
	}
	if got := installedID(t, canary.State, "webkit"); got != wb.ID {
		t.Fatalf("canary has %q, want %s", got, wb.ID)
	}
	f.clock.Add(24 * time.Hour)
	if err := f.repo.Publish(); err != nil {
		t.Fatal(err)
	}
	rep, _, err = f.converge()
	if err != nil {
		t.Fatal(err)
	}
	f.wantInstalled("webkit", wb.ID)
	if st := rep.RolloutOf("webkit", wb.ID); st == nil || st.Status != RolloutOffered ||
		!strings.Contains(st.Text, "offered from stage 2 of 2 (100%) since 2026-11-28T12:00:00Z") {
		t.Fatalf("rollout state %+v: want offered from stage 2", st)
	}
}

// A halt keeps the improvement from devices without it and never removes
// it; the owner installs a halted improvement only with the override; a
// withdrawal rolls back whatever the rollout says.
func TestRolloutHaltAndWithdrawal(t *testing.T) {
	f := newRolloutFixture(t)
	wb := mf("webkit", 1)
	f.publish(wb)
	s := sched(t, wb, "canary:100%:24h,100%", start)
	f.schedule(s)
	canary := f.device(filepath.Join(t.TempDir(), "canary"), "canary")
	if _, err := convergeOpts(t, canary); err != nil {
		t.Fatal(err)
	}
	s.Halted = &rollout.Halt{At: start, Reason: "crashes on launch"}
	f.schedule(s)
	f.clock.Add(48 * time.Hour)
	if err := f.repo.Publish(); err != nil {
		t.Fatal(err)
	}
	if _, err := convergeOpts(t, canary); err != nil {
		t.Fatal(err)
	}
	if got := installedID(t, canary.State, "webkit"); got != wb.ID {
		t.Fatalf("halt uninstalled: canary has %q", got)
	}
	rep, _, err := f.converge()
	if err != nil {
		t.Fatal(err)
	}
	f.wantInstalled("webkit", "")
	if st := rep.RolloutOf("webkit", wb.ID); st == nil || st.Status != RolloutHalted || !strings.Contains(st.Text, "crashes on launch") {
		t.Fatalf("rollout state %+v: want halted with its reason", st)
	}

	a := f.open()
	rep, err = a.Check(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var he *rollout.HaltedError
	if _, err := a.InstallRequest(t.Context(), rep, []string{"webkit/" + wb.ID}); !errors.As(err, &he) {
		t.Fatalf("manual install of a halted improvement: %v, want a *rollout.HaltedError", err)
	}
	want, err := a.InstallRequestOverridingHalt(t.Context(), rep, []string{"webkit/" + wb.ID})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Apply(context.Background(), rep, want); err != nil {
		t.Fatal(err)
	}
	a.Close()
	f.wantInstalled("webkit", wb.ID)

	f.withdraw(wb)
	f.mustConverge()
	f.wantInstalled("webkit", "")
	if _, err := convergeOpts(t, canary); err != nil {
		t.Fatal(err)
	}
	if got := installedID(t, canary.State, "webkit"); got != "" {
		t.Fatalf("withdrawn despite halt: canary still has %q", got)
	}
}

// The owner may install by hand before the device's stage.
func TestRolloutManualInstallBeforeStage(t *testing.T) {
	f := newRolloutFixture(t)
	wb := mf("webkit", 1)
	f.publish(wb)
	f.schedule(sched(t, wb, "canary:100%:24h,100%", start.Add(time.Hour)))
	a := f.open()
	rep, err := a.Check(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st := rep.RolloutOf("webkit", wb.ID); st == nil || !strings.Contains(st.Text, "waiting: starts at 2026-11-27T13:00:00Z") {
		t.Fatalf("rollout state %+v: want waiting for the start", st)
	}
	want, err := a.InstallRequest(t.Context(), rep, []string{wb.ID})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Apply(context.Background(), rep, want); err != nil {
		t.Fatal(err)
	}
	f.wantInstalled("webkit", wb.ID)
}

// TestAttackRolloutOffersWithdrawnInapplicableUnsigned: the rollout role
// names, at 100%, a withdrawn improvement, one for another release, and
// one no component role signed. Each entry is ignored and reported; the
// withdrawn one is still rolled back, nothing else is installed.
func TestAttackRolloutOffersWithdrawnInapplicableUnsigned(t *testing.T) {
	f := newRolloutFixture(t)
	wa, w264 := mf("webkit", 1), mf("webkit", 2, release("26.4"))
	f.publish(wa, w264)
	f.mustConverge()
	f.wantInstalled("webkit", wa.ID)
	f.withdraw(wa)
	unsigned := mf("webkit", 3)
	for _, m := range []*manifest.Manifest{wa, w264, unsigned} {
		f.schedule(sched(t, m, "100%", start))
	}
	rep, _, err := f.converge()
	if err != nil {
		t.Fatal(err)
	}
	f.wantInstalled("webkit", "")
	ign := ignoredPaths(rep)
	for _, want := range []string{
		"rollout/webkit/" + wa.ID + ".json: rollout entry ignored: gates webkit/webkit-26.3-a.tar.gz, which is withdrawn",
		"rollout/webkit/" + w264.ID + ".json: rollout entry ignored: gates webkit/webkit-26.4-b.tar.gz, which does not apply",
		"rollout/webkit/" + unsigned.ID + ".json: rollout entry ignored: gates webkit/webkit-26.3-c.tar.gz, which no component role signed",
	} {
		if !strings.Contains(ign, want) {
			t.Errorf("ignored entries:\n%s\nwant %q", ign, want)
		}
	}
}

// TestAttackRolloutReplayUnhalts: a mirror serves the older rollout role
// (not halted) under the name of the halted version. The client refuses
// it (security, confined); the halted improvement stays held back; safari
// still installs.
func TestAttackRolloutReplayUnhalts(t *testing.T) {
	f := newRolloutFixture(t)
	wb := mf("webkit", 1)
	f.publish(wb)
	s := sched(t, wb, "canary:100%:1h,100%", start)
	f.schedule(s) // rollout v2, not halted
	old := f.repo.Files()["2.rollout.json"]
	if old == nil {
		t.Fatal("no 2.rollout.json")
	}
	s.Halted = &rollout.Halt{At: start, Reason: "crashes"}
	f.schedule(s) // v3, halted
	if _, _, err := f.converge(); err != nil {
		t.Fatal(err)
	}
	s1 := mf("safari", 1)
	f.clock.Add(2 * time.Hour)
	f.publish(s1)
	f.repo.Intercept(func(w http.ResponseWriter, r *http.Request) bool {
		if strings.HasSuffix(r.URL.Path, ".rollout.json") {
			w.Write(old)
			return true
		}
		return false
	})
	// Force a fetch of the rollout role: the device's trusted v3 must be
	// compared with what the mirror serves for the new version.
	f.repo.Touch(rollout.Role)
	if err := f.repo.Publish(); err != nil {
		t.Fatal(err)
	}
	rep, _, err := f.converge()
	if !errors.Is(err, trust.ErrSecurity) {
		t.Fatalf("converge = %v, want a security error", err)
	}
	f.wantInstalled("webkit", "")
	f.wantInstalled("safari", s1.ID)
	if st := rep.RolloutOf("webkit", wb.ID); st == nil || st.Status != RolloutHeld || st.Class != "security" {
		t.Fatalf("rollout state %+v: want held (security)", st)
	}
}

// TestAttackRolloutRoleExpired: the rollout role expired (the automation
// stopped re-signing it). Only the improvements it gated are held back
// (freshness); another component's improvement installs.
func TestAttackRolloutRoleExpired(t *testing.T) {
	f := newRolloutFixture(t)
	wb := mf("webkit", 1)
	f.publish(wb)
	f.schedule(sched(t, wb, "100%", start))
	f.mustConverge()
	f.wantInstalled("webkit", wb.ID)
	wc, s1 := mf("webkit", 2), mf("safari", 1)
	f.clock.Add(testrepo.TargetsExpiry + time.Hour)
	f.repo.Touch("targets", "webkit", "safari")
	f.publish(wc, s1)
	_, _, err := f.converge()
	if !errors.Is(err, trust.ErrFreshness) || errors.Is(err, trust.ErrSecurity) {
		t.Fatalf("converge = %v, want a freshness error", err)
	}
	f.wantInstalled("webkit", wb.ID) // kept, and wc held back
	f.wantInstalled("safari", s1.ID)
	st, err := ReadStatus(f.state, f.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, c := range st.LastCheck.Components {
		got[c.Component] = c.Class
	}
	if got["rollout"] != "freshness" || got["webkit"] != "freshness" || got["safari"] != "" {
		t.Fatalf("components recorded %v: want rollout and webkit (freshness), not safari", got)
	}
}

// TestAttackRolloutRoleSignedByComponentKey: the webkit key holder signs
// a rollout role (to hurry or halt anything). It is refused as a security
// failure confined to what the last verified rollout role gated; a fresh
// device that never verified a rollout role installs nothing new.
func TestAttackRolloutRoleSignedByComponentKey(t *testing.T) {
	f := newRolloutFixture(t)
	wb := mf("webkit", 1)
	f.publish(wb)
	f.schedule(sched(t, wb, "canary:100%:24h,100%", start))
	f.mustConverge() // verified: the rollout role names webkit
	f.repo.SignWith(rollout.Role, "webkit")
	f.schedule(sched(t, wb, "100%", start))
	s1 := mf("safari", 1)
	f.publish(s1)
	fresh := f.device(filepath.Join(t.TempDir(), "fresh"), "")
	_, _, err := f.converge()
	if !errors.Is(err, trust.ErrSecurity) {
		t.Fatalf("converge = %v, want a security error", err)
	}
	f.wantInstalled("webkit", "")
	f.wantInstalled("safari", s1.ID)
	if _, err := convergeOpts(t, fresh); !errors.Is(err, trust.ErrSecurity) {
		t.Fatalf("fresh device: %v, want a security error", err)
	}
	for _, c := range []string{"webkit", "safari"} {
		if got := installedID(t, fresh.State, c); got != "" {
			t.Errorf("fresh device installed %s %q while its rollout role is forged", c, got)
		}
	}
}

// A state made before seeds existed gets one on its next check, mode
// 0600, kept from then on.
func TestRolloutSeedCreatedOnce(t *testing.T) {
	f := newRolloutFixture(t)
	name := filepath.Join(f.state, seedFile)
	first, err := os.ReadFile(name)
	if err != nil || len(first) != 32 {
		t.Fatalf("seed after init: %d bytes, %v", len(first), err)
	}
	os.Remove(name)
	f.mustConverge()
	fi, err := os.Stat(name)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("seed after check: %v, %v", fi, err)
	}
	again, _ := os.ReadFile(name)
	f.mustConverge()
	kept, _ := os.ReadFile(name)
	if !bytes.Equal(again, kept) || bytes.Equal(first, again) {
		t.Fatal("seed not kept across checks, or not random")
	}
}

func TestSetRing(t *testing.T) {
	f := newRolloutFixture(t)
	a := f.open()
	for _, tc := range []struct {
		ring string
		ok   bool
	}{{"canary", true}, {"", true}, {"Canary", false}, {"in ternal", false}, {"internal-2", true}} {
		err := a.SetRing(tc.ring)
		var ce *ConfigError
		if tc.ok != (err == nil) || err != nil && !errors.As(err, &ce) {
			t.Errorf("SetRing(%q) = %v", tc.ring, err)
		}
	}
	if a.Config().Ring != "internal-2" {
		t.Errorf("ring %q, want internal-2", a.Config().Ring)
	}
}

// A device whose clock was set back to 1970 runs the rollout gate on
// max(device clock, witnessed time floor), as it checks expiry: a stage
// the witnesses vouch has come is not held back as "waiting" forever.
func TestAttackRolloutClockResetTo1970HoldsBackForever(t *testing.T) {
	f := newRolloutFixture(t)
	tf := &tlogFixture{fixture: f, log: tlogtest.NewLog("log.example/bsi", 3), logged: map[string]int64{}, sha: map[string]string{}}
	if err := f.repo.AddTarget("targets", transparency.PolicyTarget, tf.log.Policy(2), nil); err != nil {
		t.Fatal(err)
	}
	wb := mf("webkit", 1)
	tf.publishLogged(nil, wb)
	f.schedule(sched(t, wb, "canary:100%:24h,100%", start))
	if _, _, err := f.converge(); err != nil {
		t.Fatal(err)
	}
	f.wantInstalled("webkit", "")
	// Day 2: the stage for every device has come, the witnesses cosign a
	// checkpoint of that day; then the device's clock is reset to 1970.
	f.clock.Add(25 * time.Hour)
	tf.publishLogged(nil)
	day2 := f.clock.Now()
	f.clock.Add(-f.clock.Now().Sub(time.Unix(0, 0)))
	rep, _, err := f.converge()
	if err != nil {
		t.Fatal(err)
	}
	if st := tf.state(); !st.Floor.Equal(day2) {
		t.Fatalf("floor %v, want %v", st.Floor, day2)
	}
	f.wantInstalled("webkit", wb.ID)
	if st := rep.RolloutOf("webkit", wb.ID); st == nil || st.Status != RolloutOffered {
		t.Fatalf("rollout state %+v at 1970 with a floor of %v: want offered", st, day2)
	}
}
