package agent

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bsiframework/bsi/fleet"
	"github.com/bsiframework/bsi/fleet/report"
)

// collector is a real fleet.Collector on SQLite in a temporary directory,
// served over loopback, on the fixture's clock.
type collector struct {
	srv   *httptest.Server
	store fleet.Store
	c     *fleet.Collector
}

func newCollector(t *testing.T, now func() time.Time) *collector {
	t.Helper()
	st, err := fleet.Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "fleet.db"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := fleet.New(fleet.Options{Store: st, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	col := &collector{srv: httptest.NewServer(c), store: st, c: c}
	t.Cleanup(func() { col.srv.Close(); c.Close(); st.Close() })
	return col
}

// stats returns the collector's statistics of component/id (zero when none).
func (c *collector) stats(t *testing.T, component, id string) fleet.ImprovementStats {
	t.Helper()
	st, err := c.store.Stats(context.Background(), fleet.Filter{Component: component, Improvement: id})
	if err != nil {
		t.Fatal(err)
	}
	if len(st) == 0 {
		return fleet.ImprovementStats{}
	}
	return st[0]
}

func devicesWith(s fleet.ImprovementStats, o report.Outcome) int {
	return s.Outcomes[string(o)].Devices
}

func (f *fixture) setReportURL(u string) {
	f.t.Helper()
	a := f.open()
	if err := a.SetReportURL(u); err != nil {
		f.t.Fatal(err)
	}
	a.Close()
}

func (f *fixture) flush(timeout time.Duration) (FlushResult, error) {
	f.t.Helper()
	a := f.open()
	defer a.Close()
	return a.FlushReports(context.Background(), timeout)
}

func (f *fixture) queued() []report.Report {
	f.t.Helper()
	rs, _, err := outbox{filepath.Join(f.state, outboxFile)}.load(f.clock.Now())
	if err != nil {
		f.t.Fatal(err)
	}
	return rs
}

func TestReportsReachCollector(t *testing.T) {
	f := newFixture(t)
	col := newCollector(t, f.clock.Now)
	f.setReportURL(col.srv.URL)
	a1, a2, a3 := mf("webkit", 1), mf("webkit", 2), mf("webkit", 3)

	f.publish(a1)
	f.mustConverge()
	f.publish(a2)
	f.health = func(ctx context.Context, component, id, dir string) error {
		if id == a2.ID {
			return errors.New("webkit crashes on start")
		}
		return nil
	}
	if _, _, err := f.converge(); err == nil {
		t.Fatal("converge with a failing health check succeeded")
	}
	f.publish(a3)
	f.mustConverge()
	f.withdraw(a3)
	f.mustConverge() // rolls back to a1

	if got := len(f.queued()); got != 4 {
		t.Fatalf("%d reports queued, want 4 (installed a, health-failed b, installed c, rolled-back c)", got)
	}
	fr, err := f.flush(0)
	if err != nil || fr.Sent != 4 || fr.Queued != 0 {
		t.Fatalf("flush = %+v, %v; want 4 sent", fr, err)
	}
	if _, err := os.Stat(filepath.Join(f.state, outboxFile)); !os.IsNotExist(err) {
		t.Errorf("outbox still exists after everything was sent: %v", err)
	}
	for _, c := range []struct {
		id      string
		outcome report.Outcome
	}{{a1.ID, report.Installed}, {a2.ID, report.HealthFailed}, {a3.ID, report.Installed}, {a3.ID, report.RolledBack}} {
		if n := devicesWith(col.stats(t, "webkit", c.id), c.outcome); n != 1 {
			t.Errorf("%s %s: %d devices, want 1", c.id, c.outcome, n)
		}
	}
	s := col.stats(t, "webkit", a2.ID)
	if s.FailedDevices != 1 || s.AttemptedDevices != 1 {
		t.Errorf("%s: failed %d of %d, want 1 of 1", a2.ID, s.FailedDevices, s.AttemptedDevices)
	}
	st, err := ReadStatus(f.state, f.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if st.Reports == nil || st.Reports.Sent != 4 || st.Reports.Queued != 0 || !validDeviceID(st.Reports.Device) {
		t.Errorf("status reports = %+v, want 4 sent, none queued, a device id", st.Reports)
	}
}

func TestReportFieldsPseudonymous(t *testing.T) {
	f := newFixture(t)
	f.setReportURL("http://127.0.0.1:1")
	f.publish(mf("webkit", 1))
	f.mustConverge()
	rs := f.queued()
	if len(rs) != 1 {
		t.Fatalf("%d reports queued, want 1", len(rs))
	}
	r := rs[0]
	host, _ := os.Hostname()
	rc, err := readReportConfig(filepath.Join(f.state, reportFile))
	if err != nil {
		t.Fatal(err)
	}
	if r.Device != rc.Device || !validDeviceID(r.Device) || (host != "" && strings.Contains(r.Device, host)) {
		t.Errorf("device %q, want the random id %q", r.Device, rc.Device)
	}
	want := report.Report{ID: r.ID, Device: rc.Device, Platform: "macos", Release: "26.3", Build: "25D125",
		Component: "webkit", Improvement: "webkit-26.3-a", Sequence: 1, Outcome: report.Installed, Time: start}
	if r != want {
		t.Errorf("report = %+v\nwant     %+v", r, want)
	}
}

// TestHangingCollectorDoesNotDelayInstall: a collector that accepts
// connections and never answers costs the install nothing (the report is
// queued after the journal commits), the send gives up at its own
// deadline, and a later round delivers the report.
func TestHangingCollectorDoesNotDelayInstall(t *testing.T) {
	f := newFixture(t)
	col := newCollector(t, f.clock.Now)
	var hang atomic.Bool
	hang.Store(true)
	release := make(chan struct{})
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hang.Load() {
			select {
			case <-release:
			case <-r.Context().Done():
			}
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		col.c.ServeHTTP(w, r)
	}))
	defer front.Close()
	defer close(release)
	f.setReportURL(front.URL)
	m := mf("webkit", 1)
	f.publish(m)

	t0 := time.Now()
	f.mustConverge()
	if d := time.Since(t0); d > 3*time.Second {
		t.Fatalf("install took %v with a hanging collector", d)
	}
	f.wantInstalled("webkit", m.ID)

	t0 = time.Now()
	_, err := f.flush(300 * time.Millisecond)
	var se *SendError
	if !errors.As(err, &se) {
		t.Fatalf("flush to a hanging collector = %v, want a *SendError", err)
	}
	if d := time.Since(t0); d > 3*time.Second {
		t.Errorf("flush took %v, want about its 300ms deadline", d)
	}
	if n := len(f.queued()); n != 1 {
		t.Fatalf("%d queued after the failed send, want 1", n)
	}
	// Within the backoff nothing is tried.
	if fr, err := f.flush(time.Second); err != nil || !fr.Skipped {
		t.Errorf("flush within the backoff = %+v, %v; want skipped", fr, err)
	}
	hang.Store(false)
	f.clock.Add(backoffBase)
	if fr, err := f.flush(5 * time.Second); err != nil || fr.Sent != 1 {
		t.Fatalf("flush after recovery = %+v, %v; want 1 sent", fr, err)
	}
	if n := devicesWith(col.stats(t, "webkit", m.ID), report.Installed); n != 1 {
		t.Errorf("collector has %d installed devices, want 1", n)
	}
}

// TestReportResentStoredOnce: the collector stores a batch but the answer
// is lost; the device sends it again with the same report ids and the
// collector counts each report once.
func TestReportResentStoredOnce(t *testing.T) {
	f := newFixture(t)
	col := newCollector(t, f.clock.Now)
	var posts atomic.Int32
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		col.c.ServeHTTP(rec, r)
		if posts.Add(1) == 1 {
			http.Error(w, "lost answer", http.StatusBadGateway)
			return
		}
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes())
	}))
	defer front.Close()
	f.setReportURL(front.URL)
	m := mf("webkit", 1)
	f.publish(m)
	f.mustConverge()
	if _, err := f.flush(0); err == nil {
		t.Fatal("first flush succeeded, want the lost answer")
	}
	f.clock.Add(backoffMax)
	if fr, err := f.flush(0); err != nil || fr.Sent != 1 {
		t.Fatalf("second flush = %+v, %v", fr, err)
	}
	s := col.stats(t, "webkit", m.ID)
	if got := s.Outcomes[string(report.Installed)].Reports; got != 1 {
		t.Errorf("collector stored %d reports, want 1", got)
	}
}

