package conformance

import (
	"strconv"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/bsiframework/bsi/conformance/sim"
	"github.com/bsiframework/bsi/manifest"
	"github.com/bsiframework/bsi/rollout"
)

// The bsi group: DESIGN.md "Client decision rules", run through "bsi
// client" against repositories made by the real publisher. Exit codes are
// bsi's: 0 ok, 1 failure, 3 security, 4 freshness.
func bsiScenarios() []Scenario {
	rule := func(n int) string { return "DESIGN.md client decision rule " + strconv.Itoa(n) }
	return []Scenario{
		{Name: "bsi/install", Description: "the highest active improvement for the device is verified, installed and current",
			Spec: rule(1), Run: bsiInstall},
		{Name: "bsi/withdrawal-rolls-back", Description: "the installed improvement is withdrawn: the device rolls back to the next lower active one",
			Spec: rule(3), Fault: "withdrawal", Run: bsiWithdrawal},
		{Name: "bsi/withdrawal-to-baseline", Description: "the only improvement is withdrawn: the device returns to its baseline",
			Spec: rule(3), Fault: "withdrawal", Run: bsiWithdrawalBaseline},
		{Name: "bsi/withdrawal-replaced", Description: "the installed improvement is withdrawn and a higher one published: the device moves up to it",
			Spec: rule(3), Run: bsiWithdrawalReplaced},
		{Name: "bsi/disappearance-kept", Description: "the installed improvement vanishes from signed metadata without a withdrawal: it is kept and reported",
			Spec: rule(3), Fault: "sequence", Run: bsiDisappearance},
		{Name: "bsi/sequence-lower-by-name", Description: "installing a lower sequence by name while a higher one is installed is refused",
			Spec: rule(3), Fault: "sequence", Run: bsiLowerByName},
		{Name: "bsi/sequence-lower-republished", Description: "the installed improvement is replaced in metadata by a lower sequence only: the device keeps it",
			Spec: rule(3), Fault: "sequence", Run: bsiLowerOnly},
		{Name: "bsi/release-change-retires", Description: "the device moves to a new release: improvements of the old release are retired for the new one's",
			Spec: rule(4), Run: bsiReleaseChange},
		{Name: "bsi/wrong-platform", Description: "an improvement for another platform is never installed",
			Spec: rule(4), Fault: "applicability", Run: bsiNotApplicable(func(m *manifest.Manifest) { m.Platform = "linux" })},
		{Name: "bsi/wrong-release", Description: "an improvement for another release is never installed",
			Spec: rule(4), Fault: "applicability", Run: bsiNotApplicable(func(m *manifest.Manifest) { m.AppliesTo.Releases = []string{"26.2"} })},
		{Name: "bsi/wrong-build", Description: "an improvement for other builds of the release is never installed",
			Spec: rule(4), Fault: "applicability", Run: bsiNotApplicable(func(m *manifest.Manifest) { m.AppliesTo.Builds = []string{"25D100"} })},
		{Name: "bsi/manifest-other-component", Description: "a component role signs a manifest naming another component: exit 3, nothing installed",
			Spec: rule(1) + "; DESIGN.md Improvements (component must equal the signing role)", Fault: "manifest-role", Run: bsiOtherComponent},
		{Name: "bsi/manifest-signed-by-targets", Description: "the top-level targets role lists an improvement itself: exit 3, nothing installed",
			Spec: rule(1) + "; DESIGN.md Improvements (component must equal the signing role)", Fault: "manifest-role", Run: bsiSignedByTargets},
		{Name: "bsi/manifest-wrong-role-confined", Description: "webkit's role lists a manifest claiming safari while safari's installed improvement is withdrawn: exit 3, and safari still rolls back",
			Spec: rule(1) + "; DESIGN.md containment (decisions per component)", Fault: "manifest-role", Run: bsiMismatchConfined},
		{Name: "bsi/expired-role-confined", Description: "webkit's role is expired: exit 4, webkit installs nothing, and safari's improvement is still installed",
			Spec: rule(2) + "; DESIGN.md containment (decisions per component)", Fault: "expiry", Run: bsiExpiredConfined},
		{Name: "bsi/nested-role-shadows-component", Description: "webkit's key delegates a nested role named safari and the mirror serves it as safari.json, hiding safari's withdrawal: safari rolls back or the run exits 3, never a silent disappearance",
			Spec: rule(3) + "; TUF 5.6.7.1 (a role is verified against its delegator's keys)", Fault: "delegation", Run: bsiNestedShadow},
		{Name: "bsi/freeze", Description: "the timestamp is stale (expired): install exits 4 and installs nothing",
			Spec: rule(2), Fault: "expiry", Run: bsiFreeze},
		{Name: "bsi/component-role-expired", Description: "the component role is expired: install exits 4 and installs nothing",
			Spec: rule(2), Fault: "expiry", Run: bsiRoleExpired},
		{Name: "bsi/timestamp-rollback", Description: "the repository replays an older timestamp: install exits 3 and installs nothing",
			Spec: rule(2), Fault: "rollback", Run: bsiTimestampRollback},
		{Name: "bsi/forged-payload", Description: "the payload served differs from its signed hashes: install exits 3 and installs nothing",
			Spec: rule(1), Fault: "hash", Run: bsiForgedPayload},
		{Name: "bsi/component-role-wrong-key", Description: "the component role is signed by a key it was not delegated: install exits 3, nothing installed",
			Spec: rule(1), Fault: "signature", Run: bsiWrongKey},
		{Name: "bsi/rollout-held-before-stage", Description: "webkit's improvement rolls out from tomorrow: install --all installs libc's, not webkit's",
			Spec: "DESIGN.md Staged rollout (device decision)", Fault: "rollout", Run: bsiRolloutHeld},
		{Name: "bsi/rollout-halted-not-installed", Description: "the rollout is at 100% but halted: a device without the improvement does not install it",
			Spec: "DESIGN.md Staged rollout (security rule 4)", Fault: "rollout", Run: bsiRolloutHalted},
		{Name: "bsi/rollout-withdrawal-despite-halt", Description: "the installed improvement's rollout is halted, then it is withdrawn: the device rolls back",
			Spec: "DESIGN.md Staged rollout (security rule 3)", Fault: "rollout", Run: bsiRolloutWithdrawal},
		{Name: "bsi/health-check-undoes", Description: "the health check fails after the switch: the switch is undone and the improvement declined",
			Spec: "DESIGN.md Applying (health check)", Run: bsiHealthCheck},
	}
}

