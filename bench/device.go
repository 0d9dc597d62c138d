package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Footprint is what the device binary costs a device before it does
// anything (issue 16): its size on disk beside go-tuf's small client,
// built the same way, and the wall time of "version" beside that of a
// program that only prints a line, built the same way (the floor of any
// Go process on this machine).
type Footprint struct {
	BinaryBytes      int64         `json:"binary_bytes"`
	GoTUFBinaryBytes int64         `json:"gotuf_binary_bytes"`
	Startup          time.Duration `json:"startup_ns"`
	StartupFloor     time.Duration `json:"startup_floor_ns"`
	// StartupRSS is the peak resident memory of "version", in bytes.
	StartupRSS int64 `json:"startup_rss_bytes"`
}

// DeviceCheck is the device binary running "client check" as a device
// does on a repository of the case: a state directory made by "client
// init" (platform and release of the generated improvements), then a
// cold check (only the root) and a warm one (nothing changed). Each
// figure is the median of the runs: wall time and peak resident memory
// (getrusage's maxrss of the process).
type DeviceCheck struct {
	Cold    time.Duration `json:"cold_ns"`
	Warm    time.Duration `json:"warm_ns"`
	ColdRSS int64         `json:"cold_rss_bytes"`
	WarmRSS int64         `json:"warm_rss_bytes"`
}

// Device-side goals of issue 16.
const (
	MaxBinaryBytes = 15 << 20
	MaxCheckRSS    = 20 << 20 // at 10,000 improvements
	MaxStartup     = 3 * time.Millisecond
)

// startupRuns is how many times start-up is timed: a process takes a few
// milliseconds, so many runs are cheap and steady the median.
const startupRuns = 101

// footprint measures the device binary of bin, built in dir, and builds
// the runner the device figures are taken through.
func footprint(ctx context.Context, bin *binaries, dir string) (*Footprint, error) {
	fp := &Footprint{}
	for _, f := range []struct {
		path string
		dst  *int64
	}{{bin.bsi[0], &fp.BinaryBytes}, {bin.goTUF[0], &fp.GoTUFBinaryBytes}} {
		fi, err := os.Stat(f.path)
		if err != nil {
			return nil, err
		}
		*f.dst = fi.Size()
	}
	hello, err := buildProgram(ctx, dir, "hello", helloSource)
	if err != nil {
		return nil, err
	}
	if bin.runner, err = buildProgram(ctx, dir, "rssrun", runnerSource); err != nil {
		return nil, err
	}
	var agent, floor []time.Duration
	var rss []int64
	for i := range startupRuns {
		for j, argv := range order2([]string{bin.bsi[0], "version"}, []string{hello}, i) {
			d, maxrss, err := bin.runOnce(ctx, argv)
			if err != nil {
				return nil, err
			}
			if (j == 0) == (i%2 == 0) { // the device binary's turn
				agent, rss = append(agent, d), append(rss, maxrss)
			} else {
				floor = append(floor, d)
			}
		}
	}
	fp.Startup, fp.StartupFloor, fp.StartupRSS = median(agent), median(floor), median(rss)
	return fp, nil
}

// helloSource is the start-up floor: a Go program that prints a line,
// built with the same flags as the clients.
const helloSource = `package main

import "os"

func main() { os.Stdout.WriteString("hello\n") }
`

// runnerSource runs a command (its output discarded) and prints its wall
// time in nanoseconds and its peak resident memory in kilobytes. The
// figures are taken from this small process, not from the bench: Linux
// starts a child's peak RSS at its parent's when the child is made with
// vfork (as Go does) and execs, so a child of the bench, whose heap holds
// go-tuf's garbage, would report the bench's memory, not its own.
const runnerSource = `package main

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

func main() {
	cmd := exec.Command(os.Args[1], os.Args[2:]...)
	cmd.Stderr = os.Stderr
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(d.Nanoseconds(), cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss)
}
`

