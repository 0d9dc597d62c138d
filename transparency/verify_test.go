package transparency_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/bsiframework/bsi/manifest"
	"github.com/bsiframework/bsi/transparency"
	"github.com/bsiframework/bsi/transparency/tlogtest"
	"github.com/bsiframework/bsi/trust"
)

var at = time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)

func target(t testing.TB, id string, seq int) transparency.Target {
	t.Helper()
	m := &manifest.Manifest{Schema: manifest.Schema, ID: id, Title: "fix", Platform: "macos", Component: "webkit",
		AppliesTo: manifest.AppliesTo{Releases: []string{"26.3"}}, Sequence: seq, Severity: manifest.SeverityHigh,
		Released: "2026-11-27T10:00:00Z", Status: manifest.StatusActive}
	custom, err := m.Custom()
	if err != nil {
		t.Fatal(err)
	}
	payload := []byte("payload of " + id)
	sum := sha256.Sum256(payload)
	return transparency.Target{Component: "webkit", Path: "webkit/" + id + ".tar.gz", Length: int64(len(payload)),
		Hashes: map[string]string{"sha256": hex.EncodeToString(sum[:])}, Custom: custom}
}

// world is a log of three witnesses with a quorum of two, holding a few
// entries, and the proof of one target.
type world struct {
	log    *tlogtest.Log
	policy *transparency.Policy
	tgt    transparency.Target
	index  int64
}

func newWorld(t testing.TB) *world {
	t.Helper()
	l := tlogtest.NewLog("log.example/bsi", 3)
	p, err := transparency.ParsePolicy(l.Policy(2))
	if err != nil {
		t.Fatal(err)
	}
	w := &world{log: l, policy: p}
	for i, id := range []string{"webkit-26.3-a", "webkit-26.3-b", "webkit-26.3-c"} {
		tg := target(t, id, i+1)
		idx := l.Append(tlogtest.Entry(tg, int64(i+1)))
		if i == 1 {
			w.tgt, w.index = tg, idx
		}
	}
	l.Append([]byte("bsi.tlog-entry/v1\nkind root\nversion 2\nlength 10\nhash sha256 " + strings.Repeat("0", 64) + "\n"))
	return w
}

func (w *world) proof(cosigners ...*tlogtest.Witness) []byte {
	if cosigners == nil {
		cosigners = w.log.Witnesses
	}
	return w.log.Proof(w.index, w.log.Checkpoint(at, cosigners...))
}

func wantCheck(t *testing.T, err error, check string) {
	t.Helper()
	var te *transparency.TransparencyError
	if !errors.As(err, &te) {
		t.Fatalf("error %v (%T) is not a *TransparencyError", err, err)
	}
	if te.Check != check {
		t.Fatalf("check %q failed (%v), want %q", te.Check, err, check)
	}
	if !errors.Is(err, trust.ErrSecurity) {
		t.Fatalf("%v is not a security error", err)
	}
}

