package publog

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"
	"github.com/transparency-dev/formats/log"
	fnote "github.com/transparency-dev/formats/note"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	"github.com/bsiframework/bsi/manifest"
	"github.com/bsiframework/bsi/transparency"
	"github.com/bsiframework/bsi/transparency/witness"
	"github.com/bsiframework/bsi/trust/repo"
)

type keyring map[string]signature.Signer

func (k keyring) signer(name string) signature.Signer {
	if s, ok := k[name]; ok {
		return s
	}
	seed := make([]byte, ed25519.SeedSize)
	copy(seed, name)
	s, _ := signature.LoadSigner(ed25519.NewKeyFromSeed(seed), crypto.Hash(0))
	k[name] = s
	return s
}

func (k keyring) public(names ...string) []*metadata.Key {
	var out []*metadata.Key
	for _, n := range names {
		pub, _ := k.signer(n).PublicKey()
		key, _ := metadata.KeyFromPublicKey(pub)
		out = append(out, key)
	}
	return out
}

// fixture is a workspace with component webkit, three witnesses on
// 127.0.0.1 and a policy of quorum 2.
type fixture struct {
	t         *testing.T
	dir       string
	keys      keyring
	ws        *repo.Workspace
	dest      repo.Destination
	witnesses []*httptest.Server
	servers   []*witness.Server
	policy    *Policy
	logSigner *witness.NoteSigner
	seq       int
}

const origin = "bsi.example/log"

func newFixture(t *testing.T, quorum int) *fixture {
	ctx := context.Background()
	f := &fixture{t: t, dir: t.TempDir(), keys: keyring{}}
	var err error
	f.logSigner, err = witness.NewNoteSigner(origin, f.keys.signer("log"))
	if err != nil {
		t.Fatal(err)
	}
	var ws []Witness
	for i := range 3 {
		name := fmt.Sprintf("w%d.example", i)
		c, err := witness.NewCosigner(name, f.keys.signer(name), nil)
		if err != nil {
			t.Fatal(err)
		}
		s, err := witness.NewServer(witness.Config{Signer: c, Logs: []string{f.logSigner.VerifierKey()}, StateDir: filepath.Join(f.dir, name)})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(s)
		t.Cleanup(srv.Close)
		f.servers, f.witnesses = append(f.servers, s), append(f.witnesses, srv)
		ws = append(ws, Witness{Name: name, Key: c.VerifierKey(), URL: srv.URL})
	}
	pol := FormatPolicy(f.logSigner.VerifierKey(), "", ws, quorum)
	if f.policy, err = ParsePolicy(pol); err != nil {
		t.Fatal(err)
	}
	opts := repo.Options{
		LoadSigner:   func(_ context.Context, ref string) (signature.Signer, error) { return f.keys.signer(ref), nil },
		Transparency: New(Options{Dir: filepath.Join(f.dir, "ws", "transparency"), Signer: f.logSigner, WitnessTimeout: 5 * time.Second}),
	}
	f.ws, err = repo.Init(ctx, filepath.Join(f.dir, "ws"), opts, repo.InitOptions{
		RootKeys: f.keys.public("root"), RootThreshold: 1, TargetsKeys: f.keys.public("targets"),
		SnapshotKey: "snapshot", TimestampKey: "timestamp"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.ws.Close() })
	if err := f.ws.Delegate(ctx, "webkit", repo.DelegateOptions{Keys: f.keys.public("webkit")}); err != nil {
		t.Fatal(err)
	}
	pf := filepath.Join(f.dir, "policy")
	os.WriteFile(pf, pol, 0o644)
	if err := f.ws.SetTransparencyPolicy(ctx, pf); err != nil {
		t.Fatal(err)
	}
	if _, err := f.ws.Sign(ctx, f.keys.signer("root"), metadata.ROOT); err != nil {
		t.Fatal(err)
	}
	if _, err := f.ws.Sign(ctx, f.keys.signer("targets")); err != nil {
		t.Fatal(err)
	}
	if f.dest, err = repo.DirDestination(filepath.Join(f.dir, "public")); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) add(id string) {
	f.seq++
	m := manifest.Manifest{Schema: manifest.Schema, ID: id, Title: "fix " + id, Platform: "macos", Component: "webkit",
		AppliesTo: manifest.AppliesTo{Releases: []string{"26.3"}}, Sequence: f.seq, Severity: manifest.SeverityHigh,
		Released: "2026-02-27T10:00:00Z", Status: manifest.StatusActive}
	mb, err := m.Encode()
	if err != nil {
		f.t.Fatal(err)
	}
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	content := "fixed library " + id
	tw.WriteHeader(&tar.Header{Name: "lib/" + id + ".dylib", Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg})
	tw.Write([]byte(content))
	tw.Close()
	gz.Close()
	p := filepath.Join(f.dir, id+".tar.gz")
	os.WriteFile(p, buf.Bytes(), 0o644)
	if _, err := f.ws.Add(context.Background(), repo.AddRequest{Manifest: mb, Payload: p,
		Signers: []signature.Signer{f.keys.signer("webkit")}}); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) publish() error {
	_, err := f.ws.Publish(context.Background(), f.dest)
	return err
}

