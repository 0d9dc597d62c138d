package fleet

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/bsiframework/bsi/fleet/report"
)

// statusFixture is a collector on SQLite with two improvements' reports.
func statusFixture(t *testing.T) (*Collector, Store) {
	t.Helper()
	s, _ := openStore(t, "sqlite")
	c := newCollector(t, s, func(o *Options) { o.NoRateLimitUnsafe = true })
	var rs []report.Report
	n := 0
	add := func(k int, mods ...func(*report.Report)) {
		for range k {
			n++
			rs = append(rs, rep(n, n, mods...))
		}
	}
	add(40, stage(1))
	add(6, stage(1), outcome(report.HealthFailed))
	add(2, stage(1), outcome(report.RolledBack))
	add(12, stage(2), ring("broad"))
	add(3, stage(2), outcome(report.Offered))
	add(1, stage(2), outcome(report.SecurityFailure))
	add(9, improvement("openssl", "ossl-3.0.1"), stage(0))
	add(1, improvement("openssl", "ossl-3.0.1"), stage(0), outcome(report.FreshnessFailure))
	if _, err := s.Append(context.Background(), rs); err != nil {
		t.Fatal(err)
	}
	return c, s
}

// wantStats maps every data-stat name of the status page to the text the
// statistics say it must show.
func wantStats(st []ImprovementStats) map[string]string {
	pct := func(f float64) string { return fmt.Sprintf("%.1f%%", f*100) }
	m := map[string]string{}
	for _, s := range st {
		id := s.Component + "/" + s.Improvement
		m[id+"/devices"] = fmt.Sprint(s.Devices)
		m[id+"/attempted"] = fmt.Sprint(s.AttemptedDevices)
		m[id+"/failed"] = fmt.Sprint(s.FailedDevices)
		m[id+"/failure_rate"] = pct(s.FailureRate)
		for o, c := range s.Outcomes {
			m[id+"/outcome/"+o] = fmt.Sprint(c.Devices)
		}
		for _, g := range s.ByStage {
			m[id+"/stage/"+g.Key+"/devices"] = fmt.Sprint(g.Devices)
			m[id+"/stage/"+g.Key+"/failed"] = fmt.Sprint(g.FailedDevices)
			m[id+"/stage/"+g.Key+"/failure_rate"] = pct(g.FailureRate)
		}
	}
	return m
}

var dataStat = regexp.MustCompile(`data-stat="([^"]+)"[^>]*>([^<]*)<`)

// checkPage compares the numbers of a status page with the statistics.
func checkPage(t *testing.T, page string, st []ImprovementStats) {
	t.Helper()
	want := wantStats(st)
	got := map[string]string{}
	for _, m := range dataStat.FindAllStringSubmatch(page, -1) {
		got[m[1]] = m[2]
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("status page %s = %q, the JSON says %q", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("status page shows %d numbers, the JSON has %d", len(got), len(want))
	}
}

func TestStatusPage(t *testing.T) {
	c, s := statusFixture(t)
	w := httptest.NewRecorder()
	c.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	if w.Code != 200 || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("GET /: %d %s", w.Code, w.Header().Get("Content-Type"))
	}
	if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("Content-Security-Policy %q does not forbid external assets", csp)
	}
	page := w.Body.String()
	for _, bad := range []string{"<script", "<link", " src=", "url(", "@import"} {
		if strings.Contains(page, bad) {
			t.Errorf("status page contains %q: not self-contained", bad)
		}
	}
	st, err := s.Stats(context.Background(), Filter{})
	if err != nil {
		t.Fatal(err)
	}
	checkPage(t, page, st)
	if n := strings.Count(page, "<rect "); n != 8 {
		t.Errorf("%d bars in the charts, want 8 (one per outcome present in each stage)", n)
	}
}

func TestStatusPageEmpty(t *testing.T) {
	s, _ := openStore(t, "sqlite")
	c := newCollector(t, s)
	w := httptest.NewRecorder()
	c.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	if w.Code != 200 || !strings.Contains(w.Body.String(), "No reports yet") {
		t.Fatalf("empty status page: %d\n%s", w.Code, w.Body.String())
	}
}

// chromium returns the path of the browser, or skips (fails under CI=true).
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium required under CI=true: run .ci/deps")
	}
	t.Skip("skipping: chromium not installed (run .ci/deps)")
	return ""
}

// browse runs headless chromium on url with extra flags and returns its
// stdout and its log.
func browse(t *testing.T, bin, url string, flags ...string) (string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	args := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--no-first-run", "--user-data-dir=" + t.TempDir(), "--enable-logging=stderr", "--v=0"}, flags...)
	cmd := exec.CommandContext(ctx, bin, append(args, url)...)
	var out, log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &log
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %s: %v\n%s", url, err, log.String())
	}
	return out.String(), log.String()
}

// TestStatusPageInChromium loads the status page in headless Chromium: the
// rendered DOM shows the numbers of the JSON statistics, the browser logs
// no console message (no blocked asset, no error), and the screenshot has
// the chart's colours.
func TestStatusPageInChromium(t *testing.T) {
	bin := chromium(t)
	c, _ := statusFixture(t)
	srv := httptest.NewServer(c)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/v1/stats")
	if err != nil {
		t.Fatal(err)
	}
	var st StatsResponse
	if err := decodeJSON(resp.Body, &st); err != nil {
		t.Fatal(err)
	}

	dom, log := browse(t, bin, srv.URL+"/", "--dump-dom")
	if !strings.Contains(dom, "<svg") || !strings.Contains(dom, "bsi fleet status") {
		t.Fatalf("chromium did not render the status page:\n%.2000s", dom)
	}
	checkPage(t, dom, st.Improvements)
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, "CONSOLE") || strings.Contains(line, "Refused to") {
			t.Errorf("browser console: %s", line)
		}
	}

	shot := filepath.Join(t.TempDir(), "status.png")
	browse(t, bin, srv.URL+"/", "--screenshot="+shot, "--window-size=1000,1600", "--hide-scrollbars")
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []report.Outcome{report.Installed, report.HealthFailed, report.RolledBack, report.SecurityFailure} {
		var want [3]uint32
		fmt.Sscanf(outcomeColors[o], "#%02x%02x%02x", &want[0], &want[1], &want[2])
		n := 0
		b := img.Bounds()
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				r, g, bl, _ := img.At(x, y).RGBA()
				if near(r>>8, want[0]) && near(g>>8, want[1]) && near(bl>>8, want[2]) {
					n++
				}
			}
		}
		if n < 50 {
			t.Errorf("screenshot has %d pixels of %s's colour %s, want a bar", n, o, outcomeColors[o])
		}
	}
}

func near(a, b uint32) bool { return a+6 >= b && b+6 >= a }

func decodeJSON(r io.ReadCloser, v any) error {
	defer r.Close()
	return jsonDecode(r, v)
}
