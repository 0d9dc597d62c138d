package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"time"
)

// bench is one case being measured: a published repository, its server,
// and the two devices.
type bench struct {
	cfg     Config
	dir     string
	pub     *publisher
	srv     *server
	root    []byte
	devices []device
}

func runCase(ctx context.Context, cfg Config, dir string, n int, layout string) (*Case, error) {
	bins := 0
	if layout == Bins {
		bins = BinCount
	}
	cfg.Progress("%d %s: generating %d improvements with trust/repo", n, layout, n)
	start := time.Now()
	pub, err := generate(ctx, dir, n, bins, cfg.Now, func(done int) {
		cfg.Progress("%d %s: %d of %d improvements added (%s)", n, layout, done, n, time.Since(start).Round(time.Millisecond))
	})
	if err != nil {
		return nil, err
	}
	c := &Case{N: n, Layout: layout, Generate: time.Since(start)}
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
	if b.root, err = pub.rootJSON(); err != nil {
		return nil, err
	}
	cfg.Progress("%d %s: generated in %s; cold refresh", n, layout, c.Generate.Round(time.Millisecond))
	if c.Cold, err = b.cold(ctx, targetPath(n/2+1)); err != nil {
		return nil, err
	}
	cfg.Progress("%d %s: warm refresh", n, layout)
	if c.Warm, err = b.warm(ctx, targetPath(n/2+1)); err != nil {
		return nil, err
	}
	cfg.Progress("%d %s: add one and refresh", n, layout)
	if c.Change, c.Publish, err = b.change(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// order returns the devices in the order of run i: alternating, so that
// neither always runs on a warmer machine.
func (b *bench) order(i int) []device {
	if i%2 == 0 {
		return b.devices
	}
	return []device{b.devices[1], b.devices[0]}
}

// measure runs f once and returns its time, the requests and bytes it
// caused on the server, and the bytes the process allocated meanwhile.
func (b *bench) measure(f func() error) (Measure, error) {
	runtime.GC()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	w0 := b.srv.counts()
	start := time.Now()
	err := f()
	d := time.Since(start)
	w1 := b.srv.counts()
	runtime.ReadMemStats(&m1)
	return Measure{Time: d, Requests: w1.requests - w0.requests, WireBytes: w1.bytes - w0.bytes,
		AllocBytes: int64(m1.TotalAlloc - m0.TotalAlloc)}, err
}

// compare runs each device runs times in alternating order and returns the
// medians. one performs a single measured run of a device.
func (b *bench) compare(one func(i int, d device) (Measure, error)) (Comparison, error) {
	got := map[string][]Measure{}
	for i := range b.cfg.Runs {
		for _, d := range b.order(i) {
			m, err := one(i, d)
			if err != nil {
				return Comparison{}, err
			}
			got[d.name()] = append(got[d.name()], m)
		}
	}
	return Comparison{BSI: medianOf(got[BSI]), GoTUF: medianOf(got[GoTUF])}, nil
}

// cold: a new device with only the root checks for target and downloads it.
func (b *bench) cold(ctx context.Context, target string) (Comparison, error) {
	return b.compare(func(i int, d device) (Measure, error) {
		state := filepath.Join(b.dir, fmt.Sprintf("cold-%s-%d", d.name(), i))
		defer os.RemoveAll(state)
		defer os.RemoveAll(state + ".payload")
		defer os.RemoveAll(state + ".targets")
		if err := d.install(state, b.root); err != nil {
			return Measure{}, err
		}
		return b.measure(func() error { return d.check(ctx, state, target, true) })
	})
}

// state is the persistent metadata directory of device d for the warm and
// change scenarios.
func (b *bench) state(d device) string { return filepath.Join(b.dir, "device-"+d.name()) }

// warm: each device checked once (unmeasured); then, nothing having
// changed, it checks again in a new process.
func (b *bench) warm(ctx context.Context, target string) (Comparison, error) {
	for _, d := range b.devices {
		if err := d.install(b.state(d), b.root); err != nil {
			return Comparison{}, err
		}
		if err := d.check(ctx, b.state(d), target, false); err != nil {
			return Comparison{}, err
		}
	}
	return b.compare(func(_ int, d device) (Measure, error) {
		return b.measure(func() error { return d.check(ctx, b.state(d), target, false) })
	})
}

// change: in each run the publisher adds one improvement and publishes
// (measured), then each device, up to date with the previous version,
// refreshes and looks the new improvement up.
func (b *bench) change(ctx context.Context) (Comparison, Publish, error) {
	var times []time.Duration
	var files []int
	cmp, err := b.compare(func(i int, d device) (Measure, error) {
		if len(times) == i {
			start := time.Now()
			n, err := b.pub.addOne(ctx)
			if err != nil {
				return Measure{}, fmt.Errorf("publisher: %w", err)
			}
			times, files = append(times, time.Since(start)), append(files, n)
		}
		return b.measure(func() error { return d.check(ctx, b.state(d), targetPath(b.pub.count), false) })
	})
	if err != nil {
		return Comparison{}, Publish{}, err
	}
	return cmp, Publish{Time: median(times), FilesWritten: median(files)}, nil
}