func TestVerifyProof(t *testing.T) {
	w := newWorld(t)
	cp, err := w.policy.VerifyProof(w.proof(), w.tgt, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cp.Size != 4 || cp.Origin != "log.example/bsi" || len(cp.Cosigned) != 3 || !cp.Floor.Equal(at) {
		t.Fatalf("checkpoint %s, cosigned %v, floor %v", cp, cp.Cosigned, cp.Floor)
	}
	if err := cp.NotOlder(cp.Accepted()); err != nil {
		t.Fatalf("the same checkpoint is older than itself: %v", err)
	}
}

func TestAttackProofForAnotherEntry(t *testing.T) {
	w := newWorld(t)
	other := target(t, "webkit-26.3-c", 3)
	_, err := w.policy.VerifyProof(w.proof(), other, nil)
	wantCheck(t, err, transparency.CheckEntry)
	// The right entry with another entry's inclusion proof.
	pr, _ := transparency.ParseProof(w.log.Proof(2, w.log.Checkpoint(at, w.log.Witnesses...)))
	pr.Entry = tlogtest.Entry(w.tgt, 2)
	_, err = w.policy.VerifyProof(pr.Marshal(), w.tgt, nil)
	wantCheck(t, err, transparency.CheckInclusion)
}

func TestAttackCheckpointWithoutQuorum(t *testing.T) {
	w := newWorld(t)
	_, err := w.policy.VerifyProof(w.proof(w.log.Witnesses[0]), w.tgt, nil)
	wantCheck(t, err, transparency.CheckQuorum)
	var te *transparency.TransparencyError
	errors.As(err, &te)
	if len(te.Witnesses) != 2 || !strings.Contains(err.Error(), "witness-2.example") {
		t.Errorf("error %v does not name the two missing witnesses", err)
	}
	// Cosignatures by keys the policy does not name count for nothing.
	strangers := []*tlogtest.Witness{tlogtest.NewWitness("witness-2.example"), tlogtest.NewWitness("other.example")}
	_, err = w.policy.VerifyProof(w.proof(append(strangers, w.log.Witnesses[0])...), w.tgt, nil)
	wantCheck(t, err, transparency.CheckQuorum)
}

func TestAttackForgedCosignature(t *testing.T) {
	w := newWorld(t)
	good := w.proof()
	// Flip a byte inside the last cosignature's signature.
	i := bytes.LastIndex(good, []byte("— witness-3.example "))
	end := bytes.IndexByte(good[i:], '\n') + i
	forged := bytes.Clone(good)
	forged[end-5] ^= 'A' ^ 'B'
	if forged[end-5] == good[end-5] || bytes.Equal(forged, good) {
		t.Fatal("nothing changed")
	}
	_, err := w.policy.VerifyProof(forged, w.tgt, nil)
	wantCheck(t, err, transparency.CheckSignature)
}

func TestAttackSplitView(t *testing.T) {
	w := newWorld(t)
	fork := w.log.Fork()
	evil := target(t, "webkit-26.3-z", 9)
	idx := fork.Append(tlogtest.Entry(evil, 9))
	// The log key signs the fork; no witness saw it.
	_, err := w.policy.VerifyProof(fork.Proof(idx, fork.Checkpoint(at)), evil, nil)
	wantCheck(t, err, transparency.CheckQuorum)
	// A fork of the same size as an accepted checkpoint, even if a quorum
	// were made to cosign it, is refused.
	honest, err := w.policy.VerifyCheckpoint(w.log.Checkpoint(at, w.log.Witnesses...))
	if err != nil {
		t.Fatal(err)
	}
	other := w.log.Fork()
	other.Append([]byte("x")) // size 5
	w.log.Append([]byte("y")) // size 5, other root
	acc, _ := w.policy.VerifyCheckpoint(w.log.Checkpoint(at, w.log.Witnesses...))
	_ = honest
	forked, err := w.policy.VerifyCheckpoint(other.Checkpoint(at, other.Witnesses...))
	if err != nil {
		t.Fatal(err)
	}
	wantCheck(t, forked.NotOlder(acc.Accepted()), transparency.CheckStale)
}

func TestAttackStaleCheckpoint(t *testing.T) {
	w := newWorld(t)
	old := w.proof()
	w.log.Append([]byte("later"))
	newer, err := w.policy.VerifyCheckpoint(w.log.Checkpoint(at, w.log.Witnesses...))
	if err != nil {
		t.Fatal(err)
	}
	_, err = w.policy.VerifyProof(old, w.tgt, newer.Accepted())
	wantCheck(t, err, transparency.CheckStale)
}

func TestProofRefusals(t *testing.T) {
	w := newWorld(t)
	good := w.proof()
	pr, err := transparency.ParseProof(good)
	if err != nil {
		t.Fatal(err)
	}
	mod := func(f func(p *transparency.Proof)) []byte {
		c := *pr
		c.Hashes = append([][32]byte(nil), pr.Hashes...)
		f(&c)
		return c.Marshal()
	}
	for _, tc := range []struct {
		name, check string
		data        []byte
	}{
		{"crlf", transparency.CheckProofFormat, bytes.ReplaceAll(good, []byte("\n"), []byte("\r\n"))},
		{"no extra", transparency.CheckProofFormat, mod(func(p *transparency.Proof) { p.Entry = nil })},
		{"huge", transparency.CheckProofFormat, append(good, bytes.Repeat([]byte("x"), transparency.MaxProofSize)...)},
		{"header", transparency.CheckProofFormat, bytes.Replace(good, []byte("@v1"), []byte("@v2"), 1)},
		{"index leading zero", transparency.CheckProofFormat, bytes.Replace(good, []byte("index 1\n"), []byte("index 01\n"), 1)},
		{"index", transparency.CheckInclusion, mod(func(p *transparency.Proof) { p.Index = 2 })},
		{"index past size", transparency.CheckInclusion, mod(func(p *transparency.Proof) { p.Index = 4 })},
		{"hash", transparency.CheckInclusion, mod(func(p *transparency.Proof) { p.Hashes[0][0] ^= 1 })},
		{"short proof", transparency.CheckInclusion, mod(func(p *transparency.Proof) { p.Hashes = p.Hashes[1:] })},
		{"entry", transparency.CheckEntry, mod(func(p *transparency.Proof) { p.Entry = []byte("not an entry\n") })},
		{"checkpoint", transparency.CheckSignature, mod(func(p *transparency.Proof) {
			p.Checkpoint = bytes.Replace(p.Checkpoint, []byte("\n4\n"), []byte("\n5\n"), 1)
		})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := w.policy.VerifyProof(tc.data, w.tgt, nil)
			wantCheck(t, err, tc.check)
		})
	}
	// Every changed byte of a valid proof is refused (with a quorum of
	// all three witnesses: a cosignature made unrecognisable would
	// otherwise just not count).
	all, err := transparency.ParsePolicy(w.log.Policy(3))
	if err != nil {
		t.Fatal(err)
	}
	// The good proof first, so that its checkpoint is the policy's
	// remembered one: a change elsewhere must still be caught.
	if _, err := all.VerifyProof(good, w.tgt, nil); err != nil {
		t.Fatal(err)
	}
	for i := range good {
		b := bytes.Clone(good)
		b[i] ^= 0x01
		if _, err := all.VerifyProof(b, w.tgt, nil); err == nil {
			t.Fatalf("proof with byte %d changed (%q) verified", i, b[max(0, i-10):min(len(b), i+10)])
		}
	}
}

