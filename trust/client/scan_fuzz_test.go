package client

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/bsiframework/bsi/trust"
)

// FuzzScanMatchesDecode: on every role file that the full path accepts
// (decode, checkTargets, canonical form of the signed part: what a file
// had passed before the record lets the client scan it), the byte scan and the look-up
// index find what the full decode finds, for every target it lists and
// one it does not. The index needs a large file, so an accepted input is
// also tried padded with whitespace to the index threshold.
func FuzzScanMatchesDecode(f *testing.F) {
	for _, s := range scanSeeds {
		f.Add([]byte(s))
	}
	f.Add(bigTargets(3))
	f.Add(bigTargets(60)) // padded, an index of several runs
	// Keys encoding/json takes for a field, unlike an exact comparison:
	// other case, escapes, Unicode folding ("\u017f" is a long s).
	for _, k := range [][2]string{{"siGned", "delegations"}, {`\u0073igned`, "delegations"}, {"\u017figned", "targets"},
		{"signed", `\u0044elegations`}, {"signed", "target\u017f"}, {"signed", `Target\u0073`}} {
		f.Add(fmt.Appendf(nil, `{"signatures":[],"%s":{"_type":"targets","version":1,"expires":"2030-01-01T00:00:00Z","targets":{},`+
			`"%s":{"keys":{},"roles":[{"name":"x","keyids":[],"threshold":1,"terminating":false,"paths":["*"]}]}}}`, k[0], k[1]))
	}
	f.Add([]byte(`{"signed":{"_type":"targets","version":1,"expires":"2030-01-01T00:00:00Z","targets":{},` +
		`"Delegations":{"keys":{},"roles":[{"name":"x","keyids":[],"threshold":1,"terminating":false,"paths":["*"]}]}},"signatures":[]}`))
	f.Add([]byte(`{"signed":{"_type":"targets","version":1,"expires":"2030-01-01T00:00:00Z","targets":{"a":{"length":1,"hashes":{"sha256":"00"}}}},` +
		`"\u0073igned":{"_type":"targets","version":1,"expires":"2030-01-01T00:00:00Z","targets":{"a":{"length":2,"hashes":{"sha256":"11"}}}},"signatures":[]}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		var full targetsSigned
		env, err := decode("r", roleTargets, raw, &full)
		if err != nil || checkTargets("r", &full) != nil || canonicalizeOK(env.Signed) != nil {
			return // verification canonicalizes the signed part only
		}
		names := []string{"absent/target", ""}
		for p := range full.Targets {
			names = append(names, p)
		}
		compareFind(t, "scan", &targetsFile{role: "r", raw: raw}, &full, names)
		// Enumeration (paths, then find from the entries it kept).
		ef := &targetsFile{role: "r", raw: raw}
		ps, err := ef.paths()
		if err != nil {
			t.Fatalf("paths: %v on a file the full path accepts", err)
		}
		// In increasing order, as collect's merge needs them.
		if got, want := drain(ps), slices.Sorted(maps.Keys(full.Targets)); !slices.Equal(got, want) {
			t.Fatalf("paths %q, decoded %q", got, want)
		}
		compareFind(t, "entries", ef, &full, names)
		if len(raw) == 0 || raw[0] != '{' {
			return
		}
		padded := append(append([]byte{'{'}, bytes.Repeat([]byte{' '}, indexMin)...), raw[1:]...)
		sum := sha256.Sum256(padded)
		ix := buildIndex(padded, sum)
		if ix == nil {
			return // unsorted or odd keys: no index, the scan serves
		}
		again, err := parseIndex(ix.marshal())
		if err != nil {
			t.Fatalf("index of an accepted file does not parse: %v", err)
		}
		p := filepath.Join(t.TempDir(), "r.json")
		if err := os.WriteFile(p, padded, 0o644); err != nil {
			t.Fatal(err)
		}
		lazy := &targetsFile{role: "r", sum: sum, lazy: &indexedFile{path: p, ix: again, valid: map[int64][]byte{}}}
		compareFind(t, "index", lazy, &full, names)
		// Enumeration through the index, one run at a time: every path
		// once, in order, each found from the run it is in; then finds
		// outside the last run.
		runs := &targetsFile{role: "r", sum: sum, lazy: &indexedFile{path: p, ix: again, valid: map[int64][]byte{}}}
		ps, err = runs.paths()
		if err != nil {
			t.Fatalf("runs: paths: %v on a file the full path accepts", err)
		}
		var got []string
		for ps.next() {
			got = append(got, ps.head)
			compareFind(t, "run", runs, &full, []string{ps.head})
		}
		if ps.err != nil {
			t.Fatalf("runs: %v on a file the full path accepts", ps.err)
		}
		if want := slices.Sorted(maps.Keys(full.Targets)); !slices.Equal(got, want) {
			t.Fatalf("paths through the runs %q, decoded %q", got, want)
		}
		// Only the last run is held.
		if a := again.anchors; runs.raw != nil || len(a) > 1 && slices.ContainsFunc(slices.Collect(maps.Keys(runs.lazy.valid)),
			func(seg int64) bool { return seg >= int64(a[0].seg) && seg < int64(a[len(a)-1].seg) }) {
			t.Fatalf("runs: the file is held whole, or runs before the last (segments %v)", slices.Sorted(maps.Keys(runs.lazy.valid)))
		}
		compareFind(t, "after the runs", runs, &full, names)
	})
}

// drain returns the paths of ps, in the order it gives them.
func drain(ps *pathStream) []string {
	var out []string
	for ps.next() {
		out = append(out, ps.head)
	}
	return out
}

// compareFind requires f.find to agree with the decoded full on names.
func compareFind(t *testing.T, how string, f *targetsFile, full *targetsSigned, names []string) {
	t.Helper()
	for _, p := range names {
		e, d, err := f.find(p)
		if err != nil {
			t.Fatalf("%s: find(%q): %v on a file the full path accepts", how, p, err)
		}
		if diff := cmp.Diff(full.Targets[p], e); diff != "" {
			t.Fatalf("%s: entry %q (-decode +%s):\n%s", how, p, how, diff)
		}
		if diff := cmp.Diff(full.Delegations, d); diff != "" {
			t.Fatalf("%s: delegations (-decode +%s):\n%s", how, how, diff)
		}
	}
}

// FuzzIndexRoundTrip: the look-up index sidecar parser never panics, and
// what it accepts encodes back to the same bytes.
func FuzzIndexRoundTrip(f *testing.F) {
	raw := bigTargets(1500)
	ix := buildIndex(raw, sha256.Sum256(raw))
	if ix == nil {
		f.Fatal("no index for the seed")
	}
	f.Add(ix.marshal())
	f.Add([]byte(indexMagic))
	f.Fuzz(func(t *testing.T, b []byte) {
		ix, err := parseIndex(b)
		if err != nil {
			return
		}
		if got := ix.marshal(); !bytes.Equal(got, b) {
			t.Fatalf("index does not round-trip:\n%x\n%x", b, got)
		}
	})
}

// FuzzIndexTamper changes one byte of a stored role file read through its
// look-up index: a look-up returns what the genuine file lists, or fails
// with errStoredChanged (and the client then verifies in full); never a
// different entry.
func FuzzIndexTamper(f *testing.F) {
	raw := bigTargets(1500)
	sum := sha256.Sum256(raw)
	ix := buildIndex(raw, sum)
	if ix == nil {
		f.Fatal("no index for the seed")
	}
	var full targetsSigned
	if _, err := decode("webkit", roleTargets, raw, &full); err != nil {
		f.Fatal(err)
	}
	f.Add(uint32(ix.start(3)), byte('1'), uint16(100))
	f.Add(uint32(len(raw)/2), byte(0x20), uint16(750))
	f.Add(uint32(ix.targets.end-1), byte('}'), uint16(1499))
	f.Fuzz(func(t *testing.T, off uint32, x byte, n uint16) {
		b := bytes.Clone(raw)
		if x != 0 {
			b[int(off)%len(b)] ^= x
		}
		p := filepath.Join(t.TempDir(), "webkit.json")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		tf := &targetsFile{role: "webkit", sum: sum, lazy: &indexedFile{path: p, ix: ix, valid: map[int64][]byte{}}}
		for _, target := range []string{bigTargetName(int(n) % 1500), bigTargetName(int(n)%1500) + "x", "absent"} {
			e, _, err := tf.find(target)
			if err != nil {
				if !errors.Is(err, errStoredChanged) {
					t.Fatalf("byte %d ^ %#x: find(%q): %v, not errStoredChanged", int(off)%len(b), x, target, err)
				}
				continue
			}
			if diff := cmp.Diff(full.Targets[target], e); diff != "" {
				t.Fatalf("byte %d ^ %#x: entry %q (-genuine +indexed):\n%s", int(off)%len(b), x, target, diff)
			}
		}
		// Enumeration run by run (the whole-file check skipped, as for
		// an index built in memory): every path it gives, with its entry,
		// is the genuine file's, in order, until errStoredChanged.
		runs := &targetsFile{role: "webkit", sum: sum, lazy: &indexedFile{path: p, ix: ix, valid: map[int64][]byte{}, checked: true}}
		ps, err := runs.paths()
		if err != nil {
			if !errors.Is(err, errStoredChanged) {
				t.Fatalf("byte %d ^ %#x: paths: %v, not errStoredChanged", int(off)%len(b), x, err)
			}
			return
		}
		i := 0
		for ; ps.next(); i++ {
			if want := bigTargetName(i); ps.head != want {
				t.Fatalf("byte %d ^ %#x: path %d is %q, genuine %q", int(off)%len(b), x, i, ps.head, want)
			}
			e, _, err := runs.find(ps.head)
			if err != nil && !errors.Is(err, errStoredChanged) {
				t.Fatalf("byte %d ^ %#x: find(%q): %v, not errStoredChanged", int(off)%len(b), x, ps.head, err)
			}
			if diff := cmp.Diff(full.Targets[ps.head], e); err == nil && diff != "" {
				t.Fatalf("byte %d ^ %#x: entry %q (-genuine +run):\n%s", int(off)%len(b), x, ps.head, diff)
			}
		}
		if ps.err != nil && !errors.Is(ps.err, errStoredChanged) {
			t.Fatalf("byte %d ^ %#x: runs: %v, not errStoredChanged", int(off)%len(b), x, ps.err)
		}
		if ps.err == nil && i != len(full.Targets) {
			t.Fatalf("byte %d ^ %#x: %d paths without an error, genuine %d", int(off)%len(b), x, i, len(full.Targets))
		}
	})
}

// bigTargetName is the path of target i of bigTargets.
func bigTargetName(i int) string { return fmt.Sprintf("webkit/webkit-%07d.tar.gz", i) }

// TestWarmLookupOddCaseSigned is the attack FuzzScanMatchesDecode found:
// a network attacker (the snapshot lists no hashes for role files) wraps
// a genuine role file as {"signed": forged, "siGned": genuine, ...}.
// encoding/json matches keys without regard to case and keeps the last,
// so the full verification reads and verifies the genuine part; a warm
// look-up through the verified-state record must read that same part,
// never the forged, unsigned one.
func TestWarmLookupOddCaseSigned(t *testing.T) {
	for _, key := range []string{"siGned", `\u0073igned`, "\u017figned", "SIGNED"} {
		t.Run(key, func(t *testing.T) { warmLookupOddCase(t, key) })
	}
}

func warmLookupOddCase(t *testing.T, key string) {
	s := newSim(t)
	s.delegate("targets", "webkit", []string{"webkit/*"}, false)
	s.addTarget("webkit", "webkit/a.tar.gz", []byte("genuine"), "")
	s.publish("targets", "webkit")
	genuine := s.get("webkit.json")
	var env struct {
		Signatures json.RawMessage `json:"signatures"`
		Signed     json.RawMessage `json:"signed"`
	}
	if err := json.Unmarshal(genuine, &env); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte("forged"))
	forged := fmt.Sprintf(`{"_type":"targets","expires":"2031-01-01T00:00:00Z","spec_version":"1.0.31","targets":{"webkit/a.tar.gz":{"hashes":{"sha256":"%x"},"length":6}},"version":2}`, sum)
	wrapped := fmt.Appendf(nil, `{"signatures":%s,"signed":%s,"%s":%s}`, env.Signatures, forged, key, env.Signed)
	for _, name := range []string{"webkit.json", "2.webkit.json"} {
		s.set(name, wrapped)
	}
	c, dir := s.client(t, false)
	mustRefresh(t, c)
	cold, err := c.Lookup(t.Context(), "webkit/a.tar.gz")
	if err != nil {
		// decode refuses an envelope with a second or odd-case "signed"
		// outright: nothing of it is stored for a warm look-up to read.
		var fe *FormatError
		if !errors.As(err, &fe) || !errors.Is(err, trust.ErrSecurity) {
			t.Fatalf("cold look-up: %v, want a security FormatError", err)
		}
		return
	}
	warm := s.clientAt(t, dir)
	mustRefresh(t, warm)
	got, err := warm.Lookup(t.Context(), "webkit/a.tar.gz")
	if err != nil {
		t.Fatalf("warm look-up: %v", err)
	}
	if got.Length != cold.Length || !equalHashes(got.Hashes, cold.Hashes) {
		t.Fatalf("warm look-up reads the unsigned part: %+v, the verified file lists %+v", got, cold)
	}
}
