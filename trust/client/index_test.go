package client

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/bsiframework/bsi/trust"
)

// indexSim is a repository whose "webkit" role is large enough to get a
// look-up index, with paths that need JSON escapes ("<" is written as
// \u003c by go-tuf's encoder) among them, and a client that has looked one
// target up once (which builds the index).
func indexSim(t *testing.T) (*sim, string, []string) {
	s := newSim(t)
	s.metaHashes = true
	s.delegate("targets", "webkit", []string{"webkit/*"}, false)
	var paths []string
	for i := range 1500 {
		p := fmt.Sprintf("webkit/improvement-%05d.tar.gz", i*2) // odd numbers are absent
		if i%100 == 7 {
			p = fmt.Sprintf("webkit/odd<%05d>&name", i*2)
		}
		s.addTarget("webkit", p, []byte(p), `{"bsi":{"sequence":1,"note":"a \"quoted\" webkit/improvement-00001.tar.gz"}}`)
		paths = append(paths, p)
	}
	s.publish("targets", "webkit")
	if n := len(s.get("webkit.json")); n < indexMin {
		t.Fatalf("webkit.json is %d bytes, below indexMin", n)
	}
	c, dir := s.client(t, false)
	mustRefresh(t, c)
	if _, err := c.Lookup(ctx, paths[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, indexName("webkit"))); err != nil {
		t.Fatalf("no index after a full load: %v", err)
	}
	return s, dir, paths
}

// TestIndexedLookupAgrees: every target, and paths around and between
// them, gives through the index exactly what a full parse gives.
func TestIndexedLookupAgrees(t *testing.T) {
	s, dir, paths := indexSim(t)
	full := s.clientAt(t, t.TempDir()) // a client without the index, for reference
	if err := Init(full.cfg.MetadataDir, s.get("1.root.json"), s.now); err != nil {
		t.Fatal(err)
	}
	mustRefresh(t, full)
	all, err := full.Targets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]*Target{}
	for _, tg := range all {
		want[tg.Path] = tg
	}
	probes := slices.Clone(paths)
	probes = append(probes, "webkit/", "webkit/a", "webkit/improvement-00001.tar.gz", "webkit/improvement-02999.tar.gz",
		"webkit/improvement-99999.tar.gz", "webkit/zzz", "webkit/odd<00015>&name", "webkit/improvement-00000.tar.gz.x")
	s.reqs()
	c := s.clientAt(t, dir)
	mustRefresh(t, c)
	for _, p := range probes {
		got, err := c.Lookup(ctx, p)
		if w := want[p]; w == nil {
			if _, ok := err.(*NotFoundError); !ok {
				t.Errorf("%s: got %v, %v; want not found", p, got, err)
			}
			continue
		} else if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		if diff := cmp.Diff(want[p], got); diff != "" {
			t.Errorf("%s: (-full +indexed)\n%s", p, diff)
		}
	}
	if c.used["webkit"] != fromIndex {
		t.Errorf("webkit came from source %d, not through the index", c.used["webkit"])
	}
	if got, want := s.reqs(), []string{"2.root.json", "timestamp.json"}; !slices.Equal(got, want) {
		t.Errorf("requests %q, want %q", got, want)
	}
}

