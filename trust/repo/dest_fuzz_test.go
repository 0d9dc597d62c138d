package repo

import (
	"bytes"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/bsiframework/bsi/manifest"
)

// FuzzDirDestination writes through a directory destination under
// arbitrary names, beside a file that must stay untouched: a name is
// refused, or written inside the destination exactly where it says and
// read back; nothing appears outside it. Seeds: every name a real publish
// (a delegated component, hash bins) wrote, and escapes.
func FuzzDirDestination(f *testing.F) {
	fx := newFixture(f)
	fx.init(1, "root1")
	if err := fx.ws.Delegate(f.Context(), "webkit", DelegateOptions{Keys: fx.tufKeys("webkit1"), Bins: 4}); err != nil {
		f.Fatal(err)
	}
	fx.add("webkit-26.3-a", "webkit", 1, "webkit1")
	fx.sign("root1", "targets")
	fx.publish()
	for _, n := range publishedNames(f, fx.public()) {
		f.Add(n, []byte("x"))
	}
	for _, n := range []string{"../outside", "a/../../outside", "/etc/passwd", "./x", "a//b", "a/", ".", "", "a\\..\\..\\x", "nul\x00"} {
		f.Add(n, []byte("x"))
	}
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		base := t.TempDir()
		dir := filepath.Join(base, "public")
		if err := os.WriteFile(filepath.Join(base, "outside"), []byte("keep"), 0o644); err != nil {
			t.Fatal(err)
		}
		d, err := DirDestination(dir)
		if err != nil {
			t.Fatal(err)
		}
		err = d.WriteFile(t.Context(), name, data)
		if ents, _ := os.ReadDir(base); len(ents) != 2 {
			t.Fatalf("%q: written beside the destination: %v", name, ents)
		}
		if b, _ := os.ReadFile(filepath.Join(base, "outside")); string(b) != "keep" {
			t.Fatalf("%q: the file outside changed to %q", name, b)
		}
		if err != nil {
			if !fs.ValidPath(name) {
				return
			}
			t.Logf("%q: %v", name, err) // a valid name may still clash with a file
			return
		}
		if !fs.ValidPath(name) || name == "." {
			t.Fatalf("%q: accepted an invalid name", name)
		}
		got := publishedNames(t, dir)
		if len(got) != 1 || got[0] != name {
			t.Fatalf("%q: the destination holds %q", name, got)
		}
		if b, err := d.ReadFile(t.Context(), name); err != nil || !bytes.Equal(b, data) {
			t.Fatalf("%q: read back %q, %v", name, b, err)
		}
		if ok, err := d.Exists(t.Context(), name); !ok || err != nil {
			t.Fatalf("%q: Exists %v, %v", name, ok, err)
		}
	})
}

// FuzzComponentNames: a component name the manifest rules accept makes
// role and bin names that are single safe path segments and need no URL
// escaping, so the file a publish writes is the file a client asks for
// (clients percent-encode role names).
func FuzzComponentNames(f *testing.F) {
	for _, s := range []string{"webkit", "safari", "a", "a-b", "a1", "-a", "a..b", "A", "a/b", "..", "a%2f", "é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, component string) {
		if manifest.ValidComponent(component) != nil {
			return
		}
		names := []string{component, "3." + component + ".json"}
		for _, bits := range []int{1, 4, 8} { // 2 to 256 bins
			names = append(names, binNamesFor(component, bits)...)
		}
		for _, n := range names {
			if url.PathEscape(n) != n || strings.HasPrefix(n, ".") || !fs.ValidPath(n) || strings.Contains(n, "/") {
				t.Fatalf("component %q gives the name %q", component, n)
			}
		}
	})
}

// binNamesFor returns the first and last succinct bin of component with
// 2^bits bins, as Delegate names them.
func binNamesFor(component string, bits int) []string {
	sr := metadata.SuccinctRoles{BitLength: bits, NamePrefix: binPrefix(component)}
	roles := sr.GetRoles()
	return []string{roles[0], roles[len(roles)-1]}
}

// publishedNames returns the slash-separated names of every file under
// dir.
func publishedNames(tb testing.TB, dir string) []string {
	tb.Helper()
	var names []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		names = append(names, filepath.ToSlash(rel))
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	return names
}
