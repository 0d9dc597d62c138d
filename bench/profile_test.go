package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// profileRepo returns the published tree and root of a repository kept in
// $BSI_BENCH_REPO between runs (generated on first use, with
// $BSI_BENCH_N improvements in $BSI_BENCH_LAYOUT), so that a profile of
// the client does not pay for generating 100,000 improvements each time.
// It skips the benchmark when BSI_BENCH_REPO is not set.
func profileRepo(b *testing.B) (public string, root []byte) {
	dir := os.Getenv("BSI_BENCH_REPO")
	if dir == "" {
		b.Skip("BSI_BENCH_REPO not set")
	}
	public = filepath.Join(dir, "public")
	if _, err := os.Stat(filepath.Join(public, "1.root.json")); err != nil {
		n, err := strconv.Atoi(os.Getenv("BSI_BENCH_N"))
		if err != nil {
			b.Fatalf("BSI_BENCH_N: %v", err)
		}
		bins := 0
		if os.Getenv("BSI_BENCH_LAYOUT") == Bins {
			bins = BinCount
		}
		if _, err := generate(context.Background(), dir, n, bins, time.Now, nil); err != nil {
			b.Fatal(err)
		}
	}
	root, err := os.ReadFile(filepath.Join(public, "1.root.json"))
	if err != nil {
		b.Fatal(err)
	}
	return public, root
}

// BenchmarkProfileClient measures the bsi client core alone on the kept
// repository, for "go test -cpuprofile": cold (only the root), warm
// (nothing changed), and the whole-process clients when BSI_BENCH_BIN
// names a tuf-client binary.
func BenchmarkProfileClient(b *testing.B) {
	public, root := profileRepo(b)
	srv, err := serve(b.Context(), public)
	if err != nil {
		b.Fatal(err)
	}
	defer srv.close()
	d := bsiDevice{url: srv.url, now: time.Now}
	target := os.Getenv("BSI_BENCH_TARGET")
	if target == "" {
		target = targetPath(1)
	}
	b.Run("cold", func(b *testing.B) {
		defer profile(b, srv)()
		for i := 0; b.Loop(); i++ {
			b.StopTimer()
			state := filepath.Join(b.TempDir(), fmt.Sprint("cold-", i))
			if err := d.install(state, root); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			if err := d.check(b.Context(), state, target, true); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("floor", func(b *testing.B) {
		state := filepath.Join(b.TempDir(), "floor")
		if err := d.install(state, root); err != nil {
			b.Fatal(err)
		}
		mark := srv.mark()
		if err := d.check(b.Context(), state, target, true); err != nil {
			b.Fatal(err)
		}
		paths := srv.pathsSince(mark)
		var f Floor
		defer profile(b, srv)()
		for b.Loop() {
			var err error
			if f, err = measureFloor(b.Context(), srv.url, b.TempDir(), paths); err != nil {
				b.Fatal(err)
			}
		}
		b.Logf("last floor: %+v", f)
	})
	// warmState returns a device state directory that has checked once.
	warmState := func(b *testing.B) string {
		state := filepath.Join(b.TempDir(), "warm")
		if err := d.install(state, root); err != nil {
			b.Fatal(err)
		}
		if err := d.check(b.Context(), state, target, false); err != nil {
			b.Fatal(err)
		}
		return state
	}
	b.Run("warm", func(b *testing.B) {
		state := warmState(b)
		defer profile(b, srv)()
		for b.Loop() {
			if err := d.check(b.Context(), state, target, false); err != nil {
				b.Fatal(err)
			}
		}
	})
	// warm-once: each check as bsi bench measures one, after a sync and
	// a collection (the time single-shot checks pay, loop aside), with the
	// page faults it took; $BSI_BENCH_GARBAGE bytes allocated and dropped
	// before each stand for the other client's run (go-tuf allocates 257
	// MB in a warm refresh of 10,000 flat).
	garbage, _ := strconv.Atoi(os.Getenv("BSI_BENCH_GARBAGE"))
	b.Run("warm-once", func(b *testing.B) {
		var faults int64
		state := warmState(b)
		defer profile(b, srv)()
		for b.Loop() {
			b.StopTimer()
			syscall.Sync()
			if garbage > 0 {
				sink = make([][]byte, 0, garbage>>12)
				for range garbage >> 12 {
					sink = append(sink, make([]byte, 4096))
				}
				sink = nil
			}
			runtime.GC()
			var r0, r1 syscall.Rusage
			syscall.Getrusage(syscall.RUSAGE_SELF, &r0)
			b.StartTimer()
			if err := d.check(b.Context(), state, target, false); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			syscall.Getrusage(syscall.RUSAGE_SELF, &r1)
			faults += r1.Minflt - r0.Minflt
			b.StartTimer()
		}
		b.ReportMetric(float64(faults)/float64(b.N), "faults/op")
	})
}

// profile reports requests and wire bytes per operation and, when
// $BSI_BENCH_PROF_DIR is set, writes a CPU profile of the loop alone
// (setup excluded) to a file named after the benchmark there. Call the
// function it returns when the loop is done.
func profile(b *testing.B, srv *server) func() {
	w0 := srv.counts()
	stop := func() {}
	if dir := os.Getenv("BSI_BENCH_PROF_DIR"); dir != "" {
		f, err := os.Create(filepath.Join(dir, strings.ReplaceAll(b.Name(), "/", "-")+".prof"))
		if err != nil {
			b.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			b.Fatal(err)
		}
		stop = func() { pprof.StopCPUProfile(); f.Close() }
	}
	return func() {
		stop()
		w1 := srv.counts()
		b.ReportMetric(float64(w1.requests-w0.requests)/float64(b.N), "req/op")
		b.ReportMetric(float64(w1.bytes-w0.bytes)/float64(b.N), "wire-B/op")
	}
}

var sink [][]byte