// TestIndexedLookupStoredFileChanged: a byte of the stored role changed
// on disk (the file now differs from what was verified) is caught by the
// chunk hashes; the look-up then verifies or fetches the role again and
// still answers right.
func TestIndexedLookupStoredFileChanged(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(t *testing.T, dir string)
	}{
		{"bit flipped in an entry", func(t *testing.T, dir string) {
			flipByte(t, filepath.Join(dir, fileName("webkit")), func(b []byte) int {
				return slices.Index(b, 'i') + len(b)/2
			})
		}},
		{"role file truncated", func(t *testing.T, dir string) {
			p := filepath.Join(dir, fileName("webkit"))
			b, _ := os.ReadFile(p)
			os.WriteFile(p, b[:len(b)/2], 0o644)
		}},
		{"index corrupted", func(t *testing.T, dir string) {
			flipByte(t, filepath.Join(dir, indexName("webkit")), func(b []byte) int { return len(b) - 1 })
		}},
		{"index removed", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, indexName("webkit")))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, dir, paths := indexSim(t)
			tc.change(t, dir)
			c := s.clientAt(t, dir)
			mustRefresh(t, c)
			p := paths[len(paths)/2]
			got, err := c.Lookup(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			if sum := sha256.Sum256([]byte(p)); got.Hashes["sha256"] != hex.EncodeToString(sum[:]) {
				t.Errorf("wrong hashes for %s", p)
			}
			if c.used["webkit"] == fromIndex {
				t.Errorf("webkit still read through the index")
			}
			// The next client finds a sound index again.
			c = s.clientAt(t, dir)
			mustRefresh(t, c)
			if _, err := c.Lookup(ctx, p); err != nil {
				t.Fatal(err)
			}
			if c.used["webkit"] != fromIndex {
				t.Errorf("after recovery, webkit came from source %d, not the index", c.used["webkit"])
			}
		})
	}
}

// TestIndexedFileChangedAfterLoad: the file changes between loading the
// role and reading the chunk the target is in; the look-up notices and
// verifies again instead of answering from unverified bytes.
func TestIndexedFileChangedAfterLoad(t *testing.T) {
	s, dir, paths := indexSim(t)
	c := s.clientAt(t, dir)
	mustRefresh(t, c)
	if _, err := c.Lookup(ctx, paths[0]); err != nil {
		t.Fatal(err)
	}
	p := paths[len(paths)-3]
	flipByte(t, filepath.Join(dir, fileName("webkit")), func(b []byte) int {
		return slices.Index(b, []byte(p)[0]) + len(b)*9/10
	})
	if _, err := c.Lookup(ctx, p); err != nil {
		t.Fatal(err)
	}
}

func flipByte(t *testing.T, path string, at func([]byte) int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	i := at(b) % len(b)
	b[i] ^= 0x01
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestBuildIndexDeclines(t *testing.T) {
	entry := func(p string) string {
		return fmt.Sprintf(`%q:{"length":1,"hashes":{"sha256":"%064x"}}`, p, 0)
	}
	build := func(paths []string, extra string) *roleIndex {
		b := []byte(`{"signatures":[],"signed":{"_type":"targets"` + extra + `,"targets":{`)
		for i, p := range paths {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, entry(p)...)
		}
		b = append(b, "}}}"...)
		return buildIndex(b, sha256.Sum256(b))
	}
	var sorted []string
	for i := range 4000 {
		sorted = append(sorted, fmt.Sprintf("c/%06d", i))
	}
	if build(sorted, "") == nil {
		t.Fatal("sorted role got no index")
	}
	if build(sorted[:10], "") != nil {
		t.Error("small role got an index")
	}
	unsorted := slices.Clone(sorted)
	unsorted[100], unsorted[200] = unsorted[200], unsorted[100]
	if build(unsorted, "") != nil {
		t.Error("unsorted role got an index")
	}
	dup := slices.Clone(sorted)
	dup[101] = dup[100]
	if build(dup, "") != nil {
		t.Error("role with a duplicate key got an index")
	}
	if build(sorted, `,"Targets":{}`) != nil {
		t.Error("role with an odd key got an index")
	}
	// Keys sorted across both objects: the index would cover the second.
	if build(sorted, `,"targets":{`+entry("a")+`}`) != nil {
		t.Error(`role with two "targets" got an index`)
	}
	if build(sorted, `,"delegations":{},"delegations":{}`) != nil {
		t.Error(`role with two "delegations" got an index`)
	}
}

