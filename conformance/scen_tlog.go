package conformance

import (
	"encoding/hex"
	"strings"

	"github.com/bsiframework/bsi/manifest"
	"github.com/bsiframework/bsi/transparency"
	"github.com/bsiframework/bsi/transparency/tlogtest"
)

// Transparency scenarios of the bsi group (issue 15): the repository lists
// a C2SP tlog-policy in its top-level targets role (three witnesses, a
// quorum of two), and every improvement has a tlog-proof beside its
// payload. The log, the witnesses and the proofs are made here with
// x/mod/sumdb (tlogtest), independently of bsi's publisher.
func tlogScenarios() []Scenario {
	spec := "issue 15 (transparency): DESIGN.md Transparency, on the device"
	return []Scenario{
		{Name: "bsi/tlog-split-view", Description: "the webkit key signs an improvement that the log key appends to a fork no witness cosigned: install exits 3 and it is not installed",
			Spec: spec, Fault: "transparency", Run: bsiTlogSplitView},
		{Name: "bsi/tlog-dropped-policy", Description: "a device that verified a log policy is shown the repository without it (and an unlogged improvement): install exits 3, nothing changes",
			Spec: spec, Fault: "transparency", Run: bsiTlogDroppedPolicy},
	}
}

// tlogRepo is a published repository with a transparency log.
type tlogRepo struct {
	t      *T
	log    *tlogtest.Log
	logged map[string]int64 // target path → log index
}

// tlogStart publishes ms with the real publisher, then lists the log's
// policy in the top-level targets role (re-signed with the targets key),
// logs ms and serves tlog/checkpoint and every proof; the device is
// initialised.
func tlogStart(t *T, ms ...*manifest.Manifest) *tlogRepo {
	start(t, ms...)
	tr := &tlogRepo{t: t, log: tlogtest.NewLog("log.example/bsi", 3), logged: map[string]int64{}}
	t.Repo.AddTarget("targets", transparency.PolicyTarget, tr.log.Policy(2))
	t.Repo.Publish("targets")
	for _, m := range ms {
		tr.append(tr.log, m)
	}
	tr.serve(tr.log, tr.log.Checkpoint(t.Repo.Now, tr.log.Witnesses...), tr.logged)
	return tr
}

// path is the target path of m.
func tlogPath(m *manifest.Manifest) string { return m.Component + "/" + m.ID + ".tar.gz" }

// append logs m, as its role lists it, to l.
func (tr *tlogRepo) append(l *tlogtest.Log, m *manifest.Manifest) int64 {
	p := tlogPath(m)
	tf := tr.t.Repo.Targets[m.Component].Signed.Targets[p]
	if tf == nil {
		tr.t.Fatalf("%s lists no %s", m.Component, p)
	}
	hs := map[string]string{}
	for alg, h := range tf.Hashes {
		hs[alg] = hex.EncodeToString(h)
	}
	custom, err := m.Custom()
	if err != nil {
		tr.t.Fatalf("manifest: %v", err)
	}
	i := l.Append(tlogtest.Entry(transparency.Target{Component: m.Component, Path: p, Length: tf.Length, Hashes: hs, Custom: custom}, 1))
	if l == tr.log {
		tr.logged[p] = i
	}
	return i
}

// serve publishes cp as tlog/checkpoint and the proofs of the entries
// (path → index) of l against it, beside their payloads.
func (tr *tlogRepo) serve(l *tlogtest.Log, cp []byte, entries map[string]int64) {
	tr.t.Repo.Set(transparency.CheckpointPath, cp)
	for p, i := range entries {
		tr.serveProof(p, l.Proof(i, cp))
	}
}

func (tr *tlogRepo) serveProof(p string, proof []byte) {
	dir, base := "", p
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		dir, base = p[:i+1], p[i+1:]
	}
	for _, comp := range []string{"webkit", "libc"} {
		if tf := tr.t.Repo.Targets[comp].Signed.Targets[p]; tf != nil {
			tr.t.Repo.SetPayload(dir+hex.EncodeToString(tf.Hashes["sha256"])+"."+base+transparency.ProofSuffix, proof)
		}
	}
}

func bsiTlogSplitView(t *T) {
	a := improvement("webkit", devRelease, 1)
	tr := tlogStart(t, a)
	t.WantExit("install --all (logged and witnessed)", t.InstallAll(), 0)
	t.WantInstalled("webkit", a.ID)
	// The webkit key lists b; the log key appends it to a fork of the
	// log and signs that fork's checkpoint; no witness ever sees it.
	b := improvement("webkit", devRelease, 2)
	listOutside(t, "webkit", "", b)
	fork := tr.log.Fork()
	i := tr.append(fork, b)
	tr.serveProof(tlogPath(b), fork.Proof(i, fork.Checkpoint(t.Repo.Now)))
	inv := t.InstallAll()
	t.WantExit("install --all (a split view)", inv, 3)
	payload := "targets/webkit/" + hex.EncodeToString(t.Repo.Targets["webkit"].Signed.Targets[tlogPath(b)].Hashes["sha256"]) + "." + b.ID + ".tar.gz"
	for _, r := range inv.Requests {
		if r == payload {
			t.Errorf("requests: the payload of the unwitnessed improvement was downloaded (%v)", inv.Requests)
		}
	}
	t.WantInstalled("webkit", a.ID)
}

func bsiTlogDroppedPolicy(t *T) {
	a := improvement("webkit", devRelease, 1)
	tlogStart(t, a)
	t.WantExit("install --all (logged and witnessed)", t.InstallAll(), 0)
	t.WantInstalled("webkit", a.ID)
	// The targets key (or a mirror replaying an old targets role would be
	// a rollback) drops the policy and lists an unlogged improvement.
	delete(t.Repo.Targets["targets"].Signed.Targets, transparency.PolicyTarget)
	t.Repo.Publish("targets")
	listOutside(t, "webkit", "", improvement("webkit", devRelease, 2))
	inv := t.InstallAll()
	t.WantExit("install --all (policy dropped)", inv, 3)
	wantNothingRequested(t, inv)
	t.WantInstalled("webkit", a.ID)
}

// wantNothingRequested checks that a refused run downloaded no payload.
func wantNothingRequested(t *T, inv *Invocation) { t.WantNotRequested(inv, "targets/") }
