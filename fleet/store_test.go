package fleet

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/bsiframework/bsi/fleet/report"
)

// t0 is the tests' clock.
var t0 = time.Date(2026, 12, 3, 14, 0, 0, 0, time.UTC)

// hexID is a deterministic 32-hex-digit id: kind byte then n.
func hexID(kind byte, n int) string { return fmt.Sprintf("%02x%030x", kind, n) }

// rep is a valid report number n of device dev, changed by mods.
func rep(n, dev int, mods ...func(*report.Report)) report.Report {
	r := report.Report{
		ID: hexID(1, n), Device: hexID(2, dev), Platform: "examplephone", Release: "26.3",
		Build: "23D60", Ring: "canary", Component: "webkit", Improvement: "wk-2026-001",
		Sequence: 1, Stage: 1, Outcome: report.Installed, Time: t0.Add(-time.Minute),
	}
	for _, m := range mods {
		m(&r)
	}
	return r
}

func outcome(o report.Outcome) func(*report.Report) { return func(r *report.Report) { r.Outcome = o } }
func stage(s int) func(*report.Report)              { return func(r *report.Report) { r.Stage = s } }
func ring(s string) func(*report.Report)            { return func(r *report.Report) { r.Ring = s } }
func release(s string) func(*report.Report)         { return func(r *report.Report) { r.Release = s } }
func improvement(c, id string) func(*report.Report) {
	return func(r *report.Report) { r.Component, r.Improvement = c, id }
}

// counts builds the expected Counts: devices, attempted, failed, then
// outcome → {reports, devices}.
func counts(devices, attempted, failed int, oc map[report.Outcome][2]int) Counts {
	c := newCounts()
	c.Devices, c.AttemptedDevices, c.FailedDevices = devices, attempted, failed
	if attempted > 0 {
		c.FailureRate = float64(failed) / float64(attempted)
	}
	for o, v := range oc {
		c.Outcomes[string(o)] = OutcomeCount{Reports: v[0], Devices: v[1]}
	}
	return c
}

func mustAppend(t *testing.T, s Store, rs []report.Report, wantAdded int) {
	t.Helper()
	n, err := s.Append(context.Background(), rs)
	if err != nil {
		t.Fatal(err)
	}
	if n != wantAdded {
		t.Fatalf("Append(%d reports) added %d, want %d", len(rs), n, wantAdded)
	}
}

func TestStoreAppendIsIdempotent(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store, dsn string) {
		rs := []report.Report{rep(1, 1), rep(2, 2), rep(3, 3)}
		mustAppend(t, s, rs, 3)
		mustAppend(t, s, rs, 0)                                    // a retry
		mustAppend(t, s, []report.Report{rep(3, 3), rep(4, 3)}, 1) // overlap
		// A batch with a report twice counts it once.
		mustAppend(t, s, []report.Report{rep(5, 4), rep(5, 4)}, 1)
		if got := len(storedIDs(t, dsn)); got != 5 {
			t.Fatalf("%d reports stored, want 5", got)
		}
	})
}

