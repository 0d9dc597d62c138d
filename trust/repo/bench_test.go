package repo

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	code := m.Run()
	templates.removeAll()
	os.Exit(code)
}

// templates holds the big repositories benchmarks start from, built once
// per test process (the 100k one takes minutes) and cloned with hard
// links: every file of a workspace and of a destination directory is
// replaced by a rename, never written in place, so clones cannot change
// the template.
var templates = &templateCache{dirs: map[string]string{}}

type templateCache struct {
	mu   sync.Mutex
	root string
	kept bool // root is $BSI_BENCH_TEMPLATES: kept between processes
	dirs map[string]string
}

func (c *templateCache) removeAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.root != "" && !c.kept {
		os.RemoveAll(c.root)
	}
}

// get returns the template fixture directory for key, building it with
// build (into the directory given) on first use. With $BSI_BENCH_TEMPLATES
// set, templates are kept in that directory between processes (a 100k
// repository takes minutes to build): a template is complete once its
// "clock" file exists, and one without it is built again.
func (c *templateCache) get(b *testing.B, key string, build func(dir string)) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d, ok := c.dirs[key]; ok {
		return d
	}
	if c.root == "" {
		if kept := os.Getenv("BSI_BENCH_TEMPLATES"); kept != "" {
			if err := os.MkdirAll(kept, 0o755); err != nil {
				b.Fatal(err)
			}
			c.root, c.kept = kept, true
		} else {
			root, err := os.MkdirTemp("", "bsi-repo-bench")
			if err != nil {
				b.Fatal(err)
			}
			c.root = root
		}
	}
	d := filepath.Join(c.root, key)
	if _, err := os.Stat(filepath.Join(d, "clock")); err != nil {
		if err := os.RemoveAll(d); err != nil {
			b.Fatal(err)
		}
		build(d)
	}
	c.dirs[key] = d
	return d
}

// bigRepo returns a fixture whose workspace holds n improvements of one
// component (in bins when bins > 0), all signed and ready to publish, and
// published to f.public() when published is set. The workspace is open.
func bigRepo(b *testing.B, n, bins int, published bool) *fixture {
	b.Helper()
	key := fmt.Sprintf("n%d-bins%d-published%t", n, bins, published)
	var clock time.Time
	tmpl := templates.get(b, key, func(dir string) {
		f := newFixture(b)
		f.dir = filepath.Join(dir, "ws")
		clock = f.clock
		buildBigRepo(b, f, n, bins)
		if published {
			f.publish()
		}
		f.ws.Close()
		if err := os.WriteFile(filepath.Join(dir, "clock"), []byte(f.clock.Format(time.RFC3339)), 0o644); err != nil {
			b.Fatal(err)
		}
	})
	data, err := os.ReadFile(filepath.Join(tmpl, "clock"))
	if err != nil {
		b.Fatal(err)
	}
	if clock, err = time.Parse(time.RFC3339, string(data)); err != nil {
		b.Fatal(err)
	}
	f := newFixture(b)
	f.clock = clock
	if err := cloneTree(filepath.Join(tmpl, "ws"), f.dir); err != nil {
		b.Fatal(err)
	}
	for _, name := range []string{"root1", "targets", "webkit1", "snapshot", "timestamp"} {
		f.key(name)
	}
	w, err := Open(b.Context(), f.dir, f.opts())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { w.Close() })
	f.ws = w
	return f
}

func buildBigRepo(b *testing.B, f *fixture, n, bins int) {
	f.init(1, "root1")
	ctx := b.Context()
	if err := f.ws.Delegate(ctx, "webkit", DelegateOptions{Keys: f.tufKeys("webkit1"), Bins: bins}); err != nil {
		b.Fatal(err)
	}
	payload := f.payload("shared", "one payload for every improvement")
	const chunk = 25000
	for i := 0; i < n; i += chunk {
		var reqs []AddRequest
		for j := i; j < min(n, i+chunk); j++ {
			reqs = append(reqs, AddRequest{Manifest: manifestJSON(fmt.Sprintf("webkit-%06d", j), "webkit", j+1), Payload: payload})
		}
		if _, err := f.ws.AddBatch(ctx, reqs); err != nil {
			b.Fatal(err)
		}
	}
	f.sign("root1", "targets", "webkit1")
}

// cloneTree recreates src at dst with hard links to src's files (the lock
// file left out).
func cloneTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o755)
		case rel == ".lock":
			return nil
		}
		return os.Link(p, target)
	})
}

// countingDest counts what Publish does to a destination.
type countingDest struct {
	Destination
	reads         []string
	stats, writes int
}

func (d *countingDest) ReadFile(ctx context.Context, name string) ([]byte, error) {
	d.reads = append(d.reads, name)
	return d.Destination.ReadFile(ctx, name)
}

func (d *countingDest) Exists(ctx context.Context, name string) (bool, error) {
	d.stats++
	return d.Destination.Exists(ctx, name)
}

func (d *countingDest) WriteFile(ctx context.Context, name string, data []byte) error {
	d.writes++
	return d.Destination.WriteFile(ctx, name, data)
}

