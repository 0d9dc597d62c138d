package bench

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteTable prints r as a table: one line per case and scenario, each
// client's median time, the ratio go-tuf / bsi, bsi's floor and bsi's
// time over it, requests, bytes over the wire and bytes allocated (in
// process only); then the floors step by step, and the publisher's
// add-one figures.
func (r *Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "N\tlayout\tscenario\tbsi\tgo-tuf\tgo-tuf/bsi\tfloor\tbsi/floor\treq bsi/go-tuf\twire bsi\twire go-tuf\talloc bsi\talloc go-tuf\t\n")
	for _, c := range r.Cases {
		for _, s := range c.scenarios() {
			b, g := s.cmp.BSI, s.cmp.GoTUF
			if s.process && b.Time == 0 {
				continue // no whole-process figures in this run
			}
			floor, ratio := "-", "-"
			if s.floor != nil {
				floor, ratio = fmtDuration(s.floor.Time), fmt.Sprintf("%.1fx", s.floor.Ratio(b))
			}
			alloc := []string{"-", "-"}
			if !s.process && !s.noAlloc {
				alloc = []string{fmtBytes(b.AllocBytes), fmtBytes(g.AllocBytes)}
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%.2fx\t%s\t%s\t%d/%d\t%s\t%s\t%s\t%s\t\n", c.N, c.Layout, s.name,
				fmtDuration(b.Time), fmtDuration(g.Time), s.cmp.Ratio(), floor, ratio, b.Requests, g.Requests,
				fmtBytes(b.WireBytes), fmtBytes(g.WireBytes), alloc[0], alloc[1])
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nfloors of bsi's checks: the same files downloaded over loopback, one SHA-256 pass, one ed25519 check, one JSON decode, one fsync\n")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "N\tlayout\tscenario\tfloor\tdownload\tsha256\ted25519\tdecode\tfsync\tfiles\tbytes\t\n")
	for _, c := range r.Cases {
		for _, s := range c.scenarios() {
			if f := s.floor; f != nil {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t\n", c.N, c.Layout, s.name, fmtDuration(f.Time),
					fmtDuration(f.Download), fmtDuration(f.Hash), fmtDuration(f.Verify), fmtDuration(f.Decode),
					fmtDuration(f.Sync), f.Files, fmtBytes(f.Bytes))
			}
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\npublisher (trust/repo): generate, then add one improvement and publish\n")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "N\tlayout\tgenerate\t(CPU)\tcomponent role\tadd one + publish\t(CPU)\tfiles written\t\n")
	for _, c := range r.Cases {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t\n", c.N, c.Layout, fmtDuration(c.Generate), fmtDuration(c.GenerateCPU),
			fmtBytes(c.ComponentBytes), fmtDuration(c.Publish.Time), fmtDuration(c.Publish.CPU), c.Publish.FilesWritten)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if fp := r.Footprint; fp != nil {
		fmt.Fprintf(w, "\ndevice binary (%s): %s (go-tuf client %s); start-up (version) %s median, peak RSS %s; a Go hello world starts in %s here\n",
			r.DevicePackage, fmtBytes(fp.BinaryBytes), fmtBytes(fp.GoTUFBinaryBytes), fmtDuration(fp.Startup),
			fmtBytes(fp.StartupRSS), fmtDuration(fp.StartupFloor))
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintf(tw, "N\tlayout\tclient check cold\tpeak RSS\twarm\tpeak RSS\t\n")
		for _, c := range r.Cases {
			if dc := c.DeviceCheck; dc != nil {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t\n", c.N, c.Layout, fmtDuration(dc.Cold), fmtBytes(dc.ColdRSS),
					fmtDuration(dc.Warm), fmtBytes(dc.WarmRSS))
			}
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if t := r.Transparency; t != nil {
		fmt.Fprintf(w, "\ndevice, transparency (per install, log of %d entries): proof %s, verify %s (new checkpoint: log signature, 3 cosignatures, inclusion) or %s (checkpoint already accepted); goal <%s and <%s\n",
			t.LogSize, fmtBytes(int64(t.ProofBytes)), fmtDuration(t.VerifyNew), fmtDuration(t.VerifySeen),
			fmtBytes(MaxProofBytes), fmtDuration(MaxVerifyTime))
	}
	if _, err := fmt.Fprintf(w, "\nmedians of %d runs, clients alternating; %s, %d CPUs\n", r.Runs, r.GoVersion, r.CPUs); err != nil {
		return err
	}
	if r.DevicePackage != "" {
		_, err := fmt.Fprintf(w, "process: whole processes, start-up included, running \"tuf-client refresh\" (top-level roles only), medians of %d runs: bsi built from %s, go-tuf's updater in a small client\n", r.ProcessRuns, r.DevicePackage)
		return err
	}
	return nil
}

// scenario is one line of the table.
type scenario struct {
	name    string
	cmp     Comparison
	floor   *Floor
	process bool
	noAlloc bool // the bytes allocated were not measured
}

func (c *Case) scenarios() []scenario {
	return []scenario{
		{name: "cold", cmp: c.Cold, floor: &c.ColdFloor},
		{name: "warm", cmp: c.Warm},
		{name: "warm, one shot", cmp: c.WarmFirst, noAlloc: true},
		{name: "one change", cmp: c.Change, floor: &c.ChangeFloor},
		{name: "process cold", cmp: c.ProcessCold, process: true},
		{name: "process warm", cmp: c.ProcessWarm, process: true},
	}
}

// fmtDuration prints d with three significant digits.
func fmtDuration(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%.0fµs", float64(d)/float64(time.Microsecond))
	case d < time.Second:
		return trimFloat(float64(d)/float64(time.Millisecond)) + "ms"
	default:
		return trimFloat(float64(d)/float64(time.Second)) + "s"
	}
}

func trimFloat(f float64) string {
	switch {
	case f >= 100:
		return fmt.Sprintf("%.0f", f)
	case f >= 10:
		return fmt.Sprintf("%.1f", f)
	default:
		return fmt.Sprintf("%.2f", f)
	}
}

// fmtBytes prints n in B, KiB, MiB.
func fmtBytes(n int64) string {
	switch {
	case n < 1<<10:
		return fmt.Sprintf("%dB", n)
	case n < 1<<20:
		return trimFloat(float64(n)/(1<<10)) + "KiB"
	default:
		return trimFloat(float64(n)/(1<<20)) + "MiB"
	}
}

// Goal is one target of issues 7 and 16 and whether this report meets it.
type Goal struct {
	Goal string `json:"goal"`
	Met  bool   `json:"met"`
	// Detail gives the figures it was judged on.
	Detail string `json:"detail"`
}

// Goals judges the report against the targets of issues 7 and 16, for the
// cases it holds: warm at least 50 times faster than go-tuf at 10k and
// 100k flat and under 2 ms everywhere; cold at 100k flat at least 4 times
// faster; cold and after one change with bins never slower; cold and
// after one change at 100k flat within 3 times their floor; whole
// processes, warm and cold, faster than go-tuf's; bytes allocated in a
// cold refresh at most 10 times the bytes downloaded.
func (r *Report) Goals() []Goal {
	var gs []Goal
	add := func(goal string, met bool, format string, a ...any) {
		gs = append(gs, Goal{Goal: goal, Met: met, Detail: fmt.Sprintf(format, a...)})
	}
	for _, c := range r.Cases {
		name := fmt.Sprintf("%d %s", c.N, c.Layout)
		if c.Layout == Flat && c.N >= 10000 {
			add("warm ≥50× go-tuf at "+name, c.Warm.Ratio() >= 50, "%.1fx", c.Warm.Ratio())
		}
		add("warm <2ms at "+name, c.Warm.BSI.Time < 2*time.Millisecond, "%s", fmtDuration(c.Warm.BSI.Time))
		if c.Layout == Flat && c.N >= 100000 {
			add("cold ≥4× go-tuf at "+name, c.Cold.Ratio() >= 4, "%.1fx", c.Cold.Ratio())
		}
		if c.Layout == Bins {
			add("cold not slower than go-tuf at "+name, c.Cold.Ratio() >= 1, "%.2fx", c.Cold.Ratio())
			add("one change not slower than go-tuf at "+name, c.Change.Ratio() >= 1, "%.2fx", c.Change.Ratio())
		}
		if c.Layout == Flat && c.N >= 100000 {
			add("cold ≤3× its floor at "+name, c.ColdFloor.Ratio(c.Cold.BSI) <= 3, "%.1fx of %s", c.ColdFloor.Ratio(c.Cold.BSI), fmtDuration(c.ColdFloor.Time))
			add("one change ≤3× its floor at "+name, c.ChangeFloor.Ratio(c.Change.BSI) <= 3, "%.1fx of %s", c.ChangeFloor.Ratio(c.Change.BSI), fmtDuration(c.ChangeFloor.Time))
		}
		if c.ProcessWarm.BSI.Time > 0 {
			add("process warm faster than go-tuf at "+name, c.ProcessWarm.Ratio() > 1, "%.2fx", c.ProcessWarm.Ratio())
			add("process cold faster than go-tuf at "+name, c.ProcessCold.Ratio() > 1, "%.2fx", c.ProcessCold.Ratio())
		}
		ratio := float64(c.Cold.BSI.AllocBytes) / float64(max(c.Cold.BSI.WireBytes, 1))
		add("cold alloc ≤10× downloaded at "+name, ratio <= 10, "%.1fx (go-tuf %.1fx)", ratio,
			float64(c.Cold.GoTUF.AllocBytes)/float64(max(c.Cold.GoTUF.WireBytes, 1)))
		gs = append(gs, c.checkGoals()...)
	}
	if r.Footprint != nil {
		gs = append(gs, r.Footprint.goals()...)
	}
	if r.Transparency != nil {
		gs = append(gs, r.Transparency.goals()...)
	}
	return gs
}

// WriteGoals prints the goals, one a line, met or not.
func WriteGoals(w io.Writer, gs []Goal) error {
	var b strings.Builder
	for _, g := range gs {
		mark := "met    "
		if !g.Met {
			mark = "NOT MET"
		}
		fmt.Fprintf(&b, "%s  %s (%s)\n", mark, g.Goal, g.Detail)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// SlowerWarm returns the cases where bsi's warm refresh was slower than
// go-tuf's: the one failure of the CI comparison (a ratio, never an
// absolute time).
func (r *Report) SlowerWarm() []Case {
	var out []Case
	for _, c := range r.Cases {
		if c.Warm.Ratio() < 1 {
			out = append(out, c)
		}
	}
	return out
}

// SlowerProcessWarm returns the cases where bsi's whole process, warm, was
// slower than go-tuf's (none when the run measured no whole processes).
func (r *Report) SlowerProcessWarm() []Case {
	var out []Case
	for _, c := range r.Cases {
		if c.ProcessWarm.BSI.Time > 0 && c.ProcessWarm.Ratio() < 1 {
			out = append(out, c)
		}
	}
	return out
}