// start publishes ms through a new publisher for webkit and libc and
// initialises the device.
func start(t *T, ms ...*manifest.Manifest) *sim.Publisher {
	p := t.Publisher("webkit", "libc")
	publish(t, p, ms...)
	t.DeviceInit()
	return p
}

func bsiInstall(t *T) {
	a, b := improvement("webkit", devRelease, 1), improvement("webkit", devRelease, 2)
	start(t, a, b)
	t.WantExit("install --all", t.InstallAll(), 0)
	t.WantInstalled("webkit", b.ID)
	t.WantInstalled("libc", "")
}

func bsiWithdrawal(t *T) {
	a, b := improvement("webkit", devRelease, 1), improvement("webkit", devRelease, 2)
	p := start(t, a, b)
	t.WantExit("install --all", t.InstallAll(), 0)
	t.WantInstalled("webkit", b.ID)
	p.Withdraw(t.ctx, b.ID, "breaks video playback")
	p.Publish(t.ctx)
	t.WantExit("install --all after the withdrawal", t.InstallAll(), 0)
	t.WantInstalled("webkit", a.ID)
}

func bsiWithdrawalBaseline(t *T) {
	a := improvement("webkit", devRelease, 1)
	p := start(t, a)
	t.WantExit("install --all", t.InstallAll(), 0)
	t.WantInstalled("webkit", a.ID)
	p.Withdraw(t.ctx, a.ID, "breaks video playback")
	p.Publish(t.ctx)
	t.WantExit("install --all after the withdrawal", t.InstallAll(), 0)
	t.WantInstalled("webkit", "")
}

func bsiWithdrawalReplaced(t *T) {
	a := improvement("webkit", devRelease, 1)
	p := start(t, a)
	t.WantExit("install --all", t.InstallAll(), 0)
	p.Withdraw(t.ctx, a.ID, "breaks video playback")
	publish(t, p, improvement("webkit", devRelease, 2))
	t.WantExit("install --all after the withdrawal", t.InstallAll(), 0)
	t.WantInstalled("webkit", "webkit-26.3-b")
}

// delist removes the target of m from its role's metadata, outside the
// publisher (which keeps withdrawn improvements listed), and publishes.
func delist(t *T, m *manifest.Manifest) {
	r := t.Repo
	delete(r.Targets[m.Component].Signed.Targets, m.Component+"/"+m.ID+".tar.gz")
	r.Publish(m.Component)
}

