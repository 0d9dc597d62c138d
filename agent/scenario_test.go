package agent

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bsiframework/bsi/manifest"
	"github.com/bsiframework/bsi/trust"
)

func TestInstallUpgradeAndUpToDate(t *testing.T) {
	f := newFixture(t)
	a1, s1 := mf("webkit", 1), mf("safari", 1)
	f.publish(a1, s1)
	res := f.mustConverge()
	if len(res.Done) != 2 {
		t.Fatalf("done %d actions, want 2", len(res.Done))
	}
	f.wantInstalled("webkit", a1.ID)
	f.wantInstalled("safari", s1.ID)
	a2 := mf("webkit", 2)
	f.publish(a2)
	f.mustConverge()
	f.wantInstalled("webkit", a2.ID)
	rep, res, err := f.converge()
	if err != nil || len(res.Done) != 0 || len(rep.Pending()) != 0 {
		t.Fatalf("second converge: %v, done %v, pending %v", err, res.Done, rep.Pending())
	}
}

func TestWithdrawnImprovementRolledBack(t *testing.T) {
	f := newFixture(t)
	a1, a2 := mf("webkit", 1), mf("webkit", 2)
	f.publish(a1, a2)
	f.mustConverge()
	f.wantInstalled("webkit", a2.ID)
	f.withdraw(a2)
	rep, _, err := f.converge()
	if err != nil {
		t.Fatal(err)
	}
	if k := kinds(rep.Plan)["webkit"]; k != RollBack {
		t.Errorf("plan for webkit = %v, want rollback", k)
	}
	f.wantInstalled("webkit", a1.ID)
	f.withdraw(a1)
	f.mustConverge()
	f.wantInstalled("webkit", "")
}

func TestDisappearedImprovementKept(t *testing.T) {
	f := newFixture(t)
	a1, a2 := mf("webkit", 1), mf("webkit", 2)
	f.publish(a1, a2)
	f.mustConverge()
	f.repo.RemoveTarget("webkit", "webkit/"+a2.ID+".tar.gz")
	f.repo.Publish()
	rep, res, err := f.converge()
	if err != nil {
		t.Fatal(err)
	}
	if k := kinds(rep.Plan)["webkit"]; k != KeepAndWarn || len(res.Done) != 0 {
		t.Errorf("plan for webkit = %v, done %v; want keep-and-warn, nothing done", k, res.Done)
	}
	f.wantInstalled("webkit", a2.ID)
	st, err := ReadStatus(f.state, f.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if !containsText(st.Attention, "disappeared from signed metadata") {
		t.Errorf("status attention %q does not report the disappearance", st.Attention)
	}
}

func TestReleaseChangeRetires(t *testing.T) {
	f := newFixture(t)
	a1 := mf("webkit", 1)
	b1 := mf("webkit", 1, release("26.4"))
	s1 := mf("safari", 1)
	f.publish(a1, b1, s1)
	f.mustConverge()
	f.wantInstalled("webkit", a1.ID)
	a := f.open()
	if err := a.SetRelease("26.4", "25E1"); err != nil {
		t.Fatal(err)
	}
	a.Close()
	rep, _, err := f.converge()
	if err != nil {
		t.Fatal(err)
	}
	got := kinds(rep.Plan)
	if got["webkit"] != Retire || got["safari"] != Retire {
		t.Errorf("plan = %v, want webkit and safari retired", got)
	}
	f.wantInstalled("webkit", b1.ID)
	f.wantInstalled("safari", "")
}

func TestWrongPlatformIgnored(t *testing.T) {
	f := newFixture(t)
	ios := mf("webkit", 1, func(m *manifest.Manifest) { m.Platform = "ios" })
	f.publish(ios)
	rep, res, err := f.converge()
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Done) != 0 || !hasIgnore(rep.Plan, "wrong platform") {
		t.Errorf("done %v, plan %+v: want nothing installed and an ignore for the platform", res.Done, rep.Plan)
	}
	f.wantInstalled("webkit", "")
}

func TestWrongBuildIgnored(t *testing.T) {
	f := newFixture(t)
	other := mf("webkit", 1, func(m *manifest.Manifest) { m.AppliesTo.Builds = []string{"25D999"} })
	f.publish(other)
	rep, res, err := f.converge()
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Done) != 0 || !hasIgnore(rep.Plan, "wrong build") {
		t.Errorf("done %v, plan %+v: want nothing installed and an ignore for the build", res.Done, rep.Plan)
	}
	f.wantInstalled("webkit", "")
}

