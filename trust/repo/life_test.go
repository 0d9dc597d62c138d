package repo

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

func TestVersionBumpsOncePerSession(t *testing.T) {
	f := published(t)
	ctx := t.Context()
	f.add("webkit-26.3-b", "webkit", 2)
	f.add("webkit-26.3-c", "webkit", 3)
	if err := f.ws.Withdraw(ctx, "webkit-26.3-a", "superseded"); err != nil {
		t.Fatal(err)
	}
	m, _ := f.ws.targetsRole("webkit")
	if m.Signed.Version != 2 || len(m.Signatures) != 0 {
		t.Fatalf("webkit v%d with %d signatures, want v2 unsigned", m.Signed.Version, len(m.Signatures))
	}
	f.sign("webkit1", "webkit1") // twice: no duplicate
	if len(m.Signatures) != 1 {
		t.Fatalf("%d signatures", len(m.Signatures))
	}
	f.publish()
	f.add("webkit-26.3-d", "webkit", 4)
	if m, _ := f.ws.targetsRole("webkit"); m.Signed.Version != 3 {
		t.Fatalf("after publish, next change gives v%d, want 3", m.Signed.Version)
	}
}

func TestUndelegate(t *testing.T) {
	f := published(t)
	ctx := t.Context()
	if err := f.ws.Undelegate(ctx, "webkit"); err != nil {
		t.Fatal(err)
	}
	if err := f.ws.Undelegate(ctx, "webkit"); err == nil {
		t.Fatal("second undelegate accepted")
	}
	f.sign("targets")
	f.publish()
	if _, ok := f.ws.snapshot.Signed.Meta["webkit.json"]; ok {
		t.Fatal("snapshot still lists webkit")
	}
	if _, err := os.Stat(filepath.Join(f.dir, "metadata", "webkit.json")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("role file: %v", err)
	}
	if list, _ := f.ws.List(ctx); len(list) != 0 {
		t.Fatalf("list: %v", list)
	}
}

func TestRefreshSnapshotOnlyWhenExpiring(t *testing.T) {
	f := published(t)
	ctx := t.Context()
	dest := mustDir(t, f.public())
	f.clock = f.clock.Add(20 * time.Hour)
	res, err := f.ws.Refresh(ctx, dest, RefreshOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.TimestampVersion != 2 || res.SnapshotVersion != 1 || len(res.Written) != 1 {
		t.Fatalf("first refresh: %+v", res)
	}
	f.clock = f.clock.Add(5 * 24 * time.Hour) // snapshot (7d) now expires within 2 days
	res, err = f.ws.Refresh(ctx, dest, RefreshOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.TimestampVersion != 3 || res.SnapshotVersion != 2 || len(res.Written) != 2 {
		t.Fatalf("second refresh: %+v", res)
	}
	// The refreshed tree is still accepted by a client.
	f.clock = time.Now()
	f.client().fetch("webkit/webkit-26.3-a.tar.gz", readFile(t, filepath.Join(filepath.Dir(f.dir), "webkit-26.3-a.tar.gz")))
}

func TestRefreshSignsWithPublishedRootKeys(t *testing.T) {
	f := published(t)
	ctx := t.Context()
	f.key("timestamp2")
	if err := f.ws.Rotate(ctx, metadata.TIMESTAMP, RotateOptions{AddRefs: []string{"timestamp2"}, Remove: []string{f.keyID("timestamp")}}); err != nil {
		t.Fatal(err)
	}
	// Root v2 is pending: refresh must still sign with the old key.
	if _, err := f.ws.Refresh(ctx, mustDir(t, f.public()), RefreshOptions{}); err != nil {
		t.Fatal(err)
	}
	c := f.client()
	c.fetch("webkit/webkit-26.3-a.tar.gz", readFile(t, filepath.Join(filepath.Dir(f.dir), "webkit-26.3-a.tar.gz")))
	f.sign("root1")
	f.publish()
	c.fetch("webkit/webkit-26.3-a.tar.gz", readFile(t, filepath.Join(filepath.Dir(f.dir), "webkit-26.3-a.tar.gz")))
	if n := len(f.ws.cfg.Online[metadata.TIMESTAMP]); n != 1 || f.ws.cfg.Online[metadata.TIMESTAMP][0].Ref != "timestamp2" {
		t.Fatalf("online timestamp keys after publish: %+v", f.ws.cfg.Online[metadata.TIMESTAMP])
	}
}

func TestKeepFreshStopsOnCancel(t *testing.T) {
	f := published(t)
	f.ws.Close()
	ctx, cancel := context.WithCancel(t.Context())
	var rounds atomic.Int32
	opts := f.opts()
	opts.After = func(time.Duration) <-chan time.Time {
		if rounds.Add(1) == 3 {
			cancel()
		}
		ch := make(chan time.Time, 1)
		ch <- time.Now()
		return ch
	}
	done := make(chan error)
	go func() { done <- KeepFresh(ctx, f.dir, mustDir(t, f.public()), time.Hour, opts, RefreshOptions{}) }()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	w, err := Open(t.Context(), f.dir, f.opts())
	if err != nil {
		t.Fatal(err)
	}
	v := w.timestamp.Signed.Version
	w.Close()
	if v < 3 {
		t.Fatalf("timestamp v%d after %d rounds", v, rounds.Load())
	}
	if err := KeepFresh(t.Context(), f.dir, mustDir(t, f.public()), 48*time.Hour, f.opts(), RefreshOptions{}); err == nil {
		t.Fatal("interval longer than the timestamp period accepted")
	}
}

// TestKeepFreshRejectsLongIntervalBeforeWaiting: an interval longer than
// the timestamp period is refused at once, even when the first round
// would fail for another reason (the workspace is locked), instead of
// waiting that whole interval first.
func TestKeepFreshRejectsLongIntervalBeforeWaiting(t *testing.T) {
	f := published(t) // f.ws stays open: the workspace is locked
	opts := f.opts()
	opts.After = func(d time.Duration) <-chan time.Time {
		t.Errorf("KeepFresh waited %v before checking the interval", d)
		ch := make(chan time.Time, 1)
		ch <- time.Now()
		return ch
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	err := KeepFresh(ctx, f.dir, mustDir(t, f.public()), 48*time.Hour, opts, RefreshOptions{})
	var ie *intervalError
	if !errors.As(err, &ie) || ie.interval != 48*time.Hour || ie.period != 24*time.Hour {
		t.Fatalf("KeepFresh with a 48h interval and a 24h timestamp period: %v", err)
	}
	if err := KeepFresh(ctx, filepath.Join(t.TempDir(), "none"), mustDir(t, f.public()), time.Hour, opts, RefreshOptions{}); err == nil ||
		!strings.Contains(err.Error(), "workspace.json") {
		t.Fatalf("KeepFresh on a directory that is not a workspace: %v", err)
	}
}
