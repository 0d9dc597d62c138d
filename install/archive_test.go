package install

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// hostileArchive is an archive that must be refused with problem, blaming
// entry.
type hostileArchive struct {
	name    string
	data    []byte
	lim     Limits
	problem Problem
	entry   string
}

// hostileArchives builds the table once per test binary.
var hostileArchives = sync.OnceValue(func() []hostileArchive { return buildHostileArchives(panicTB{}) })

// panicTB lets the archive builders run outside a test; they only fail on
// a bug in the test itself.
type panicTB struct{ testing.TB }

func (panicTB) Helper()                   {}
func (panicTB) Fatal(args ...any)         { panic(fmt.Sprint(args...)) }
func (panicTB) Fatalf(f string, a ...any) { panic(fmt.Sprintf(f, a...)) }

func buildHostileArchives(t testing.TB) []hostileArchive {
	small := Limits{MaxEntries: 10, MaxFileSize: 64 << 10, MaxTotalSize: 64 << 10}
	ok := file("ok", "fine")
	return []hostileArchive{
		{"absolute path", tarBytes(t, true, ok, file("/etc/cron.d/x", "pwned")), Limits{}, ProblemAbsolute, "/etc/cron.d/x"},
		{"dot-dot", tarBytes(t, true, file("../x", "pwned")), Limits{}, ProblemDotDot, "../x"},
		{"dot-dot inside path", tarBytes(t, true, dir("a/"), file("a/../../x", "pwned")), Limits{}, ProblemDotDot, "a/../../x"},
		{"dot-dot that stays inside", tarBytes(t, false, file("a/../b", "x")), Limits{}, ProblemDotDot, "a/../b"},
		{"symlink to /etc/passwd", tarBytes(t, true, symlink("passwd", "/etc/passwd")), Limits{}, ProblemLinkEscapes, "passwd"},
		{"symlink to ../..", tarBytes(t, true, dir("a/"), symlink("a/up", "../..")), Limits{}, ProblemLinkEscapes, "a/up"},
		{"symlink through another symlink", tarBytes(t, true,
			dir("sub/"), symlink("sub/s2", ".."), symlink("x", "sub/s2/..")), Limits{}, ProblemLinkEscapes, "x"},
		{"symlink loop", tarBytes(t, false, symlink("a", "b"), symlink("b", "a")), Limits{}, ProblemLinkEscapes, "a"},
		{"empty symlink target", tarBytes(t, false, symlink("a", "")), Limits{}, ProblemBadName, "a"},
		{"write through symlink", tarBytes(t, true, dir("d/"), symlink("l", "d"), file("l/f", "x")), Limits{}, ProblemParent, "l/f"},
		{"write below a file", tarBytes(t, true, file("f", "x"), file("f/g", "y")), Limits{}, ProblemParent, "f/g"},
		{"hardlink outside", tarBytes(t, true, hardlink("h", "../../etc/shadow")), Limits{}, ProblemHardlink, "h"},
		{"hardlink to absolute", tarBytes(t, true, hardlink("h", "/etc/shadow")), Limits{}, ProblemHardlink, "h"},
		{"hardlink to later file", tarBytes(t, true, hardlink("h", "f"), file("f", "x")), Limits{}, ProblemHardlink, "h"},
		{"hardlink to symlink", tarBytes(t, true, symlink("s", "f"), hardlink("h", "s")), Limits{}, ProblemHardlink, "h"},
		{"char device", tarBytes(t, true, ent{name: "null", typ: tar.TypeChar}), Limits{}, ProblemSpecialFile, "null"},
		{"block device", tarBytes(t, true, ent{name: "sda", typ: tar.TypeBlock}), Limits{}, ProblemSpecialFile, "sda"},
		{"fifo", tarBytes(t, true, ent{name: "pipe", typ: tar.TypeFifo}), Limits{}, ProblemSpecialFile, "pipe"},
		{"duplicate entry", tarBytes(t, true, file("a", "1"), file("a", "2")), Limits{}, ProblemDuplicate, "a"},
		{"duplicate directory", tarBytes(t, true, dir("d/"), dir("./d/")), Limits{}, ProblemDuplicate, "./d/"},
		{"file over an implicit directory", tarBytes(t, true, file("d/f", "1"), symlink("d", ".")), Limits{}, ProblemDuplicate, "d"},
		{"file over limit", tarBytes(t, true, file("big", strings.Repeat("x", 11))), Limits{MaxFileSize: 10}, ProblemFileTooLarge, "big"},
		{"total over limit", gzipBomb(t), small, ProblemTooLarge, "f2"},
		{"gzip bomb after the archive", gzipTrailingBomb(t), small, ProblemTooLarge, ""},
		{"too many entries", tarBytes(t, true, file("a", ""), file("b", ""), file("c", ""), file("d", "")), Limits{MaxEntries: 3}, ProblemTooMany, "d"},
		{"NUL in name", paxNUL(t), Limits{}, ProblemMalformed, ""},
		{"non-UTF-8 name", tarBytes(t, true, file("bad\xff", "x")), Limits{}, ProblemNotUTF8, "bad\xff"},
		{"empty component", tarBytes(t, true, file("a//b", "x")), Limits{}, ProblemBadName, "a//b"},
		{"dot component", tarBytes(t, true, file("a/./b", "x")), Limits{}, ProblemBadName, "a/./b"},
		{"backslash", tarBytes(t, true, file(`..\x`, "x")), Limits{}, ProblemBadName, `..\x`},
		{"empty archive", tarBytes(t, true), Limits{}, ProblemEmpty, ""},
		{"only the root directory", tarBytes(t, false, dir("./")), Limits{}, ProblemEmpty, ""},
		{"zero bytes", nil, Limits{}, ProblemEmpty, ""},
		{"non-tar garbage", garbage(2048), Limits{}, ProblemMalformed, ""},
		{"gzipped garbage", gzipped(t, garbage(2048)), Limits{}, ProblemMalformed, ""},
		{"truncated tar", truncate(tarBytes(t, false, file("a", strings.Repeat("x", 2000))), 1024), Limits{}, ProblemTruncated, "a"},
		{"truncated gzip", truncate(tarBytes(t, true, file("a", string(garbage(4000)))), 1000), Limits{}, ProblemTruncated, "a"},
	}
}