func TestReportRefusedNamedReportDropped(t *testing.T) {
	f := newFixture(t)
	// The collector's clock is 40 days ahead: it refuses the report as too
	// old, naming it; the device drops it and counts it.
	col := newCollector(t, func() time.Time { return f.clock.Now().Add(40 * 24 * time.Hour) })
	f.setReportURL(col.srv.URL)
	f.publish(mf("webkit", 1))
	f.mustConverge()
	fr, err := f.flush(0)
	if err != nil || fr.Rejected != 1 || fr.Queued != 0 {
		t.Fatalf("flush = %+v, %v; want 1 rejected", fr, err)
	}
	st, _ := ReadReportStatus(f.state, f.clock.Now())
	if st.Rejected != 1 {
		t.Errorf("rejected counter %d, want 1", st.Rejected)
	}
}

func TestReportWrongURLKeepsOutbox(t *testing.T) {
	f := newFixture(t)
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	f.setReportURL(srv.URL)
	f.publish(mf("webkit", 1))
	f.mustConverge()
	_, err := f.flush(0)
	var se *SendError
	if !errors.As(err, &se) || se.Status != http.StatusNotFound {
		t.Fatalf("flush = %v, want a *SendError with 404", err)
	}
	if n := len(f.queued()); n != 1 {
		t.Errorf("%d queued, want the report kept", n)
	}
}

