package repo

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestCommitReplay: Open finishes a commit whose journal is durable and
// drops one that never reached it, as a crash at each step would leave it.
func TestCommitReplay(t *testing.T) {
	hexA, hexB, hexC := strings.Repeat("a", 64), strings.Repeat("b", 64), strings.Repeat("c", 64)
	stage := func(t *testing.T, dir string, files map[string]string, journal string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Join(dir, commitDir), 0o755); err != nil {
			t.Fatal(err)
		}
		for name, data := range files {
			if err := os.WriteFile(filepath.Join(dir, commitDir, name), []byte(data), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if journal != "" {
			if err := os.WriteFile(filepath.Join(dir, commitDir, journalName), []byte(journal), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	tests := []struct {
		name    string
		files   map[string]string
		journal string
		want    map[string]string // files added to the tree
		wantErr string
	}{
		{name: "staged, no journal: dropped",
			files: map[string]string{"0": "new", ".workspace.json.tmp-123": "half"}},
		{name: "journal: moved into place",
			files:   map[string]string{"0": "payload", "1": "root v1"},
			journal: `{"moves":[{"staged":"0","to":"content/` + hexA + `"},{"staged":"1","to":"metadata/roots/1.root.json"}]}`,
			want:    map[string]string{"content/" + hexA: "payload", "metadata/roots/1.root.json": "root v1", "metadata/roots/": ""}},
		{name: "journal half replayed: finished",
			files:   map[string]string{"1": "second"},
			journal: `{"moves":[{"staged":"0","to":"content/` + hexB + `"},{"staged":"1","to":"content/` + hexC + `"}]}`,
			want:    map[string]string{"content/" + hexC: "second"}},
		{name: "journal with an escaping name",
			files:   map[string]string{"0": "x"},
			journal: `{"moves":[{"staged":"0","to":"../outside"}]}`,
			wantErr: "bad entry"},
		{name: "journal cut short",
			journal: `{"moves":[{"sta`,
			wantErr: "journal.json",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.init(1, "root1")
			f.ws.Close()
			before := tree(t, f.dir)
			stage(t, f.dir, tt.files, tt.journal)
			ws, err := Open(context.Background(), f.dir, f.opts())
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Open: %v, want an error with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			ws.Close()
			want := before
			for k, v := range tt.want {
				want[k] = v
			}
			if diff := cmp.Diff(want, tree(t, f.dir)); diff != "" {
				t.Errorf("tree after Open (-want +got):\n%s", diff)
			}
		})
	}
}

// TestDirDestinationDropsTemporaryFiles: what a killed publish left in
// the destination's temporary directory is removed by the next one.
func TestDirDestinationDropsTemporaryFiles(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, destTmp), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, destTmp, ".timestamp.json.tmp-1"), []byte("half"), 0o644)
	d, err := DirDestination(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.WriteFile(context.Background(), "timestamp.json", []byte("{}")); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"./": "", "timestamp.json": "{}"}, tree(t, dir)); diff != "" {
		t.Errorf("destination (-want +got):\n%s", diff)
	}
}

// TestPublishAfterInterruptedPublish: a publish killed after it wrote the
// new snapshot (and role files) but before timestamp.json leaves files no
// client was sent to; the rerun signs the snapshot again (another expiry)
// and replaces them. A snapshot the destination's timestamp lists is
// never replaced.
func TestPublishAfterInterruptedPublish(t *testing.T) {
	f := published(t)
	f.add("webkit-26.3-b", "webkit", 2, "webkit1")
	next := f.ws.snapshot.Signed.Version + 1
	// What the interrupted run left: other bytes under the new names.
	orphan := filepath.Join(f.public(), fmt.Sprintf("%d.snapshot.json", next))
	if err := os.WriteFile(orphan, []byte(`{"signed":"from the killed run"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	role := filepath.Join(f.public(), "2.webkit.json")
	if err := os.WriteFile(role, []byte(`{"signed":"from the killed run"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	f.clock = f.clock.Add(time.Second) // another expiry
	f.publish()
	if b, _ := os.ReadFile(orphan); strings.Contains(string(b), "killed") {
		t.Error("the interrupted run's snapshot was kept")
	}
	if b, _ := os.ReadFile(role); strings.Contains(string(b), "killed") {
		t.Error("the interrupted run's role file was kept")
	}
	// The published snapshot is immutable.
	published := filepath.Join(f.public(), fmt.Sprintf("%d.snapshot.json", next))
	good, _ := os.ReadFile(published)
	if err := os.WriteFile(published, append([]byte(" "), good...), 0o644); err != nil {
		t.Fatal(err)
	}
	d, _ := DirDestination(f.public())
	if err := putSnapshot(t.Context(), slog.New(slog.DiscardHandler), d, next, good, &PublishResult{}); err == nil || !strings.Contains(err.Error(), "different content") {
		t.Errorf("replacing the published snapshot: %v, want a conflict", err)
	}
}

// TestPublishAfterTimestampWritten: a publish killed after the
// destination's timestamp.json was written but before the workspace
// recorded the publish. The rerun must not sign the versions the
// destination serves again (other expiries, other bytes under published
// names): it publishes above them.
func TestPublishAfterTimestampWritten(t *testing.T) {
	f := published(t)
	f.add("webkit-26.3-b", "webkit", 2, "webkit1")
	f.ws.Close()
	saved := t.TempDir()
	copyTree(t, f.dir, saved, "public")
	ws, err := Open(t.Context(), f.dir, f.opts())
	if err != nil {
		t.Fatal(err)
	}
	f.ws = ws
	f.publish()
	served := tree(t, f.public())
	ts, _ := os.ReadFile(filepath.Join(f.public(), "timestamp.json"))
	// The workspace as the killed run left it: without the publish.
	f.ws.Close()
	for _, sub := range []string{"metadata", "workspace.json"} {
		os.RemoveAll(filepath.Join(f.dir, sub))
	}
	copyTree(t, saved, f.dir, "public")
	if f.ws, err = Open(t.Context(), f.dir, f.opts()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.ws.Close() })
	f.clock = f.clock.Add(2 * time.Second) // other expiries
	res := f.publish()
	old, _ := new(timestampMeta).FromBytes(ts)
	if res.TimestampVersion <= old.Signed.Version || res.SnapshotVersion <= old.Signed.Meta["snapshot.json"].Version {
		t.Errorf("republished at snapshot %d, timestamp %d; the destination served %d, %d",
			res.SnapshotVersion, res.TimestampVersion, old.Signed.Meta["snapshot.json"].Version, old.Signed.Version)
	}
	after := tree(t, f.public())
	for name, data := range served {
		if name != "timestamp.json" && name != "root.json" && after[name] != data {
			t.Errorf("published %s changed", name)
		}
	}
}

// copyTree copies the files under src to dst, leaving out the top-level
// entry skip and the lock file.
func copyTree(t *testing.T, src, dst, skip string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if rel == skip || rel == ".lock" {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}