func TestStoreStats(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store, dsn string) {
		var rs []report.Report
		n := 0
		add := func(dev int, mods ...func(*report.Report)) {
			n++
			rs = append(rs, rep(n, dev, mods...))
		}
		// Stage 1, ring canary, release 26.3: devices 1-3 installed, device 3
		// then health-failed and rolled back; device 4 only offered.
		add(1)
		add(1) // the same device says installed twice: one device
		add(2)
		add(3)
		add(3, outcome(report.HealthFailed))
		add(3, outcome(report.RolledBack))
		add(4, outcome(report.Offered))
		// Stage 2, ring broad, release 26.2: device 5 installed, device 6
		// refused the metadata.
		add(5, stage(2), ring("broad"), release("26.2"))
		add(6, stage(2), ring("broad"), release("26.2"), outcome(report.SecurityFailure))
		// Another improvement, stage 0.
		add(7, improvement("openssl", "ossl-3.0.1"), stage(0), ring(""))
		mustAppend(t, s, rs, len(rs))

		got, err := s.Stats(context.Background(), Filter{})
		if err != nil {
			t.Fatal(err)
		}
		stage1 := counts(4, 3, 1, map[report.Outcome][2]int{
			report.Installed: {4, 3}, report.HealthFailed: {1, 1}, report.RolledBack: {1, 1}, report.Offered: {1, 1}})
		stage2 := counts(2, 1, 0, map[report.Outcome][2]int{report.Installed: {1, 1}, report.SecurityFailure: {1, 1}})
		total := counts(6, 4, 1, map[report.Outcome][2]int{
			report.Installed: {5, 4}, report.HealthFailed: {1, 1}, report.RolledBack: {1, 1},
			report.Offered: {1, 1}, report.SecurityFailure: {1, 1}})
		other := counts(1, 1, 0, map[report.Outcome][2]int{report.Installed: {1, 1}})
		want := []ImprovementStats{
			{Component: "openssl", Improvement: "ossl-3.0.1", Counts: other,
				ByStage: []Group{{"0", other}}, ByRing: []Group{{"", other}}, ByRelease: []Group{{"26.3", other}}},
			{Component: "webkit", Improvement: "wk-2026-001", Counts: total,
				ByStage:   []Group{{"1", stage1}, {"2", stage2}},
				ByRing:    []Group{{"broad", stage2}, {"canary", stage1}},
				ByRelease: []Group{{"26.2", stage2}, {"26.3", stage1}}},
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("Stats (-want +got):\n%s", d)
		}
		one, err := s.Stats(context.Background(), Filter{Component: "webkit", Improvement: "wk-2026-001"})
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(want[1:], one); d != "" {
			t.Errorf("Stats(webkit/wk-2026-001) (-want +got):\n%s", d)
		}
		none, err := s.Stats(context.Background(), Filter{Component: "webkit", Improvement: "nope"})
		if err != nil || len(none) != 0 {
			t.Errorf("Stats(unknown) = %v, %v; want none", none, err)
		}
	})
}

// TestAttackSQLInjectionStoredLiterally writes SQL in every string field
// straight into the store (below the decoder, which refuses such strings):
// the values come back literally and the table is intact, because every
// value is a query parameter.
func TestAttackSQLInjectionStoredLiterally(t *testing.T) {
	payloads := []string{
		`'; DROP TABLE reports; --`,
		`x' OR '1'='1`,
		`"); DELETE FROM reports; --`,
		`\'; SELECT pg_sleep(10); --`,
		`$1 $2 ? ?1 :name @p`,
	}
	forEachStore(t, func(t *testing.T, s Store, dsn string) {
		for i, p := range payloads {
			r := rep(i+1, i+1)
			r.ID, r.Device, r.Platform, r.Release, r.Build = p+"id"+fmt.Sprint(i), p+"dev", p, p, p
			r.Ring, r.Component, r.Improvement, r.ErrorClass = p, p, p, p
			r.Outcome = report.Outcome(p)
			mustAppend(t, s, []report.Report{r}, 1)
			st, err := s.Stats(context.Background(), Filter{Component: p, Improvement: p})
			if err != nil {
				t.Fatal(err)
			}
			if len(st) != 1 || st[0].Component != p || st[0].Devices != 1 || st[0].Outcomes[p].Reports != 1 {
				t.Fatalf("payload %q: stats %+v, want it stored literally", p, st)
			}
		}
		if got := len(storedIDs(t, dsn)); got != len(payloads) {
			t.Fatalf("%d reports stored, want %d", got, len(payloads))
		}
	})
}

// TestStoreSharedByTwoCollectors appends through two stores on one database
// at once, as two collector processes would: nothing is lost.
func TestStoreSharedByTwoCollectors(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store, dsn string) {
		s2, err := Open(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer s2.Close()
		var wg sync.WaitGroup
		errs := make(chan error, 2)
		for k, st := range []Store{s, s2} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for b := range 20 {
					var rs []report.Report
					for i := range 50 {
						n := k*100000 + b*50 + i
						rs = append(rs, rep(n, n))
					}
					if _, err := st.Append(context.Background(), rs); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if got := len(storedIDs(t, dsn)); got != 2000 {
			t.Fatalf("%d reports stored, want 2000", got)
		}
	})
}

func TestOpenRefusesUnknownDatabase(t *testing.T) {
	for _, dsn := range []string{"", "mysql://x", "sqlite:", "sqlite:a?mode=memory", "postgres://u:secret@nowhere.invalid/db?connect_timeout=1"} {
		s, err := Open(context.Background(), dsn)
		if err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded", dsn)
			continue
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("Open(%q) error shows the password: %v", dsn, err)
		}
	}
}