func (f *fixture) read(name string) []byte {
	data, err := os.ReadFile(filepath.Join(f.dir, "public", filepath.FromSlash(name)))
	if err != nil {
		f.t.Fatal(err)
	}
	return data
}

// checkProof verifies a proof file as a device would, with the libraries
// directly: log signature, quorum of witnesses, the entry, inclusion.
func (f *fixture) checkProof(name string, want *transparency.Entry) (size uint64) {
	t := f.t
	data := f.read(name)
	head, cpNote, ok := bytes.Cut(data, []byte("\n\n"))
	if !ok {
		t.Fatalf("%s: no empty line", name)
	}
	lines := strings.Split(string(head), "\n")
	if lines[0] != "c2sp.org/tlog-proof@v1" || !strings.HasPrefix(lines[1], "extra ") || !strings.HasPrefix(lines[2], "index ") {
		t.Fatalf("%s: header %q", name, lines[:3])
	}
	entry, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(lines[1], "extra "))
	if err != nil {
		t.Fatal(err)
	}
	e, err := transparency.ParseEntry(entry)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if e.Path != want.Path || e.ManifestSHA256 != want.ManifestSHA256 || e.Length != want.Length || e.Hashes["sha256"] != want.Hashes["sha256"] {
		t.Fatalf("%s: entry %+v, want %+v", name, e, want)
	}
	index, _ := strconv.ParseUint(strings.TrimPrefix(lines[2], "index "), 10, 64)
	var hashes [][]byte
	for _, l := range lines[3:] {
		h, _ := base64.StdEncoding.DecodeString(l)
		hashes = append(hashes, h)
	}
	verifiers := []note.Verifier{f.policy.Log}
	for _, w := range f.policy.Witnesses {
		verifiers = append(verifiers, w.Verifier)
	}
	n, err := note.Open(cpNote, note.VerifierList(verifiers...))
	if err != nil {
		t.Fatalf("%s: checkpoint: %v", name, err)
	}
	if !f.policy.Group.Satisfied(cpNote) {
		t.Fatalf("%s: checkpoint without the quorum", name)
	}
	for _, s := range n.Sigs {
		if s.Name != origin {
			if ts, err := fnote.CoSigV1Timestamp(s); err != nil || time.Since(ts) > time.Minute {
				t.Fatalf("cosignature time %v %v", ts, err)
			}
		}
	}
	var cp log.Checkpoint
	if _, err := cp.Unmarshal([]byte(n.Text)); err != nil {
		t.Fatal(err)
	}
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, index, cp.Size, rfc6962.DefaultHasher.HashLeaf(entry), hashes, cp.Hash); err != nil {
		t.Fatalf("%s: inclusion: %v", name, err)
	}
	if !bytes.Equal(cpNote, f.read(transparency.CheckpointPath)) {
		t.Fatalf("%s: checkpoint differs from tlog/checkpoint", name)
	}
	return cp.Size
}

