package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bsiframework/bsi/fleet"
	"github.com/bsiframework/bsi/fleet/report"
	"github.com/bsiframework/bsi/rollout"
)

// watchCollector is a real fleet collector on SQLite in a temporary
// directory, over loopback, on the CLI's clock.
func watchCollector(t *testing.T, now func() time.Time) (*httptest.Server, fleet.Store) {
	t.Helper()
	st, err := fleet.Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "fleet.db"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := fleet.New(fleet.Options{Store: st, Now: now, StatsTTL: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(c)
	t.Cleanup(func() { srv.Close(); c.Close(); st.Close() })
	return srv, st
}

// publishedSchedule reads the schedule of target from the newest rollout
// role in the published tree pub: what devices verify.
func publishedSchedule(t *testing.T, pub, target string) *rollout.Schedule {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(pub, "*.rollout.json"))
	best, bestV := "", 0
	for _, f := range files {
		v, err := strconv.Atoi(strings.TrimSuffix(filepath.Base(f), ".rollout.json"))
		if err == nil && v > bestV {
			best, bestV = f, v
		}
	}
	data, err := os.ReadFile(best)
	if err != nil {
		t.Fatalf("published rollout role: %v", err)
	}
	var role struct {
		Signed struct {
			Targets map[string]struct {
				Custom json.RawMessage `json:"custom"`
			} `json:"targets"`
		} `json:"signed"`
	}
	if err := json.Unmarshal(data, &role); err != nil {
		t.Fatal(err)
	}
	s, err := rollout.FromCustom(role.Signed.Targets[target].Custom)
	if err != nil {
		t.Fatalf("%s: %s: %v", best, target, err)
	}
	return s
}

// TestRolloutWatchHaltsOnDeviceReports is the whole loop over loopback:
// real device state directories install a rolled-out improvement through
// bsi client, some health checks fail, their reports reach a real
// collector, rollout watch --once halts the rollout and publishes, and
// the published rollout role carries the signed halt.
func TestRolloutWatchHaltsOnDeviceReports(t *testing.T) {
	c, ws := rolloutWS(t)
	c.ok("rollout", "start", ws, "webkit-26.3-b", "--stages", "100%", "--publish")
	pub := filepath.Join(ws, "public")
	repoSrv := httptest.NewServer(http.FileServer(http.Dir(pub)))
	defer repoSrv.Close()
	col, store := watchCollector(t, func() time.Time { return c.now })

	const devices, failing = 12, 3
	for i := range devices {
		state := c.path(fmt.Sprintf("device-%02d", i))
		c.ok("client", "init", state, "--root", filepath.Join(pub, "1.root.json"), "--url", repoSrv.URL,
			"--platform", "macos", "--release", "26.3", "--report-url", col.URL, "--ring", "canary")
		health := "true"
		if i < failing {
			health = "echo webkit crashed >&2; false"
		}
		code, out, errs := c.run(context.Background(), "client", "install", state, "--all", "--health-cmd", health)
		if want := map[bool]int{true: exitFailure, false: exitOK}[i < failing]; code != want {
			t.Fatalf("device %d: install exit %d, want %d\n%s%s", i, code, want, out, errs)
		}
		if strings.Contains(errs, "stay queued") {
			t.Fatalf("device %d: reports not sent: %s", i, errs)
		}
	}
	st, err := store.Stats(context.Background(), fleet.Filter{Component: "webkit", Improvement: "webkit-26.3-b"})
	if err != nil || len(st) != 1 || st[0].AttemptedDevices != devices || st[0].FailedDevices != failing {
		t.Fatalf("collector stats = %+v, %v; want %d of %d failed", st, err, failing, devices)
	}
	// Reports carry the device's ring and its stage of the rollout (1 of 1).
	if g := st[0].ByStage; len(g) != 1 || g[0].Key != "1" || g[0].Devices != devices {
		t.Errorf("by stage: %+v, want all %d devices in stage 1", g, devices)
	}
	if g := st[0].ByRing; len(g) != 1 || g[0].Key != "canary" || g[0].Devices != devices {
		t.Errorf("by ring: %+v, want all %d devices in ring canary", g, devices)
	}

	// Below the minimum number of devices nothing is halted.
	out := c.ok("rollout", "watch", ws, "--fleet", col.URL, "--max-failure-rate", "2%", "--min-devices", "50", "--once", "--publish")
	if strings.Contains(out, "halted") {
		t.Fatalf("watch halted below --min-devices: %s", out)
	}
	if s := publishedSchedule(t, pub, "rollout/webkit/webkit-26.3-b.json"); s.Halted != nil {
		t.Fatalf("published schedule halted below --min-devices: %+v", s.Halted)
	}

	out = c.ok("rollout", "watch", ws, "--fleet", col.URL, "--max-failure-rate", "2%", "--min-devices", "10", "--once", "--publish")
	wantReason := "auto-halt: 3 of 12 devices failed (25%) > 2%"
	if !strings.Contains(out, "halted webkit/webkit-26.3-b: "+wantReason) || !strings.Contains(out, "published") {
		t.Fatalf("watch: %s", out)
	}
	s := publishedSchedule(t, pub, "rollout/webkit/webkit-26.3-b.json")
	if s.Halted == nil || s.Halted.Reason != wantReason {
		t.Fatalf("published schedule: halted %+v, want the reason %q", s.Halted, wantReason)
	}
	if st := rolloutStatus(t, c, ws, "webkit-26.3-b", "--json"); !st[0].Halted || st[0].Pending {
		t.Fatalf("rollout status after the watch: %+v", st[0])
	}
	// A second round finds it halted and does nothing.
	if out := c.ok("rollout", "watch", ws, "--fleet", col.URL, "--max-failure-rate", "2%", "--min-devices", "10", "--once"); strings.Contains(out, "halted") {
		t.Fatalf("second watch: %s", out)
	}
	// A new device no longer gets it (the agent honours the signed halt).
	fresh := c.path("device-new")
	c.ok("client", "init", fresh, "--root", filepath.Join(pub, "1.root.json"), "--url", repoSrv.URL,
		"--platform", "macos", "--release", "26.3", "--report-url", col.URL)
	c.ok("client", "install", fresh, "--all")
	var j struct {
		Installed map[string]struct{ ID string } `json:"installed"`
	}
	b, _ := os.ReadFile(filepath.Join(fresh, "installed.json"))
	if err := json.Unmarshal(b, &j); err != nil || j.Installed["webkit"].ID == "webkit-26.3-b" {
		t.Fatalf("a new device installed the halted improvement (%v): %+v", err, j.Installed)
	}
	// A device's status shows what it sent.
	if out := c.ok("client", "status", c.path("device-00")); !strings.Contains(out, "reports: to "+col.URL) || !strings.Contains(out, "1 sent") {
		t.Fatalf("client status:\n%s", out)
	}
}

// TestAttackFakeSuccessReportsCannotWiden: a flood of forged "installed"
// reports from many pseudonymous devices changes nothing in a rollout.
// The watcher only ever halts; the stage moves by the signed schedule.
func TestAttackFakeSuccessReportsCannotWiden(t *testing.T) {
	c, ws := rolloutWS(t)
	c.ok("rollout", "start", ws, "webkit-26.3-b", "--stages", "canary:100%:24h,5%:24h,100%", "--publish")
	col, _ := watchCollector(t, func() time.Time { return c.now })
	var rs []report.Report
	for i := range 200 {
		rs = append(rs, report.Report{ID: fmt.Sprintf("%032x", i+1), Device: fmt.Sprintf("%032x", 1000+i),
			Platform: "macos", Release: "26.3", Component: "webkit", Improvement: "webkit-26.3-b",
			Sequence: 2, Outcome: report.Installed, Time: c.now})
	}
	postReports(t, col.URL, rs)
	before := rolloutStatus(t, c, ws, "webkit-26.3-b", "--json")[0]
	out := c.ok("rollout", "watch", ws, "--fleet", col.URL, "--max-failure-rate", "2%", "--min-devices", "10", "--once", "--publish")
	if strings.Contains(out, "halted") {
		t.Fatalf("watch: %s", out)
	}
	after := rolloutStatus(t, c, ws, "webkit-26.3-b", "--json")[0]
	if after.Stage != before.Stage || after.Percent != before.Percent || after.Pending {
		t.Fatalf("rollout moved on success reports: before %+v, after %+v", before, after)
	}
}

func postReports(t *testing.T, base string, rs []report.Report) {
	t.Helper()
	for len(rs) > 0 {
		n := min(len(rs), 50)
		body, err := report.Batch{Reports: rs[:n]}.Encode()
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.Post(base+"/v1/reports", "application/json", strings.NewReader(string(body)))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("post reports: %s", resp.Status)
		}
		rs = rs[n:]
	}
}

