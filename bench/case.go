package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"time"
)

// bench is one case being measured: a published repository, its server,
// the two devices in process and, when the run built them, the two
// whole-process clients.
type bench struct {
	cfg     Config
	dir     string
	pub     *publisher
	srv     *server
	root    []byte
	devices []device
	procs   []device
}

func runCase(ctx context.Context, cfg Config, dir string, n int, layout string, bin *binaries) (*Case, error) {
	bins := 0
	if layout == Bins {
		bins = BinCount
	}
	cfg.Progress("%d %s: generating %d improvements with trust/repo", n, layout, n)
	// Generating does not pay for writing back what an earlier case left
	// (a case of 100,000 leaves 200,000 files, removed just before).
	syscall.Sync()
	start, cpu0 := time.Now(), processCPU()
	pub, err := generate(ctx, dir, n, bins, cfg.Now, func(done int) {
		cfg.Progress("%d %s: %d of %d improvements added (%s)", n, layout, done, n, time.Since(start).Round(time.Millisecond))
	})
	if err != nil {
		return nil, err
	}
	c := &Case{N: n, Layout: layout, Generate: time.Since(start), GenerateCPU: processCPU() - cpu0}
	if fi, err := os.Stat(filepath.Join(pub.public, "1."+component+".json")); err == nil {
		c.ComponentBytes = fi.Size()
	}
	srv, err := serve(ctx, pub.public)
	if err != nil {
		return nil, err
	}
	defer srv.close()
	b := &bench{cfg: cfg, dir: dir, pub: pub, srv: srv,
		devices: []device{bsiDevice{url: srv.url, now: cfg.Now}, goTUFDevice{url: srv.url}}}
	if bin != nil {
		b.procs = []device{procDevice{who: BSI, cmd: bin.bsi, url: srv.url}, procDevice{who: GoTUF, cmd: bin.goTUF, url: srv.url}}
	}
	if b.root, err = pub.rootJSON(); err != nil {
		return nil, err
	}
	target := targetPath(n/2 + 1)
	cfg.Progress("%d %s: generated in %s; cold refresh", n, layout, c.Generate.Round(time.Millisecond))
	if c.Cold, c.ColdFloor, err = b.cold(ctx, "", b.devices, target); err != nil {
		return nil, err
	}
	cfg.Progress("%d %s: warm refresh", n, layout)
	if c.Warm, c.WarmFirst, err = b.warmLoop(ctx, b.devices, target); err != nil {
		return nil, err
	}
	if b.procs != nil {
		cfg.Progress("%d %s: whole-process cold and warm refresh", n, layout)
		pb := *b // more runs for whole processes (MinProcessRuns)
		pb.cfg.Runs = max(cfg.Runs, MinProcessRuns)
		if c.ProcessCold, _, err = pb.cold(ctx, "process-", b.procs, target); err != nil {
			return nil, err
		}
		if c.ProcessWarm, err = pb.warm(ctx, "process-", b.procs, target); err != nil {
			return nil, err
		}
		cfg.Progress("%d %s: the device binary's client check, cold and warm", n, layout)
		dc, err := b.deviceCheck(ctx, bin)
		if err != nil {
			return nil, err
		}
		c.DeviceCheck = &dc
	}
	cfg.Progress("%d %s: add one and refresh", n, layout)
	if c.Change, c.ChangeFloor, c.Publish, err = b.change(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// order returns devs in the order of run i: alternating, so that
// neither always runs on a warmer machine.
func order(devs []device, i int) []device {
	if i%2 == 0 {
		return devs
	}
	return []device{devs[1], devs[0]}
}

// measure runs f once and returns its time, the requests and bytes it
// caused on the server, the bytes the process allocated meanwhile, and
// the paths requested.
func (b *bench) measure(f func() error) (Measure, []string, error) {
	// No run pays for writes an earlier one left in the page cache: go-tuf
	// does not sync what it stores and bsi does, and an fsync on ext4 can
	// wait for other files' dirty data. Flushed before the clock starts.
	syscall.Sync()
	runtime.GC()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	w0, mark := b.srv.counts(), b.srv.mark()
	start := time.Now()
	err := f()
	d := time.Since(start)
	w1 := b.srv.counts()
	runtime.ReadMemStats(&m1)
	return Measure{Time: d, Requests: w1.requests - w0.requests, WireBytes: w1.bytes - w0.bytes,
		AllocBytes: int64(m1.TotalAlloc - m0.TotalAlloc)}, b.srv.pathsSince(mark), err
}

// compare runs each of the two devs runs times in alternating order and
// returns the medians, and the median floor of bsi's runs. one performs a
// single measured run of a device and returns what it measured and the
// paths it requested; when floor is set, each bsi run is followed by a
// measure of its floor on the same paths.
func (b *bench) compare(ctx context.Context, devs []device, floor bool, one func(i int, d device) (Measure, []string, error)) (Comparison, Floor, error) {
	got := map[string][]Measure{}
	var floors []Floor
	for i := range b.cfg.Runs {
		for _, d := range order(devs, i) {
			m, paths, err := one(i, d)
			if err != nil {
				return Comparison{}, Floor{}, err
			}
			got[d.name()] = append(got[d.name()], m)
			if floor && d.name() == BSI {
				f, err := measureFloor(ctx, b.srv.url, b.dir, paths)
				if err != nil {
					return Comparison{}, Floor{}, err
				}
				floors = append(floors, f)
			}
		}
	}
	return Comparison{BSI: medianOf(got[BSI]), GoTUF: medianOf(got[GoTUF])}, medianFloor(floors), nil
}

// cold: a new device with only the root checks for target and downloads
// it; for devices in process (tag ""), with bsi's floor.
func (b *bench) cold(ctx context.Context, tag string, devs []device, target string) (Comparison, Floor, error) {
	return b.compare(ctx, devs, tag == "", func(i int, d device) (Measure, []string, error) {
		state := filepath.Join(b.dir, fmt.Sprintf("%scold-%s-%d", tag, d.name(), i))
		defer os.RemoveAll(state)
		defer os.RemoveAll(state + ".payload")
		defer os.RemoveAll(state + ".targets")
		if err := d.install(state, b.root); err != nil {
			return Measure{}, nil, err
		}
		return b.measure(func() error { return d.check(ctx, state, target, true) })
	})
}

// state is the persistent metadata directory of device d for the warm and
// change scenarios.
func (b *bench) state(tag string, d device) string {
	return filepath.Join(b.dir, tag+"device-"+d.name())
}

// prime installs the root in each device's persistent state (tag) and
// checks once, unmeasured: the state a warm check starts from.
func (b *bench) prime(ctx context.Context, tag string, devs []device, target string) error {
	for _, d := range devs {
		if err := d.install(b.state(tag, d), b.root); err != nil {
			return err
		}
		if err := d.check(ctx, b.state(tag, d), target, false); err != nil {
			return err
		}
	}
	return nil
}

// warm: each device checked once (unmeasured); then, nothing having
// changed, it checks again in a new process.
func (b *bench) warm(ctx context.Context, tag string, devs []device, target string) (Comparison, error) {
	if err := b.prime(ctx, tag, devs, target); err != nil {
		return Comparison{}, err
	}
	cmp, _, err := b.compare(ctx, devs, false, func(_ int, d device) (Measure, []string, error) {
		return b.measure(func() error { return d.check(ctx, b.state(tag, d), target, false) })
	})
	return cmp, err
}

// warmLoopTime is how long each run of the in-process warm check
// repeats it: as testing.B does, the figure is the time per check over a
// loop of checks (at least one), not a single shot.
const warmLoopTime = 20 * time.Millisecond

// warmLoop: each device checked once (unmeasured); then, nothing having
// changed, it checks again with a new client from its metadata directory,
// over and over for warmLoopTime, in each run. It returns the time per check
// over each loop (loop) and the first check of each loop alone (first),
// which pays what a single shot after the other client's run in the same
// process pays: its garbage collected, cold caches, fresh pages.
func (b *bench) warmLoop(ctx context.Context, devs []device, target string) (loop, first Comparison, err error) {
	if err := b.prime(ctx, "", devs, target); err != nil {
		return Comparison{}, Comparison{}, err
	}
	firsts := map[string][]Measure{}
	loop, _, err = b.compare(ctx, devs, false, func(_ int, d device) (Measure, []string, error) {
		check := func() error { return d.check(ctx, b.state("", d), target, false) }
		var first time.Duration
		var more int64 // checks after the first
		m, paths, err := b.measure(func() error {
			start := time.Now()
			if err := check(); err != nil {
				return err
			}
			first = time.Since(start)
			for time.Since(start) < warmLoopTime {
				if err := check(); err != nil {
					return err
				}
				more++
			}
			return nil
		})
		if err != nil {
			return Measure{}, nil, err
		}
		n := more + 1
		per := Measure{Time: m.Time / time.Duration(n), Requests: m.Requests / n, WireBytes: m.WireBytes / n, AllocBytes: m.AllocBytes / n}
		firsts[d.name()] = append(firsts[d.name()], Measure{Time: first, Requests: per.Requests, WireBytes: per.WireBytes})
		return per, paths, nil
	})
	return loop, Comparison{BSI: medianOf(firsts[BSI]), GoTUF: medianOf(firsts[GoTUF])}, err
}

// change: in each run the publisher adds one improvement and publishes
// (measured), then each device, up to date with the previous version,
// refreshes and looks the new improvement up; bsi's floor follows.
func (b *bench) change(ctx context.Context) (Comparison, Floor, Publish, error) {
	var times, cpus []time.Duration
	var files []int
	cmp, floor, err := b.compare(ctx, b.devices, true, func(i int, d device) (Measure, []string, error) {
		if len(times) == i {
			start, cpu0 := time.Now(), processCPU()
			n, err := b.pub.addOne(ctx)
			if err != nil {
				return Measure{}, nil, fmt.Errorf("publisher: %w", err)
			}
			times, files = append(times, time.Since(start)), append(files, n)
			cpus = append(cpus, processCPU()-cpu0)
		}
		return b.measure(func() error { return d.check(ctx, b.state("", d), targetPath(b.pub.count), false) })
	})
	if err != nil {
		return Comparison{}, Floor{}, Publish{}, err
	}
	return cmp, floor, Publish{Time: median(times), CPU: median(cpus), FilesWritten: median(files)}, nil
}