func bsiDisappearance(t *T) {
	a, b := improvement("webkit", devRelease, 1), improvement("webkit", devRelease, 2)
	start(t, a, b)
	t.WantExit("install --all", t.InstallAll(), 0)
	delist(t, b)
	t.WantExit("install --all after the disappearance", t.InstallAll(), 0)
	t.WantInstalled("webkit", b.ID)
	t.WantAttention(b.ID)
}

func bsiLowerByName(t *T) {
	a, b := improvement("webkit", devRelease, 1), improvement("webkit", devRelease, 2)
	start(t, a, b)
	t.WantExit("install --all", t.InstallAll(), 0)
	if inv := t.BSI("client", "install", t.MetadataDir, a.ID); inv.Exit == 0 {
		t.Errorf("install %s (sequence 1) over %s (sequence 2): expected a refusal, bsi exited 0", a.ID, b.ID)
	}
	t.WantInstalled("webkit", b.ID)
}

func bsiLowerOnly(t *T) {
	a, b := improvement("webkit", devRelease, 1), improvement("webkit", devRelease, 2)
	start(t, b)
	t.WantExit("install --all", t.InstallAll(), 0)
	delist(t, b)
	listOutside(t, "webkit", "", a)
	t.WantExit("install --all with only a lower sequence listed", t.InstallAll(), 0)
	t.WantInstalled("webkit", b.ID)
}

func bsiReleaseChange(t *T) {
	old, next := improvement("webkit", devRelease, 1), improvement("webkit", "26.4", 1)
	lc := improvement("libc", devRelease, 1)
	start(t, old, next, lc)
	t.WantExit("install --all", t.InstallAll(), 0)
	t.WantInstalled("webkit", old.ID)
	t.WantInstalled("libc", lc.ID)
	t.Succeeds("set-release 26.4", t.BSI("client", "set-release", t.MetadataDir, "26.4", "--build", "25E100"))
	t.WantExit("install --all on 26.4", t.InstallAll(), 0)
	t.WantInstalled("webkit", next.ID)
	t.WantInstalled("libc", "")
}

func bsiNotApplicable(edit func(*manifest.Manifest)) func(t *T) {
	return func(t *T) {
		m := improvement("webkit", devRelease, 1, edit)
		start(t, m)
		inv := t.InstallAll()
		t.WantExit("install --all", inv, 0)
		t.WantNotRequested(inv, "targets/")
		t.WantInstalled("webkit", "")
	}
}

// listOutside lists m (with its payload) at path p (default
// "<component>/<id>.tar.gz") in role, outside the publisher (which refuses
// a manifest that does not match its role), and publishes.
func listOutside(t *T, role, p string, m *manifest.Manifest) {
	r := t.Repo
	if p == "" {
		p = m.Component + "/" + m.ID + ".tar.gz"
	}
	r.AddTarget(role, p, payload(m))
	custom, err := m.Custom()
	if err != nil {
		t.Fatalf("manifest: %v", err)
	}
	r.SetCustom(role, p, custom)
	r.Publish(role)
}

// wantNothingInstalled checks that a refused run left every component at
// its baseline and downloaded no payload.
func wantNothingInstalled(t *T, inv *Invocation) {
	t.WantNotRequested(inv, "targets/")
	t.WantInstalled("webkit", "")
	t.WantInstalled("libc", "")
}

func bsiOtherComponent(t *T) {
	start(t)
	// webkit's role lists a target on its own paths whose manifest says libc.
	m := improvement("libc", devRelease, 1)
	listOutside(t, "webkit", "webkit/"+m.ID+".tar.gz", m)
	inv := t.InstallAll()
	t.WantExit("install --all", inv, 3)
	wantNothingInstalled(t, inv)
}

func bsiSignedByTargets(t *T) {
	start(t)
	listOutside(t, "targets", "", improvement("webkit", devRelease, 1))
	inv := t.InstallAll()
	t.WantExit("install --all", inv, 3)
	wantNothingInstalled(t, inv)
}

// startInstalled publishes safari a and b and webkit's improvement w (if
// any) with components webkit and safari, and installs them: safari at b.
func startInstalled(t *T, w *manifest.Manifest) (p *sim.Publisher, a, b *manifest.Manifest) {
	a, b = improvement("safari", devRelease, 1), improvement("safari", devRelease, 2)
	p = t.Publisher("webkit", "safari")
	ms := []*manifest.Manifest{a, b}
	if w != nil {
		ms = append(ms, w)
	}
	publish(t, p, ms...)
	t.DeviceInit()
	t.WantExit("install --all", t.InstallAll(), 0)
	t.WantInstalled("safari", b.ID)
	return p, a, b
}

