package agent

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bsiframework/bsi/manifest"
	"github.com/bsiframework/bsi/transparency"
	"github.com/bsiframework/bsi/transparency/tlogtest"
	"github.com/bsiframework/bsi/trust"
)

// tlogFixture is a fixture whose repository lists a tlog-policy (three
// witnesses, quorum two) in its top-level targets role and logs what it
// publishes.
type tlogFixture struct {
	*fixture
	log    *tlogtest.Log
	logged map[string]int64  // target path → index in log
	sha    map[string]string // target path → sha256 hex of the payload
}

func newTlogFixture(t *testing.T) *tlogFixture {
	t.Helper()
	f := &tlogFixture{fixture: newFixture(t), log: tlogtest.NewLog("log.example/bsi", 3),
		logged: map[string]int64{}, sha: map[string]string{}}
	if err := f.repo.AddTarget("targets", transparency.PolicyTarget, f.log.Policy(2), nil); err != nil {
		t.Fatal(err)
	}
	if err := f.repo.Publish(); err != nil {
		t.Fatal(err)
	}
	return f
}

func improvementPath(m *manifest.Manifest) string { return m.Component + "/" + m.ID + ".tar.gz" }

// list adds m to its role without logging it.
func (f *tlogFixture) list(m *manifest.Manifest) string {
	f.add(m.Component, m, payloadFor(m))
	p := improvementPath(m)
	sum := sha256.Sum256(payloadFor(m))
	f.sha[p] = hex.EncodeToString(sum[:])
	return p
}

// entry is the log entry of the target p as its role lists it.
func (f *tlogFixture) entry(role, p string) []byte {
	f.t.Helper()
	length, hashes, custom, err := f.repo.Target(role, p)
	if err != nil {
		f.t.Fatal(err)
	}
	return tlogtest.Entry(transparency.Target{Component: role, Path: p, Length: length, Hashes: hashes, Custom: custom}, 1)
}

// proofPath is where the proof of target p is published.
func (f *tlogFixture) proofPath(p string) string {
	dir, name := path.Split(p)
	return "targets/" + dir + f.sha[p] + "." + name + transparency.ProofSuffix
}

// publishLogged lists, logs and publishes ms as the publisher does: the
// checkpoint cosigned at the clock's time by cosigners (every witness
// when none is given), tlog/checkpoint and the proof of every logged
// target against it, then the metadata.
func (f *tlogFixture) publishLogged(cosigners []*tlogtest.Witness, ms ...*manifest.Manifest) []byte {
	f.t.Helper()
	for _, m := range ms {
		p := f.list(m)
		f.logged[p] = f.log.Append(f.entry(m.Component, p))
	}
	if cosigners == nil {
		cosigners = f.log.Witnesses
	}
	cp := f.log.Checkpoint(f.clock.Now(), cosigners...)
	f.repo.Put(transparency.CheckpointPath, cp)
	for p, i := range f.logged {
		f.repo.Put(f.proofPath(p), f.log.Proof(i, cp))
	}
	if err := f.repo.Publish(); err != nil {
		f.t.Fatal(err)
	}
	return cp
}

func (f *tlogFixture) state() *TransparencyState {
	f.t.Helper()
	st, err := readTransparency(filepath.Join(f.fixture.state, tlogFile))
	if err != nil {
		f.t.Fatal(err)
	}
	return st
}

// wantTransparencyError checks that err is a security failure caused by a
// *transparency.TransparencyError of the given check.
func wantTransparencyError(t *testing.T, err error, check string) {
	t.Helper()
	var te *transparency.TransparencyError
	switch {
	case err == nil:
		t.Fatalf("no error, want a transparency failure (%s)", check)
	case !errors.As(err, &te):
		t.Fatalf("error %v is not a *TransparencyError", err)
	case te.Check != check:
		t.Fatalf("check %q failed (%v), want %q", te.Check, err, check)
	case !errors.Is(err, trust.ErrSecurity) || errorClass(err) != "security":
		t.Fatalf("error %v is not a security failure (exit 3)", err)
	}
}

