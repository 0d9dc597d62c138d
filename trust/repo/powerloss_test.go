package repo

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gocloud.dev/blob/memblob"
)

// powerLossDest is a directory destination whose barrier never comes: a
// Flush with deferred writes pending fails, as if the power went at that
// moment, so that the publish stops where a power loss would stop it (the
// workspace unchanged, timestamp.json and root.json not written). What a
// power loss also does, losing the bytes of files not yet made durable,
// the test then does by hand. It counts the batches written.
type powerLossDest struct {
	*dirDest
	cut     bool // fail the barrier
	batches int
}

var errPowerLost = errors.New("power lost before the barrier")

func (d *powerLossDest) Flush(ctx context.Context) error {
	if d.cut && len(d.pending.names) > 0 {
		return errPowerLost
	}
	return d.dirDest.Flush(ctx)
}

func (d *powerLossDest) writeBatch(ctx context.Context, files []*batchFile) error {
	d.batches++
	return d.dirDest.writeBatch(ctx, files)
}

func openPowerLossDest(t *testing.T, dir string, cut bool) *powerLossDest {
	t.Helper()
	d, err := DirDestination(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.(*dirDest).Close() })
	return &powerLossDest{dirDest: d.(*dirDest), cut: cut}
}

// cutPublish publishes f to its public directory up to the barrier before
// root.json, where the power goes, and returns the payload files written
// (paths, sorted).
func cutPublish(t *testing.T, f *fixture) []string {
	t.Helper()
	if _, err := f.ws.Publish(t.Context(), openPowerLossDest(t, f.public(), true)); !errors.Is(err, errPowerLost) {
		t.Fatalf("publish cut at the barrier: %v, want %v", err, errPowerLost)
	}
	if _, err := os.Stat(filepath.Join(f.public(), "timestamp.json")); err == nil {
		t.Fatal("timestamp.json written before the barrier")
	}
	paths, err := filepath.Glob(filepath.Join(f.public(), "targets", "webkit", "*.tar.gz"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no payload written before the barrier: %v", err)
	}
	slices.Sort(paths)
	return paths
}

// checkPayloadHashes fails unless every payload file of the destination
// holds the bytes its name's hash (sha256 or sha512, by its length) names.
func checkPayloadHashes(t *testing.T, paths []string) {
	t.Helper()
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		want, _, _ := strings.Cut(filepath.Base(p), ".")
		var got string
		switch len(want) {
		case 2 * sha256.Size:
			s := sha256.Sum256(data)
			got = hex.EncodeToString(s[:])
		case 2 * sha512.Size:
			s := sha512.Sum512(data)
			got = hex.EncodeToString(s[:])
		default:
			t.Fatalf("%s: no hash in the name", p)
		}
		if got != want {
			t.Errorf("%s: %d bytes hashing to %s…", filepath.Base(p), len(data), got[:12])
		}
	}
}