// improvements returns the proof names and entries of every target.
func (f *fixture) improvements() map[string]*transparency.Entry {
	out := map[string]*transparency.Entry{}
	imps, err := f.ws.List(context.Background())
	if err != nil {
		f.t.Fatal(err)
	}
	for _, im := range imps {
		tf := f.target(im.Role, im.Target)
		li := entryOf(f.t, tf, im.Target)
		dir, base := filepath.Split(im.Target)
		for alg, h := range tf.Hashes {
			_ = alg
			out[fmt.Sprintf("targets/%s%x.%s%s", dir, []byte(h), base, transparency.ProofSuffix)] = li
		}
	}
	return out
}

func (f *fixture) target(role, target string) *metadata.TargetFiles {
	m, err := metadata.Targets().FromBytes(f.read(fmt.Sprintf("%d.%s.json", f.version(role), role)))
	if err != nil {
		f.t.Fatal(err)
	}
	return m.Signed.Targets[target]
}

func (f *fixture) version(role string) int64 {
	ts, _ := metadata.Timestamp().FromBytes(f.read("timestamp.json"))
	snap, _ := metadata.Snapshot().FromBytes(f.read(fmt.Sprintf("%d.snapshot.json", ts.Signed.Meta["snapshot.json"].Version)))
	return snap.Signed.Meta[role+".json"].Version
}

func entryOf(t *testing.T, tf *metadata.TargetFiles, target string) *transparency.Entry {
	mh, err := transparency.ManifestHash(*tf.Custom)
	if err != nil {
		t.Fatal(err)
	}
	return &transparency.Entry{Path: target, Length: tf.Length, ManifestSHA256: mh,
		Hashes: map[string]string{"sha256": fmt.Sprintf("%x", []byte(tf.Hashes["sha256"]))}}
}

func (f *fixture) logSize() uint64 {
	n, err := note.Open(f.read(transparency.CheckpointPath), note.VerifierList(f.policy.Log))
	if err != nil {
		f.t.Fatal(err)
	}
	var cp log.Checkpoint
	cp.Unmarshal([]byte(n.Text))
	return cp.Size
}

func TestPublishLogsCosignsAndWritesProofs(t *testing.T) {
	f := newFixture(t, 3)
	f.add("wk-1")
	f.add("wk-2")
	if err := f.publish(); err != nil {
		t.Fatal(err)
	}
	// Root 1, two improvements.
	if got := f.logSize(); got != 3 {
		t.Fatalf("log size %d, want 3", got)
	}
	proofs := f.improvements()
	if len(proofs) != 2 { // two improvements, one name each (sha256 alone by default)
		t.Fatalf("%d proofs", len(proofs))
	}
	for name, e := range proofs {
		f.checkProof(name, e)
		// What a device downloads per install, beside the payload: the
		// budget is 2 KiB (three witnesses, sha256 and sha512 listed).
		// At size 3 the proof holds 2 hashes; a log of a million entries
		// needs 20, 45 bytes each.
		if n := len(f.read(name)); n+45*18 > 2048 {
			t.Fatalf("%s: %d bytes; with 20 proof hashes (a log of a million entries) it would pass 2 KiB", name, n)
		} else {
			t.Logf("proof %d bytes at log size 3 (+45 bytes per doubling of the log)", n)
		}
	}
	for _, s := range f.servers {
		if n, _ := s.SizeOf(origin); n != 3 {
			t.Fatalf("witness at size %d", n)
		}
	}
	// The tiles are served from the published tree.
	if _, err := os.Stat(filepath.Join(f.dir, "public", "tlog", "tile", "entries", "000.p", "3")); err != nil {
		t.Fatal(err)
	}

	// A second publish logs only the new improvement; every proof moves
	// to the new checkpoint; the witnesses check consistency from 3.
	f.add("wk-3")
	if err := f.publish(); err != nil {
		t.Fatal(err)
	}
	if got := f.logSize(); got != 4 {
		t.Fatalf("log size %d after one more improvement, want 4", got)
	}
	for name, e := range f.improvements() {
		if size := f.checkProof(name, e); size != 4 {
			t.Fatalf("%s against size %d", name, size)
		}
	}
}

