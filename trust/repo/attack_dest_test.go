package repo

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAttackDestinationTargetsSymlink: someone who controls a directory
// destination plants "targets" as a symbolic link to another directory.
// Publishing must refuse to write payloads through it: nothing appears
// outside the destination.
func TestAttackDestinationTargetsSymlink(t *testing.T) {
	for _, link := range []string{"targets", "targets/webkit"} {
		t.Run(link, func(t *testing.T) {
			f := newFixture(t)
			f.init(1, "root1")
			must(t, f.ws.Delegate(t.Context(), "webkit", DelegateOptions{Keys: f.tufKeys("webkit1")}))
			f.add("webkit-26.3-a", "webkit", 1, "webkit1")
			f.sign("root1", "targets")
			dest := filepath.Join(t.TempDir(), "dest")
			outside := filepath.Join(t.TempDir(), "outside")
			must(t, os.MkdirAll(outside, 0o755))
			must(t, os.MkdirAll(filepath.Dir(filepath.Join(dest, link)), 0o755))
			must(t, os.Symlink(outside, filepath.Join(dest, link)))
			d, err := DirDestination(dest)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.ws.Publish(context.Background(), d); err == nil {
				t.Fatal("publish through a planted targets link succeeded")
			}
			if got := tree(t, outside); len(got) != 1 {
				t.Errorf("files written outside the destination: %v", names(got))
			}
		})
	}
}

// TestDestinationReplacesPlantedLink: a destination name planted as a
// symbolic link (timestamp.json towards a file outside) is replaced by the
// write, never written through.
func TestDestinationReplacesPlantedLink(t *testing.T) {
	dest := t.TempDir()
	victim := filepath.Join(t.TempDir(), "victim")
	must(t, os.WriteFile(victim, []byte("keep me"), 0o600))
	must(t, os.Symlink(victim, filepath.Join(dest, "timestamp.json")))
	d, err := DirDestination(dest)
	if err != nil {
		t.Fatal(err)
	}
	must(t, d.WriteFile(context.Background(), "timestamp.json", []byte("{}")))
	if got, _ := os.ReadFile(victim); string(got) != "keep me" {
		t.Errorf("victim = %q", got)
	}
	if fi, err := os.Lstat(filepath.Join(dest, "timestamp.json")); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("timestamp.json: %v %v, want a regular file", fi.Mode(), err)
	}
}

// TestAttackWorkspacePublicSymlink: the workspace's default destination
// DIR/public planted as a symbolic link is refused.
func TestAttackWorkspacePublicSymlink(t *testing.T) {
	dir := t.TempDir()
	outside := t.TempDir()
	must(t, os.Symlink(outside, filepath.Join(dir, "public")))
	_, _, err := PublicDestination(dir)
	var ue *UnsafeFileError
	if !errors.As(err, &ue) {
		t.Fatalf("PublicDestination: %v, want an *UnsafeFileError", err)
	}
}

// TestFileURLMustBeAbsolute: file://relative/path used to publish to
// /path at the file system root; it is refused with a hint.
func TestFileURLMustBeAbsolute(t *testing.T) {
	for _, u := range []string{"file://relative/path", "file://repo"} {
		_, _, err := OpenDestination(t.Context(), u)
		var de *DestinationError
		if !errors.As(err, &de) || !strings.Contains(err.Error(), "file:///") {
			t.Errorf("OpenDestination(%q): %v, want a DestinationError with the file:/// hint", u, err)
		}
	}
	dir := filepath.Join(t.TempDir(), "bucket")
	d, closeDest, err := OpenDestination(t.Context(), "file://"+dir)
	if err != nil {
		t.Fatal(err)
	}
	defer closeDest()
	if got := d.(interface{ String() string }).String(); got != "file://"+dir {
		t.Errorf("String() = %q", got)
	}
}

// TestAttackExportFollowsSymlink: an export written to a name planted as a
// symbolic link (or hard link) towards a key file used to overwrite the
// key; WriteOutputFile replaces the link instead.
func TestAttackExportFollowsSymlink(t *testing.T) {
	for _, kind := range []string{"symlink", "hardlink"} {
		t.Run(kind, func(t *testing.T) {
			usb := t.TempDir()
			key := filepath.Join(t.TempDir(), "snapshot.key")
			must(t, os.WriteFile(key, []byte("private"), 0o600))
			out := filepath.Join(usb, "root.json")
			if kind == "symlink" {
				must(t, os.Symlink(key, out))
			} else {
				must(t, os.Link(key, out))
			}
			must(t, WriteOutputFile(out, []byte(`{"signed":{}}`)))
			if got, _ := os.ReadFile(key); string(got) != "private" {
				t.Errorf("key = %q, want it unchanged", got)
			}
			if got, _ := os.ReadFile(out); string(got) != `{"signed":{}}` {
				t.Errorf("export = %q", got)
			}
		})
	}
}
