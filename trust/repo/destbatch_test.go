package repo

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
)

// batchRepo returns a fixture with n improvements of webkit (n at least
// batchMin: a publish writes their payloads in one batch), each with its
// own payload, listed under hashes, signed and ready to publish.
func batchRepo(t *testing.T, n int, hashes ...string) *fixture {
	t.Helper()
	f := newFixture(t)
	f.hashes = hashes
	f.init(1, "root1")
	must(t, f.ws.Delegate(t.Context(), "webkit", DelegateOptions{Keys: f.tufKeys("webkit1"), Bins: 4}))
	var reqs []AddRequest
	for i := range n {
		id := fmt.Sprintf("webkit-%03d", i)
		reqs = append(reqs, AddRequest{Manifest: manifestJSON(id, "webkit", i+1), Payload: f.payload(id, "payload of "+id)})
	}
	if _, err := f.ws.AddBatch(t.Context(), reqs); err != nil {
		t.Fatal(err)
	}
	f.sign("root1", "targets", "webkit1")
	return f
}

// TestPublishBatchFollowedByClient: a publish big enough to write its
// payloads in a batch gives the tree a go-tuf client follows: every
// payload downloads and matches under each hash, the names of one payload
// share a file, each file has mode 0644, and no temporary file is left.
func TestPublishBatchFollowedByClient(t *testing.T) {
	for _, hashes := range [][]string{nil, {"sha256", "sha512"}} {
		t.Run(strings.Join(append([]string{"hashes"}, hashes...), "-"), func(t *testing.T) {
			n := batchMin + 10
			f := batchRepo(t, n, hashes...)
			res := f.publish()
			if want := n * max(1, len(hashes)); countPrefix(res.Written, "targets/webkit/") != want {
				t.Errorf("wrote %d payload names, want %d", countPrefix(res.Written, "targets/webkit/"), want)
			}
			checkPayloadNames(t, f)
			c := f.client()
			tm, err := c.refresh()
			if err != nil {
				t.Fatal(err)
			}
			for i := range n {
				tf, err := c.find(tm, fmt.Sprintf("webkit/webkit-%03d.tar.gz", i))
				if err != nil {
					t.Fatal(err)
				}
				if _, err := c.download(tf); err != nil {
					t.Fatalf("webkit-%03d: %v", i, err)
				}
			}
			filepath.WalkDir(f.public(), func(p string, d fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				if strings.Contains(p, ".tmp-") || d.Name() == destTmp {
					t.Errorf("left behind: %s", p)
				}
				if fi, err := d.Info(); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm() != 0o644 {
					t.Errorf("%s: mode %v, want 0644", p, fi.Mode().Perm())
				}
				return nil
			})
		})
	}
}

func countPrefix(names []string, prefix string) int {
	n := 0
	for _, name := range names {
		if strings.HasPrefix(name, prefix) {
			n++
		}
	}
	return n
}

// TestAttackDestinationTargetsSymlinkBatch is
// TestAttackDestinationTargetsSymlink for a publish that writes its
// payloads in a batch (directories opened once, then written relative to
// them): a planted "targets" or "targets/webkit" link to a directory
// outside the destination refuses the publish, and nothing is written
// outside.
func TestAttackDestinationTargetsSymlinkBatch(t *testing.T) {
	for _, link := range []string{"targets", "targets/webkit"} {
		t.Run(link, func(t *testing.T) {
			f := batchRepo(t, batchMin+1)
			dest := filepath.Join(t.TempDir(), "dest")
			outside := filepath.Join(t.TempDir(), "outside")
			must(t, os.MkdirAll(outside, 0o755))
			must(t, os.MkdirAll(filepath.Dir(filepath.Join(dest, link)), 0o755))
			must(t, os.Symlink(outside, filepath.Join(dest, link)))
			d, err := DirDestination(dest)
			if err != nil {
				t.Fatal(err)
			}
			defer d.(*dirDest).Close()
			if _, err := f.ws.Publish(t.Context(), d); err == nil {
				t.Fatal("publish through a planted targets link succeeded")
			}
			if got := tree(t, outside); len(got) != 1 {
				t.Errorf("files written outside the destination: %v", names(got))
			}
		})
	}
}