func TestTransparencyInstall(t *testing.T) {
	f := newTlogFixture(t)
	a1, s1 := mf("webkit", 1), mf("safari", 1)
	f.publishLogged(nil, a1, s1)
	f.mustConverge()
	f.wantInstalled("webkit", a1.ID)
	f.wantInstalled("safari", s1.ID)
	st := f.state()
	if st.PolicySHA256 == "" || st.Origin != "log.example/bsi" || st.Checkpoint == nil || st.Checkpoint.Size != 2 ||
		!st.Floor.Equal(f.clock.Now()) {
		t.Fatalf("transparency state %+v", st)
	}
	var proofs int
	for _, r := range f.repo.Requests() {
		if strings.HasSuffix(r, transparency.ProofSuffix) {
			proofs++
		}
	}
	if proofs != 2 {
		t.Errorf("%d proofs fetched, want 2", proofs)
	}
	// A later publish moves the checkpoint and the floor forward.
	f.clock.Add(time.Hour)
	a2 := mf("webkit", 2)
	f.publishLogged(nil, a2)
	f.mustConverge()
	f.wantInstalled("webkit", a2.ID)
	if st := f.state(); st.Checkpoint.Size != 3 || !st.Floor.Equal(f.clock.Now()) {
		t.Fatalf("after the second publish: %+v", st)
	}
}

func TestAttackSplitView(t *testing.T) {
	f := newTlogFixture(t)
	a1 := mf("webkit", 1)
	f.publishLogged(nil, a1)
	f.mustConverge()
	// The webkit key signs an improvement that only this device is shown:
	// the log key appends it to a fork that no witness sees.
	fork := f.log.Fork()
	evil := mf("webkit", 2)
	p := f.list(evil)
	i := fork.Append(f.entry("webkit", p))
	forkCP := fork.Checkpoint(f.clock.Now())
	f.repo.Put(f.proofPath(p), fork.Proof(i, forkCP))
	// Meanwhile safari publishes honestly.
	s1 := mf("safari", 1)
	f.publishLogged(nil, s1)
	_, res, err := f.converge()
	wantTransparencyError(t, err, transparency.CheckQuorum)
	f.wantInstalled("webkit", a1.ID)
	f.wantInstalled("safari", s1.ID)
	if len(res.Failed) != 1 || res.Failed[0].Action.To.Manifest.ID != evil.ID {
		t.Fatalf("failed %v, want the unwitnessed improvement only", res.Failed)
	}
	// Even a fork the witnesses were made to cosign is refused once the
	// device holds a checkpoint of the same size with another root.
	f.repo.Put(f.proofPath(p), fork.Proof(i, fork.Checkpoint(f.clock.Now(), fork.Witnesses...)))
	_, _, err = f.converge()
	wantTransparencyError(t, err, transparency.CheckStale)
	f.wantInstalled("webkit", a1.ID)
	// The fork served as the log's checkpoint fails the whole check.
	f.repo.Put(transparency.CheckpointPath, forkCP)
	rep, _, err := f.converge()
	wantTransparencyError(t, err, transparency.CheckQuorum)
	if rep != nil {
		t.Fatal("a check against an unwitnessed checkpoint returned a plan")
	}
	f.wantInstalled("webkit", a1.ID)
}

func TestAttackProofForAnotherEntry(t *testing.T) {
	f := newTlogFixture(t)
	a1, s1 := mf("webkit", 1), mf("safari", 1)
	f.publishLogged(nil, a1, s1)
	good, _ := f.repo.Files()[f.proofPath(improvementPath(a1))]
	f.repo.Put(f.proofPath(improvementPath(s1)), good) // a valid proof, of webkit's entry
	_, _, err := f.converge()
	wantTransparencyError(t, err, transparency.CheckEntry)
	f.wantInstalled("webkit", a1.ID)
	f.wantInstalled("safari", "")
	// The right entry with the inclusion proof of another one.
	pr, err := transparency.ParseProof(good)
	if err != nil {
		t.Fatal(err)
	}
	pr.Entry = f.entry("safari", improvementPath(s1))
	f.repo.Put(f.proofPath(improvementPath(s1)), pr.Marshal())
	_, _, err = f.converge()
	wantTransparencyError(t, err, transparency.CheckInclusion)
	f.wantInstalled("safari", "")
}

func TestAttackCheckpointWithoutQuorum(t *testing.T) {
	f := newTlogFixture(t)
	a1 := mf("webkit", 1)
	honest := f.publishLogged(nil, a1)
	f.mustConverge()
	a2 := mf("webkit", 2)
	f.publishLogged(f.log.Witnesses[:1], a2)
	rep, _, err := f.converge()
	wantTransparencyError(t, err, transparency.CheckQuorum)
	if rep != nil || !strings.Contains(err.Error(), "witness-2.example") {
		t.Fatalf("report %v, error %v: want no plan and the missing witnesses named", rep, err)
	}
	// With the older witnessed checkpoint served, the proof of a2 still
	// lacks a quorum: a2 is not installed.
	f.repo.Put(transparency.CheckpointPath, honest)
	_, _, err = f.converge()
	wantTransparencyError(t, err, transparency.CheckQuorum)
	f.wantInstalled("webkit", a1.ID)
}