func TestRolloutWatchErrors(t *testing.T) {
	c, ws := rolloutWS(t)
	for _, args := range [][]string{
		{"rollout", "watch", ws, "--max-failure-rate", "2%", "--min-devices", "5"},
		{"rollout", "watch", ws, "--fleet", "http://127.0.0.1:1", "--min-devices", "5"},
		{"rollout", "watch", ws, "--fleet", "http://127.0.0.1:1", "--max-failure-rate", "2%"},
		{"rollout", "watch", ws, "--fleet", "http://127.0.0.1:1", "--max-failure-rate", "0%", "--min-devices", "5"},
		{"rollout", "watch", ws, "--fleet", "http://127.0.0.1:1", "--max-failure-rate", "101%", "--min-devices", "5"},
		{"rollout", "watch", ws, "--fleet", "http://u:p@127.0.0.1:1", "--max-failure-rate", "2%", "--min-devices", "5"},
		{"rollout", "watch", ws, "--fleet", "http://127.0.0.1:1", "--max-failure-rate", "2%", "--min-devices", "5", "--to", "x"},
	} {
		c.fail(exitUsage, args...)
	}
	// An unreachable collector: exit 1 with --once, nothing changed.
	errs := c.fail(exitFailure, "rollout", "watch", ws, "--fleet", "http://127.0.0.1:1", "--max-failure-rate", "2%", "--min-devices", "5", "--once")
	if !strings.Contains(errs, "fleet stats") {
		t.Errorf("stderr: %s", errs)
	}
}

