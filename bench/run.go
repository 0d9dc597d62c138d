package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"time"
)

// Layouts of the generated repositories.
const (
	Flat = "flat" // every improvement listed by the one component role
	Bins = "bins" // the component role delegates to 256 succinct hash bins
)

// BinCount is the number of hash bins of the "bins" layout.
const BinCount = 256

// Config selects the cases of a run. Zero fields take the defaults shown.
type Config struct {
	Sizes   []int    // improvements per repository: 1000, 10000, 100000
	Layouts []string // Flat and Bins
	Runs    int      // measured runs per figure, of which the median is reported: 5
	// Dir holds the generated repositories and client states; "" means a
	// temporary directory, removed at the end.
	Dir string
	// Now is the clock of publisher and clients; nil means time.Now.
	Now func() time.Time
	// Progress receives a line of progress now and then; nil discards.
	Progress func(format string, a ...any)
	// Source is the root of the bsi source tree (FindSource) from which
	// the whole-process clients are built once per run with the go
	// command: bsi's device binary (DevicePackage) and a small go-tuf
	// client. "" measures in process only. Whole processes read the
	// system clock, whatever Now is.
	Source string
	// LogSize is the size of the transparency log the device's cost per
	// install is measured on: DefaultLogSize.
	LogSize int64
}

// DefaultSizes are the repository sizes of a full run; QuickSizes those of
// a quick one (CI).
var (
	DefaultSizes = []int{1000, 10000, 100000}
	QuickSizes   = []int{1000, 10000}
)

// MinRuns is the fewest runs a median is taken of.
const MinRuns = 5

// MinProcessRuns is the fewest runs a whole-process figure is the median
// of: a process takes about 20 ms, its time varies by 10–20% from run to
// run on a shared machine, and the ratios that matter are near 1, so more
// runs (cheap at this size) keep the median from landing on an outlier.
const MinProcessRuns = 15

// Measure is the median of one figure over the runs: time, requests and
// response body bytes over the wire, and bytes allocated (the process's
// runtime.MemStats.TotalAlloc, loopback server included).
type Measure struct {
	Time       time.Duration `json:"time_ns"`
	Requests   int64         `json:"requests"`
	WireBytes  int64         `json:"wire_bytes"`
	AllocBytes int64         `json:"alloc_bytes"`
}

// Comparison is one scenario measured for both clients on the same
// repository, in alternating order.
type Comparison struct {
	BSI   Measure `json:"bsi"`
	GoTUF Measure `json:"go_tuf"`
}

// Ratio is go-tuf's time over bsi's: above 1, bsi is faster.
func (c Comparison) Ratio() float64 {
	if c.BSI.Time <= 0 {
		return 0
	}
	return float64(c.GoTUF.Time) / float64(c.BSI.Time)
}

// Publish is the publisher's side of one change: open the workspace, add
// one improvement signed by the component key, publish, close.
type Publish struct {
	Time time.Duration `json:"time_ns"`
	// CPU is the process's CPU time (user and system, every thread)
	// over the same run: on a shared machine wall time says more about
	// the load than about the code.
	CPU          time.Duration `json:"cpu_ns"`
	FilesWritten int           `json:"files_written"`
}

// Case is every figure of one repository.
type Case struct {
	N      int    `json:"n"`
	Layout string `json:"layout"`
	// Generate is how long trust/repo took to create, sign and publish the
	// repository (AddBatch, one run).
	Generate    time.Duration `json:"generate_ns"`
	GenerateCPU time.Duration `json:"generate_cpu_ns"` // CPU time of the same
	// ComponentBytes is the size of the component role file published
	// (flat: the file listing every improvement).
	ComponentBytes int64 `json:"component_role_bytes"`
	// Cold: a device with only the root refreshes, looks up one target and
	// downloads its payload.
	Cold Comparison `json:"cold"`
	// Warm: nothing changed since the last check; a new client refreshes
	// from its metadata directory and looks the target up again. The time
	// per check over a loop of at least 20 ms (at least one check), as
	// testing.B measures; WarmFirst is the first check of each loop alone,
	// a single shot after the other client's run (the bytes allocated not
	// measured).
	Warm      Comparison `json:"warm"`
	WarmFirst Comparison `json:"warm_single_shot"`
	// Change: one improvement was added since the last check; refresh and
	// look the new one up.
	Change  Comparison `json:"after_one_change"`
	Publish Publish    `json:"publish_add_one"`
	// ColdFloor and ChangeFloor are the floors of bsi's cold and
	// after-one-change checks: the same files fetched, hashed, one
	// signature checked, decoded and synced, in the same run.
	ColdFloor   Floor `json:"cold_floor"`
	ChangeFloor Floor `json:"after_one_change_floor"`
	// ProcessCold and ProcessWarm are whole processes, start-up included:
	// "tuf-client refresh" of bsi's device binary and of a small go-tuf
	// client, from only the root and with nothing changed. Zero when the
	// run built no binaries (Config.Source "").
	ProcessCold Comparison `json:"process_cold"`
	ProcessWarm Comparison `json:"process_warm"`
	// DeviceCheck is the device binary's "client check", cold and warm;
	// nil when the run built no binaries.
	DeviceCheck *DeviceCheck `json:"device_check,omitempty"`
}