func bsiMismatchConfined(t *T) {
	p, a, b := startInstalled(t, nil)
	p.Withdraw(t.ctx, b.ID, "breaks video playback")
	p.Publish(t.ctx)
	// The webkit key lists, on webkit's paths, a manifest claiming safari.
	claim := improvement("safari", devRelease, 3)
	listOutside(t, "webkit", "webkit/"+claim.ID+".tar.gz", claim)
	inv := t.InstallAll()
	t.WantExit("install --all", inv, 3)
	t.WantInstalled("safari", a.ID)
	t.WantInstalled("webkit", "")
}

func bsiExpiredConfined(t *T) {
	w, s := improvement("webkit", devRelease, 1), improvement("safari", devRelease, 1)
	publish(t, t.Publisher("webkit", "safari"), w, s)
	t.DeviceInit()
	r := t.Repo
	r.Targets["webkit"].Signed.Expires = time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	r.Publish("webkit")
	inv := t.InstallAll()
	t.WantExit("install --all", inv, 4)
	t.WantInstalled("webkit", "")
	t.WantInstalled("safari", s.ID)
}

// bsiNestedShadow: after safari's b is withdrawn, the webkit key delegates
// a role named safari (on webkit's own paths) to itself, and the mirror
// serves, as the safari.json snapshot lists, a copy of safari's role
// without b, signed by the webkit key. A device that verifies a role
// against the keys of whichever delegator it met first sees b silently
// disappear (kept, attention) instead of withdrawn.
func bsiNestedShadow(t *T) {
	p, a, b := startInstalled(t, nil)
	p.Withdraw(t.ctx, b.ID, "breaks video playback")
	p.Publish(t.ctx)
	r := t.Repo
	wk := r.Signers["webkit"][0]
	wt := &r.Targets["webkit"].Signed
	if wt.Delegations == nil {
		wt.Delegations = &metadata.Delegations{Keys: map[string]*metadata.Key{}}
	}
	wt.Delegations.Keys[wk.ID] = wk.Key
	wt.Delegations.Roles = append(wt.Delegations.Roles, metadata.DelegatedRole{
		Name: "safari", KeyIDs: []string{wk.ID}, Threshold: 1, Paths: []string{"webkit/*"}})
	r.Publish("webkit")
	v := r.Targets["safari"].Signed.Version
	fake, err := metadata.Targets().FromBytes(r.Get(strconv.FormatInt(v, 10) + ".safari.json"))
	if err != nil {
		t.Fatalf("safari.json: %v", err)
	}
	delete(fake.Signed.Targets, "safari/"+b.ID+".tar.gz")
	forged := sim.SignWith(r, fake, []*sim.Key{wk})
	r.Set(strconv.FormatInt(v, 10)+".safari.json", forged)
	r.Set("safari.json", forged)
	inv := t.InstallAll()
	switch inv.Exit {
	case 3:
	case 0:
		t.WantInstalled("safari", a.ID) // rolled back per the genuine role
	default:
		t.Errorf("install --all: expected a roll-back of %s (exit 0) or a security failure (exit 3), bsi exited %d%s", b.ID, inv.Exit, stderrTail(inv.Stderr))
	}
}

func bsiFreeze(t *T) {
	start(t, improvement("webkit", devRelease, 1))
	r := t.Repo
	r.Timestamp.Signed.Version++
	r.Timestamp.Signed.Expires = time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	r.PublishTimestamp()
	inv := t.InstallAll()
	t.WantExit("install --all", inv, 4)
	wantNothingInstalled(t, inv)
}

func bsiRoleExpired(t *T) {
	start(t, improvement("webkit", devRelease, 1))
	r := t.Repo
	r.Targets["webkit"].Signed.Expires = time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	r.Publish("webkit")
	inv := t.InstallAll()
	t.WantExit("install --all", inv, 4)
	wantNothingInstalled(t, inv)
}

func bsiTimestampRollback(t *T) {
	p := start(t)
	old := t.Repo.Get("timestamp.json")
	publish(t, p, improvement("webkit", devRelease, 1))
	t.Succeeds("bsi client check", t.BSI("client", "check", t.MetadataDir))
	t.Repo.Set("timestamp.json", old)
	inv := t.InstallAll()
	t.WantExit("install --all", inv, 3)
	wantNothingInstalled(t, inv)
}

