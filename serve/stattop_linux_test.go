package serve

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestStatTopMatchesRootStat: the fast path's stat of a name (statTop)
// answers only what Root.Stat would answer, the same way, and leaves to
// Root.Stat every name with a symbolic link on its way, at the top or
// below (a link out of the tree must be refused, one inside followed),
// so that a link never leads the fast path to a file Root.Stat would
// refuse.
func TestStatTopMatchesRootStat(t *testing.T) {
	dir := tree(t)
	base := filepath.Dir(dir)
	payload := "targets/webkit/" + hash64 + ".a.tar.gz"
	must(t, os.MkdirAll(filepath.Join(base, "elsewhere"), 0o755))
	must(t, os.WriteFile(filepath.Join(base, "elsewhere", "x.json"), []byte("outside"), 0o644))
	must(t, os.Symlink("../../elsewhere", filepath.Join(dir, "targets", "out")))
	must(t, os.Symlink("webkit", filepath.Join(dir, "targets", "in")))
	must(t, os.Symlink("../../root.json", filepath.Join(dir, "targets", "webkit", "link.json")))
	must(t, syscall.Mkfifo(filepath.Join(dir, "targets", "webkit", "pipe"), 0o644))
	h, err := NewHandler(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	for _, tc := range []struct {
		name      string
		wantKnown bool
	}{
		{"timestamp.json", true},
		{payload, true},
		{"targets/webkit/missing.tar.gz", true},
		{"targets/nowhere/missing.tar.gz", true},
		{"targets/webkit", true},                      // a directory
		{"targets/webkit/pipe", true},                 // a named pipe: not opened
		{"timestamp.json/x", false},                   // ENOTDIR: Root.Stat's to say
		{"escape.json", false},                        // a link out of the tree
		{"inside.json", false},                        // a link inside it
		{"targets/out/x.json", false},                 // a directory link out of the tree
		{"targets/in/" + hash64 + ".a.tar.gz", false}, // a directory link inside it
		{"targets/webkit/link.json", false},           // a final link inside it
	} {
		id, regular, known := h.statTop(tc.name)
		if known != tc.wantKnown {
			t.Errorf("%s: known %v, want %v", tc.name, known, tc.wantKnown)
		}
		if !known {
			continue
		}
		fi, err := h.root.Stat(tc.name)
		rootRegular := err == nil && fi.Mode().IsRegular()
		if regular != rootRegular || regular && id != identityOf(fi) {
			t.Errorf("%s: statTop regular %v %+v; Root.Stat regular %v (%v)", tc.name, regular, id, rootRegular, err)
		}
	}
}
