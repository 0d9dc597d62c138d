package bench

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestRunSmall runs every scenario on small repositories of both layouts
// and checks what does not depend on speed: both clients worked, the
// requests and bytes on the wire are those of the scenario, the publisher
// wrote files, and the table and JSON carry every case.
func TestRunSmall(t *testing.T) {
	r, err := Run(t.Context(), Config{Sizes: []int{40}, Runs: MinRuns, Dir: t.TempDir(), LogSize: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Cases) != 2 {
		t.Fatalf("%d cases, want 2", len(r.Cases))
	}
	for _, c := range r.Cases {
		for name, cmp := range map[string]Comparison{"cold": c.Cold, "warm": c.Warm, "change": c.Change} {
			for client, m := range map[string]Measure{BSI: cmp.BSI, GoTUF: cmp.GoTUF} {
				if m.Time <= 0 || m.Requests < 1 || m.WireBytes < 1 || m.AllocBytes < 1 {
					t.Errorf("%d %s %s %s: empty measure %+v", c.N, c.Layout, name, client, m)
				}
			}
		}
		// A cold check downloads the payload; a warm one only metadata,
		// and less than a cold one.
		if c.Warm.BSI.WireBytes >= c.Cold.BSI.WireBytes {
			t.Errorf("%s: bsi warm %d bytes, cold %d", c.Layout, c.Warm.BSI.WireBytes, c.Cold.BSI.WireBytes)
		}
		// Nothing changed: bsi fetches the next-root probe and the timestamp,
		// in each check of the loop and in the first alone.
		if c.Warm.BSI.Requests != 2 || c.WarmFirst.BSI.Requests != 2 {
			t.Errorf("%s: bsi warm made %d requests a check, %d in the first, want 2", c.Layout, c.Warm.BSI.Requests, c.WarmFirst.BSI.Requests)
		}
		// The first check of each warm loop is timed alone too.
		if c.WarmFirst.BSI.Time <= 0 || c.WarmFirst.GoTUF.Time <= 0 {
			t.Errorf("%s: single-shot warm not timed: %+v", c.Layout, c.WarmFirst)
		}
		// The floors replay what bsi fetched: the cold one includes the
		// payload, so it has more files than the one-change floor has.
		for name, f := range map[string]Floor{"cold": c.ColdFloor, "change": c.ChangeFloor} {
			if f.Time <= 0 || f.Download <= 0 || f.Hash <= 0 || f.Decode <= 0 || f.Sync <= 0 || f.Files < 2 || f.Bytes < 1 {
				t.Errorf("%s %s: empty floor %+v", c.Layout, name, f)
			}
		}
		if c.ColdFloor.Files != int(c.Cold.BSI.Requests)-1 { // the 404 of the next-root probe is not replayed
			t.Errorf("%s: cold floor of %d files, bsi made %d requests", c.Layout, c.ColdFloor.Files, c.Cold.BSI.Requests)
		}
		if c.ProcessWarm != (Comparison{}) || c.ProcessCold != (Comparison{}) {
			t.Errorf("%s: whole-process figures without Source", c.Layout)
		}
		if c.Publish.FilesWritten < 4 || c.Publish.Time <= 0 || c.Publish.CPU <= 0 || c.GenerateCPU <= 0 {
			t.Errorf("%s: publish %+v", c.Layout, c.Publish)
		}
	}
	var table bytes.Buffer
	if err := r.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	if tr := r.Transparency; tr == nil || tr.LogSize != 1000 || tr.ProofBytes < 1 || tr.VerifyNew <= 0 || tr.VerifySeen <= 0 {
		t.Errorf("transparency figures %+v", tr)
	}
	for _, want := range []string{"flat", "bins", "cold", "warm", "one change", "files written", "bsi/floor", "fsync", "device, transparency (per install, log of 1000 entries): proof "} {
		if strings.Count(table.String(), want) < 1 {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
	data, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(r, &back); d != "" {
		t.Errorf("JSON round trip (-want +got):\n%s", d)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, cfg := range []Config{{Runs: 3}, {Sizes: []int{0}}, {Layouts: []string{"tree"}}} {
		if _, err := Run(t.Context(), cfg); err == nil {
			t.Errorf("Run(%+v) succeeded", cfg)
		}
	}
}

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []int64
		want int64
	}{{[]int64{5}, 5}, {[]int64{3, 1, 2}, 2}, {[]int64{4, 1, 3, 2}, 2}, {[]int64{9, 9, 1, 1, 5}, 5}} {
		if got := median(tc.in); got != tc.want {
			t.Errorf("median(%v) = %d, want %d", tc.in, got, tc.want)
		}
	}
	ms := []Measure{{Time: 3, Requests: 1}, {Time: 1, Requests: 3}, {Time: 2, Requests: 2}}
	if got, want := medianOf(ms), (Measure{Time: 2, Requests: 2}); got != want {
		t.Errorf("medianOf = %+v, want %+v", got, want)
	}
}

func TestGoals(t *testing.T) {
	ms := func(bsi, gotuf time.Duration) Comparison {
		return Comparison{BSI: Measure{Time: bsi, WireBytes: 100, AllocBytes: 500}, GoTUF: Measure{Time: gotuf, WireBytes: 100, AllocBytes: 7000}}
	}
	r := &Report{Cases: []Case{
		{N: 10000, Layout: Flat, Cold: ms(10*time.Millisecond, 200*time.Millisecond), Warm: ms(time.Millisecond, 200*time.Millisecond), Change: ms(time.Millisecond, time.Millisecond)},
		{N: 1000, Layout: Bins, Cold: ms(2*time.Millisecond, time.Millisecond), Warm: ms(3*time.Millisecond, 2*time.Millisecond), Change: ms(time.Millisecond, time.Millisecond)},
	}}
	var got []string
	for _, g := range r.Goals() {
		got = append(got, g.Goal+": "+map[bool]string{true: "met", false: "not met"}[g.Met])
	}
	want := []string{
		"warm ≥50× go-tuf at 10000 flat: met",
		"warm <2ms at 10000 flat: met",
		"cold alloc ≤10× downloaded at 10000 flat: met",
		"warm <2ms at 1000 bins: not met",
		"cold not slower than go-tuf at 1000 bins: not met",
		"one change not slower than go-tuf at 1000 bins: met",
		"cold alloc ≤10× downloaded at 1000 bins: met",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("goals (-want +got):\n%s", d)
	}
	if s := r.SlowerWarm(); len(s) != 1 || s[0].Layout != Bins {
		t.Errorf("SlowerWarm = %+v, want the bins case", s)
	}
}

// TestRunProcess builds both whole-process clients from this source tree
// and runs them: each refresh is a process of its own, whose requests
// reach the same counting server.
func TestRunProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("builds two binaries")
	}
	src, err := FindSource(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	r, err := Run(t.Context(), Config{Sizes: []int{20}, Layouts: []string{Bins}, Runs: MinRuns, Dir: t.TempDir(), Source: src})
	if err != nil {
		t.Fatal(err)
	}
	if r.DevicePackage != DevicePackage(src) {
		t.Errorf("device package %q, want %q", r.DevicePackage, DevicePackage(src))
	}
	if r.ProcessRuns != MinProcessRuns {
		t.Errorf("whole-process figures are medians of %d runs, want %d", r.ProcessRuns, MinProcessRuns)
	}
	c := r.Cases[0]
	for name, cmp := range map[string]Comparison{"cold": c.ProcessCold, "warm": c.ProcessWarm} {
		for client, m := range map[string]Measure{BSI: cmp.BSI, GoTUF: cmp.GoTUF} {
			if m.Time <= 0 || m.Requests < 2 || m.WireBytes < 1 {
				t.Errorf("process %s %s: empty measure %+v", name, client, m)
			}
		}
	}
	// Warm, bsi's process asks for the next root and the timestamp only.
	if c.ProcessWarm.BSI.Requests != 2 {
		t.Errorf("bsi's warm process made %d requests, want 2", c.ProcessWarm.BSI.Requests)
	}
	// Cold, both fetch the four top-level roles after the root probe.
	if c.ProcessCold.BSI.Requests != 4 || c.ProcessCold.GoTUF.Requests != 4 {
		t.Errorf("cold processes made %d (bsi) and %d (go-tuf) requests, want 4", c.ProcessCold.BSI.Requests, c.ProcessCold.GoTUF.Requests)
	}
	// The device binary's own figures: size, start-up beside a hello
	// world, and a real client check with its peak memory (a Go process
	// needs more than 1 MiB; the bench's own heap is not counted).
	fp := r.Footprint
	if fp == nil || fp.BinaryBytes < 1<<20 || fp.Startup <= 0 || fp.StartupFloor <= 0 || fp.StartupRSS < 1<<20 {
		t.Errorf("footprint %+v", fp)
	}
	if dc := c.DeviceCheck; dc == nil || dc.Cold <= 0 || dc.Warm <= 0 || dc.ColdRSS < 1<<20 || dc.WarmRSS < 1<<20 ||
		dc.ColdRSS > 200<<20 {
		t.Errorf("device check %+v", dc)
	}
	var table bytes.Buffer
	if err := r.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"process cold", "process warm", r.DevicePackage, "client check cold", "hello world"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
}

func TestDevicePackage(t *testing.T) {
	dir := t.TempDir()
	if got := DevicePackage(dir); got != mainPackage {
		t.Errorf("without cmd/bsi-agent: %q", got)
	}
	if err := os.MkdirAll(filepath.Join(dir, "cmd", "bsi-agent"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got := DevicePackage(dir); got != agentPackage {
		t.Errorf("with cmd/bsi-agent: %q", got)
	}
}

func TestFloorRatio(t *testing.T) {
	f := Floor{Time: 2 * time.Second}
	if got := f.Ratio(Measure{Time: 5 * time.Second}); got != 2.5 {
		t.Errorf("ratio %v, want 2.5", got)
	}
	if got := (Floor{}).Ratio(Measure{Time: time.Second}); got != 0 {
		t.Errorf("ratio of no floor %v, want 0", got)
	}
	fs := []Floor{{Time: 3, Files: 1}, {Time: 1, Files: 2}, {Time: 2, Files: 3}}
	if got := medianFloor(fs).Time; got != 2 {
		t.Errorf("median floor %v, want 2", got)
	}
}

// The device's cost per install. The proof holds one hash per level of
// the tree, the entry (the payload's sha256, as the publisher lists by
// default) and the checkpoint with three cosignatures: under the 2 KiB
// goal in logs of 2^18 and 2^20 entries. The time goal is judged, not
// required, here (a loaded machine may miss it).
func TestTransparencyCost(t *testing.T) {
	if testing.Short() {
		t.Skip("builds logs of 2^18 and 2^20 entries")
	}
	at := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	small, err := measureTransparency(MinRuns, 1<<18, at)
	if err != nil {
		t.Fatal(err)
	}
	big, err := measureTransparency(MinRuns, DefaultLogSize, at)
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range []*Transparency{small, big} {
		t.Logf("log of %d: proof %d bytes, verify %v (new checkpoint), %v (accepted)", tr.LogSize, tr.ProofBytes, tr.VerifyNew, tr.VerifySeen)
		gs := (&Report{Transparency: tr}).Goals()
		if len(gs) != 2 || gs[0].Met != (tr.ProofBytes < MaxProofBytes) || gs[1].Met != (tr.VerifyNew < MaxVerifyTime) {
			t.Errorf("goals %+v for %+v", gs, tr)
		}
	}
	for _, tr := range []*Transparency{small, big} {
		if tr.ProofBytes >= MaxProofBytes {
			t.Errorf("proof of %d bytes in a log of %d entries, want < %d", tr.ProofBytes, tr.LogSize, MaxProofBytes)
		}
	}
	// Two more levels: two more base64 hash lines of 45 bytes each, and a
	// digit more in the index and in the checkpoint's size.
	if d := big.ProofBytes - small.ProofBytes; d != 2*45+2 {
		t.Errorf("2^20 proof %d bytes, 2^18 %d: want 92 bytes more", big.ProofBytes, small.ProofBytes)
	}
}