// TestPowerLossTruncatedPayloadIsRewritten: a publish writes its payload
// names with deferred durability, and the power goes before the barrier
// (root.json and timestamp.json not written, the workspace unchanged), so
// that some payload names exist but are empty or truncated. The next
// publish must write those names again, not skip them because they exist
// and then point every device at a payload that fails its hash; the
// payload names that hold their payload are skipped, not written again
// (the same file). Both ways of writing payloads: one by one, and in a
// batch (batchMin names or more, here under two hashes: the second name
// of a payload is a link, refused where the name exists).
func TestPowerLossTruncatedPayloadIsRewritten(t *testing.T) {
	for _, tc := range []struct {
		name    string
		n       int      // improvements, one payload each
		hashes  []string // InitOptions.Hashes
		intact  int      // payloads left as written
		batches int      // batches the second publish writes
	}{
		{name: "one-by-one", n: 3, intact: 1},
		{name: "batch", n: batchMin + 4, hashes: []string{"sha256", "sha512"}, intact: 2, batches: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := batchRepo(t, tc.n, tc.hashes...)
			paths := cutPublish(t, f)
			if want := tc.n * max(1, len(tc.hashes)); len(paths) != want {
				t.Fatalf("%d payload files before the barrier, want %d", len(paths), want)
			}
			// The names of one payload may share a file (a link): damage
			// payloads, every name of each, leaving the first tc.intact
			// payloads as written.
			var damaged, intact []string
			size, cut := map[string]int64{}, map[string]int64{}
			for _, p := range paths {
				fi, err := os.Stat(p)
				if err != nil {
					t.Fatal(err)
				}
				size[p] = fi.Size()
			}
			before := map[string]os.FileInfo{}
			for _, p := range paths {
				_, target, _ := strings.Cut(filepath.Base(p), ".")
				var i int
				fmt.Sscanf(target, "webkit-%03d.tar.gz", &i)
				if i < tc.intact {
					intact = append(intact, p)
					fi, err := os.Stat(p)
					if err != nil {
						t.Fatal(err)
					}
					before[p] = fi
					continue
				}
				damaged = append(damaged, p)
				// What a power loss leaves: empty files, and truncated ones.
				cut[p] = int64(i%2) * size[p] / 2
				must(t, os.Truncate(p, cut[p]))
			}
			if len(damaged) == 0 || len(intact) == 0 {
				t.Fatalf("%d damaged and %d intact payload names", len(damaged), len(intact))
			}

			var logs bytes.Buffer
			f.ws.opts.Logger = slog.New(slog.NewTextHandler(&logs, nil))
			d := openPowerLossDest(t, f.public(), false)
			res, err := f.ws.Publish(t.Context(), d)
			if err != nil {
				t.Fatalf("publish after the power loss: %v", err)
			}
			if d.batches != tc.batches {
				t.Errorf("the publish wrote %d batches, want %d", d.batches, tc.batches)
			}
			for _, p := range damaged {
				if name := "targets/webkit/" + filepath.Base(p); !slices.Contains(res.Written, name) {
					t.Errorf("%s not written again", name)
				}
			}
			for _, p := range damaged {
				if want := fmt.Sprintf("level=WARN msg=\"payload name holds another length (a publish cut short by a power loss?): writing it again\" dest=%s name=targets/webkit/%s expected=%d found=%d",
					f.public(), filepath.Base(p), size[p], cut[p]); !strings.Contains(logs.String(), want) {
					t.Errorf("no warning for %s: want %q in\n%s", filepath.Base(p), want, logs.String())
				}
			}
			if got := countPrefix(res.Written, "targets/webkit/"); got != len(damaged) {
				t.Errorf("wrote %d payload names, want the %d damaged ones", got, len(damaged))
			}
			for p, fi := range before {
				after, err := os.Stat(p)
				if err != nil {
					t.Fatal(err)
				}
				if !os.SameFile(fi, after) {
					t.Errorf("%s held its payload and was written again", filepath.Base(p))
				}
			}
			checkPayloadHashes(t, paths)
			c := f.client()
			tm, err := c.refresh()
			if err != nil {
				t.Fatal(err)
			}
			for i := range tc.n {
				tf, err := c.find(tm, fmt.Sprintf("webkit/webkit-%03d.tar.gz", i))
				if err != nil {
					t.Fatal(err)
				}
				if _, err := c.download(tf); err != nil {
					t.Errorf("webkit-%03d: %v", i, err)
				}
			}
		})
	}
}

// TestPowerLossSameLengthWrongBytesIsKept states what a publish checks of
// a payload name that exists: its length (a stat), not its bytes (a read
// of every payload, 100,000 of them in a big repository). A name holding
// other bytes of the payload's length (which no power loss leaves by
// itself: a file system that zero-fills lost blocks aside, it is someone
// writing there) is skipped; "bsi audit" reports it (every target's length
// and hashes under every published name).
func TestPowerLossSameLengthWrongBytesIsKept(t *testing.T) {
	f := batchRepo(t, 2)
	paths := cutPublish(t, f)
	data, err := os.ReadFile(paths[0])
	if err != nil {
		t.Fatal(err)
	}
	must(t, os.WriteFile(paths[0], bytes.Repeat([]byte{0}, len(data)), 0o644))
	res := f.publish()
	if name := "targets/webkit/" + filepath.Base(paths[0]); slices.Contains(res.Written, name) {
		t.Errorf("%s written again: a publish reads no payload name of the right length", name)
	}
	if got, _ := os.ReadFile(paths[0]); !bytes.Equal(got, bytes.Repeat([]byte{0}, len(data))) {
		t.Error("the name of the right length was replaced")
	}
}