func TestAttackForgedCosignature(t *testing.T) {
	f := newTlogFixture(t)
	a1 := mf("webkit", 1)
	f.publishLogged(nil, a1)
	p := f.proofPath(improvementPath(a1))
	good := f.repo.Files()[p]
	i := bytes.LastIndex(good, []byte("— witness-3.example "))
	end := i + bytes.IndexByte(good[i:], '\n')
	forged := bytes.Clone(good)
	forged[end-6] ^= 0x01 // inside the signature, not its padding
	f.repo.Put(p, forged)
	_, _, err := f.converge()
	wantTransparencyError(t, err, transparency.CheckSignature)
	f.wantInstalled("webkit", "")
}

func TestAttackStaleCheckpoint(t *testing.T) {
	f := newTlogFixture(t)
	a1, s1 := mf("webkit", 1), mf("safari", 1)
	old := f.publishLogged(nil, a1, s1)
	oldProof := f.repo.Files()[f.proofPath(improvementPath(s1))]
	f.mustConverge()
	current := f.publishLogged(nil, mf("webkit", 2))
	f.mustConverge()
	if st := f.state(); st.Checkpoint.Size != 3 {
		t.Fatalf("accepted size %d, want 3", st.Checkpoint.Size)
	}
	// A mirror replays the older checkpoint: the check fails.
	f.repo.Put(transparency.CheckpointPath, old)
	rep, _, err := f.converge()
	wantTransparencyError(t, err, transparency.CheckStale)
	if rep != nil {
		t.Fatal("a check against a stale checkpoint returned a plan")
	}
	// A proof against the older checkpoint is refused too: safari is
	// withdrawn (the device rolls back), reinstated, and its proof
	// replayed from before the device accepted size 3.
	f.repo.Put(transparency.CheckpointPath, current)
	f.withdraw(s1)
	f.mustConverge()
	f.wantInstalled("safari", "")
	if err := f.repo.SetCustom("safari", improvementPath(s1), mustCustom(t, s1)); err != nil {
		t.Fatal(err)
	}
	if err := f.repo.Publish(); err != nil {
		t.Fatal(err)
	}
	f.repo.Put(f.proofPath(improvementPath(s1)), oldProof)
	_, _, err = f.converge()
	wantTransparencyError(t, err, transparency.CheckStale)
	f.wantInstalled("safari", "")
}

