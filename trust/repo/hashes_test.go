package repo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// checkPayloadNames checks the payloads of f's default destination: every
// improvement is published under exactly the hashes its entry lists, no
// other payload file is there, and the names of one payload share one
// file (hard links), so no payload is stored twice.
func checkPayloadNames(t *testing.T, f *fixture) {
	t.Helper()
	imps, err := f.ws.List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, imp := range imps {
		m, err := f.ws.targetsRole(imp.Role)
		if err != nil {
			t.Fatal(err)
		}
		tf := m.Signed.Targets[imp.Target]
		dir, base := path.Split(imp.Target)
		var first os.FileInfo
		for _, alg := range sortedKeys(tf.Hashes) {
			name := fmt.Sprintf("targets/%s%x.%s", dir, []byte(tf.Hashes[alg]), base)
			want[name] = true
			fi, err := os.Stat(filepath.Join(f.public(), filepath.FromSlash(name)))
			if err != nil {
				t.Errorf("%s under %s: %v", imp.Target, alg, err)
				continue
			}
			if first == nil {
				first = fi
			} else if !os.SameFile(first, fi) {
				t.Errorf("%s: %s is a second copy of the payload, not a link to its first name", imp.Target, name)
			}
		}
	}
	var got []string
	filepath.WalkDir(filepath.Join(f.public(), "targets"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(f.public(), p)
			got = append(got, filepath.ToSlash(rel))
		}
		return nil
	})
	if d := cmp.Diff(sortedKeys(want), slices.Sorted(slices.Values(got))); d != "" {
		t.Errorf("payload files published (-want +got):\n%s", d)
	}
}

func TestParseHashes(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
		err  string
	}{
		{in: "sha256", want: []string{"sha256"}},
		{in: "sha256,sha512", want: []string{"sha256", "sha512"}},
		{in: "sha512, sha256", want: []string{"sha256", "sha512"}},
		{in: "sha512", err: "sha256 is required"},
		{in: "sha256,sha256", err: "sha256 is listed twice"},
		{in: "sha256,md5", err: `unsupported algorithm "md5"`},
		{in: "sha256,", err: `unsupported algorithm ""`},
		{in: "", err: `unsupported algorithm ""`},
		{in: "SHA256", err: `unsupported algorithm "SHA256"`},
	} {
		got, err := ParseHashes(tc.in)
		var he *HashesError
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("ParseHashes(%q): %v", tc.in, err)
		case tc.err == "" && !slices.Equal(got, tc.want):
			t.Errorf("ParseHashes(%q) = %v, want %v", tc.in, got, tc.want)
		case tc.err != "" && (!errors.As(err, &he) || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("ParseHashes(%q) = %v, %v; want a *HashesError saying %q", tc.in, got, err, tc.err)
		}
	}
}

// FuzzParseHashes: whatever is accepted is sha256 first, each algorithm
// once, and parses again to itself.
func FuzzParseHashes(f *testing.F) {
	for _, s := range []string{"sha256", "sha256,sha512", "sha512,sha256", "sha512", "sha256,,", " sha256 "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		hs, err := ParseHashes(s)
		if err != nil {
			return
		}
		if len(hs) == 0 || hs[0] != "sha256" || len(slices.Compact(slices.Clone(hs))) != len(hs) {
			t.Fatalf("ParseHashes(%q) = %v", s, hs)
		}
		again, err := ParseHashes(strings.Join(hs, ","))
		if err != nil || !slices.Equal(again, hs) {
			t.Fatalf("ParseHashes(%q) = %v, then %v, %v", s, hs, again, err)
		}
	})
}

func TestInitRefusesBadHashes(t *testing.T) {
	f := newFixture(t)
	f.key("snapshot")
	f.key("timestamp")
	_, err := Init(t.Context(), f.dir, f.opts(), InitOptions{RootKeys: f.tufKeys("root1"), TargetsKeys: f.tufKeys("targets"),
		SnapshotKey: "snapshot", TimestampKey: "timestamp", Hashes: []string{"sha512"}})
	var he *HashesError
	if !errors.As(err, &he) {
		t.Fatalf("init with sha512 alone: %v, want a *HashesError", err)
	}
	if _, err := os.Stat(f.dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("init refused but left %s: %v", f.dir, err)
	}
}

