package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/bsiframework/bsi/agent/testrepo"
	"github.com/bsiframework/bsi/internal/progress"
	"github.com/bsiframework/bsi/keys"
	"github.com/bsiframework/bsi/trust/repo"
)

// tickingTerminal is progress options for tests: a terminal whose clock
// moves one second at each reading, so that every change is drawn whatever
// the machine's speed.
func tickingTerminal() progress.Options {
	var mu sync.Mutex
	t := time.Unix(1e9, 0)
	return progress.Options{Terminal: true, Interval: time.Second, Now: func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		t = t.Add(time.Second)
		return t
	}}
}

// TestNoPublishProgressWhenNotTerminal: without a terminal a publish
// writes to its destination as it is. (The client's progress bars are
// tested in cmd/internal/devicecli.)
func TestNoPublishProgressWhenNotTerminal(t *testing.T) {
	e := &env{Stderr: &bytes.Buffer{}, Logger: slog.New(slog.DiscardHandler)}
	dest, done := progressDestination(e, nil, progress.Options{Terminal: stderrTerminal(e)})
	done()
	if dest != nil {
		t.Errorf("destination wrapped for a non-terminal")
	}
}

// recordingDest records calls, with or without the deferred ability.
type recordingDest struct {
	repo.Destination
	calls []string
}

func (d *recordingDest) WriteFile(ctx context.Context, name string, data []byte) error {
	d.calls = append(d.calls, "write "+name)
	if name == "fail" {
		return errors.New("disk full")
	}
	return nil
}

func (d *recordingDest) String() string { return "rec" }

type deferringDest struct{ recordingDest }

func (d *deferringDest) WriteFileDeferred(ctx context.Context, name string, data []byte) error {
	d.calls = append(d.calls, "deferred "+name)
	return nil
}

func (d *deferringDest) Flush(context.Context) error {
	d.calls = append(d.calls, "flush")
	return nil
}

// TestProgressDestKeepsAbilities: the wrapper keeps the destination's
// deferred writes (one flush for many payloads), its name, and its errors.
func TestProgressDestKeepsAbilities(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		dest interface {
			repo.Destination
			fmt.Stringer
		}
		want []string
	}{
		{&recordingDest{}, []string{"write a", "write b", "write fail"}},
		{&deferringDest{}, []string{"deferred a", "flush", "write b", "write fail"}},
	} {
		var stderr bytes.Buffer
		d, done := progressDestination(&env{Stderr: &stderr}, tc.dest, tickingTerminal())
		dw := d.(deferredDest)
		dw.WriteFileDeferred(ctx, "a", make([]byte, 10))
		dw.Flush(ctx)
		d.WriteFile(ctx, "b", make([]byte, 20))
		if err := d.WriteFile(ctx, "fail", nil); err == nil {
			t.Error("error of the destination lost")
		}
		done()
		var calls []string
		switch r := tc.dest.(type) {
		case *recordingDest:
			calls = r.calls
		case *deferringDest:
			calls = r.calls
		}
		if diff := cmp.Diff(tc.want, calls); diff != "" {
			t.Errorf("calls (-want +got):\n%s", diff)
		}
		if fmt.Sprint(d) != "rec" {
			t.Errorf("name %q", fmt.Sprint(d))
		}
		if !strings.HasSuffix(stderr.String(), "\rpublishing 2 files, 30 B\n") {
			t.Errorf("bar %q", stderr.String())
		}
	}
}

// signedWorkspace makes, through the bsi commands, a workspace in a
// temporary directory with webkit delegated, webkit (a) added and every
// role signed: ready to publish.
func signedWorkspace(t *testing.T, f *clientFixture) string {
	t.Helper()
	dir := t.TempDir()
	key := func(name string) string {
		p := filepath.Join(dir, name+".key")
		priv, err := keys.Generate(keys.Ed25519)
		if err != nil {
			t.Fatal(err)
		}
		if err := keys.WriteKeyPair(p, priv, nil); err != nil {
			t.Fatal(err)
		}
		return p
	}
	root, targets, snap, ts, webkit := key("root"), key("targets"), key("snapshot"), key("timestamp"), key("webkit")
	ws := filepath.Join(dir, "ws")
	f.must("repo", "init", ws, "--root-key", root+".pub", "--targets-key", targets+".pub",
		"--snapshot-key", snap, "--timestamp-key", ts)
	f.must("repo", "delegate", ws, "--component", "webkit", "--key", webkit+".pub")
	mj, err := improvement("webkit", "26.3", 1).Encode()
	if err != nil {
		t.Fatal(err)
	}
	mpath, ppath := filepath.Join(dir, "m.json"), filepath.Join(dir, "p.tar.gz")
	if err := os.WriteFile(mpath, mj, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ppath, testrepo.TarGz(map[string]string{"lib/webkit.txt": "x\n"}), 0o644); err != nil {
		t.Fatal(err)
	}
	f.must("repo", "add", ws, "--manifest", mpath, "--payload", ppath, "--key", webkit)
	f.must("repo", "sign", ws, "--key", root)
	f.must("repo", "sign", ws, "--key", targets)
	return ws
}

// TestPublishProgress publishes a real workspace through the wrapper: every
// file is written, and the bar counted each of them.
func TestPublishProgress(t *testing.T) {
	f := newClientFixture(t, clientStart)
	ws := signedWorkspace(t, f)
	dir := t.TempDir()
	ctx := context.Background()
	var stderr bytes.Buffer
	e := &env{Stderr: &stderr, Now: f.clock, Getenv: func(string) string { return "" }, Logger: slog.New(slog.DiscardHandler)}
	w, err := repo.Open(ctx, ws, repoOptions(e))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	public := filepath.Join(dir, "public")
	dest, err := repo.DirDestination(public)
	if err != nil {
		t.Fatal(err)
	}
	pd, done := progressDestination(e, dest, tickingTerminal())
	res, err := w.Publish(ctx, pd)
	done()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range res.Written {
		if _, err := os.Stat(filepath.Join(public, filepath.FromSlash(name))); err != nil {
			t.Errorf("%s not written: %v", name, err)
		}
	}
	want := fmt.Sprintf("\rpublishing %d files, ", len(res.Written))
	lines := strings.Split(stderr.String(), "\r")
	if last := lines[len(lines)-1]; !strings.HasPrefix("\r"+last, want) || !strings.HasSuffix(last, "\n") {
		t.Errorf("last drawing %q, want it to start with %q", last, want)
	}
}