func TestIndexRoundTrip(t *testing.T) {
	var b []byte
	b = append(b, `{"signed":{"delegations":{"keys":{},"roles":[]},"targets":{`...)
	for i := range 3000 {
		if i > 0 {
			b = append(b, ',')
		}
		b = fmt.Appendf(b, `"p/%05d":{"length":%d,"hashes":{"sha256":"%064x"}}`, i, i, i)
	}
	b = append(b, "}}}"...)
	ix := buildIndex(b, sha256.Sum256(b))
	if ix == nil {
		t.Fatal("no index")
	}
	got, err := parseIndex(ix.marshal())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(ix, got, cmp.AllowUnexported(roleIndex{}, span{}, anchor{})); diff != "" {
		t.Fatal(diff)
	}
	run := int64(runBytes(len(b)))
	if n := int64(len(got.anchors)); n < int64(len(b))/(2*run) || n > int64(len(b))/run+1 {
		t.Errorf("%d anchors in %d bytes, runs of %d", n, len(b), run)
	}
	for i, a := range anchorsOf(got) {
		if b[a.start] != '"' || got.segStart(a.seg) != a.start || !bytes.HasPrefix(b[a.start+1:], append(a.key, '"')) {
			t.Errorf("anchor %d at %d, segment %d: %q", i, a.start, a.seg, b[a.start:a.start+20])
		}
	}
	for i := range got.nSegs() {
		if h := sha256.Sum256(b[got.segStart(i):got.end(i)]); !bytes.Equal(h[:], got.hash(i)) {
			t.Errorf("segment %d: wrong hash", i)
		}
	}
	// Every truncation is refused.
	m := ix.marshal()
	for _, n := range []int{0, 10, len(indexMagic) + 32, len(m) - 1} {
		if _, err := parseIndex(m[:n]); err == nil {
			t.Errorf("truncated to %d: accepted", n)
		}
	}
}

// FuzzParseIndex: a stored index is trusted state; whatever its bytes,
// parsing must not panic, and an accepted one must have spans inside the
// file it claims.
func FuzzParseIndex(f *testing.F) {
	var b []byte
	b = append(b, `{"signed":{"targets":{`...)
	for i := range 15000 {
		if i > 0 {
			b = append(b, ',')
		}
		b = fmt.Appendf(b, `"p/%05d":{"length":1}`, i)
	}
	b = append(b, "}}}"...)
	f.Add(buildIndex(b, sha256.Sum256(b)).marshal())
	f.Add([]byte(indexMagic))
	f.Fuzz(func(t *testing.T, data []byte) {
		ix, err := parseIndex(data)
		if err != nil {
			return
		}
		if ix.targets.end > ix.size || ix.nSegs() == 0 || ix.end(ix.nSegs()-1) != ix.size {
			t.Fatalf("accepted index with spans outside the file: %+v", ix.targets)
		}
		as := anchorsOf(ix)
		for i, a := range as {
			if a.start < ix.targets.start || a.start >= ix.targets.end || ix.segStart(a.seg) != a.start ||
				i > 0 && bytes.Compare(as[i-1].key, a.key) >= 0 {
				t.Fatalf("accepted anchor %d: %+v", i, a)
			}
		}
	})
}