func mustCustom(t *testing.T, m *manifest.Manifest) []byte {
	t.Helper()
	c, err := m.Custom()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestAttackDroppedPolicy(t *testing.T) {
	f := newTlogFixture(t)
	a1 := mf("webkit", 1)
	f.publishLogged(nil, a1)
	f.mustConverge()
	// The repository (a mirror, or a holder of the targets key) drops
	// the policy and lists an unlogged improvement.
	f.repo.RemoveTarget("targets", transparency.PolicyTarget)
	f.list(mf("webkit", 2))
	f.repo.Publish()
	rep, _, err := f.converge()
	wantTransparencyError(t, err, transparency.CheckDroppedPolicy)
	if rep != nil {
		t.Fatal("a repository without its policy was planned")
	}
	f.wantInstalled("webkit", a1.ID)
	st, err := ReadStatus(f.fixture.state, f.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if st.LastCheck == nil || st.LastCheck.Class != "security" || !strings.Contains(st.LastCheck.Error, "dropped policy") {
		t.Fatalf("last check %+v does not record the dropped policy", st.LastCheck)
	}
}

func TestAttackPolicyFromComponentRole(t *testing.T) {
	// No top-level policy: a policy listed by a component role is not the
	// repository's and the device does not adopt it.
	f := newFixture(t)
	attacker := tlogtest.NewLog("log.example/bsi", 1)
	if err := f.repo.SetPaths("webkit", "webkit/*", transparency.PolicyTarget); err != nil {
		t.Fatal(err)
	}
	if err := f.repo.AddTarget("webkit", transparency.PolicyTarget, attacker.Policy(1), nil); err != nil {
		t.Fatal(err)
	}
	a1 := mf("webkit", 1)
	f.publish(a1)
	f.mustConverge()
	f.wantInstalled("webkit", a1.ID)
	st, err := readTransparency(filepath.Join(f.state, tlogFile))
	if err != nil || st.PolicySHA256 != "" {
		t.Fatalf("device adopted a component role's policy: %+v %v", st, err)
	}
	// With a top-level policy, the webkit key's own policy, log and
	// witnesses do not make its unlogged improvement installable.
	tf := newTlogFixture(t)
	if err := tf.repo.SetPaths("webkit", "webkit/*", transparency.PolicyTarget); err != nil {
		t.Fatal(err)
	}
	if err := tf.repo.AddTarget("webkit", transparency.PolicyTarget, attacker.Policy(1), nil); err != nil {
		t.Fatal(err)
	}
	tf.publishLogged(nil, a1)
	tf.mustConverge()
	evil := mf("webkit", 2)
	p := tf.list(evil)
	i := attacker.Append(tf.entry("webkit", p))
	tf.repo.Put(tf.proofPath(p), attacker.Proof(i, attacker.Checkpoint(tf.clock.Now(), attacker.Witnesses...)))
	tf.repo.Publish()
	_, _, err = tf.converge()
	wantTransparencyError(t, err, transparency.CheckSignature)
	tf.wantInstalled("webkit", a1.ID)
}

func TestAttackClockResetTo1970FrozenMirror(t *testing.T) {
	f := newTlogFixture(t)
	a1 := mf("webkit", 1)
	f.publishLogged(nil, a1)
	f.mustConverge()
	// The mirror freezes the metadata of day 0 (its timestamp expires on
	// day 1). The witnesses keep cosigning the log; on day 10 the device
	// sees their checkpoint, with its clock reset to 1970.
	day10 := start.Add(10 * 24 * time.Hour)
	f.repo.Put(transparency.CheckpointPath, f.log.Checkpoint(day10, f.log.Witnesses...))
	f.clock.Add(-f.clock.Now().Sub(time.Unix(0, 0)))
	for i := range 2 {
		rep, _, err := f.converge()
		if rep != nil || !errors.Is(err, trust.ErrFreshness) || errors.Is(err, trust.ErrSecurity) {
			t.Fatalf("check %d at 1970 against a frozen mirror: report %v, error %v; want a freshness failure (exit 4)", i+1, rep, err)
		}
	}
	if st := f.state(); !st.Floor.Equal(day10) {
		t.Fatalf("floor %v, want %v", st.Floor, day10)
	}
	// The floor never goes down: an older witnessed checkpoint leaves it.
	f.repo.Put(transparency.CheckpointPath, f.log.Checkpoint(start, f.log.Witnesses...))
	f.converge()
	if st := f.state(); !st.Floor.Equal(day10) {
		t.Fatalf("floor went to %v", st.Floor)
	}
	f.wantInstalled("webkit", a1.ID)
}

func TestStatusTransparency(t *testing.T) {
	f := newTlogFixture(t)
	f.publishLogged(nil, mf("webkit", 1))
	f.mustConverge()
	day := 24 * time.Hour
	for _, tc := range []struct {
		name    string
		clock   time.Duration // device clock at status, from the floor
		raised  time.Duration // device clock when the floor rose, from the floor
		warning string
	}{
		{"in step", time.Hour, 0, ""},
		{"behind", -time.Hour, 0, "is behind the time its log's witnesses vouched for"},
		{"a few seconds behind", -10 * time.Second, 0, ""},
		{"ahead when raised", 3 * day, 2 * day, "ahead: check the clock"},
		{"idle since", 3 * day, time.Minute, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tl := f.state()
			tl.FloorRaised = tl.Floor.Add(tc.raised)
			if err := writeJSON(filepath.Join(f.fixture.state, tlogFile), tl); err != nil {
				t.Fatal(err)
			}
			st, err := ReadStatus(f.fixture.state, tl.Floor.Add(tc.clock))
			if err != nil {
				t.Fatal(err)
			}
			if st.Transparency == nil || !st.Transparency.Floor.Equal(tl.Floor) {
				t.Fatalf("status transparency %+v", st.Transparency)
			}
			var got []string
			for _, a := range st.Attention {
				if strings.Contains(a, "device clock") {
					got = append(got, a)
				}
			}
			switch {
			case tc.warning == "" && len(got) > 0:
				t.Fatalf("unexpected warning %q", got)
			case tc.warning != "" && (len(got) != 1 || !strings.Contains(got[0], tc.warning)):
				t.Fatalf("warnings %q, want one with %q", got, tc.warning)
			}
		})
	}
}
