package install

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// ent describes one archive entry for the tests.
type ent struct {
	name string
	typ  byte // tar.TypeReg when 0
	body string
	mode int64 // 0644 when 0
	link string
	size int64 // overrides len(body) for headers of devices etc.
}

func file(name, body string) ent       { return ent{name: name, body: body} }
func exe(name, body string) ent        { return ent{name: name, body: body, mode: 0o755} }
func dir(name string) ent              { return ent{name: name, typ: tar.TypeDir, mode: 0o755} }
func symlink(name, target string) ent  { return ent{name: name, typ: tar.TypeSymlink, link: target} }
func hardlink(name, target string) ent { return ent{name: name, typ: tar.TypeLink, link: target} }

// tarBytes builds a tar archive (gzipped when gz) of ents.
func tarBytes(t testing.TB, gz bool, ents ...ent) []byte {
	t.Helper()
	b, err := buildTar(gz, ents...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// tryTarBytes builds a plain tar archive of ents, or fails when the tar
// writer cannot encode them.
func tryTarBytes(ents []ent) ([]byte, error) { return buildTar(false, ents...) }

func buildTar(gz bool, ents ...ent) ([]byte, error) {
	var buf bytes.Buffer
	var w io.Writer = &buf
	var zw *gzip.Writer
	if gz {
		zw = gzip.NewWriter(&buf)
		w = zw
	}
	tw := tar.NewWriter(w)
	for _, e := range ents {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: e.mode, Linkname: e.link}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if h.Typeflag == tar.TypeXGlobalHeader {
			h = &tar.Header{Name: e.name, Typeflag: e.typ, PAXRecords: map[string]string{"comment": "global"}}
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("header %q: %w", e.name, err)
		}
		if _, err := tw.Write([]byte(e.body)); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if zw != nil {
		if err := zw.Close(); err != nil {
			return nil, err
		}
	}
	return buf.Bytes(), nil
}

// writePayload writes an archive of ents to dir/name and returns its path.
func writePayload(t testing.TB, dir, name string, ents ...ent) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, tarBytes(t, true, ents...), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// payloadFor is a small payload for version id: a VERSION file holding id,
// an executable, a subdirectory and an internal symlink.
func payloadFor(t testing.TB, dir, id string) string {
	return writePayload(t, dir, id+".tar.gz",
		file("VERSION", id),
		exe("bin/tool", "#!/bin/sh\necho "+id+"\n"),
		file("lib/libfoo.so.1", "foo "+id),
		symlink("lib/libfoo.so", "libfoo.so.1"),
	)
}

// snapshot describes the tree under root, except the state directory .bsi:
// path -> "dir 755", "file 644 <content>" or "link <target>".
func snapshot(t testing.TB, root string) map[string]string {
	t.Helper()
	m := map[string]string{}
	if _, err := os.Lstat(root); os.IsNotExist(err) {
		return m
	}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		switch {
		case rel == ".":
			return nil
		case rel == ".bsi":
			return fs.SkipDir
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			m[rel] = "link " + target
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if d.IsDir() {
			m[rel] = fmt.Sprintf("dir %o", info.Mode().Perm())
			return nil
		}
		data, err := os.ReadFile(p)
		m[rel] = fmt.Sprintf("file %o %s", info.Mode(), data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// checkStateDir fails unless root/.bsi holds nothing but the lock file.
func checkStateDir(t testing.TB, root string) {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(root, ".bsi"))
	if err != nil {
		if os.IsNotExist(err) {
			return
		}
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != "lock" {
			t.Errorf("state directory holds %s", e.Name())
		}
	}
}

func newInstaller(t testing.TB, opts Options) *Installer {
	t.Helper()
	if opts.Root == "" {
		opts.Root = filepath.Join(t.TempDir(), "root")
	}
	in, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return in
}
