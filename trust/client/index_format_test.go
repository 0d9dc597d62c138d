package client

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// marshalIndexV1 encodes raw's index in format bsi-lookup-index/1, as
// clients before format 2 wrote it: 8 KiB chunk hashes, anchors as spans
// of the role file (none here: the chunks are what make it large).
func marshalIndexV1(raw []byte) []byte {
	sum := sha256.Sum256(raw)
	b := append([]byte("bsi-lookup-index/1\n"), sum[:]...)
	nChunks := (len(raw) + 8<<10 - 1) / (8 << 10)
	for _, v := range []int{len(raw), 1, len(raw) - 1, 0, 0, 0, nChunks} {
		b = binary.BigEndian.AppendUint64(b, uint64(v))
	}
	for off := 0; off < len(raw); off += 8 << 10 {
		c := sha256.Sum256(raw[off:min(off+8<<10, len(raw))])
		b = append(b, c[:]...)
	}
	return b
}

// setIndex stores side as role's look-up index and makes the record vouch
// for it, as a client that wrote it would have.
func setIndex(t *testing.T, dir, role string, side []byte) {
	t.Helper()
	st := store{dir: dir}
	rec := st.readRecord()
	e := rec.Files[role]
	if e == nil || e.Index == "" {
		t.Fatalf("record has no index for %s", role)
	}
	e.Index = indexSum(side)
	if err := os.WriteFile(filepath.Join(dir, indexName(role)), side, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := st.writeRecord(rec); err != nil {
		t.Fatal(err)
	}
}

// TestIndexOldFormatRebuilt: a look-up index the record vouches for but in
// a format this client does not read (format 1, written by an older
// client, or an unknown one) is not used: the role is loaded the usual way
// and the look-up answers right, and the index is rewritten in the current
// format, so the next client reads through it again. (Before format 2, a
// sidecar that hashed to the record was kept even when it did not parse:
// the role was then hashed in full on every warm check.)
func TestIndexOldFormatRebuilt(t *testing.T) {
	for _, tc := range []struct {
		name string
		side func(raw []byte) []byte
	}{
		{"format 1", marshalIndexV1},
		{"unknown format", func([]byte) []byte { return []byte("bsi-lookup-index/9\n") }},
		{"empty", func([]byte) []byte { return nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, dir, paths := indexSim(t)
			raw, err := os.ReadFile(filepath.Join(dir, fileName("webkit")))
			if err != nil {
				t.Fatal(err)
			}
			setIndex(t, dir, "webkit", tc.side(raw))
			p := paths[len(paths)/3]
			c := s.clientAt(t, dir)
			mustRefresh(t, c)
			got, err := c.Lookup(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			if sum := sha256.Sum256([]byte(p)); got.Hashes["sha256"] != hex.EncodeToString(sum[:]) {
				t.Errorf("wrong hashes for %s", p)
			}
			if c.used["webkit"] == fromIndex {
				t.Fatal("webkit read through an index in another format")
			}
			side, err := os.ReadFile(filepath.Join(dir, indexName("webkit")))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := parseIndex(side); err != nil {
				t.Errorf("index not rewritten: %v", err)
			}
			c = s.clientAt(t, dir)
			mustRefresh(t, c)
			if _, err := c.Lookup(ctx, p); err != nil {
				t.Fatal(err)
			}
			if c.used["webkit"] != fromIndex {
				t.Errorf("next client: webkit came from source %d, not the rewritten index", c.used["webkit"])
			}
		})
	}
}

// TestIndexAnchorDisagreesWithFile: the anchor keys of the index are what
// the binary search compares, without reading the role file; a run whose
// first key (read from hashed bytes) is not its anchor's key means the
// index does not describe the file, and the look-up fails with
// errStoredChanged (Lookup then verifies in full) instead of answering
// from the index's word.
func TestIndexAnchorDisagreesWithFile(t *testing.T) {
	raw := bigTargets(1500)
	ix := buildIndex(raw, sha256.Sum256(raw))
	if ix == nil || len(ix.anchors) < 8 {
		t.Fatal("no index with 8 anchors")
	}
	p := filepath.Join(t.TempDir(), "webkit.json")
	if err := os.WriteFile(p, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	as := anchorsOf(ix)
	target := string(as[5].key)
	// Still between its neighbours, so the index parses; but not the key
	// at the start of its segment.
	as[5].key = append([]byte(target), '0')
	setAnchors(ix, as)
	ix, err := parseIndex(ix.marshal())
	if err != nil {
		t.Fatal(err)
	}
	f := &indexedFile{path: p, ix: ix, valid: map[int64][]byte{}}
	if e, _, err := f.find(target+"0", true); !errors.Is(err, errStoredChanged) {
		t.Fatalf("find through a wrong anchor: %q, %v; want errStoredChanged", e, err)
	}
	// The other runs still read.
	if e, _, err := f.find(string(ix.key(2)), true); err != nil || e == nil {
		t.Fatalf("find through a good anchor: %q, %v", e, err)
	}
}

// TestIndexTruncated: every prefix of an encoded index is refused.
func TestIndexTruncated(t *testing.T) {
	raw := bigTargets(1500)
	m := buildIndex(raw, sha256.Sum256(raw)).marshal()
	for n := range len(m) {
		if _, err := parseIndex(m[:n]); err == nil {
			t.Fatalf("truncated to %d of %d bytes: accepted", n, len(m))
		}
	}
	if _, err := parseIndex(append(m, 0)); err == nil {
		t.Fatal("a byte appended: accepted")
	}
}

// TestIndexFirstAnchorNotFirstEntry: the entries before the first anchor
// are never scanned, so a target that sorts before it is absent only if
// the first anchor is the first entry; an index that leaves entries out
// in front (or has no anchor at all) fails the look-up with
// errStoredChanged instead of reporting those targets absent.
func TestIndexFirstAnchorNotFirstEntry(t *testing.T) {
	raw := bigTargets(1500)
	p := filepath.Join(t.TempDir(), "webkit.json")
	if err := os.WriteFile(p, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, drop := range []int{1, -1} {
		ix := buildIndex(raw, sha256.Sum256(raw))
		first := bigTargetName(0)
		if string(ix.key(0)) != first {
			t.Fatalf("first anchor %q, want %q", ix.key(0), first)
		}
		good := &indexedFile{path: p, ix: ix, valid: map[int64][]byte{}}
		if e, _, err := good.find(first, true); err != nil || e == nil {
			t.Fatalf("genuine index: find(%q): %q, %v", first, e, err)
		}
		if e, _, err := good.find("webkit/a", true); err != nil || e != nil {
			t.Fatalf("genuine index: find(webkit/a): %q, %v; want absent", e, err)
		}
		if drop < 0 {
			setAnchors(ix, nil)
		} else {
			setAnchors(ix, anchorsOf(ix)[drop:])
		}
		ix, err := parseIndex(ix.marshal())
		if err != nil {
			t.Fatal(err)
		}
		f := &indexedFile{path: p, ix: ix, valid: map[int64][]byte{}}
		for _, target := range []string{first, "webkit/a"} {
			if e, _, err := f.find(target, true); !errors.Is(err, errStoredChanged) {
				t.Errorf("%d anchors: find(%q): %q, %v; want errStoredChanged", len(ix.anchors), target, e, err)
			}
		}
	}
}

// testAnchor is an anchor as tests read and change it.
type testAnchor struct {
	seg   int
	start int64
	key   []byte
}

func anchorsOf(ix *roleIndex) []testAnchor {
	var as []testAnchor
	for i, a := range ix.anchors {
		as = append(as, testAnchor{seg: int(a.seg), start: ix.start(i), key: bytes.Clone(ix.key(i))})
	}
	return as
}

// setAnchors replaces the anchors of ix (segments and keys as given).
func setAnchors(ix *roleIndex, as []testAnchor) {
	ix.anchors, ix.keys = nil, nil
	for _, a := range as {
		ix.keys = append(ix.keys, a.key...)
		ix.anchors = append(ix.anchors, anchor{seg: int32(a.seg), keyEnd: int32(len(ix.keys))})
	}
}
