package install

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// FuzzValidateArchive feeds arbitrary bytes to ValidateArchive. It must
// never panic, must refuse with an *ArchiveError, and whatever it accepts
// must extract into its directory and nowhere else: afterwards the parent
// holds only that directory, every entry has the validated type and mode,
// and every symbolic link resolves inside it.
func FuzzValidateArchive(f *testing.F) {
	for _, tc := range hostileArchives() {
		if len(tc.data) < 64<<10 {
			f.Add(tc.data)
		}
	}
	f.Add(tarBytes(f, false, file("VERSION", "1"), exe("bin/tool", "x"), symlink("lib/l", "../VERSION"), hardlink("h", "VERSION")))
	f.Add(tarBytes(f, true, dir("./"), dir("a/"), symlink("a/b", "."), symlink("c", "a/b/b/b"), file("a/f", "x")))
	f.Add(tarBytes(f, false, symlink("s", "d/.."), dir("d/"), symlink("d/x", "../s")))
	f.Add(deepLinkArchive(f, 200)) // TestAttackQuadraticSymlinkArchive, smaller
	f.Fuzz(checkArchive)
}

// FuzzArchiveEntries builds well-formed archives from a line-based
// description ("f name", "d name", "s name target", "h name target"), so
// that the fuzzer explores names and link targets rather than tar framing.
func FuzzArchiveEntries(f *testing.F) {
	for _, seed := range []string{
		"f VERSION\ns lib/l ../VERSION\nh h VERSION",
		"d a\ns a/b .\ns c a/b/b/b\nf a/f",
		"d sub\ns sub/s2 ..\ns x sub/s2/..",
		"s a b\ns b a",
		"s d .\nf d/x",
		"f a\ns b a/..",
		"d a\nd a/b\ns a/b/c ../../a\ns up a/b/c/..",
	} {
		f.Add(seed)
	}
	for _, seed := range linkGraphs {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, desc string) {
		compareWithReference(t, desc)
		var ents []ent
		for _, line := range strings.Split(desc, "\n") {
			fields := strings.SplitN(line, " ", 3)
			if len(fields) < 2 {
				continue
			}
			e := ent{name: fields[1], body: "x"}
			if len(fields) == 3 {
				e.link = fields[2]
			}
			switch fields[0] {
			case "f":
			case "d":
				e = dir(e.name)
			case "s":
				e.typ, e.body = tar.TypeSymlink, ""
			case "h":
				e.typ, e.body = tar.TypeLink, ""
			default:
				continue
			}
			ents = append(ents, e)
		}
		data, err := tryTarBytes(ents)
		if err != nil {
			return // not encodable
		}
		checkArchive(t, data)
	})
}

// checkArchive is the property both fuzz tests check.
func checkArchive(t *testing.T, data []byte) {
	lim := Limits{MaxEntries: 64, MaxFileSize: 1 << 20, MaxTotalSize: 2 << 20}
	entries, err := ValidateArchive(bytes.NewReader(data), lim)
	if err != nil {
		if _, ok := errors.AsType[*ArchiveError](err); !ok {
			t.Fatalf("error %v is not an *ArchiveError", err)
		}
		return
	}
	checkLimits(t, entries, lim)
	parent := t.TempDir()
	dir := filepath.Join(parent, "v")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := extract(context.Background(), bytes.NewReader(data), dir, entries, lim, func(string) {}); err != nil {
		t.Fatalf("accepted archive does not extract: %v", err)
	}
	if got, _ := os.ReadDir(parent); len(got) != 1 {
		t.Fatalf("written next to the version directory: %v", got)
	}
	checkExtracted(t, dir, entries)
	if n := diskBytes(t, dir); n > lim.MaxTotalSize {
		t.Fatalf("extracted %d bytes, over the limit %d", n, lim.MaxTotalSize)
	}
}

// checkLimits fails unless an accepted archive is within lim: entry
// count, each file's size, and the expanded total.
func checkLimits(t *testing.T, entries []Entry, lim Limits) {
	t.Helper()
	if len(entries) > lim.MaxEntries {
		t.Fatalf("%d entries accepted, limit %d", len(entries), lim.MaxEntries)
	}
	var total int64
	for _, e := range entries {
		if e.Size < 0 || e.Size > lim.MaxFileSize {
			t.Fatalf("%s: size %d accepted, limit %d", e.Name, e.Size, lim.MaxFileSize)
		}
		if e.Type == File {
			total += e.Size
		}
	}
	if total > lim.MaxTotalSize {
		t.Fatalf("expanded total %d accepted, limit %d", total, lim.MaxTotalSize)
	}
}

// diskBytes is the content size of the distinct regular files under dir
// (hard links counted once).
func diskBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	var seen []fs.FileInfo
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if !slices.ContainsFunc(seen, func(o fs.FileInfo) bool { return os.SameFile(o, info) }) {
			seen = append(seen, info)
			n += info.Size()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// checkExtracted compares the tree under dir with entries.
func checkExtracted(t *testing.T, dir string, entries []Entry) {
	t.Helper()
	want := map[string]Entry{}
	for _, e := range entries {
		want[e.Name] = e
	}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		info, err := d.Info()
		if err != nil || rel == "." {
			return err
		}
		e, listed := want[rel]
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			if !listed || e.Type != Symlink {
				t.Errorf("%s: unexpected symlink", rel)
			}
			checkLinkInside(t, dir, p)
		case d.IsDir():
			if info.Mode().Perm() != 0o755 || listed && e.Type != Dir {
				t.Errorf("%s: directory mode %v, listed as %v", rel, info.Mode(), e.Type)
			}
		case d.Type().IsRegular():
			if !listed || (e.Type != File && e.Type != Hardlink) || info.Mode() != e.Mode || info.Size() != e.Size {
				t.Errorf("%s: file mode %v size %d, listed as %+v", rel, info.Mode(), info.Size(), e)
			}
		default:
			t.Errorf("%s: unexpected type %v", rel, info.Mode())
		}
		delete(want, rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for name := range want {
		t.Errorf("%s: listed but not written", name)
	}
}

// checkLinkInside fails if the link at p resolves outside dir.
func checkLinkInside(t *testing.T, dir, p string) {
	t.Helper()
	realDir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		t.Fatal(err)
	}
	inside := func(q string) bool {
		return q == realDir || strings.HasPrefix(q, realDir+string(filepath.Separator))
	}
	resolved, err := filepath.EvalSymlinks(p)
	if err == nil && !inside(resolved) {
		t.Errorf("%s resolves to %s, outside %s", p, resolved, realDir)
	}
	if err != nil {
		// Dangling: at least the literal target must stay inside.
		target, _ := os.Readlink(p)
		realParent, _ := filepath.EvalSymlinks(filepath.Dir(p))
		if q := filepath.Join(realParent, target); !inside(q) {
			t.Errorf("dangling %s points to %s, outside %s", p, q, realDir)
		}
	}
}