// Report is the result of Run.
type Report struct {
	Runs int `json:"runs"`
	// ProcessRuns is how many runs the whole-process figures are the
	// median of: Runs, at least MinProcessRuns.
	ProcessRuns int    `json:"process_runs,omitempty"`
	GoVersion   string `json:"go_version"`
	CPUs        int    `json:"cpus"`
	// DevicePackage is the package bsi's whole-process client was built
	// from ("" when none was).
	DevicePackage string `json:"device_package,omitempty"`
	Cases         []Case `json:"cases"`
	// Footprint is the device binary's size and start-up; nil when the
	// run built no binaries.
	Footprint *Footprint `json:"footprint,omitempty"`
	// Transparency is the device's cost per install under a log policy.
	Transparency *Transparency `json:"transparency,omitempty"`
}

func (cfg Config) withDefaults() (Config, error) {
	if len(cfg.Sizes) == 0 {
		cfg.Sizes = DefaultSizes
	}
	if len(cfg.Layouts) == 0 {
		cfg.Layouts = []string{Flat, Bins}
	}
	if cfg.Runs == 0 {
		cfg.Runs = MinRuns
	}
	if cfg.Runs < MinRuns {
		return cfg, fmt.Errorf("bench: %d runs: a median needs at least %d", cfg.Runs, MinRuns)
	}
	for _, n := range cfg.Sizes {
		if n < 1 {
			return cfg, fmt.Errorf("bench: repository size %d is below 1", n)
		}
	}
	for _, l := range cfg.Layouts {
		if l != Flat && l != Bins {
			return cfg, fmt.Errorf("bench: unknown layout %q (want %s or %s)", l, Flat, Bins)
		}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Progress == nil {
		cfg.Progress = func(string, ...any) {}
	}
	if cfg.LogSize == 0 {
		cfg.LogSize = DefaultLogSize
	}
	if cfg.LogSize < 1 {
		return cfg, fmt.Errorf("bench: transparency log size %d is below 1", cfg.LogSize)
	}
	return cfg, nil
}

// Run generates each repository of cfg, serves it on 127.0.0.1 and
// measures both clients on it. Cases run one after the other, sizes
// first, each in a directory of its own that is removed when done.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	dir := cfg.Dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "bsi-bench-"); err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
	}
	r := &Report{Runs: cfg.Runs, GoVersion: runtime.Version(), CPUs: runtime.NumCPU()}
	var bin *binaries
	if cfg.Source != "" {
		bdir := filepath.Join(dir, "bin")
		if err := os.MkdirAll(bdir, 0o755); err != nil {
			return nil, err
		}
		cfg.Progress("building the whole-process clients from %s", cfg.Source)
		b, err := build(ctx, cfg.Source, bdir)
		if err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
		bin, r.DevicePackage = &b, b.pkg
		r.ProcessRuns = max(cfg.Runs, MinProcessRuns)
		cfg.Progress("device binary: size and start-up (%d runs)", startupRuns)
		if r.Footprint, err = footprint(ctx, &b, bdir); err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
	}
	for _, n := range cfg.Sizes {
		for _, layout := range cfg.Layouts {
			cdir := filepath.Join(dir, layout+"-"+strconv.Itoa(n))
			c, err := runCase(ctx, cfg, cdir, n, layout, bin)
			os.RemoveAll(cdir)
			if err != nil {
				return nil, fmt.Errorf("bench: %d %s: %w", n, layout, err)
			}
			r.Cases = append(r.Cases, *c)
		}
	}
	cfg.Progress("transparency: a proof per install in a log of %d entries", cfg.LogSize)
	if r.Transparency, err = measureTransparency(cfg.Runs, cfg.LogSize, cfg.Now()); err != nil {
		return nil, err
	}
	return r, nil
}

// median returns the median of xs (the lower middle of an even count).
func median[T int64 | time.Duration | int](xs []T) T {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[(len(s)-1)/2]
}

// medianOf takes the median of each figure separately.
func medianOf(ms []Measure) Measure {
	pick := func(f func(Measure) int64) int64 {
		xs := make([]int64, len(ms))
		for i, m := range ms {
			xs[i] = f(m)
		}
		return median(xs)
	}
	return Measure{
		Time:       time.Duration(pick(func(m Measure) int64 { return int64(m.Time) })),
		Requests:   pick(func(m Measure) int64 { return m.Requests }),
		WireBytes:  pick(func(m Measure) int64 { return m.WireBytes }),
		AllocBytes: pick(func(m Measure) int64 { return m.AllocBytes }),
	}
}