// TestAttackLargeRoleSignsMalformedEntry: a team's key signs a role large
// enough to be checked entry by entry, not decoded into a map, with one
// entry that has no hashes (or a negative length). The role is refused
// as malformed before the device sees any of its targets, as a small
// role is: no component lists a target it cannot verify the bytes of.
func TestAttackLargeRoleSignsMalformedEntry(t *testing.T) {
	for _, tc := range []struct {
		name  string
		spoil func(tf *metadata.TargetFiles)
	}{
		{"no hashes", func(tf *metadata.TargetFiles) { tf.Hashes = metadata.Hashes{} }},
		{"negative length", func(tf *metadata.TargetFiles) { tf.Length = -1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSim(t)
			s.delegate("targets", "webkit", []string{"webkit/*"}, false)
			var bad string
			for i := range 1500 {
				p := fmt.Sprintf("webkit/improvement-%05d.tar.gz", i)
				tf := s.addTarget("webkit", p, []byte(p), `{"bsi":{"sequence":1}}`)
				if i == 1234 {
					tc.spoil(tf)
					bad = p
				}
			}
			s.publish("targets", "webkit")
			if n := len(s.get("webkit.json")); n < indexMin {
				t.Fatalf("webkit.json is %d bytes, below indexMin", n)
			}
			c, _ := s.client(t, false)
			mustRefresh(t, c)
			comps, err := c.Components(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var fe *FormatError
			if len(comps) != 1 || comps[0].Role != "webkit" || len(comps[0].Targets) != 0 ||
				!errors.As(comps[0].Err, &fe) || !errors.Is(comps[0].Err, trust.ErrSecurity) || !strings.Contains(fe.Error(), strconv.Quote(bad)) {
				for _, c := range comps {
					t.Errorf("component %s: %d targets, err %v", c.Role, len(c.Targets), c.Err)
				}
				t.Fatalf("want webkit alone, with no targets and a security FormatError naming %q", bad)
			}
			if _, err := c.Lookup(ctx, "webkit/improvement-00001.tar.gz"); !errors.As(err, &fe) {
				t.Fatalf("Lookup of a good entry of the refused role: %v, want a *FormatError", err)
			}
		})
	}
}

// TestComponentsFuncStoredFileChanged: enumeration reads a role through
// its look-up index one run at a time, so the stored file is read again
// after the pre-pass checked it whole. A file changed on disk before the
// pre-pass makes the enumeration start again the usual way, fn seeing
// every target once; one changed after fn saw targets gives the "check
// again" error (not a security error: nothing was attacked but the
// device's own disk), and fn never sees a target the change made.
func TestComponentsFuncStoredFileChanged(t *testing.T) {
	sorted := func(paths []string) []string { return slices.Sorted(slices.Values(paths)) }
	checkTarget := func(t *testing.T, tg *Target) {
		t.Helper()
		if sum := sha256.Sum256([]byte(tg.Path)); tg.Hashes["sha256"] != hex.EncodeToString(sum[:]) {
			t.Errorf("fn saw %s with hashes %v", tg.Path, tg.Hashes)
		}
	}
	t.Run("before the pre-pass", func(t *testing.T) {
		s, dir, paths := indexSim(t)
		c := s.clientAt(t, dir)
		mustRefresh(t, c)
		flipByte(t, filepath.Join(dir, fileName("webkit")), func(b []byte) int {
			return slices.Index(b, 'i') + len(b)/2
		})
		var seen []string
		comps, err := c.ComponentsFunc(ctx, func(role string, tg *Target) bool {
			checkTarget(t, tg)
			seen = append(seen, tg.Path)
			return false
		})
		if err != nil {
			t.Fatal(err)
		}
		if want := sorted(paths); !slices.Equal(seen, want) {
			t.Errorf("fn saw %d targets, want each of %d once, in order", len(seen), len(want))
		}
		if len(comps) != 1 || comps[0].Err != nil {
			t.Errorf("components %+v", comps)
		}
		if c.used["webkit"] == fromIndex {
			t.Errorf("webkit still read through the index")
		}
	})
	t.Run("during enumeration", func(t *testing.T) {
		s, dir, paths := indexSim(t)
		c := s.clientAt(t, dir)
		mustRefresh(t, c)
		n := 0
		_, err := c.ComponentsFunc(ctx, func(role string, tg *Target) bool {
			checkTarget(t, tg)
			if n++; n == 1 {
				// Past the first run, which is read already.
				flipByte(t, filepath.Join(dir, fileName("webkit")), func(b []byte) int {
					return bytes.LastIndex(b, []byte(`"length"`)) + 3
				})
			}
			return false
		})
		if err == nil || !errors.Is(err, errStoredChanged) || !strings.Contains(err.Error(), "check again") {
			t.Fatalf("got %v after %d targets, want the check again error", err, n)
		}
		if errors.Is(err, trust.ErrSecurity) || errors.Is(err, trust.ErrFreshness) {
			t.Errorf("%v is a security or freshness error", err)
		}
		if n >= len(paths) {
			t.Errorf("fn saw all %d targets before the error", n)
		}
		// Checking again, the role is verified again the usual way.
		c = s.clientAt(t, dir)
		mustRefresh(t, c)
		got, err := c.Targets(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(paths) {
			t.Errorf("checking again: %d targets, want %d", len(got), len(paths))
		}
		for _, tg := range got {
			checkTarget(t, tg)
		}
	})
}