func (d *countingDest) WriteFileDeferred(ctx context.Context, name string, data []byte) error {
	d.writes++
	return d.Destination.(deferredWriter).WriteFileDeferred(ctx, name, data)
}

func (d *countingDest) Flush(ctx context.Context) error {
	return d.Destination.(deferredWriter).Flush(ctx)
}

// benchmarkFreshPublish measures the first publish of a repository of n
// improvements to an empty destination.
func benchmarkFreshPublish(b *testing.B, n, bins int) {
	skipLarge(b, n)
	var written, rounds int
	var cpu time.Duration
	for b.Loop() {
		b.StopTimer()
		f := bigRepo(b, n, bins, false)
		b.StartTimer()
		stop := cpuProfile(b)
		c0 := cpuTime()
		written = len(f.publish().Written)
		cpu += cpuTime() - c0
		stop()
		rounds++
	}
	b.ReportMetric(float64(written), "files-written")
	b.ReportMetric(cpu.Seconds()/float64(rounds), "cpu-s/op")
}

// The 100,000-improvement sizes (issue 16's targets: a fresh publish in
// 256 bins within 20 s, adding one to a flat role and publishing within
// 5 s) build their repository once per process, which takes minutes:
// they run only with BSI_BENCH_100K=1 and never under -short.
func BenchmarkPublishFresh1k(b *testing.B)           { benchmarkFreshPublish(b, 1000, 0) }
func BenchmarkPublishFresh10k(b *testing.B)          { benchmarkFreshPublish(b, 10000, 0) }
func BenchmarkFreshPublish100k256Bins(b *testing.B)  { benchmarkFreshPublish(b, 100000, 256) }
func BenchmarkAddOnePublish10k(b *testing.B)         { benchmarkAddOne(b, 10000, 0) }
func BenchmarkAddOneAndPublish100kFlat(b *testing.B) { benchmarkAddOne(b, 100000, 0) }
func BenchmarkAddOnePublish100kBins(b *testing.B)    { benchmarkAddOne(b, 100000, 256) }

// cpuProfile writes a CPU profile of the measured part of a benchmark (not
// of building its repository) to $BSI_BENCH_CPUPROFILE, the first time it
// is called in the process; the function returned stops it.
func cpuProfile(b *testing.B) func() {
	name := os.Getenv("BSI_BENCH_CPUPROFILE")
	if name == "" || profiled {
		return func() {}
	}
	profiled = true
	f, err := os.Create(name)
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		b.Fatal(err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}

var profiled bool

// cpuTime returns the CPU time (user and system) the process has used: on
// a machine shared with other work, wall time says more about the load
// than about the code.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// skipLarge skips a benchmark of n improvements unless large sizes are
// asked for.
func skipLarge(b *testing.B, n int) {
	if n < 100000 {
		return
	}
	if testing.Short() || os.Getenv("BSI_BENCH_100K") != "1" {
		b.Skip("100k improvements: set BSI_BENCH_100K=1 (and no -short) to run")
	}
}

// benchmarkAddOne measures what a publisher waits for when adding one
// improvement to a big published repository: open, add (signed), publish,
// close. It reports what the last round did: files written to the
// destination, and the workspace files read, decoded and written.
func benchmarkAddOne(b *testing.B, n, bins int) {
	skipLarge(b, n)
	f := bigRepo(b, n, bins, true)
	f.ws.Close()
	payload := f.payload("one", "the new one")
	dir, err := DirDestination(f.public())
	if err != nil {
		b.Fatal(err)
	}
	seq := n
	var written []string
	var dest *countingDest
	var stats ioStats
	var cpu time.Duration
	rounds := 0
	for b.Loop() {
		seq++
		stop := cpuProfile(b)
		c0 := cpuTime()
		w, err := Open(b.Context(), f.dir, f.opts())
		if err != nil {
			b.Fatal(err)
		}
		if _, err := w.Add(b.Context(), AddRequest{Manifest: manifestJSON(fmt.Sprintf("webkit-%06d", seq-1), "webkit", seq),
			Payload: payload, Signers: f.signers_("webkit1")}); err != nil {
			b.Fatal(err)
		}
		dest = &countingDest{Destination: dir}
		res, err := w.Publish(b.Context(), dest)
		cpu += cpuTime() - c0
		rounds++
		stop()
		if err != nil {
			b.Fatal(err)
		}
		written, stats = res.Written, w.stats
		w.Close()
		f.clock = f.clock.Add(time.Second)
	}
	b.ReportMetric(cpu.Seconds()/float64(rounds), "cpu-s/op")
	b.ReportMetric(float64(len(written)), "files-written")
	b.ReportMetric(float64(len(dest.reads)+dest.stats), "dest-reads")
	b.ReportMetric(float64(stats.read), "ws-reads")
	b.ReportMetric(float64(len(stats.decoded)), "ws-decoded")
	b.ReportMetric(float64(stats.written), "ws-written")
	b.Logf("last add+publish wrote %s; read %d and checked %d destination files; read %d workspace files, decoded %d roles, wrote %d",
		strings.Join(written, " "), len(dest.reads), dest.stats, stats.read, len(stats.decoded), stats.written)
}
