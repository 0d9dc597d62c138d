package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/term"

	"github.com/bsiframework/bsi/bench"
)

func benchCommands() []*command {
	return []*command{{
		Name:    "bench",
		Args:    "[--quick] [--n N,...] [--layout flat|bins] [--runs R] [--json FILE] [--no-process] [--check]",
		Summary: "compare the bsi client with go-tuf's updater on generated repositories",
		Help: `Generates repositories with the publisher code (trust/repo) at N = 1,000,
10,000 and 100,000 improvements of one component, in two layouts (flat: all
in the component role; bins: the component delegates to 256 succinct hash
bins), ed25519 keys and 1 KiB payloads; serves each on 127.0.0.1; and
measures the bsi client core and go-tuf v2's updater on the same repository
in the same process, alternating runs:

  cold        a device with only the root refreshes, looks up one
              improvement and downloads its payload
  warm        nothing changed: a new client refreshes from its metadata
              directory and looks the improvement up again; the time per
              check over a loop of at least 20 ms (as testing.B measures),
              and "warm, one shot": the loop's first check alone
  one change  the publisher added one improvement: refresh, look it up
  publisher   add one improvement and publish (bsi only), files written
  transparency  the device's cost per install under a log policy: the
              tlog-proof's bytes and the time to verify it (a new
              checkpoint with 3 cosignatures, and one already accepted),
              in a log of 2^20 entries; goal < 2 KiB and < 1 ms

Whole processes, start-up included, the way a device or a conformance
harness runs them: bsi's device binary (./cmd/bsi-agent, or ./cmd/bsi in a
tree without it) and a small go-tuf client are built once per run from the
source tree of the current directory (the go command is needed) with the
flags the README gives for devices (CGO_ENABLED=0, -trimpath, -ldflags
"-s -w"), and each
runs "tuf-client refresh" cold (only the root) and warm (nothing changed).
The device binary also runs "client check" as a device does (client init,
then a cold and a warm check), with its wall time and peak resident memory
(maxrss, taken by a small runner process); and its size and the start-up
of "version" are given beside those of a Go hello world built the same way.

Floors: after each of bsi's cold and one-change checks, the same files are
downloaded over loopback, hashed once (SHA-256), one ed25519 signature is
checked, each metadata file decoded once (encoding/json) and all of it
written and synced once; bsi/floor is bsi's time over that.

Each figure is the median of --runs runs (at least 5; whole processes, at
least 15: each takes about 20 ms and varies more): time, the ratio
go-tuf / bsi (above 1: bsi is faster), requests and bytes over the wire,
bytes allocated by the process (runtime.MemStats, in process only).
Progress goes to stderr on a terminal. Generating 100,000 improvements
takes minutes.

Flags:
  --quick        only N = 1,000 and 10,000 (CI)
  --n N,...      sizes to run (repeatable or comma-separated)
  --layout L     flat or bins (repeatable); default both
  --runs R       runs per figure, at least 5 (default 5)
  --json FILE    also write the report as JSON to FILE ("-": stdout only)
  --dir DIR      generate in DIR instead of a temporary directory
  --no-process   measure in process only (no go command, no build)
  --goals        also print the performance goals of issues 7, 15 and 16, met
                 or not
  --check        exit 1 when bsi's warm refresh, in process or as a whole
                 process, is slower than go-tuf's in any case (a ratio,
                 never an absolute time)

Examples:
  bsi bench --quick
  bsi bench --n 100000 --layout flat --json bench.json --goals
  bsi bench --quick --n 1000 --check`,
		Run: runBench,
	}}
}

func runBench(ctx context.Context, e *env, args []string) error {
	fs := newFlags("bench")
	quick := fs.Bool("quick", false, "")
	var sizes, layouts stringList
	fs.Var(&sizes, "n", "")
	fs.Var(&layouts, "layout", "")
	runs := fs.Int("runs", bench.MinRuns, "")
	jsonFile := fs.String("json", "", "")
	dir := fs.String("dir", "", "")
	goals := fs.Bool("goals", false, "")
	check := fs.Bool("check", false, "")
	noProcess := fs.Bool("no-process", false, "")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs(pos, 0, 0, ""); err != nil {
		return err
	}
	cfg := bench.Config{Runs: *runs, Dir: *dir, Now: e.Now}
	if *quick {
		cfg.Sizes = bench.QuickSizes
	}
	if len(sizes) > 0 {
		if cfg.Sizes, err = parseSizes(sizes); err != nil {
			return err
		}
	}
	for _, l := range layouts {
		cfg.Layouts = append(cfg.Layouts, strings.Split(l, ",")...)
	}
	for _, l := range cfg.Layouts {
		if l != bench.Flat && l != bench.Bins {
			return usagef("--layout %q: want %s or %s", l, bench.Flat, bench.Bins)
		}
	}
	if *runs < bench.MinRuns {
		return usagef("--runs %d: a median needs at least %d", *runs, bench.MinRuns)
	}
	if f, ok := e.Stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		cfg.Progress = func(format string, a ...any) { fmt.Fprintf(e.Stderr, "bsi: bench: "+format+"\n", a...) }
	}
	if !*noProcess {
		if cfg.Source, err = bench.FindSource(ctx); err != nil {
			return fmt.Errorf("%w (or pass --no-process)", err)
		}
	}
	r, err := bench.Run(ctx, cfg)
	if err != nil {
		return err
	}
	if *jsonFile != "" && *jsonFile != "-" {
		data, err := json.MarshalIndent(r, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(*jsonFile, append(data, '\n'), 0o644); err != nil {
			return err
		}
	}
	if *jsonFile == "-" {
		if err := writeJSONTo(e, r); err != nil {
			return err
		}
	} else if err := r.WriteTable(e.Stdout); err != nil {
		return err
	}
	if *goals {
		fmt.Fprintln(e.Stdout)
		if err := bench.WriteGoals(e.Stdout, r.Goals()); err != nil {
			return err
		}
	}
	if !*check {
		return nil
	}
	var slow []string
	for _, c := range r.SlowerWarm() {
		slow = append(slow, fmt.Sprintf("%d %s in process (%.2fx)", c.N, c.Layout, c.Warm.Ratio()))
	}
	for _, c := range r.SlowerProcessWarm() {
		slow = append(slow, fmt.Sprintf("%d %s as a whole process (%.2fx)", c.N, c.Layout, c.ProcessWarm.Ratio()))
	}
	if len(slow) > 0 {
		return fmt.Errorf("bench: bsi's warm refresh is slower than go-tuf's at %s", strings.Join(slow, ", "))
	}
	return nil
}

// parseSizes reads --n values: integers, comma-separated or repeated,
// with an optional "k" for thousands ("10k").
func parseSizes(vals []string) ([]int, error) {
	var out []int
	for _, v := range vals {
		for _, s := range strings.Split(v, ",") {
			mult := 1
			if t, ok := strings.CutSuffix(strings.ToLower(s), "k"); ok {
				s, mult = t, 1000
			}
			n, err := strconv.Atoi(strings.ReplaceAll(s, "_", ""))
			if err != nil || n < 1 {
				return nil, usagef("--n %q: want a positive count of improvements", v)
			}
			out = append(out, n*mult)
		}
	}
	return out, nil
}
