package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
)

// TestWriteInStaysInRoot: a directory planted as a link leaving the root
// refuses the write; a link at the name itself is replaced, and the file
// it pointed at keeps its content.
func TestWriteInStaysInRoot(t *testing.T) {
	dir, outside := t.TempDir(), t.TempDir()
	victim := filepath.Join(outside, "key")
	if err := os.WriteFile(victim, []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, l := range [][2]string{{outside, "sub"}, {victim, "name"}} {
		if err := os.Symlink(l[0], filepath.Join(dir, l[1])); err != nil {
			t.Fatal(err)
		}
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	write := func(name string) error {
		return WriteIn(root, ".", name, 0o644, true, func(f *os.File) error {
			_, err := f.Write([]byte("new"))
			return err
		})
	}
	if err := write("sub/key"); err == nil {
		t.Error("write through a directory link leaving the root succeeded")
	}
	if err := write("name"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "secret" {
		t.Errorf("victim = %q", b)
	}
	if fi, err := os.Lstat(filepath.Join(dir, "name")); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("name: %v, want a regular file", err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 2 {
		t.Errorf("directory holds %d entries, want 2 (temporary file left?)", len(ents))
	}
}