func TestSequenceNeverGoesDownWithoutWithdrawal(t *testing.T) {
	f := newFixture(t)
	a1, a3 := mf("webkit", 1), mf("webkit", 3)
	f.publish(a1, a3)
	f.mustConverge()
	f.wantInstalled("webkit", a3.ID)
	// A lower one published later, and the installed one delisted.
	a2 := mf("webkit", 2)
	f.publish(a2)
	f.repo.RemoveTarget("webkit", "webkit/"+a3.ID+".tar.gz")
	f.repo.Publish()
	f.mustConverge()
	f.wantInstalled("webkit", a3.ID)
	// Asking by name does not go down either.
	a := f.open()
	rep, err := a.Check(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var re *RequestError
	if _, err := a.InstallRequest(t.Context(), rep, []string{a2.ID}); !errors.As(err, &re) || !strings.Contains(err.Error(), "lower") {
		t.Errorf("InstallRequest(%s) = %v, want a RequestError about the lower sequence", a2.ID, err)
	}
}

func TestManifestComponentMustMatchRole(t *testing.T) {
	f := newFixture(t)
	s1 := mf("safari", 1)
	f.publish(s1)
	// The webkit role signs a target under its own paths whose manifest
	// claims to be safari's.
	evil := mf("safari", 2, func(m *manifest.Manifest) { m.ID = "webkit-evil" })
	custom, _ := evil.Custom()
	f.repo.AddTarget("webkit", "webkit/webkit-evil.tar.gz", payloadFor(evil), custom)
	f.repo.Publish()
	rep, res, err := f.converge()
	if !errors.Is(err, trust.ErrSecurity) {
		t.Fatalf("converge = %v, want a security error", err)
	}
	var me *MismatchError
	if !errors.As(err, &me) || me.Role != "webkit" || me.Component != "safari" || me.Path != "webkit/webkit-evil.tar.gz" {
		t.Errorf("error %v does not name role webkit, component safari and the path", err)
	}
	if rep == nil || rep.Blocked("webkit") == nil || rep.Blocked("safari") != nil {
		t.Errorf("report %+v: want webkit blocked, safari not", rep)
	}
	if res == nil || len(res.Done) != 1 {
		t.Errorf("result %+v: want safari's own improvement installed", res)
	}
	f.wantInstalled("safari", s1.ID) // the honest safari-26.3-a, never webkit-evil
	f.wantInstalled("webkit", "")
}

func TestFreezeBlocksInstall(t *testing.T) {
	f := newFixture(t)
	f.publish(mf("webkit", 1))
	f.clock.Add(25 * time.Hour) // the timestamp (1 day) expired; the repository is frozen
	_, _, err := f.converge()
	if !errors.Is(err, trust.ErrFreshness) {
		t.Fatalf("converge = %v, want a freshness error", err)
	}
	f.wantInstalled("webkit", "")
	st, _ := ReadStatus(f.state, f.clock.Now())
	if st.LastCheck == nil || st.LastCheck.Class != "freshness" {
		t.Errorf("last check %+v, want a freshness failure recorded", st.LastCheck)
	}
}

// TestAttackForgedPayloadConfined: a forged webkit payload is refused
// (security error, nothing of webkit installed), and safari's honest
// payload is installed: a payload fails its own component only.
func TestAttackForgedPayloadConfined(t *testing.T) {
	f := newFixture(t)
	a1, s1 := mf("webkit", 1), mf("safari", 1)
	f.publish(a1, s1)
	f.repo.Intercept(func(w http.ResponseWriter, r *http.Request) bool {
		if !strings.HasPrefix(r.URL.Path, "/targets/webkit/") {
			return false
		}
		forged := payloadFor(mf("webkit", 9))
		w.Write(forged)
		return true
	})
	_, res, err := f.converge()
	if !errors.Is(err, trust.ErrSecurity) || res == nil || len(res.Failed) != 1 || res.Failed[0].Action.Component != "webkit" {
		t.Fatalf("converge = %+v, %v; want a security error and webkit's install failed", res, err)
	}
	f.wantInstalled("webkit", "")
	f.wantInstalled("safari", s1.ID)
	st, _ := ReadStatus(f.state, f.clock.Now())
	if st.LastCheck == nil || st.LastCheck.Class != "security" {
		t.Errorf("last check %+v, want a security failure recorded", st.LastCheck)
	}
}

func TestNetworkFailureExit1(t *testing.T) {
	f := newFixture(t)
	f.publish(mf("webkit", 1))
	f.repo.Intercept(func(w http.ResponseWriter, r *http.Request) bool {
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
		return true
	})
	_, _, err := f.converge()
	if err == nil || errors.Is(err, trust.ErrSecurity) || errors.Is(err, trust.ErrFreshness) {
		t.Fatalf("converge = %v, want an operational error", err)
	}
	if !strings.Contains(err.Error(), f.repo.URL()) {
		t.Errorf("error %q does not name the URL", err)
	}
	f.wantInstalled("webkit", "")
}

func TestHealthCheckFailureUndoes(t *testing.T) {
	f := newFixture(t)
	a1, a2 := mf("webkit", 1), mf("webkit", 2)
	f.publish(a1)
	f.mustConverge()
	f.publish(a2)
	f.health = func(ctx context.Context, component, id, dir string) error {
		if id == a2.ID {
			return errors.New("webkit crashes on start")
		}
		return nil
	}
	_, res, err := f.converge()
	if err == nil || len(res.Failed) != 1 {
		t.Fatalf("converge = %v, %+v; want the health failure", err, res)
	}
	f.wantInstalled("webkit", a1.ID)
	// Declined: the next round does not retry it.
	rep, res, err := f.converge()
	if err != nil || len(res.Done) != 0 || len(rep.Pending()) != 0 {
		t.Fatalf("next converge: %v, %+v, pending %v; want nothing to do", err, res, rep.Pending())
	}
	// Asking by name retries it.
	f.health = nil
	a := f.open()
	rep, err = a.Check(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want, err := a.InstallRequest(t.Context(), rep, []string{a2.ID})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Apply(context.Background(), rep, want); err != nil {
		t.Fatal(err)
	}
	a.Close()
	f.wantInstalled("webkit", a2.ID)
}

func TestUserRollback(t *testing.T) {
	f := newFixture(t)
	a1, a2 := mf("webkit", 1), mf("webkit", 2)
	f.publish(a1, a2)
	f.mustConverge()
	a := f.open()
	act, err := a.Rollback(context.Background(), a2.ID, false)
	if err != nil {
		t.Fatal(err)
	}
	if act.To == nil || act.To.Manifest.ID != a1.ID {
		t.Errorf("rollback went to %v, want %s", act.To, a1.ID)
	}
	a.Close()
	f.wantInstalled("webkit", a1.ID)
	// The removed improvement is not reinstalled by a converge.
	f.mustConverge()
	f.wantInstalled("webkit", a1.ID)
	// Offline to the baseline.
	f.repo.Close()
	a = f.open()
	if _, err := a.Rollback(context.Background(), a1.ID, true); err != nil {
		t.Fatal(err)
	}
	a.Close()
	f.wantInstalled("webkit", "")
}

func TestStateLocked(t *testing.T) {
	f := newFixture(t)
	f.open()
	_, err := Open(context.Background(), f.options())
	var le *LockedError
	if !errors.As(err, &le) {
		t.Fatalf("second Open = %v, want a LockedError", err)
	}
}

func hasIgnore(acts []Action, reason string) bool {
	for _, a := range acts {
		if a.Kind == Ignore && strings.Contains(a.Reason, reason) {
			return true
		}
	}
	return false
}

func containsText(list []string, s string) bool {
	for _, x := range list {
		if strings.Contains(x, s) {
			return true
		}
	}
	return false
}

// TestUserRollbackInterrupted stops a user's rollback after its intent is
// recorded and before the switch (as a crash would: the state on disk is
// all that remains): the next Open undoes the step, and the improvement
// is still installed and not declined, since the decline is part of the
// switch. Running the rollback again then completes it.
func TestUserRollbackInterrupted(t *testing.T) {
	f := newFixture(t)
	a1, a2 := mf("webkit", 1), mf("webkit", 2)
	f.publish(a1, a2)
	f.mustConverge()
	opts := f.options()
	stop := errors.New("stopped at intent")
	opts.step = func(name string) {
		if name == "intent" {
			panic(stop)
		}
	}
	a, err := Open(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	func() {
		defer func() {
			if r := recover(); r != stop {
				t.Fatalf("Rollback did not stop at its intent: %v", r)
			}
		}()
		a.Rollback(context.Background(), a2.ID, false)
	}()
	a.Close()
	a = f.open()
	if a.j.Pending != nil || a.j.declined("webkit", a2.ID) {
		t.Errorf("after recovery: pending %+v, declined %v; want neither", a.j.Pending, a.j.Declined)
	}
	if _, err := a.Rollback(context.Background(), a2.ID, false); err != nil {
		t.Fatal(err)
	}
	if !a.j.declined("webkit", a2.ID) {
		t.Errorf("after the rollback %s is not declined", a2.ID)
	}
	a.Close()
	f.wantInstalled("webkit", a1.ID)
}

// TestStaleReportNotApplied: a report keeps no targets, so Apply looks
// each chosen improvement up again. When the agent checked again in
// between and the publisher has withdrawn that improvement since, the
// stale plan's install fails for that component (nothing is installed
// from the old decision) instead of installing what the metadata no
// longer offers.
func TestStaleReportNotApplied(t *testing.T) {
	f := newFixture(t)
	a1 := mf("webkit", 1)
	f.publish(a1)
	a := f.open()
	stale, err := a.Check(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if k := kinds(stale.Plan)["webkit"]; k != Install {
		t.Fatalf("plan for webkit = %v, want install", k)
	}
	f.withdraw(a1)
	if _, err := a.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	res, err := a.Apply(context.Background(), stale, nil)
	if err == nil || len(res.Failed) != 1 || !strings.Contains(res.Failed[0].Err.Error(), "changed since the check") {
		t.Fatalf("Apply of the stale report: %+v, %v; want webkit failed: changed since the check", res, err)
	}
	f.wantInstalled("webkit", "")
}
