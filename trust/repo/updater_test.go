// This file drives go-tuf's own updater (metadata/updater) against the
// published tree: go-tuf v2 is the reference client that a bsi repository
// must satisfy.

package repo

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	tufconfig "github.com/theupdateframework/go-tuf/v2/metadata/config"
	"github.com/theupdateframework/go-tuf/v2/metadata/updater"

	"github.com/bsiframework/bsi/manifest"
)

// goTUF is a device running go-tuf's updater with a persistent cache.
type goTUF struct {
	t     *testing.T
	url   string
	root  []byte
	cache string
}

func newGoTUF(t *testing.T, f *fixture) *goTUF {
	srv := httptest.NewServer(http.FileServer(http.Dir(f.public())))
	t.Cleanup(srv.Close)
	root, err := os.ReadFile(filepath.Join(f.public(), "1.root.json"))
	if err != nil {
		t.Fatal(err)
	}
	return &goTUF{t: t, url: srv.URL, root: root, cache: t.TempDir()}
}

func (g *goTUF) fetch(target string, want []byte) *manifest.Manifest {
	g.t.Helper()
	cfg, err := tufconfig.New(g.url, g.root)
	if err != nil {
		g.t.Fatal(err)
	}
	cfg.LocalMetadataDir = g.cache
	cfg.LocalTargetsDir = g.t.TempDir()
	cfg.SetDefaultFetcherHTTPClient(&http.Client{Timeout: 10 * time.Second})
	up, err := updater.New(cfg)
	if err != nil {
		g.t.Fatal(err)
	}
	if err := up.Refresh(); err != nil {
		g.t.Fatalf("go-tuf refresh: %v", err)
	}
	tf, err := up.GetTargetInfo(target)
	if err != nil {
		g.t.Fatalf("go-tuf target %s: %v", target, err)
	}
	_, data, err := up.DownloadTarget(tf, "", "")
	if err != nil {
		g.t.Fatalf("go-tuf download: %v", err)
	}
	if !bytes.Equal(data, want) {
		g.t.Fatalf("payload %s differs", target)
	}
	m, err := manifest.FromCustom(*tf.Custom)
	if err != nil {
		g.t.Fatal(err)
	}
	return m
}

func TestUpdaterWholeLife(t *testing.T) {
	wholeLife(t, func(f *fixture) fetcher { return newGoTUF(t, f) })
}

func TestUpdaterBins(t *testing.T) {
	binsScenario(t, func(f *fixture) fetcher { return newGoTUF(t, f) })
}

// go-tuf asks for a payload under one of its listed hashes (the first it
// ranges over): with sha256 and sha512 listed, each name must serve it.
func TestUpdaterWholeLifeSHA512(t *testing.T) {
	wholeLife(t, func(f *fixture) fetcher { return newGoTUF(t, f) }, "sha256", "sha512")
}

func TestUpdaterBinsSHA512(t *testing.T) {
	binsScenario(t, func(f *fixture) fetcher { return newGoTUF(t, f) }, "sha256", "sha512")
}