// TestPowerLossTornRootVersionIsRewritten: a publish writes N.root.json
// with deferred durability before the barrier that root.json waits for;
// the power goes there and leaves 1.root.json empty or truncated. The
// next publish writes it again instead of refusing it as "different
// content (published from another workspace?)": bytes that are not JSON
// are no file any workspace published. A 1.root.json that is JSON (another
// workspace's) is still refused.
func TestPowerLossTornRootVersionIsRewritten(t *testing.T) {
	for _, torn := range []struct {
		name string
		cut  func(n int) int64
	}{{"empty", func(int) int64 { return 0 }}, {"truncated", func(n int) int64 { return int64(n / 2) }}} {
		t.Run(torn.name, func(t *testing.T) {
			f := batchRepo(t, 1)
			cutPublish(t, f)
			name := filepath.Join(f.public(), "1.root.json")
			fi, err := os.Stat(name)
			if err != nil {
				t.Fatalf("1.root.json not written before the barrier: %v", err)
			}
			must(t, os.Truncate(name, torn.cut(int(fi.Size()))))
			f.publish()
			got, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			want, err := f.ws.fileBytes("root")
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("1.root.json holds %d bytes, not the root (%d)", len(got), len(want))
			}
			if _, err := f.client().refresh(); err != nil {
				t.Fatal(err)
			}

			must(t, os.WriteFile(name, []byte(`{"signed":{"from":"another workspace"}}`), 0o644))
			d, err := DirDestination(f.public())
			if err != nil {
				t.Fatal(err)
			}
			defer d.(*dirDest).Close()
			if _, err := f.ws.Publish(t.Context(), d); err == nil || !strings.Contains(err.Error(), "different content") {
				t.Errorf("publish over another workspace's 1.root.json: %v, want a conflict", err)
			}
		})
	}
}

// TestDestinationSize: the length a publish compares with a payload's,
// from a directory destination (an lstat, or its directory's list when
// absent after listAfter lookups) and from a bucket (the object's
// attributes): an absent name is fs.ErrNotExist, a name that is not a
// regular file -1.
func TestDestinationSize(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	dd, err := DirDestination(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer dd.(*dirDest).Close()
	b := memblob.OpenBucket(nil)
	defer b.Close()
	bd := BucketDestination(b, "mem://")
	for _, d := range []Destination{dd, bd} {
		must(t, d.WriteFile(ctx, "targets/x/full", []byte("12345")))
		must(t, d.WriteFile(ctx, "targets/x/empty", nil))
	}
	must(t, os.Symlink("full", filepath.Join(dir, "targets", "x", "link")))
	must(t, os.Mkdir(filepath.Join(dir, "targets", "x", "dir"), 0o755))

	type want struct {
		size   int64
		absent bool
	}
	check := func(t *testing.T, d Destination, cases map[string]want) {
		t.Helper()
		for name, w := range cases {
			n, err := d.(sizer).Size(ctx, name)
			switch {
			case w.absent && !errors.Is(err, fs.ErrNotExist):
				t.Errorf("%s: %d, %v; want fs.ErrNotExist", name, n, err)
			case !w.absent && (err != nil || n != w.size):
				t.Errorf("%s: %d, %v; want %d", name, n, err, w.size)
			}
		}
	}
	common := map[string]want{
		"targets/x/full":    {size: 5},
		"targets/x/empty":   {size: 0},
		"targets/x/missing": {absent: true},
		"targets/y/missing": {absent: true},
	}
	t.Run("bucket", func(t *testing.T) { check(t, bd, common) })
	t.Run("dir", func(t *testing.T) {
		cases := maps.Clone(common)
		cases["targets/x/link"] = want{size: -1}
		cases["targets/x/dir"] = want{size: -1}
		check(t, dd, cases)
		// Past listAfter lookups the directory is listed once: an absent
		// name is answered from the list, a present one still stat'd.
		for range listAfter + 1 {
			dd.Exists(ctx, "targets/x/missing")
		}
		if _, ok := dd.(*dirDest).listed["targets/x"]; !ok {
			t.Fatal("targets/x not listed after many lookups")
		}
		check(t, dd, cases)
	})
}
