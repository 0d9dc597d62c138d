package client

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/theupdateframework/go-tuf/v2/metadata"
	"github.com/theupdateframework/go-tuf/v2/metadata/trustedmetadata"
)

// benchSim is a repository with n targets listed flat in targets.json.
func benchSim(b *testing.B, n int) *sim {
	s := newSim(b)
	for i := range n {
		s.addTarget("targets", fmt.Sprintf("webkit/improvement-%06d.tar.gz", i), []byte(strconv.Itoa(i)), `{"bsi":{"sequence":1}}`)
	}
	s.publish("targets")
	return s
}

var benchSizes = []int{1000, 10000}

// BenchmarkWarmRefresh: nothing changed since the last refresh; a new
// client (a new process, in practice) refreshes from the stored state.
func BenchmarkWarmRefresh(b *testing.B) {
	for _, n := range benchSizes {
		s := benchSim(b, n)
		b.Run(fmt.Sprintf("bsi/%d", n), func(b *testing.B) {
			c, dir := s.client(b, true)
			mustRefresh(b, c)
			for b.Loop() {
				mustRefresh(b, s.clientAt(b, dir))
			}
		})
		b.Run(fmt.Sprintf("go-tuf/%d", n), func(b *testing.B) {
			dir := b.TempDir()
			os.WriteFile(filepath.Join(dir, "root.json"), s.get("root.json"), 0o644)
			if err := goTUFRefresh(s, dir); err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if err := goTUFRefresh(s, dir); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkColdRefresh: a client with only the root refreshes.
func BenchmarkColdRefresh(b *testing.B) {
	for _, n := range benchSizes {
		s := benchSim(b, n)
		b.Run(fmt.Sprintf("bsi/%d", n), func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				c, _ := s.client(b, true)
				b.StartTimer()
				mustRefresh(b, c)
			}
		})
		b.Run(fmt.Sprintf("go-tuf/%d", n), func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				dir := b.TempDir()
				os.WriteFile(filepath.Join(dir, "root.json"), s.get("root.json"), 0o644)
				b.StartTimer()
				if err := goTUFRefresh(s, dir); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// goTUFRefresh does what go-tuf's updater.Refresh does (its updater
// package cannot be built in this module: its fetcher needs a module
// missing from go.sum), step for step with go-tuf's trustedmetadata:
// load and verify the stored root, probe the next root, load and verify
// the stored timestamp, fetch and verify the new one, load the stored
// snapshot and targets (re-parsing and re-verifying them) or fetch them.
func goTUFRefresh(s *sim, dir string) error {
	read := func(role string) ([]byte, error) { return os.ReadFile(filepath.Join(dir, role+".json")) }
	write := func(role string, b []byte) error { return os.WriteFile(filepath.Join(dir, role+".json"), b, 0o644) }
	get := func(name string) ([]byte, error) {
		resp, err := s.srv.Client().Get(s.url() + "/" + name)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("status %d", resp.StatusCode)
		}
		return io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	}
	root, err := read("root")
	if err != nil {
		return err
	}
	tm, err := trustedmetadata.New(root)
	if err != nil {
		return err
	}
	tm.RefTime = s.now
	if _, err := get(strconv.FormatInt(tm.Root.Signed.Version+1, 10) + ".root.json"); err == nil {
		return errors.New("benchmark repository has a newer root")
	}
	if local, err := read("timestamp"); err == nil {
		tm.UpdateTimestamp(local)
	}
	ts, err := get("timestamp.json")
	if err != nil {
		return err
	}
	if _, err := tm.UpdateTimestamp(ts); err != nil && !errors.Is(err, &metadata.ErrEqualVersionNumber{}) {
		return err
	} else if err == nil {
		write("timestamp", ts)
	}
	if local, err := read("snapshot"); err != nil || func() error { _, err := tm.UpdateSnapshot(local, true); return err }() != nil {
		v := tm.Timestamp.Signed.Meta["snapshot.json"].Version
		sn, err := get(strconv.FormatInt(v, 10) + ".snapshot.json")
		if err != nil {
			return err
		}
		if _, err := tm.UpdateSnapshot(sn, false); err != nil {
			return err
		}
		write("snapshot", sn)
	}
	if local, err := read("targets"); err != nil || func() error { _, err := tm.UpdateTargets(local); return err }() != nil {
		v := tm.Snapshot.Signed.Meta["targets.json"].Version
		tg, err := get(strconv.FormatInt(v, 10) + ".targets.json")
		if err != nil {
			return err
		}
		if _, err := tm.UpdateTargets(tg); err != nil {
			return err
		}
		write("targets", tg)
	}
	return nil
}

// warmCheckSizes are the sizes of BenchmarkWarmCheck: benchSizes, or the
// comma-separated list in BSI_BENCH_SIZES (100000 takes a minute to sign).
func warmCheckSizes(b *testing.B) []int {
	env := os.Getenv("BSI_BENCH_SIZES")
	if env == "" {
		return benchSizes
	}
	var sizes []int
	for _, f := range strings.Split(env, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			b.Fatalf("BSI_BENCH_SIZES: %q is not a size", f)
		}
		sizes = append(sizes, n)
	}
	return sizes
}

// BenchmarkWarmCheck: what a device does when nothing changed: a new
// client refreshes from the stored state and looks one target up (through
// the look-up index when targets.json is large enough to have one).
func BenchmarkWarmCheck(b *testing.B) {
	for _, n := range warmCheckSizes(b) {
		s := benchSim(b, n)
		target := fmt.Sprintf("webkit/improvement-%06d.tar.gz", n*2/3)
		b.Run(fmt.Sprintf("bsi/%d", n), func(b *testing.B) {
			c, dir := s.client(b, true)
			mustRefresh(b, c)
			if _, err := c.Lookup(ctx, target); err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				c := s.clientAt(b, dir)
				mustRefresh(b, c)
				if _, err := c.Lookup(ctx, target); err != nil {
					b.Fatal(err)
				}
			}
			if c := s.clientAt(b, dir); len(s.get("targets.json")) >= indexMin {
				mustRefresh(b, c)
				c.Lookup(ctx, target)
				if c.used["targets"] != fromIndex {
					b.Fatalf("targets came from source %d, not the index", c.used["targets"])
				}
			}
		})
	}
}

// BenchmarkIndexedFind: the look-up index part of a warm check alone:
// read and hash the sidecar, parse it, and find one target in the stored
// targets.json through it.
func BenchmarkIndexedFind(b *testing.B) {
	for _, n := range warmCheckSizes(b) {
		s := benchSim(b, n)
		raw := s.get("targets.json")
		sum := sha256.Sum256(raw)
		ix := buildIndex(raw, sum)
		if ix == nil {
			continue
		}
		dir := b.TempDir()
		path, side := filepath.Join(dir, "targets.json"), filepath.Join(dir, "index")
		enc := ix.marshal()
		if err := errors.Join(os.WriteFile(path, raw, 0o644), os.WriteFile(side, enc, 0o644)); err != nil {
			b.Fatal(err)
		}
		target := fmt.Sprintf("webkit/improvement-%06d.tar.gz", n*2/3)
		b.Run(fmt.Sprintf("%d", n), func(b *testing.B) {
			for b.Loop() {
				enc, err := os.ReadFile(side)
				if err != nil || sha256.Sum256(enc) == [32]byte{} {
					b.Fatal(err)
				}
				ix, err := parseIndex(enc)
				if err != nil {
					b.Fatal(err)
				}
				f := &indexedFile{path: path, ix: ix, valid: map[int64][]byte{}}
				if e, _, err := f.find(target, true); err != nil || e == nil {
					b.Fatalf("find %s: %q, %v", target, e, err)
				}
			}
			b.ReportMetric(float64(len(enc)), "index-bytes")
			b.ReportMetric(float64(len(raw)), "role-bytes")
			b.ReportMetric(float64(runBytes(len(raw))), "run-bytes")
		})
	}
}
