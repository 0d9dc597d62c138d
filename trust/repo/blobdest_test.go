package repo

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gocloud.dev/blob/memblob"

	"github.com/bsiframework/bsi/serve"
)

// readTree returns every file under dir by slash-separated name.
func readTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		out[filepath.ToSlash(rel)] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestPublishToBucket(t *testing.T) {
	f := published(t)
	ctx := t.Context()
	want := readTree(t, f.public())

	b := memblob.OpenBucket(nil)
	defer b.Close()
	if _, err := f.ws.Publish(ctx, BucketDestination(b, "mem://")); err != nil {
		t.Fatal(err)
	}
	for name, body := range want {
		got, err := b.ReadAll(ctx, name)
		if err != nil || string(got) != body {
			t.Errorf("%s: bucket holds %d bytes (%v), directory %d", name, len(got), err, len(body))
		}
		attrs, err := b.Attributes(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if attrs.CacheControl != serve.CacheControl(name) || attrs.ContentType != serve.ContentType(name) {
			t.Errorf("%s: Cache-Control %q Content-Type %q", name, attrs.CacheControl, attrs.ContentType)
		}
	}
	if a, _ := b.Attributes(ctx, "timestamp.json"); a.CacheControl != "no-cache" {
		t.Errorf("timestamp.json Cache-Control %q, want no-cache", a.CacheControl)
	}
	d := BucketDestination(b, "mem://")
	if _, err := d.ReadFile(ctx, "missing.json"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing object: %v, want fs.ErrNotExist", err)
	}
}

func TestPublishToFileURL(t *testing.T) {
	f := published(t)
	ctx := t.Context()
	dir := filepath.Join(t.TempDir(), "bucket") // created by OpenDestination
	dest, closeDest, err := OpenDestination(ctx, "file://"+dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.ws.Publish(ctx, dest); err != nil {
		t.Fatal(err)
	}
	if err := closeDest(); err != nil {
		t.Fatal(err)
	}
	// The directory holds exactly the published tree: no side files.
	got, want := readTree(t, dir), readTree(t, f.public())
	if len(got) != len(want) {
		t.Fatalf("file:// tree has %d files, directory publish %d", len(got), len(want))
	}
	for name, body := range want {
		if got[name] != body {
			t.Errorf("%s differs", name)
		}
	}
}

func TestOpenDestinationUnknownScheme(t *testing.T) {
	_, _, err := OpenDestination(t.Context(), "ftp://example/repo")
	var de *DestinationError
	if !errors.As(err, &de) || !strings.Contains(err.Error(), "s3://") {
		t.Fatalf("err = %v, want a DestinationError listing the schemes", err)
	}
}