func TestClientReportURLCommands(t *testing.T) {
	f := newClientFixture(t, clientStart)
	f.want(exitUsage, "report_url", "client", "init", f.state, "--root", f.root, "--url", f.repo.URL(),
		"--platform", "macos", "--release", "26.3", "--report-url", "https://fleet.example.com/?x=1")
	if _, err := os.Stat(f.state); !os.IsNotExist(err) {
		t.Fatalf("a refused init left %s behind: %v", f.state, err)
	}
	f.init()
	if out := f.must("client", "status", f.state); strings.Contains(out, "reports:") {
		t.Fatalf("status without reports:\n%s", out)
	}
	out := f.must("client", "set-report-url", f.state, "http://127.0.0.1:9")
	if !strings.Contains(out, "reports to http://127.0.0.1:9 as device ") {
		t.Fatalf("set-report-url: %s", out)
	}
	f.want(exitUsage, "either URL or --none", "client", "set-report-url", f.state)
	f.want(exitUsage, "either URL or --none", "client", "set-report-url", f.state, "http://127.0.0.1:9", "--none")
	f.want(exitUsage, "user name or password", "client", "set-report-url", f.state, "http://a:b@127.0.0.1:9")
	var st struct {
		Reports *struct {
			URL    string `json:"url"`
			Device string `json:"device"`
		} `json:"reports"`
	}
	if err := json.Unmarshal([]byte(f.must("client", "status", f.state, "--json")), &st); err != nil || st.Reports == nil || st.Reports.URL != "http://127.0.0.1:9" || len(st.Reports.Device) != 32 {
		t.Fatalf("status --json reports = %+v, %v", st.Reports, err)
	}
	if out := f.must("client", "set-report-url", f.state, "--none"); !strings.Contains(out, "reports off") {
		t.Fatalf("--none: %s", out)
	}
}

// TestClientInstallHangingCollector: bsi client install with a collector
// that never answers installs as usual and exits 0; the one send gives up
// after its 2 s, the report stays queued, and a later command sends it.
func TestClientInstallHangingCollector(t *testing.T) {
	f := newClientFixture(t, clientStart)
	var hang atomic.Bool
	hang.Store(true)
	release := make(chan struct{})
	col, store := watchCollector(t, f.clock)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hang.Load() {
			select {
			case <-release:
			case <-r.Context().Done():
			}
			return
		}
		col.Config.Handler.ServeHTTP(w, r)
	}))
	defer front.Close()
	defer close(release)
	f.init("--report-url", front.URL)
	f.publish(improvement("webkit", "26.3", 1))
	t0 := time.Now()
	code, out, errs := f.bsi(context.Background(), "client", "install", f.state, "--all")
	if code != exitOK || f.current("webkit") != "webkit-26.3-a" {
		t.Fatalf("install with a hanging collector: exit %d, current %q\n%s%s", code, f.current("webkit"), out, errs)
	}
	if d := time.Since(t0); d > reportFlushTimeout+3*time.Second {
		t.Errorf("install took %v, want its own time plus at most the %v send", d, reportFlushTimeout)
	}
	if !strings.Contains(errs, "1 report(s) stay queued") {
		t.Errorf("stderr: %s", errs)
	}
	hang.Store(false)
	f.advance(time.Hour) // past the backoff
	f.must("client", "check", f.state)
	st, err := store.Stats(context.Background(), fleet.Filter{Component: "webkit", Improvement: "webkit-26.3-a"})
	if err != nil || len(st) != 1 || st[0].Outcomes[string(report.Installed)].Devices != 1 {
		t.Fatalf("collector after the next command: %+v, %v", st, err)
	}
}

// TestLoadReports: bsi load --reports against a real collector: every
// batch is answered 200 and stored.
func TestLoadReports(t *testing.T) {
	st, err := fleet.Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "fleet.db"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := fleet.New(fleet.Options{Store: st, NoRateLimitUnsafe: true})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(c)
	defer func() { srv.Close(); c.Close(); st.Close() }()
	code, out, errs := runCLI(t, "load", srv.URL+"/", "--reports", "--duration", "300ms", "--conns", "4", "--json", "-")
	if code != 0 {
		t.Fatalf("load --reports: exit %d\n%s%s", code, out, errs)
	}
	var res struct {
		Requests int64 `json:"requests"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.Requests == 0 {
		t.Fatalf("load --reports: %v\n%s", err, out)
	}
	stats, err := st.Stats(context.Background(), fleet.Filter{})
	if err != nil || len(stats) == 0 || stats[0].Devices == 0 {
		t.Fatalf("collector after the load: %+v, %v", stats, err)
	}
}