func TestEntryMatch(t *testing.T) {
	w := newWorld(t)
	e, err := transparency.ParseEntry(tlogtest.Entry(w.tgt, 2))
	if err != nil {
		t.Fatal(err)
	}
	for name, f := range map[string]func(tg *transparency.Target){
		"component": func(tg *transparency.Target) { tg.Component = "safari" },
		"path":      func(tg *transparency.Target) { tg.Path += "x" },
		"length":    func(tg *transparency.Target) { tg.Length++ },
		"hash":      func(tg *transparency.Target) { tg.Hashes = map[string]string{"sha256": strings.Repeat("0", 64)} },
		"more hashes": func(tg *transparency.Target) {
			tg.Hashes = map[string]string{"sha256": tg.Hashes["sha256"], "sha512": strings.Repeat("0", 128)}
		},
		"manifest": func(tg *transparency.Target) { tg.Custom = target(t, "webkit-26.3-b", 3).Custom },
	} {
		tg := w.tgt
		f(&tg)
		wantCheck(t, e.Match(tg), transparency.CheckEntry)
		_ = name
	}
	if err := e.Match(w.tgt); err != nil {
		t.Fatal(err)
	}
}

func TestTimeFloor(t *testing.T) {
	w := newWorld(t)
	ws := w.log.Witnesses
	h := time.Hour
	for _, tc := range []struct {
		name  string
		times []time.Duration // per witness; <0: no cosignature
		want  time.Duration
	}{
		{"all equal", []time.Duration{0, 0, 0}, 0},
		{"second latest of three", []time.Duration{3 * h, 1 * h, 2 * h}, 2 * h},
		{"one witness far ahead", []time.Duration{1000 * h, 0, 1 * h}, 1 * h},
		{"two of three", []time.Duration{-1, 5 * h, 4 * h}, 4 * h},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text := w.log.Checkpoint(at)
			var signed []byte = text
			for i, d := range tc.times {
				if d >= 0 {
					signed = cosign(t, signed, ws[i], at.Add(d))
				}
			}
			cp, err := w.policy.VerifyCheckpoint(signed)
			if err != nil {
				t.Fatal(err)
			}
			if got := transparency.TimeFloor(cp, w.policy); !got.Equal(at.Add(tc.want)) {
				t.Fatalf("floor %v, want %v", got, at.Add(tc.want))
			}
		})
	}
	if got := transparency.Now(at, at.Add(h)); !got.Equal(at.Add(h)) {
		t.Errorf("Now(clock, later floor) = %v", got)
	}
	if got := transparency.Now(at.Add(h), at); !got.Equal(at.Add(h)) {
		t.Errorf("Now(later clock, floor) = %v", got)
	}
}

// cosign appends w's cosignature at time ts to a signed note.
func cosign(t *testing.T, signed []byte, w *tlogtest.Witness, ts time.Time) []byte {
	t.Helper()
	i := bytes.Index(signed, []byte("\n\n"))
	text := signed[:i+1]
	one, err := noteSign(text, w, ts)
	if err != nil {
		t.Fatal(err)
	}
	return append(bytes.Clone(signed), one[len(text)+1:]...)
}