func TestPublishAgainLogsNothingTwice(t *testing.T) {
	f := newFixture(t, 2)
	f.add("wk-1")
	if err := f.publish(); err != nil {
		t.Fatal(err)
	}
	// Withdrawing re-signs webkit: a new fact (the manifest changed), the
	// other target of the role is not logged again.
	f.add("wk-2")
	if err := f.publish(); err != nil {
		t.Fatal(err)
	}
	if got := f.logSize(); got != 3 {
		t.Fatalf("log size %d, want 3", got)
	}
	// Run the log step again with the same facts (a publish that crashed
	// after logging): nothing is appended.
	tr := New(Options{Dir: filepath.Join(f.dir, "ws", "transparency"), Signer: f.logSigner})
	pol, _ := os.ReadFile(filepath.Join(f.dir, "policy"))
	facts := &repo.TransparencyFacts{Policy: pol}
	for _, e := range f.improvements() {
		facts.Improvements = append(facts.Improvements, repo.LoggedImprovement{Entry: transparency.Entry{Kind: transparency.KindImprovement,
			Component: "webkit", Path: e.Path, Length: e.Length, Hashes: f.hashes(e.Path), ManifestSHA256: e.ManifestSHA256, Role: "webkit", RoleVersion: 99}})
	}
	if err := tr.LogPublish(context.Background(), f.dest, facts); err != nil {
		t.Fatal(err)
	}
	if got := f.logSize(); got != 3 {
		t.Fatalf("log size %d after logging the same facts again, want 3", got)
	}
}

func (f *fixture) hashes(target string) map[string]string {
	tf := f.target("webkit", target)
	out := map[string]string{}
	for a, h := range tf.Hashes {
		out[a] = fmt.Sprintf("%x", []byte(h))
	}
	return out
}

func TestPublishNamesTheWitnessesThatDidNotAnswer(t *testing.T) {
	f := newFixture(t, 2)
	f.add("wk-1")
	f.witnesses[1].Close()
	f.witnesses[2].Close()
	err := f.publish()
	var qe *QuorumError
	if !errors.As(err, &qe) {
		t.Fatalf("publish with one witness of three up, quorum 2: %v", err)
	}
	msg := err.Error()
	if !strings.Contains(msg, "w1.example") || !strings.Contains(msg, "w2.example") || strings.Contains(msg, "w0.example (") {
		t.Fatalf("error does not name the missing witnesses: %s", msg)
	}
	if _, err := os.Stat(filepath.Join(f.dir, "public", "timestamp.json")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("metadata published without a quorum: %v", err)
	}
	if _, err := os.Stat(filepath.Join(f.dir, "public", transparency.CheckpointPath)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("checkpoint published without a quorum: %v", err)
	}
}

func TestPublishWithoutTheLogKeyIsRefused(t *testing.T) {
	f := newFixture(t, 2)
	other, _ := witness.NewNoteSigner(origin, f.keys.signer("another log key"))
	tr := New(Options{Dir: filepath.Join(f.dir, "ws", "transparency"), Signer: other})
	pol, _ := os.ReadFile(filepath.Join(f.dir, "policy"))
	err := tr.LogPublish(context.Background(), f.dest, &repo.TransparencyFacts{Policy: pol})
	if err == nil || !strings.Contains(err.Error(), "names log key") {
		t.Fatalf("got %v", err)
	}
}

func TestPublishGivesUpOnAHangingWitness(t *testing.T) {
	f := newFixture(t, 3)
	hang := make(chan struct{})
	defer close(hang)
	f.witnesses[0].Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-hang })
	tr := New(Options{Dir: filepath.Join(f.dir, "ws", "transparency"), Signer: f.logSigner, WitnessTimeout: 300 * time.Millisecond})
	pol, _ := os.ReadFile(filepath.Join(f.dir, "policy"))
	start := time.Now()
	err := tr.LogPublish(context.Background(), f.dest, &repo.TransparencyFacts{Policy: pol,
		Roots: []transparency.Entry{{Kind: transparency.KindRoot, Version: 1, Length: 1, Hashes: map[string]string{"sha256": strings.Repeat("0", 64)}}}})
	var qe *QuorumError
	if !errors.As(err, &qe) || qe.Failed["w0.example"] == nil || len(qe.Cosigned) != 2 {
		t.Fatalf("got %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("took %v with a 300ms witness timeout", d)
	}
}