// buildProgram builds the one-file program src as dir/name.
func buildProgram(ctx context.Context, dir, name, src string) (string, error) {
	out := filepath.Join(dir, name)
	if err := os.WriteFile(out+".go", []byte(src), 0o644); err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, "go", append(append([]string{"build"}, shipFlags...), "-o", out, out+".go")...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building %s: %w\n%s", name, err, msg)
	}
	return out, nil
}

// order2 returns a then b on even runs, b then a on odd ones.
func order2(a, b []string, i int) [][]string {
	if i%2 == 0 {
		return [][]string{a, b}
	}
	return [][]string{b, a}
}

// runOnce runs argv through the runner, output discarded, and returns its
// wall time and peak resident memory in bytes.
func (bin *binaries) runOnce(ctx context.Context, argv []string) (time.Duration, int64, error) {
	var stdout, stderr strings.Builder
	cmd := exec.CommandContext(ctx, bin.runner, argv...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return 0, 0, fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, strings.TrimSpace(stderr.String()))
	}
	var ns, kb int64
	if _, err := fmt.Sscan(stdout.String(), &ns, &kb); err != nil {
		return 0, 0, fmt.Errorf("%s: runner output %q: %w", strings.Join(argv, " "), stdout.String(), err)
	}
	return time.Duration(ns), kb << 10, nil
}

// deviceCheck measures "client check" of the device binary against the
// case's server: cold and warm, runs times each.
func (b *bench) deviceCheck(ctx context.Context, bin *binaries) (DeviceCheck, error) {
	root := filepath.Join(b.dir, "device-root.json")
	if err := os.WriteFile(root, b.root, 0o644); err != nil {
		return DeviceCheck{}, err
	}
	var cold, warm []time.Duration
	var coldRSS, warmRSS []int64
	for i := range b.cfg.Runs {
		state := filepath.Join(b.dir, fmt.Sprintf("device-%d", i))
		if _, _, err := bin.runOnce(ctx, []string{bin.bsi[0], "client", "init", state, "--root", root, "--url", b.srv.url,
			"--platform", platform, "--release", release}); err != nil {
			return DeviceCheck{}, err
		}
		for _, m := range []struct {
			d   *[]time.Duration
			rss *[]int64
		}{{&cold, &coldRSS}, {&warm, &warmRSS}} {
			d, rss, err := bin.runOnce(ctx, []string{bin.bsi[0], "client", "check", state})
			if err != nil {
				return DeviceCheck{}, err
			}
			*m.d, *m.rss = append(*m.d, d), append(*m.rss, rss)
		}
		os.RemoveAll(state)
	}
	return DeviceCheck{Cold: median(cold), Warm: median(warm), ColdRSS: median(coldRSS), WarmRSS: median(warmRSS)}, nil
}

// footprintGoals judges the device binary against issue 16.
func (fp *Footprint) goals() []Goal {
	return []Goal{
		{Goal: "device binary ≤15 MiB", Met: fp.BinaryBytes <= MaxBinaryBytes,
			Detail: fmt.Sprintf("%s, go-tuf client %s", fmtBytes(fp.BinaryBytes), fmtBytes(fp.GoTUFBinaryBytes))},
		{Goal: "device start-up <3ms (version, median)", Met: fp.Startup < MaxStartup,
			Detail: fmt.Sprintf("%s; a Go hello world %s here", fmtDuration(fp.Startup), fmtDuration(fp.StartupFloor))},
	}
}

// checkGoals judges the case's device check; the memory goal is set at
// 10,000 improvements.
func (c *Case) checkGoals() []Goal {
	if c.DeviceCheck == nil || c.N != 10000 {
		return nil
	}
	worst := slices.Max([]int64{c.DeviceCheck.ColdRSS, c.DeviceCheck.WarmRSS})
	return []Goal{{Goal: fmt.Sprintf("client check peak RSS ≤20 MiB at %d %s", c.N, c.Layout), Met: worst <= MaxCheckRSS,
		Detail: fmt.Sprintf("cold %s, warm %s", fmtBytes(c.DeviceCheck.ColdRSS), fmtBytes(c.DeviceCheck.WarmRSS))}}
}