func TestRetryAfterHonoured(t *testing.T) {
	f := newFixture(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "3000")
		http.Error(w, `{"reason":"rate-device"}`, http.StatusTooManyRequests)
	}))
	defer srv.Close()
	f.setReportURL(srv.URL)
	f.publish(mf("webkit", 1))
	f.mustConverge()
	if _, err := f.flush(0); err == nil {
		t.Fatal("flush succeeded against 429")
	}
	rc, _ := readReportConfig(filepath.Join(f.state, reportFile))
	if got := rc.NextAttempt.Sub(f.clock.Now()); got < 3000*time.Second {
		t.Errorf("next attempt in %v, want at least the Retry-After of 3000s", got)
	}
}

func TestNoReportURLNothingQueued(t *testing.T) {
	f := newFixture(t)
	f.publish(mf("webkit", 1))
	f.mustConverge()
	if _, err := os.Stat(filepath.Join(f.state, outboxFile)); !os.IsNotExist(err) {
		t.Errorf("outbox exists without a report URL: %v", err)
	}
	if fr, err := f.flush(0); err != nil || fr != (FlushResult{}) {
		t.Errorf("flush without a report URL = %+v, %v", fr, err)
	}
	// Turned on, then off: the queue is deleted, the device id kept.
	f.setReportURL("http://127.0.0.1:1")
	f.publish(mf("webkit", 2))
	f.mustConverge()
	if len(f.queued()) != 1 {
		t.Fatal("nothing queued with a report URL")
	}
	rc1, _ := readReportConfig(filepath.Join(f.state, reportFile))
	f.setReportURL("")
	if _, err := os.Stat(filepath.Join(f.state, outboxFile)); !os.IsNotExist(err) {
		t.Errorf("outbox kept after reporting was turned off: %v", err)
	}
	rc2, _ := readReportConfig(filepath.Join(f.state, reportFile))
	if rc2.URL != "" || rc2.Device != rc1.Device {
		t.Errorf("after --none: %+v, want no URL and device %s", rc2, rc1.Device)
	}
}

func TestValidateReportURL(t *testing.T) {
	for _, c := range []struct {
		url string
		ok  bool
	}{
		{"https://fleet.example.com", true},
		{"http://127.0.0.1:8090/", true},
		{"https://fleet.example.com/bsi", true},
		{"ftp://fleet.example.com", false},
		{"fleet.example.com", false},
		{"https://user:pw@fleet.example.com", false},
		{"https://fleet.example.com/?k=v", false},
		{"https://fleet.example.com/#x", false},
		{"https://fleet.example.com/?", false},
		{"", false},
	} {
		err := ValidateReportURL(c.url)
		if (err == nil) != c.ok {
			t.Errorf("ValidateReportURL(%q) = %v, want ok=%v", c.url, err, c.ok)
		}
		var ce *ConfigError
		if err != nil && !errors.As(err, &ce) {
			t.Errorf("ValidateReportURL(%q) error %T, want *ConfigError", c.url, err)
		}
	}
}

