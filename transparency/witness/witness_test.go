package witness

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/transparency-dev/formats/log"
	fnote "github.com/transparency-dev/formats/note"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
)

func testSigner(t testing.TB, name string) signature.Signer {
	seed := make([]byte, ed25519.SeedSize)
	copy(seed, name)
	s, err := signature.LoadSigner(ed25519.NewKeyFromSeed(seed), crypto.Hash(0))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// testLog is a log of n leaves "leaf i" signed by a fixed key.
type testLog struct {
	t      testing.TB
	signer *NoteSigner
	leaves [][]byte
}

func newTestLog(t testing.TB, origin string) *testLog {
	s, err := NewNoteSigner(origin, testSigner(t, "log "+origin))
	if err != nil {
		t.Fatal(err)
	}
	return &testLog{t: t, signer: s}
}

func (l *testLog) root(n uint64) []byte {
	if n == 0 {
		return rfc6962.DefaultHasher.EmptyRoot()
	}
	return rootOf(l.leaves[:n])
}

// rootOf is the RFC 6962 tree hash of leaves.
func rootOf(leaves [][]byte) []byte {
	if len(leaves) == 1 {
		return rfc6962.DefaultHasher.HashLeaf(leaves[0])
	}
	k := 1
	for k*2 < len(leaves) {
		k *= 2
	}
	return rfc6962.DefaultHasher.HashChildren(rootOf(leaves[:k]), rootOf(leaves[k:]))
}

func (l *testLog) grow(n int, prefix string) {
	for i := 0; i < n; i++ {
		l.leaves = append(l.leaves, []byte(prefix+string(rune('a'+len(l.leaves)))))
	}
}

func (l *testLog) checkpoint(n uint64) []byte {
	cp := log.Checkpoint{Origin: l.signer.Name(), Size: n, Hash: l.root(n)}
	b, err := note.Sign(&note.Note{Text: string(cp.Marshal())}, l.signer)
	if err != nil {
		l.t.Fatal(err)
	}
	return b
}

// consistency returns the RFC 6962 consistency proof from m to n.
func (l *testLog) consistency(m, n uint64) [][]byte {
	nodes, err := proof.Consistency(m, n)
	if err != nil {
		l.t.Fatal(err)
	}
	var hashes [][]byte
	for _, id := range nodes.IDs {
		lo, hi := id.Index<<id.Level, (id.Index+1)<<id.Level
		hashes = append(hashes, rootOf(l.leaves[lo:min(hi, n)]))
	}
	out, err := nodes.Rehash(hashes, rfc6962.DefaultHasher.HashChildren)
	if err != nil {
		l.t.Fatal(err)
	}
	return out
}

var fixedNow = time.Date(2026, 12, 3, 18, 0, 0, 0, time.UTC)

func newTestServer(t testing.TB, logs ...*testLog) (*Server, *Cosigner, string) {
	c, err := NewCosigner("witness.example/w1", testSigner(t, "witness"), func() time.Time { return fixedNow })
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, l := range logs {
		keys = append(keys, l.signer.VerifierKey())
	}
	dir := t.TempDir()
	s, err := NewServer(Config{Signer: c, Logs: keys, StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return s, c, dir
}

func post(t testing.TB, url string, req *AddCheckpoint) ([]byte, error) {
	return Submit(context.Background(), nil, url+"/add-checkpoint", req)
}

func TestWitnessCosignsConsistentCheckpoints(t *testing.T) {
	l := newTestLog(t, "example.com/log")
	s, c, _ := newTestServer(t, l)
	srv := httptest.NewServer(s)
	defer srv.Close()
	v, err := fnote.NewVerifierForCosignatureV1(c.VerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	var old uint64
	for _, grow := range []int{3, 0, 5, 1, 16} {
		l.grow(grow, "x")
		n := uint64(len(l.leaves))
		cp := l.checkpoint(n)
		var p [][]byte
		if old > 0 && old < n {
			p = l.consistency(old, n)
		}
		lines, err := post(t, srv.URL, &AddCheckpoint{OldSize: old, Proof: p, Checkpoint: cp})
		if err != nil {
			t.Fatalf("size %d from %d: %v", n, old, err)
		}
		opened, err := note.Open(append(bytes.Clone(cp), lines...), note.VerifierList(v))
		if err != nil {
			t.Fatalf("size %d: cosignature does not verify: %v", n, err)
		}
		ts, err := fnote.CoSigV1Timestamp(opened.Sigs[0])
		if err != nil || !ts.Equal(fixedNow) {
			t.Fatalf("cosignature timestamp %v, %v; want %v", ts, err, fixedNow)
		}
		old = n
	}
	if got, _ := s.SizeOf("example.com/log"); got != old {
		t.Fatalf("stored size %d, want %d", got, old)
	}
}

func TestAttackWitnessAskedToCosignInconsistentCheckpoint(t *testing.T) {
	l := newTestLog(t, "example.com/log")
	s, _, _ := newTestServer(t, l)
	srv := httptest.NewServer(s)
	defer srv.Close()
	l.grow(5, "x")
	if _, err := post(t, srv.URL, &AddCheckpoint{OldSize: 0, Checkpoint: l.checkpoint(5)}); err != nil {
		t.Fatal(err)
	}
	// A fork: the same key signs a tree of 8 whose first 5 leaves differ.
	fork := newTestLog(t, "example.com/log")
	fork.grow(8, "y")
	forkCP := fork.checkpoint(8)

	// A fork of the same size as the stored checkpoint.
	fork5 := fork.checkpoint(5)

	// A rewrite: the real log's proof for a checkpoint of the fork.
	l.grow(3, "x")
	realProof := l.consistency(5, 8)

	stale := newTestLog(t, "example.com/log")
	stale.grow(3, "x")

	for _, tc := range []struct {
		name string
		req  *AddCheckpoint
		code int
		size uint64 // for a sized conflict
	}{
		{"fork, its own proof", &AddCheckpoint{OldSize: 5, Proof: fork.consistency(5, 8), Checkpoint: forkCP}, http.StatusUnprocessableEntity, 0},
		{"fork, the real log's proof", &AddCheckpoint{OldSize: 5, Proof: realProof, Checkpoint: forkCP}, http.StatusUnprocessableEntity, 0},
		{"fork, no proof", &AddCheckpoint{OldSize: 5, Checkpoint: forkCP}, http.StatusUnprocessableEntity, 0},
		{"split view of the same size", &AddCheckpoint{OldSize: 5, Checkpoint: fork5}, http.StatusConflict, 0},
		{"stale old size", &AddCheckpoint{OldSize: 3, Proof: l.consistency(3, 8), Checkpoint: l.checkpoint(8)}, http.StatusConflict, 5},
		{"rollback to an older checkpoint", &AddCheckpoint{OldSize: 0, Checkpoint: stale.checkpoint(3)}, http.StatusConflict, 5},
		{"old size above the checkpoint", &AddCheckpoint{OldSize: 9, Checkpoint: l.checkpoint(8)}, http.StatusBadRequest, 0},
		{"unknown log", &AddCheckpoint{OldSize: 0, Checkpoint: newTestLog(t, "other.example/log").checkpoint(0)}, http.StatusNotFound, 0},
		{"forged log signature", &AddCheckpoint{OldSize: 5, Proof: realProof, Checkpoint: resigned(t, l.checkpoint(8))}, http.StatusForbidden, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lines, err := post(t, srv.URL, tc.req)
			if lines != nil {
				t.Fatalf("cosigned: %q", lines)
			}
			var ce *ConflictError
			var se *StatusError
			switch {
			case tc.size > 0:
				if !errors.As(err, &ce) || ce.Size != tc.size {
					t.Fatalf("got %v, want a conflict with size %d", err, tc.size)
				}
			case !errors.As(err, &se) || se.Code != tc.code:
				t.Fatalf("got %v, want status %d", err, tc.code)
			}
		})
	}
	if got, _ := s.SizeOf("example.com/log"); got != 5 {
		t.Fatalf("stored size moved to %d after refused requests", got)
	}
	// The real log still gets its cosignature.
	if _, err := post(t, srv.URL, &AddCheckpoint{OldSize: 5, Proof: realProof, Checkpoint: l.checkpoint(8)}); err != nil {
		t.Fatal(err)
	}
}

// resigned returns cp with its signature replaced by one from another key
// of the same name.
func resigned(t testing.TB, cp []byte) []byte {
	n, err := note.Open(cp, note.VerifierList())
	var un *note.UnverifiedNoteError
	if !errors.As(err, &un) {
		t.Fatal(err)
	}
	n = un.Note
	other, _ := NewNoteSigner("example.com/log", testSigner(t, "attacker"))
	forged, _ := other.Sign([]byte(n.Text))
	good, _ := NewNoteSigner("example.com/log", testSigner(t, "log example.com/log"))
	// keep the real key hash so that the witness tries its key and fails
	sig := append([]byte{byte(good.KeyHash() >> 24), byte(good.KeyHash() >> 16), byte(good.KeyHash() >> 8), byte(good.KeyHash())}, forged...)
	return []byte(n.Text + "\n— example.com/log " + b64(sig) + "\n")
}

func TestWitnessStateIsDurable(t *testing.T) {
	l := newTestLog(t, "example.com/log")
	s, c, dir := newTestServer(t, l)
	l.grow(4, "x")
	if _, _, serr := s.add((&AddCheckpoint{Checkpoint: l.checkpoint(4)}).Marshal()); serr != nil {
		t.Fatal(serr)
	}
	// A new server on the same directory (a restart) remembers size 4.
	s2, err := NewServer(Config{Signer: c, Logs: []string{l.signer.VerifierKey()}, StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if _, conflict, _ := s2.add((&AddCheckpoint{Checkpoint: l.checkpoint(4)}).Marshal()); conflict != 4 {
		t.Fatalf("after a restart: conflict %d, want 4", conflict)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(files) != 1 {
		t.Fatalf("state files %v", files)
	}
	os.WriteFile(files[0], []byte("garbage"), 0o600)
	if _, _, serr := s2.add((&AddCheckpoint{OldSize: 4, Checkpoint: l.checkpoint(4)}).Marshal()); serr == nil || serr.code != 500 {
		t.Fatalf("corrupt state: %v", serr)
	}
}

func TestParseAddCheckpoint(t *testing.T) {
	h := b64(make([]byte, 32))
	for _, tc := range []struct {
		body string
		ok   bool
	}{
		{"old 0\n\ncp\n", true},
		{"old 3\n" + h + "\n" + h + "\n\ncp\n", true},
		{"old 03\n\ncp\n", false},
		{"old -1\n\ncp\n", false},
		{"old 3\n" + h + "\ncp\n", false},
		{"old 3\n\n", false},
		{"new 3\n\ncp\n", false},
		{"old 3\n" + h[:40] + "\n\ncp\n", false},
		{"old 3\n" + b64(make([]byte, 31)) + "\n\ncp\n", false},
		{"old 3 \n\ncp\n", false},
	} {
		r, err := ParseAddCheckpoint([]byte(tc.body))
		if (err == nil) != tc.ok {
			t.Errorf("%q: %v", tc.body, err)
		}
		if err == nil && string(r.Marshal()) != tc.body {
			t.Errorf("%q: marshals back as %q", tc.body, r.Marshal())
		}
	}
}

func FuzzParseAddCheckpoint(f *testing.F) {
	f.Add([]byte("old 0\n\nexample.com/log\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n\n— example.com/log AAAA\n"))
	f.Add([]byte("old 3\n" + b64(make([]byte, 32)) + "\n\ncp\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := ParseAddCheckpoint(body)
		if err != nil {
			return
		}
		if !bytes.Equal(r.Marshal(), body) {
			t.Fatalf("accepted a non-canonical body %q", body)
		}
		if len(r.Proof) > MaxProofHashes {
			t.Fatal("too many proof lines")
		}
	})
}
