package repo

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/bsiframework/bsi/rollout"
)

// withRollout is a published workspace whose rollout role, signed by the
// online key "rollout", gates nothing yet; webkit-26.3-a is published.
func withRollout(t *testing.T) *fixture {
	f := newFixture(t)
	f.key("snapshot")
	f.key("timestamp")
	f.key("rollout")
	ws, err := Init(t.Context(), f.dir, f.opts(), InitOptions{RootKeys: f.tufKeys("root1"), TargetsKeys: f.tufKeys("targets"),
		SnapshotKey: "snapshot", TimestampKey: "timestamp", RolloutKey: "rollout"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	f.ws = ws
	if err := f.ws.Delegate(t.Context(), "webkit", DelegateOptions{Keys: f.tufKeys("webkit1")}); err != nil {
		t.Fatal(err)
	}
	f.add("webkit-26.3-a", "webkit", 1, "webkit1")
	f.sign("root1", "targets")
	f.publish()
	return f
}

func stages(t *testing.T, spec string) []rollout.Stage {
	t.Helper()
	s, err := rollout.ParseStages(spec)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// The whole life: start, publish, a TUF client reads the schedule; halt,
// resume, set; each change is one signed version of the rollout role that
// publish writes like any delegated role.
func TestRolloutLife(t *testing.T) {
	f := withRollout(t)
	ctx := t.Context()
	p := f.add("webkit-26.3-b", "webkit", 2, "webkit1")
	st, err := f.ws.StartRollout(ctx, "webkit-26.3-b", time.Time{}, stages(t, "canary:100%:24h,5%:24h,100%"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Target != "rollout/webkit/webkit-26.3-b.json" || st.Stage != 1 || st.Percent != "100%" || !st.Pending || st.NextAt == nil {
		t.Fatalf("started: %+v", st)
	}
	// Signed by the online key right away: nothing is pending but webkit's
	// own change, which its team signed.
	if pend, _ := f.ws.pending(); len(pend) != 0 {
		t.Fatalf("pending after start: %+v", pend)
	}
	res := f.publish()
	if !contains(res.Written, "2.rollout.json") {
		t.Fatalf("publish wrote %v, want 2.rollout.json", res.Written)
	}

	// A TUF client finds the schedule under its path, downloads the
	// canonical bytes, and reads the same document from custom.
	c := f.client()
	tm, err := c.refresh()
	if err != nil {
		t.Fatal(err)
	}
	tf, err := c.find(tm, "rollout/webkit/webkit-26.3-b.json")
	if err != nil {
		t.Fatal(err)
	}
	data, err := c.download(tf)
	if err != nil {
		t.Fatal(err)
	}
	s, err := rollout.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if fromCustom, err := rollout.FromCustom(*tf.Custom); err != nil || fromCustom.Improvement != "webkit/webkit-26.3-b.tar.gz" {
		t.Fatalf("custom: %v, %v", fromCustom, err)
	}
	if !s.Start.Equal(f.clock) || rollout.FormatStages(s.Stages) != "canary:100%:1d,5%:1d,100%" {
		t.Fatalf("published schedule: %+v", s)
	}
	// The payload is still found in its component role.
	if m := c.fetch("webkit/webkit-26.3-b.tar.gz", mustRead(t, p)); m.ID != "webkit-26.3-b" {
		t.Fatal(m.ID)
	}

	f.clock = f.clock.Add(30 * time.Hour) // stage 2 (5%), 6h into it
	st, err = f.ws.HaltRollout(ctx, "webkit-26.3-b", "crash reports")
	if err != nil || !st.Halted || st.Schedule.Halted.Reason != "crash reports" || !st.Schedule.Halted.At.Equal(f.clock) {
		t.Fatalf("halt: %+v, %v", st, err)
	}
	f.publish()
	if v := f.ws.snapshot.Signed.Meta["rollout.json"].Version; v != 3 {
		t.Fatalf("snapshot lists rollout v%d, want 3", v)
	}

	f.clock = f.clock.Add(10 * time.Hour)
	st, err = f.ws.ResumeRollout(ctx, "webkit-26.3-b")
	if err != nil {
		t.Fatal(err)
	}
	// Resumed where it stopped: stage 2 with 18h left.
	if st.Halted || st.Stage != 2 || !st.NextAt.Equal(f.clock.Add(18*time.Hour)) {
		t.Fatalf("resume: %+v (next %v)", st, st.NextAt)
	}

	f.clock = f.clock.Add(time.Hour)
	st, err = f.ws.SetRollout(ctx, "webkit-26.3-b", 2500)
	if err != nil {
		t.Fatal(err)
	}
	if st.Stage != 3 || st.Percent != "25%" || st.Stages != "canary:100%:1d,5%:7h,25%:365d,100%" {
		t.Fatalf("set 25%%: %+v", st)
	}
	f.publish()

	// Status reads every entry back.
	all, err := f.ws.Rollouts(ctx)
	if err != nil || len(all) != 1 || all[0].Percent != "25%" || all[0].Pending {
		t.Fatalf("rollouts: %+v, %v", all, err)
	}
	f.clock = f.clock.Add(time.Minute)
	if _, err := f.ws.SetRollout(ctx, "webkit-26.3-b", rollout.Full); err != nil {
		t.Fatal(err)
	}
	if all, _ := f.ws.Rollouts(ctx); !all[0].Complete || all[0].NextAt != nil {
		t.Fatalf("after set 100%%: %+v", all[0])
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func mustRead(t *testing.T, p string) []byte {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The rollout role can never be reached by a search for a component's
// payload, nor list one: targets delegates it "rollout/*/*" only.
func TestRolloutDelegationPaths(t *testing.T) {
	f := withRollout(t)
	tg, _ := f.ws.targetsRole(metadata.TARGETS)
	for _, target := range []string{"webkit/webkit-26.3-a.tar.gz", "rollout/x.tar.gz", "rollout.tar.gz"} {
		for _, r := range tg.Signed.Delegations.GetRolesForTarget(target) {
			if r.Name == rollout.Role {
				t.Errorf("a search for %s visits the rollout role", target)
			}
		}
	}
	var d *metadata.DelegatedRole
	for i := range tg.Signed.Delegations.Roles {
		if tg.Signed.Delegations.Roles[i].Name == rollout.Role {
			d = &tg.Signed.Delegations.Roles[i]
		}
	}
	if d == nil || !d.Terminating || len(d.Paths) != 1 || d.Paths[0] != "rollout/*/*" || d.KeyIDs[0] != f.keyID("rollout") {
		t.Fatalf("rollout delegation: %+v", d)
	}
}

func TestRolloutErrors(t *testing.T) {
	f := withRollout(t)
	ctx := t.Context()
	f.add("webkit-26.3-b", "webkit", 2, "webkit1")
	f.add("webkit-26.3-c", "webkit", 3, "webkit1")
	if err := f.ws.Withdraw(ctx, "webkit-26.3-c", "bad", f.key("webkit1")); err != nil {
		t.Fatal(err)
	}
	if _, err := f.ws.StartRollout(ctx, "webkit-26.3-b", time.Time{}, stages(t, "10%:1h,100%")); err != nil {
		t.Fatal(err)
	}
	var ie *ImprovementError
	var re *RolloutError
	var fe *rollout.FieldError
	for _, tc := range []struct {
		name string
		do   func() error
		as   any
		want string
	}{
		{"start unknown id", func() error {
			_, err := f.ws.StartRollout(ctx, "webkit-26.3-z", time.Time{}, stages(t, "100%"))
			return err
		}, &ie, "improvement webkit-26.3-z: not found"},
		{"start twice", func() error {
			_, err := f.ws.StartRollout(ctx, "webkit-26.3-b", time.Time{}, stages(t, "100%"))
			return err
		}, &re, "already rolling out"},
		{"start withdrawn", func() error {
			_, err := f.ws.StartRollout(ctx, "webkit-26.3-c", time.Time{}, stages(t, "100%"))
			return err
		}, &re, "is withdrawn"},
		{"start stages not ending at 100%", func() error {
			_, err := f.ws.StartRollout(ctx, "webkit-26.3-a", time.Time{}, []rollout.Stage{{BasisPoints: 500, HoldSeconds: 60}})
			return err
		}, &fe, "must end at 100%"},
		{"halt not rolling out", func() error {
			_, err := f.ws.HaltRollout(ctx, "webkit-26.3-a", "x")
			return err
		}, &re, "is not rolling out"},
		{"halt without reason", func() error {
			_, err := f.ws.HaltRollout(ctx, "webkit-26.3-b", "")
			return err
		}, &fe, "halted.reason: empty"},
		{"resume not halted", func() error {
			_, err := f.ws.ResumeRollout(ctx, "webkit-26.3-b")
			return err
		}, &re, "is not halted"},
		{"set lower", func() error {
			_, err := f.ws.SetRollout(ctx, "webkit-26.3-b", 500)
			return err
		}, &fe, "stage 2: 5% is lower than stage 1's 10%"},
		{"set not rolling out", func() error {
			_, err := f.ws.SetRollout(ctx, "webkit-26.3-a", 500)
			return err
		}, &re, "is not rolling out"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := tree(t, f.dir)
			err := tc.do()
			if err == nil || !errors.As(err, tc.as) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%v, want %T with %q", err, tc.as, tc.want)
			}
			if d := diffTree(before, tree(t, f.dir)); d != "" {
				t.Fatalf("a refused change changed the workspace: %s", d)
			}
		})
	}
	if _, err := f.ws.HaltRollout(ctx, "webkit-26.3-b", "first"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.ws.HaltRollout(ctx, "webkit-26.3-b", "second"); !errors.As(err, &re) || !strings.Contains(err.Error(), "already halted") || !strings.Contains(err.Error(), "first") {
		t.Fatalf("second halt: %v", err)
	}
	f.clock = f.clock.Add(2 * time.Hour)
	if _, err := f.ws.ResumeRollout(ctx, "webkit-26.3-b"); err != nil {
		t.Fatal(err)
	}
	// Resumed at the start of its 1h stage of 10%; two hours later it is
	// at 100%, and nothing can go lower.
	f.clock = f.clock.Add(2 * time.Hour)
	if _, err := f.ws.SetRollout(ctx, "webkit-26.3-b", 500); !errors.As(err, &re) || !strings.Contains(err.Error(), "already reaches 100% of devices") {
		t.Fatalf("set after completion: %v", err)
	}
}

// A workspace without a rollout role behaves as before; enabling it later
// changes targets, which its keys must sign.
func TestRolloutEnableLater(t *testing.T) {
	f := published(t)
	ctx := t.Context()
	var re *RolloutError
	if _, err := f.ws.StartRollout(ctx, "webkit-26.3-a", time.Time{}, stages(t, "100%")); !errors.As(err, &re) || !strings.Contains(err.Error(), "no rollout role") {
		t.Fatalf("start without a rollout role: %v", err)
	}
	if list, err := f.ws.Rollouts(ctx); err != nil || list != nil {
		t.Fatalf("rollouts: %v, %v", list, err)
	}
	names, _ := f.ws.roleNames()
	if contains(names, rollout.Role) {
		t.Fatal("roles list rollout before it is delegated")
	}
	f.key("rollout")
	if err := f.ws.EnableRollout(ctx, "rollout"); err != nil {
		t.Fatal(err)
	}
	if err := f.ws.EnableRollout(ctx, "rollout"); !errors.As(err, &re) {
		t.Fatalf("second enable: %v", err)
	}
	d, _ := DirDestination(f.public())
	if _, err := f.ws.Publish(ctx, d); err == nil || !strings.Contains(err.Error(), "targets v2") {
		t.Fatalf("publish before targets signs: %v", err)
	}
	f.sign("targets")
	if _, err := f.ws.StartRollout(ctx, "webkit-26.3-a", time.Time{}, stages(t, "50%:1h,100%")); err != nil {
		t.Fatal(err)
	}
	f.publish()
	if mf := f.ws.snapshot.Signed.Meta["rollout.json"]; mf == nil || mf.Version != 1 {
		t.Fatalf("snapshot meta: %+v", f.ws.snapshot.Signed.Meta)
	}
	// Reopened, the workspace still knows the online key.
	f.ws.Close()
	ws, err := Open(ctx, f.dir, f.opts())
	if err != nil {
		t.Fatal(err)
	}
	f.ws = ws
	if _, err := ws.HaltRollout(ctx, "webkit-26.3-a", "x"); err != nil {
		t.Fatal(err)
	}
	f.publish()
}

// A missing key reference (DIR/rollout.json lost) is an error that says
// so, and changes nothing.
func TestRolloutMissingKeyReference(t *testing.T) {
	f := withRollout(t)
	if err := os.Remove(filepath.Join(f.dir, rolloutConfigName)); err != nil {
		t.Fatal(err)
	}
	_, err := f.ws.StartRollout(context.Background(), "webkit-26.3-a", time.Time{}, stages(t, "100%"))
	var re *RolloutError
	if !errors.As(err, &re) || !strings.Contains(err.Error(), "rollout.json is missing") {
		t.Fatalf("%v", err)
	}
}

// Recovery from a lost or compromised rollout key: the new key replaces
// the old one in targets, signs the rollout role, and is used from then on.
func TestRolloutRotateKey(t *testing.T) {
	f := withRollout(t)
	ctx := t.Context()
	if _, err := f.ws.StartRollout(ctx, "webkit-26.3-a", time.Time{}, stages(t, "5%:1h,100%")); err != nil {
		t.Fatal(err)
	}
	f.publish()
	f.key("rollout2")
	if err := f.ws.RotateRolloutKey(ctx, "rollout2"); err != nil {
		t.Fatal(err)
	}
	rk, err := f.ws.keysFor(rollout.Role)
	if err != nil || len(rk.ids) != 1 || rk.ids[0] != f.keyID("rollout2") {
		t.Fatalf("rollout keys after rotation: %v, %v", rk.ids, err)
	}
	tg, _ := f.ws.targetsRole(metadata.TARGETS)
	if _, ok := tg.Signed.Delegations.Keys[f.keyID("rollout")]; ok {
		t.Fatal("the old rollout key is still listed by targets")
	}
	// Only targets waits for signatures; the rollout role is signed.
	pend, _ := f.ws.pending()
	if len(pend) != 1 || pend[0].Role != metadata.TARGETS {
		t.Fatalf("pending after rotation: %+v", pend)
	}
	f.sign("targets")
	if _, err := f.ws.HaltRollout(ctx, "webkit-26.3-a", "x"); err != nil {
		t.Fatal(err)
	}
	f.publish()
	// The old key can no longer sign the rollout role.
	if _, err := f.ws.SetRollout(ctx, "webkit-26.3-a", 5000); err != nil {
		t.Fatal(err)
	}
	if _, err := f.ws.Sign(ctx, f.key("rollout"), rollout.Role); err == nil {
		t.Fatal("the old rollout key signed the rollout role")
	}
	// A rollout.json left pointing at the old key (a crash after the
	// commit) is reported, and rotating again repairs it.
	f.ws.writeRolloutConfig(onlineKey{Ref: "rollout", KeyID: f.keyID("rollout")})
	var re *RolloutError
	if _, err := f.ws.ResumeRollout(ctx, "webkit-26.3-a"); !errors.As(err, &re) || !strings.Contains(err.Error(), "rotate-key") {
		t.Fatalf("stale key reference: %v", err)
	}
	if err := f.ws.RotateRolloutKey(ctx, "rollout2"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.ws.ResumeRollout(ctx, "webkit-26.3-a"); err != nil {
		t.Fatal(err)
	}
}