func TestParsePolicy(t *testing.T) {
	l := tlogtest.NewLog("log.example/bsi", 2)
	good := string(l.Policy(2))
	p, err := transparency.ParsePolicy([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if p.Origin != "log.example/bsi" || len(p.Witnesses()) != 2 || p.SHA256() == "" {
		t.Fatalf("policy %+v", p)
	}
	// Witness URLs are optional for devices.
	noURL := strings.ReplaceAll(good, " https://witness-1.example/", "")
	if _, err := transparency.ParsePolicy([]byte(noURL)); err != nil {
		t.Errorf("witness without URL: %v", err)
	}
	logLine := strings.SplitN(good, "\n", 2)[0]
	for name, in := range map[string]string{
		"no log":      strings.Replace(good, logLine+"\n", "", 1),
		"two logs":    logLine + "\n" + good,
		"quorum none": strings.Replace(good, "quorum witnesses", "quorum none", 1),
		"no quorum":   strings.Replace(good, "quorum witnesses\n", "", 1),
		"threshold":   strings.Replace(good, "group witnesses 2", "group witnesses 3", 1),
		"bad key":     strings.Replace(good, "witness w1 witness-1.example+", "witness w1 witness-1.example+0", 1),
		"unknown":     good + "frobnicate x\n",
		"huge":        good + "#" + strings.Repeat("x", transparency.MaxPolicySize),
	} {
		if _, err := transparency.ParsePolicy([]byte(in)); err == nil {
			t.Errorf("%s: accepted", name)
		} else {
			wantCheck(t, err, transparency.CheckPolicy)
		}
	}
}

func FuzzParseProof(f *testing.F) {
	w := newWorld(f)
	f.Add(w.proof())
	f.Add([]byte("c2sp.org/tlog-proof@v1\nextra eA==\nindex 0\n\nx\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := transparency.ParseProof(data)
		if err != nil {
			var te *transparency.TransparencyError
			if !errors.As(err, &te) {
				t.Fatalf("error %T is not a *TransparencyError", err)
			}
			return
		}
		if !bytes.Equal(p.Marshal(), data) {
			t.Fatalf("accepted %q but marshals to %q", data, p.Marshal())
		}
		w.policy.VerifyProof(data, w.tgt, nil) // must not panic
	})
}

func FuzzParsePolicy(f *testing.F) {
	f.Add(tlogtest.NewLog("log.example/bsi", 3).Policy(2))
	f.Add([]byte("log a+01234567+AQ==\nwitness w a+01234567+BA==\nquorum w\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := transparency.ParsePolicy(data)
		if err != nil {
			return
		}
		if p.Origin == "" || len(p.Witnesses()) == 0 {
			t.Fatalf("accepted %q without log or witnesses", data)
		}
	})
}

func FuzzVerifyCheckpoint(f *testing.F) {
	w := newWorld(f)
	f.Add(w.log.Checkpoint(at, w.log.Witnesses...))
	f.Fuzz(func(t *testing.T, data []byte) {
		cp, err := w.policy.VerifyCheckpoint(data)
		if err == nil && len(cp.Cosigned) < 2 {
			t.Fatalf("accepted %q with %d cosignatures", data, len(cp.Cosigned))
		}
	})
}

// BenchmarkVerifyProof is the device's cost per install: verifying one
// proof in a log of 2^20 entries against the target (inclusion proof,
// entry, manifest hash), its checkpoint being the one the check verified.
// It reports the bytes the device downloads per install: the proof, which
// carries the checkpoint and its three cosignatures.
func BenchmarkVerifyProof(b *testing.B) {
	p, tg, proofs := benchProofs(b)
	if _, err := p.VerifyCheckpoint(mustParseProof(b, proofs[0]).Checkpoint); err != nil { // the check
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := p.VerifyProof(proofs[0], tg, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(proofs[0])), "bytes/install")
}

// BenchmarkVerifyProofNewCheckpoint is the same with a checkpoint seen for
// the first time (log signature and three cosignatures verified).
func BenchmarkVerifyProofNewCheckpoint(b *testing.B) {
	p, tg, proofs := benchProofs(b)
	i := 0
	for b.Loop() {
		if _, err := p.VerifyProof(proofs[i%2], tg, nil); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(len(proofs[0])), "bytes/install")
}

func mustParseProof(b *testing.B, data []byte) *transparency.Proof {
	pr, err := transparency.ParseProof(data)
	if err != nil {
		b.Fatal(err)
	}
	return pr
}

// benchProofs logs a target at index 2^20/3 of a log of 2^20 entries and
// returns two proofs of it, against checkpoints cosigned at two times.
func benchProofs(b *testing.B) (*transparency.Policy, transparency.Target, [2][]byte) {
	l := tlogtest.NewLog("log.example/bsi", 3)
	p, err := transparency.ParsePolicy(l.Policy(2))
	if err != nil {
		b.Fatal(err)
	}
	tg := target(b, "webkit-26.3-b", 2)
	const n = 1 << 20
	entry := tlogtest.Entry(tg, 2)
	idx := int64(n / 3)
	for i := range int64(n) {
		if i == idx {
			l.Append(entry)
		} else {
			l.Append([]byte{byte(i), byte(i >> 8), byte(i >> 16)})
		}
	}
	return p, tg, [2][]byte{l.Proof(idx, l.Checkpoint(at, l.Witnesses...)), l.Proof(idx, l.Checkpoint(at.Add(time.Second), l.Witnesses...))}
}
