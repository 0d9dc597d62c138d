package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/bsiframework/bsi/manifest"
	"github.com/bsiframework/bsi/serve"
	"github.com/bsiframework/bsi/trust/client"
)

// TestPublisher runs the example and verifies what it published with the
// real verifying client over real HTTP: the root chain, every signature, the
// delegation to webkit, the manifest and the payload's hashes.
func TestPublisher(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	if err := run(context.Background(), []string{"--dir", dir}, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "published 7 files to "+filepath.Join(dir, "public")) {
		t.Errorf("output:\n%s", out.String())
	}
	public := filepath.Join(dir, "public")
	h, err := serve.NewHandler(public, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	srv := httptest.NewServer(h)
	defer srv.Close()

	root, err := os.ReadFile(filepath.Join(public, "1.root.json"))
	if err != nil {
		t.Fatal(err)
	}
	meta := filepath.Join(t.TempDir(), "metadata")
	if err := client.Init(meta, root, time.Now()); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(client.Config{MetadataDir: meta, MetadataURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := c.Refresh(ctx); err != nil {
		t.Fatalf("the published repository does not verify: %v", err)
	}
	targets, err := c.Targets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(targets) != 1 {
		t.Fatalf("got %d targets, want 1", len(targets))
	}
	tg := targets[0]
	if d := cmp.Diff([]string{"targets", "webkit"}, tg.Roles); d != "" {
		t.Errorf("signing chain (-want +got):\n%s", d)
	}
	m, err := manifest.FromCustom(tg.Custom)
	if err != nil {
		t.Fatal(err)
	}
	if m.ID != "webkit-26.3-a" || m.Component != "webkit" || tg.Path != "webkit/webkit-26.3-a.tar.gz" {
		t.Errorf("target %s carries manifest %s of %s", tg.Path, m.ID, m.Component)
	}
	payload := filepath.Join(t.TempDir(), "p.tar.gz")
	if err := c.Download(ctx, tg, payload); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"README", "lib/WebCore.patch.dylib"}, tarNames(t, payload)); d != "" {
		t.Errorf("payload entries (-want +got):\n%s", d)
	}
}

func TestPublisherBadFlags(t *testing.T) {
	for _, args := range [][]string{{"--nope"}, {"extra"}} {
		if err := run(context.Background(), args, io.Discard); err == nil {
			t.Errorf("run(%q) succeeded", args)
		}
	}
}

// TestPublisherRefusesUsedDir: the workspace is never created over an
// existing one.
func TestPublisherRefusesUsedDir(t *testing.T) {
	dir := t.TempDir()
	if err := run(context.Background(), []string{"--dir", dir}, io.Discard); err != nil {
		t.Fatal(err)
	}
	if err := run(context.Background(), []string{"--dir", dir}, io.Discard); err == nil {
		t.Fatal("second run in the same directory succeeded")
	}
}

func tarNames(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return names
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
	}
}