// listedHashes returns the algorithms the entry of target lists.
func listedHashes(t *testing.T, f *fixture, target string) []string {
	t.Helper()
	m, err := f.ws.targetsRole(f.ws.roleForTarget(strings.Split(target, "/")[0], target))
	if err != nil {
		t.Fatal(err)
	}
	tf := m.Signed.Targets[target]
	if tf == nil {
		t.Fatalf("%s is not listed", target)
	}
	return sortedKeys(tf.Hashes)
}

// TestHashesDefaultIsSHA256: a new workspace lists sha256 alone and
// publishes each payload once.
func TestHashesDefaultIsSHA256(t *testing.T) {
	f := newFixture(t)
	f.init(1, "root1")
	if err := f.ws.Delegate(t.Context(), "webkit", DelegateOptions{Keys: f.tufKeys("webkit1")}); err != nil {
		t.Fatal(err)
	}
	p := f.add("webkit-26.3-a", "webkit", 1, "webkit1")
	f.sign("root1", "targets")
	f.publish()
	if got := listedHashes(t, f, "webkit/webkit-26.3-a.tar.gz"); !slices.Equal(got, []string{"sha256"}) {
		t.Errorf("hashes listed: %v, want sha256 alone", got)
	}
	if got := f.ws.Hashes(); !slices.Equal(got, []string{"sha256"}) {
		t.Errorf("Hashes() = %v", got)
	}
	checkPayloadNames(t, f)
	f.client().fetch("webkit/webkit-26.3-a.tar.gz", readFile(t, p))
}

// TestSetHashesKeepsListedEntries: a workspace that lists sha256 and
// sha512 (as every workspace did before the setting existed) keeps
// working when the setting goes back to the default: entries already
// signed keep both hashes and both names, new ones list sha256 alone, and
// clients follow both. workspace.json then reads as one written before
// the setting existed (no "hashes").
func TestSetHashesKeepsListedEntries(t *testing.T) {
	f := newFixture(t)
	f.hashes = []string{"sha512", "sha256"}
	f.init(1, "root1")
	ctx := t.Context()
	if err := f.ws.Delegate(ctx, "webkit", DelegateOptions{Keys: f.tufKeys("webkit1")}); err != nil {
		t.Fatal(err)
	}
	pa := f.add("webkit-26.3-a", "webkit", 1, "webkit1")
	f.sign("root1", "targets")
	f.publish()
	c := f.client()
	c.fetch("webkit/webkit-26.3-a.tar.gz", readFile(t, pa))
	checkPayloadNames(t, f)

	if err := f.ws.SetHashes(ctx, nil); err != nil {
		t.Fatal(err)
	}
	data := readFile(t, filepath.Join(f.dir, "workspace.json"))
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	if _, ok := raw["hashes"]; ok {
		t.Errorf("workspace.json keeps hashes %s after going back to the default", raw["hashes"])
	}
	pb := f.add("webkit-26.3-b", "webkit", 2, "webkit1")
	f.publish()
	for target, want := range map[string][]string{
		"webkit/webkit-26.3-a.tar.gz": {"sha256", "sha512"},
		"webkit/webkit-26.3-b.tar.gz": {"sha256"},
	} {
		if got := listedHashes(t, f, target); !slices.Equal(got, want) {
			t.Errorf("%s lists %v, want %v", target, got, want)
		}
	}
	checkPayloadNames(t, f)
	c.fetch("webkit/webkit-26.3-b.tar.gz", readFile(t, pb))
	c.fetch("webkit/webkit-26.3-a.tar.gz", readFile(t, pa))

	// Reopened, the setting holds.
	f.ws.Close()
	w, err := Open(ctx, f.dir, f.opts())
	if err != nil {
		t.Fatal(err)
	}
	f.ws = w
	t.Cleanup(func() { w.Close() })
	if got := w.Hashes(); !slices.Equal(got, []string{"sha256"}) {
		t.Errorf("reopened: Hashes() = %v", got)
	}
	if err := w.SetHashes(ctx, []string{"sha256", "md5"}); err == nil {
		t.Error("SetHashes accepted md5")
	}
}

// failingLinker is a directory destination on a file system where hard
// links fail (another file system below it, or none at all).
type failingLinker struct{ Destination }

func (d failingLinker) Link(context.Context, string, string) error {
	return errors.New("link: cross-device")
}

func (d failingLinker) WriteFileDeferred(ctx context.Context, name string, data []byte) error {
	return d.Destination.(deferredWriter).WriteFileDeferred(ctx, name, data)
}