func bsiForgedPayload(t *T) {
	m := improvement("webkit", devRelease, 1)
	start(t, m)
	evil := payload(improvement("webkit", devRelease, 1, func(m *manifest.Manifest) { m.ID = "webkit-evil" }))
	for p, tf := range t.Repo.Targets["webkit"].Signed.Targets {
		t.Repo.ServeTarget(p, tf.Hashes, evil)
	}
	inv := t.InstallAll()
	t.WantExit("install --all", inv, 3)
	t.WantInstalled("webkit", "")
}

func bsiWrongKey(t *T) {
	start(t)
	r := t.Repo
	r.Signers["webkit"] = []*sim.Key{r.NewKey(sim.Ed25519)}
	listOutside(t, "webkit", "", improvement("webkit", devRelease, 1))
	inv := t.InstallAll()
	t.WantExit("install --all", inv, 3)
	wantNothingInstalled(t, inv)
}

func bsiHealthCheck(t *T) {
	a, b := improvement("webkit", devRelease, 1), improvement("webkit", devRelease, 2)
	p := start(t, a)
	t.WantExit("install --all", t.InstallAll(), 0)
	publish(t, p, b)
	// The check passes for a and fails for b.
	inv := t.InstallAll("--health-cmd", `test "$BSI_ID" != `+b.ID)
	if inv.Exit == 0 {
		t.Errorf("install --all with a failing health check: expected a failure exit, bsi exited 0")
	}
	t.WantInstalled("webkit", a.ID)
	if st := t.Status(); !declined(st, b.ID) {
		t.Errorf("status: expected %s declined after its failed health check, found %v", b.ID, st.Declined)
	}
	t.WantExit("install --all again", t.InstallAll(), 0)
	t.WantInstalled("webkit", a.ID)
}

func declined(st *DeviceStatus, id string) bool {
	for _, ds := range st.Declined {
		for _, d := range ds {
			if d.ID == id {
				return true
			}
		}
	}
	return false
}

// startRollout delegates the rollout role (signed with the snapshot's
// online key, which the simulator holds), gates id by stages from at,
// and, when halt is set, halts it. It does not publish.
func startRollout(t *T, p *sim.Publisher, id, stages string, at time.Time, halt bool) {
	ws := p.Workspace
	if on, err := ws.RolloutEnabled(); err != nil {
		t.Fatalf("rollout: %v", err)
	} else if !on {
		if err := ws.EnableRollout(t.ctx, "snapshot"); err != nil {
			t.Fatalf("enable rollout: %v", err)
		}
	}
	st, err := rollout.ParseStages(stages)
	if err != nil {
		t.Fatalf("stages %q: %v", stages, err)
	}
	if _, err := ws.StartRollout(t.ctx, id, at, st); err != nil {
		t.Fatalf("start rollout of %s: %v", id, err)
	}
	if halt {
		if _, err := ws.HaltRollout(t.ctx, id, "crash reports"); err != nil {
			t.Fatalf("halt rollout of %s: %v", id, err)
		}
	}
}

func bsiRolloutHeld(t *T) {
	w, l := improvement("webkit", devRelease, 1), improvement("libc", devRelease, 1)
	p := t.Publisher("webkit", "libc")
	publish(t, p, w, l)
	startRollout(t, p, w.ID, "canary:100%:24h,100%", t.Repo.Now.Add(24*time.Hour), false)
	p.Publish(t.ctx)
	t.DeviceInit()
	t.WantExit("install --all before the rollout starts", t.InstallAll(), 0)
	t.WantInstalled("webkit", "")
	t.WantInstalled("libc", l.ID)
}

func bsiRolloutHalted(t *T) {
	w := improvement("webkit", devRelease, 1)
	p := start(t, w)
	startRollout(t, p, w.ID, "100%", t.Repo.Now.Add(-time.Hour), true)
	p.Publish(t.ctx)
	t.WantExit("install --all of a halted rollout", t.InstallAll(), 0)
	t.WantInstalled("webkit", "")
}

func bsiRolloutWithdrawal(t *T) {
	w := improvement("webkit", devRelease, 1)
	p := start(t, w)
	t.WantExit("install --all", t.InstallAll(), 0)
	t.WantInstalled("webkit", w.ID)
	startRollout(t, p, w.ID, "100%", t.Repo.Now.Add(-time.Hour), true)
	p.Publish(t.ctx)
	t.WantExit("install --all of a halted rollout", t.InstallAll(), 0)
	t.WantInstalled("webkit", w.ID) // a halt never uninstalls
	p.Withdraw(t.ctx, w.ID, "breaks video playback")
	p.Publish(t.ctx)
	t.WantExit("install --all after the withdrawal", t.InstallAll(), 0)
	t.WantInstalled("webkit", "")
}