func testReport(t testing.TB, i int, at time.Time) report.Report {
	id := fmt.Sprintf("%032x", i+1)
	r := report.Report{ID: id, Device: strings.Repeat("ab", 16), Platform: "macos", Release: "26.3",
		Component: "webkit", Improvement: "webkit-26.3-a", Sequence: 1, Outcome: report.Installed, Time: at}
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestOutboxBounded(t *testing.T) {
	dir := t.TempDir()
	ob := outbox{filepath.Join(dir, outboxFile)}
	dropped := 0
	for i := range OutboxMaxReports + 5 {
		n, err := ob.add(testReport(t, i, start), start)
		if err != nil {
			t.Fatal(err)
		}
		dropped += n
	}
	rs, _, err := ob.load(start)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != OutboxMaxReports || dropped != 5 || rs[0].ID != fmt.Sprintf("%032x", 6) {
		t.Errorf("%d kept, %d dropped, oldest %s; want %d kept, 5 dropped, the 5 oldest gone",
			len(rs), dropped, rs[0].ID, OutboxMaxReports)
	}
	if st, _ := os.Stat(ob.path); st.Size() > OutboxMaxBytes {
		t.Errorf("outbox is %d bytes, over %d", st.Size(), OutboxMaxBytes)
	}
	// Age: a month later everything is dropped on the next add.
	later := start.Add(OutboxMaxAge + time.Hour)
	n, err := ob.add(testReport(t, 5000, later), later)
	if err != nil || n != OutboxMaxReports {
		t.Errorf("add after a month dropped %d (%v), want %d", n, err, OutboxMaxReports)
	}
}

// TestOutboxFullDropCounted: with a full outbox, an install's report
// pushes out the oldest one, and bsi client status shows the drop.
func TestOutboxFullDropCounted(t *testing.T) {
	f := newFixture(t)
	f.setReportURL("http://127.0.0.1:1")
	var rs []report.Report
	for i := range OutboxMaxReports {
		rs = append(rs, testReport(t, i, start))
	}
	if err := (outbox{filepath.Join(f.state, outboxFile)}).write(rs); err != nil {
		t.Fatal(err)
	}
	f.publish(mf("webkit", 1))
	f.mustConverge()
	q := f.queued()
	if len(q) != OutboxMaxReports || q[len(q)-1].Improvement != "webkit-26.3-a" || q[0].ID != rs[1].ID {
		t.Fatalf("outbox: %d reports, newest %s, oldest %s", len(q), q[len(q)-1].Improvement, q[0].ID)
	}
	st, err := ReadStatus(f.state, f.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if st.Reports.Dropped != 1 || !containsText(st.Attention, "reports: 1 dropped from the outbox") {
		t.Errorf("status: dropped %d, attention %q", st.Reports.Dropped, st.Attention)
	}
}

func TestOutboxDamagedLineSkipped(t *testing.T) {
	dir := t.TempDir()
	ob := outbox{filepath.Join(dir, outboxFile)}
	if _, err := ob.add(testReport(t, 0, start), start); err != nil {
		t.Fatal(err)
	}
	// A crash cut an append short.
	fh, _ := os.OpenFile(ob.path, os.O_APPEND|os.O_WRONLY, 0)
	fh.WriteString(`{"report_id":"0000`)
	fh.Close()
	if rs, dropped, err := ob.load(start); err != nil || len(rs) != 1 || dropped != 1 {
		t.Fatalf("load = %d reports, %d dropped, %v; want 1 and the cut line dropped", len(rs), dropped, err)
	}
	// The next add appends after it (on a line of its own); the load
	// that a flush does skips it and counts it.
	if n, err := ob.add(testReport(t, 1, start), start); err != nil || n != 0 {
		t.Fatalf("add = %d dropped, %v", n, err)
	}
	rs, dropped, err := ob.load(start)
	if err != nil || len(rs) != 2 || dropped != 1 {
		t.Fatalf("load = %d reports, %d dropped, %v; want 2 and the cut line dropped", len(rs), dropped, err)
	}
}

func FuzzOutboxLoad(f *testing.F) {
	good, _ := encodeLine(&report.Report{ID: strings.Repeat("0", 32), Device: strings.Repeat("1", 32),
		Platform: "macos", Release: "26.3", Component: "webkit", Improvement: "webkit-26.3-a",
		Sequence: 1, Outcome: report.Installed, Time: start})
	f.Add(good)
	f.Add(append(append([]byte{}, good...), good[:20]...))
	f.Add([]byte("\n\n{}\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(t.TempDir(), outboxFile)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		rs, _, err := outbox{p}.load(start)
		if err != nil {
			return
		}
		for i := range rs {
			if err := rs[i].Validate(); err != nil {
				t.Fatalf("loaded an invalid report: %v", err)
			}
		}
		// What was loaded round-trips through a rewrite.
		if err := (outbox{p}).write(rs); err != nil {
			t.Fatal(err)
		}
		again, dropped, err := outbox{p}.load(start)
		if err != nil || len(again) != len(rs) || dropped != 0 {
			t.Fatalf("reload: %d reports (%d dropped, %v), want %d", len(again), dropped, err, len(rs))
		}
	})
}

// BenchmarkQueueReport is the cost reporting adds to an install: one
// report appended to the outbox and synced.
func BenchmarkQueueReport(b *testing.B) {
	ob := outbox{filepath.Join(b.TempDir(), outboxFile)}
	for i := 0; b.Loop(); i++ {
		if i%OutboxMaxReports == 0 {
			os.Remove(ob.path)
		}
		if _, err := ob.add(testReport(b, i, start), start); err != nil {
			b.Fatal(err)
		}
	}
}