// TestWriteBatchPaths: each way a batch writes a file gives the same tree
// of complete files: an unnamed file linked into place, a temporary file
// renamed (no O_TMPFILE), a name that already exists (replaced, never
// written through: a planted symbolic link there leaves its target as it
// was), and a second name linked to the first.
func TestWriteBatchPaths(t *testing.T) {
	for _, tc := range []struct {
		name      string
		noTmpfile bool
	}{{"tmpfile", false}, {"rename", true}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			victim := filepath.Join(t.TempDir(), "victim")
			must(t, os.WriteFile(victim, []byte("keep me"), 0o600))
			must(t, os.MkdirAll(filepath.Join(dir, "targets", "x"), 0o755))
			must(t, os.WriteFile(filepath.Join(dir, "targets", "x", "old"), []byte("old"), 0o644))
			must(t, os.Symlink(victim, filepath.Join(dir, "targets", "x", "planted")))
			dd, err := DirDestination(dir)
			if err != nil {
				t.Fatal(err)
			}
			d := dd.(*dirDest)
			defer d.Close()
			d.noTmpfile.Store(tc.noTmpfile)
			var loads atomic.Int32
			file := func(name, link, content string) *batchFile {
				return &batchFile{name: name, link: link, load: func() ([]byte, error) {
					loads.Add(1)
					return []byte(content), nil
				}}
			}
			files := []*batchFile{
				file("targets/x/a", "", "a"), file("targets/y/b", "", "b"), file("top", "", "t"),
				file("targets/x/old", "", "new"), file("targets/x/planted", "", "p"),
				file("targets/y/a2", "targets/x/a", "a"),
			}
			must(t, d.writeBatch(t.Context(), files))
			must(t, d.Flush(t.Context()))
			want := map[string]string{"targets/x/a": "a", "targets/y/b": "b", "top": "t", "targets/x/old": "new",
				"targets/x/planted": "p", "targets/y/a2": "a"}
			for name, content := range want {
				p := filepath.Join(dir, filepath.FromSlash(name))
				fi, err := os.Lstat(p)
				if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o644 {
					t.Errorf("%s: %v %v, want a regular file of mode 0644", name, fi, err)
					continue
				}
				if got, _ := os.ReadFile(p); string(got) != content {
					t.Errorf("%s = %q, want %q", name, got, content)
				}
			}
			if got, _ := os.ReadFile(victim); string(got) != "keep me" {
				t.Errorf("victim = %q", got)
			}
			a, _ := os.Stat(filepath.Join(dir, "targets", "x", "a"))
			a2, _ := os.Stat(filepath.Join(dir, "targets", "y", "a2"))
			if !os.SameFile(a, a2) || files[5].copied {
				t.Errorf("targets/y/a2 is not a link to targets/x/a")
			}
			if loads.Load() != 5 {
				t.Errorf("loaded %d payloads, want 5 (the link loads none)", loads.Load())
			}
			if left, _ := os.ReadDir(filepath.Join(dir, destTmp)); len(left) != 0 {
				t.Errorf("left in %s: %v", destTmp, left)
			}
		})
	}
}

// TestWriteBatchLoadError: a payload that cannot be loaded fails the batch
// with its error, and leaves no temporary file.
func TestWriteBatchLoadError(t *testing.T) {
	dir := t.TempDir()
	dd, err := DirDestination(dir)
	if err != nil {
		t.Fatal(err)
	}
	d := dd.(*dirDest)
	defer d.Close()
	bad := errors.New("content store: payload missing")
	var files []*batchFile
	for i := range 20 {
		files = append(files, &batchFile{name: fmt.Sprintf("targets/x/%02d", i), load: func() ([]byte, error) {
			if i == 7 {
				return nil, bad
			}
			return []byte("x"), nil
		}})
	}
	if err := d.writeBatch(t.Context(), files); !errors.Is(err, bad) {
		t.Fatalf("writeBatch = %v, want %v", err, bad)
	}
	if _, err := os.Stat(filepath.Join(dir, "targets", "x", "07")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("targets/x/07: %v, want absent", err)
	}
	filepath.WalkDir(dir, func(p string, de fs.DirEntry, err error) error {
		if err == nil && strings.Contains(de.Name(), ".tmp-") {
			t.Errorf("left behind: %s", p)
		}
		return nil
	})
}

// TestParallel: every index runs once; the error returned is that of the
// lowest failing index, as a loop would return, and no index starts after
// a failure was seen (cancelled contexts likewise).
func TestParallel(t *testing.T) {
	for _, n := range []int{0, 1, 2, 7, 1000} {
		runs := make([]atomic.Int32, n)
		must(t, parallel(t.Context(), n, func(i int) error { runs[i].Add(1); return nil }))
		for i := range runs {
			if runs[i].Load() != 1 {
				t.Errorf("n=%d: index %d ran %d times", n, i, runs[i].Load())
			}
		}
	}
	var ran atomic.Int32
	err := parallel(t.Context(), 1000, func(i int) error {
		ran.Add(1)
		if i >= 3 {
			return fmt.Errorf("fail %d", i)
		}
		return nil
	})
	if err == nil || err.Error() != "fail 3" {
		t.Errorf("parallel = %v, want fail 3", err)
	}
	// Indices 0 to 2 succeed; then each worker makes at most one failing
	// call before it sees the failure.
	if limit := 3 + runtime.GOMAXPROCS(0); int(ran.Load()) > limit {
		t.Errorf("%d calls ran, want at most %d", ran.Load(), limit)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := parallel(ctx, 10, func(int) error { t.Error("ran under a cancelled context"); return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("parallel under a cancelled context = %v", err)
	}
}