func garbage(n int) []byte {
	r := rand.NewChaCha8([32]byte{1})
	b := make([]byte, n)
	_, _ = r.Read(b)
	return b
}

func gzipped(t testing.TB, data []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func truncate(b []byte, n int) []byte { return b[:n] }

// gzipBomb is a small tar.gz whose entries, each under the per-entry limit,
// add up to more than 64 KiB of zeros.
func gzipBomb(t testing.TB) []byte {
	zeros := strings.Repeat("\x00", 40<<10)
	b := tarBytes(t, true, file("f1", zeros), file("f2", zeros), file("f3", zeros))
	if len(b) > 16<<10 {
		t.Fatalf("bomb is %d bytes", len(b))
	}
	return b
}

// gzipTrailingBomb is a valid small archive followed, inside the gzip
// stream, by 1 MiB of zeros after the end of the tar stream.
func gzipTrailingBomb(t testing.TB) []byte {
	raw := tarBytes(t, false, file("a", "x"))
	return gzipped(t, append(raw, make([]byte, 1<<20)...))
}

// paxNUL is an archive whose PAX path record holds a NUL byte.
func paxNUL(t testing.TB) []byte {
	b := tarBytes(t, false, file("é/evilZ/../../x", "x"))
	i := bytes.Index(b, []byte("path="))
	j := bytes.IndexByte(b[i:], 'Z')
	if i < 0 || j < 0 {
		t.Fatal("no PAX path record")
	}
	b[i+j] = 0
	return b
}

func TestValidateArchiveRefusesHostile(t *testing.T) {
	for _, tc := range hostileArchives() {
		t.Run(tc.name, func(t *testing.T) {
			entries, err := ValidateArchive(bytes.NewReader(tc.data), tc.lim)
			ae, ok := errors.AsType[*ArchiveError](err)
			if !ok {
				t.Fatalf("ValidateArchive = %v, %v; want *ArchiveError", entries, err)
			}
			if ae.Problem != tc.problem || ae.Entry != tc.entry {
				t.Errorf("got problem %q entry %q (%v); want %q entry %q", ae.Problem, ae.Entry, err, tc.problem, tc.entry)
			}
		})
	}
}

// TestInstallRefusesHostileWritesNothing runs each hostile archive through
// Install: nothing may appear under the root but the lock file.
func TestInstallRefusesHostileWritesNothing(t *testing.T) {
	for _, tc := range hostileArchives() {
		t.Run(tc.name, func(t *testing.T) {
			base := t.TempDir()
			in := newInstaller(t, Options{Root: filepath.Join(base, "root"), Limits: tc.lim})
			payload := filepath.Join(base, "payload")
			if err := os.WriteFile(payload, tc.data, 0o644); err != nil {
				t.Fatal(err)
			}
			err := in.Install(context.Background(), "webkit", "1", payload)
			if ae, ok := errors.AsType[*ArchiveError](err); !ok || ae.Problem != tc.problem {
				t.Fatalf("Install = %v; want problem %q", err, tc.problem)
			}
			if got := snapshot(t, in.Root()); len(got) != 0 {
				t.Errorf("written: %v", got)
			}
			checkStateDir(t, in.Root())
			if got, _ := os.ReadDir(base); len(got) != 2 { // root and payload
				t.Errorf("outside the root: %v", got)
			}
		})
	}
}

func TestValidateArchiveAccepts(t *testing.T) {
	ents := []ent{
		dir("./"),
		dir("./bin/"),
		exe("./bin/tool", "#!/bin/sh\n"),
		{name: "bin/setuid", body: "x", mode: 0o4777},
		file("lib/libfoo.so.1", "foo"),
		symlink("lib/libfoo.so", "libfoo.so.1"),
		symlink("bin/lib", "../lib"),
		symlink("bin/foo", "lib/libfoo.so"), // through bin/lib
		symlink("self", "."),
		hardlink("lib/libfoo.so.1.0", "./lib/libfoo.so.1"),
		{name: "g", typ: tar.TypeXGlobalHeader},
	}
	want := []Entry{
		{Name: "bin", Type: Dir, Mode: 0o755},
		{Name: "bin/tool", Type: File, Mode: 0o755, Size: 10},
		{Name: "bin/setuid", Type: File, Mode: 0o755, Size: 1},
		{Name: "lib/libfoo.so.1", Type: File, Mode: 0o644, Size: 3},
		{Name: "lib/libfoo.so", Type: Symlink, Mode: 0o777, Linkname: "libfoo.so.1"},
		{Name: "bin/lib", Type: Symlink, Mode: 0o777, Linkname: "../lib"},
		{Name: "bin/foo", Type: Symlink, Mode: 0o777, Linkname: "lib/libfoo.so"},
		{Name: "self", Type: Symlink, Mode: 0o777, Linkname: "."},
		{Name: "lib/libfoo.so.1.0", Type: Hardlink, Mode: 0o644, Size: 3, Linkname: "lib/libfoo.so.1"},
	}
	for _, gz := range []bool{false, true} {
		got, err := ValidateArchive(bytes.NewReader(tarBytes(t, gz, ents...)), Limits{})
		if err != nil {
			t.Fatalf("gzip %v: %v", gz, err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("gzip %v: entries (-want +got):\n%s", gz, diff)
		}
	}
}

func TestValidateArchiveLimitsAreInclusive(t *testing.T) {
	data := tarBytes(t, true, file("a", "12345"), file("b", "12345"))
	if _, err := ValidateArchive(bytes.NewReader(data), Limits{MaxEntries: 2, MaxFileSize: 5, MaxTotalSize: 10}); err != nil {
		t.Fatalf("archive exactly at the limits: %v", err)
	}
	if _, err := ValidateArchive(bytes.NewReader(data), Limits{MaxTotalSize: 9}); err == nil {
		t.Fatal("archive over MaxTotalSize accepted")
	}
}

func TestCleanName(t *testing.T) {
	for _, tc := range []struct {
		in   string
		dir  bool
		want string
		p    Problem
	}{
		{"a/b", false, "a/b", ""},
		{"./a", false, "a", ""},
		{"././a/", true, "a", ""},
		{"a/", false, "", ProblemBadName}, // a file name may not end in '/'
		{"a\x00b", false, "", ProblemNUL},
		{"a\xc0", false, "", ProblemNotUTF8},
		{"/a", false, "", ProblemAbsolute},
		{"a/..", true, "", ProblemDotDot},
		{"..", true, "", ProblemDotDot},
		{strings.Repeat("a", 256), false, "", ProblemBadName},
		{strings.Repeat("a/", 2049), false, "", ProblemBadName},
	} {
		got, p := cleanName(tc.in, tc.dir)
		if got != tc.want || p != tc.p {
			t.Errorf("cleanName(%q, %v) = %q, %q; want %q, %q", tc.in, tc.dir, got, p, tc.want, tc.p)
		}
	}
}

func TestArchiveErrorMessage(t *testing.T) {
	_, err := ValidateArchive(bytes.NewReader(tarBytes(t, false, file("../x", ""))), Limits{})
	if got, want := err.Error(), `archive entry "../x": path contains ".."`; got != want {
		t.Errorf("error = %q; want %q", got, want)
	}
}