func (d failingLinker) Flush(ctx context.Context) error {
	return d.Destination.(deferredWriter).Flush(ctx)
}

// TestPayloadCopiedWhenLinkFails: a destination that cannot link gets a
// copy under each name, and clients still follow the tree; a destination
// that cannot link at all (an object store) gets each name uploaded.
func TestPayloadCopiedWhenLinkFails(t *testing.T) {
	for _, tc := range []struct {
		name string
		dest func(t *testing.T, dir string) Destination
	}{
		{"link fails", func(t *testing.T, dir string) Destination { return failingLinker{mustDir(t, dir)} }},
		{"no linker", func(t *testing.T, dir string) Destination { return struct{ Destination }{mustDir(t, dir)} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.hashes = []string{"sha256", "sha512"}
			f.init(1, "root1")
			if err := f.ws.Delegate(t.Context(), "webkit", DelegateOptions{Keys: f.tufKeys("webkit1")}); err != nil {
				t.Fatal(err)
			}
			p := f.add("webkit-26.3-a", "webkit", 1, "webkit1")
			f.sign("root1", "targets")
			res, err := f.ws.Publish(t.Context(), tc.dest(t, f.public()))
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, n := range res.Written {
				if strings.HasPrefix(n, "targets/") {
					names = append(names, n)
				}
			}
			if len(names) != 2 {
				t.Fatalf("payload names written: %v, want 2", names)
			}
			a, errA := os.Stat(filepath.Join(f.public(), names[0]))
			b, errB := os.Stat(filepath.Join(f.public(), names[1]))
			if errA != nil || errB != nil || os.SameFile(a, b) {
				t.Fatalf("want two separate copies: %v %v", errA, errB)
			}
			f.client().fetch("webkit/webkit-26.3-a.tar.gz", readFile(t, p))
		})
	}
}

// TestPublishReadsEachPayloadOnce: the payload bytes verified before
// signing are the bytes written; the content store is read once per new
// payload, not once to verify it and again to copy it.
func TestPublishReadsEachPayloadOnce(t *testing.T) {
	f := newFixture(t)
	f.hashes = []string{"sha256", "sha512"}
	f.init(1, "root1")
	if err := f.ws.Delegate(t.Context(), "webkit", DelegateOptions{Keys: f.tufKeys("webkit1")}); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		f.add(idN(i), "webkit", i, "webkit1")
	}
	f.sign("root1", "targets")
	f.ws.stats.payloads = 0
	f.publish()
	if got := f.ws.stats.payloads; got != 3 {
		t.Errorf("publishing 3 new payloads read the content store %d times, want 3", got)
	}
	checkPayloadNames(t, f)
}

// TestDirDestinationExistsAfterListing: past listAfter look-ups in one
// directory the destination answers from one listing, and stays right
// about names written or linked since; Flush forgets the listing.
func TestDirDestinationExistsAfterListing(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	d := mustDir(t, dir).(*dirDest)
	for i := range 50 {
		if err := d.WriteFileDeferred(ctx, fmt.Sprintf("targets/x/%d", i), []byte("p")); err != nil {
			t.Fatal(err)
		}
	}
	check := func(when string) {
		t.Helper()
		for i := range 2 * listAfter {
			name := fmt.Sprintf("targets/x/%d", i)
			_, err := os.Stat(filepath.Join(dir, name))
			ok, derr := d.Exists(ctx, name)
			if derr != nil || ok != (err == nil) {
				t.Fatalf("%s: Exists(%s) = %v, %v; on disk: %v", when, name, ok, derr, err)
			}
		}
	}
	check("first look-ups")
	if d.listed["targets/x"] == nil {
		t.Fatal("targets/x was not listed")
	}
	if err := d.WriteFileDeferred(ctx, "targets/x/60", []byte("p")); err != nil {
		t.Fatal(err)
	}
	if err := d.Link(ctx, "targets/x/60", "targets/x/61"); err != nil {
		t.Fatal(err)
	}
	check("after a write and a link")
	if err := d.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "targets/x/3")); err != nil {
		t.Fatal(err)
	}
	check("after Flush and a removal")
	if ok, err := d.Exists(ctx, "targets/y/1"); ok || err != nil {
		t.Fatalf("Exists in a missing directory: %v, %v", ok, err)
	}
}
