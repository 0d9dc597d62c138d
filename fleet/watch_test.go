package fleet

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/bsiframework/bsi/fleet/report"
)

func TestHaltPolicyJudge(t *testing.T) {
	p := HaltPolicy{MaxFailureRate: 0.02, MinDevices: 50}
	for _, c := range []struct {
		name              string
		attempted, failed int
		halt              bool
		reason            string
	}{
		{"over", 60, 7, true, "auto-halt: 7 of 60 devices failed (11.7%) > 2%"},
		{"too few devices", 49, 49, false, "49 of 49 devices failed (100%); waiting for 50 devices"},
		{"at the threshold", 100, 2, false, "2 of 100 devices failed (2%) <= 2%"},
		{"just over", 100, 3, true, "auto-halt: 3 of 100 devices failed (3%) > 2%"},
		{"none failed", 1000, 0, false, "0 of 1000 devices failed (0%) <= 2%"},
		{"inconsistent", 50, 51, false, "inconsistent statistics: 51 of 50 devices failed"},
		{"negative", -5, -6, false, "inconsistent statistics: -6 of -5 devices failed"},
	} {
		// The answer's own failure_rate is ignored: a forged 1.0 changes nothing.
		s := ImprovementStats{Counts: Counts{AttemptedDevices: c.attempted, FailedDevices: c.failed, FailureRate: 1}}
		halt, reason := p.Judge(s)
		if halt != c.halt || reason != c.reason {
			t.Errorf("%s: Judge = %v, %q; want %v, %q", c.name, halt, reason, c.halt, c.reason)
		}
	}
}

func TestParseRate(t *testing.T) {
	for _, c := range []struct {
		in   string
		want float64
		ok   bool
	}{
		{"2%", 0.02, true}, {"2", 0.02, true}, {"0.5%", 0.005, true}, {"100%", 1, true},
		{"0%", 0, false}, {"-1%", 0, false}, {"101%", 0, false}, {"x%", 0, false}, {"", 0, false}, {"NaN", 0, false},
	} {
		got, err := ParseRate(c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("ParseRate(%q) = %v, %v; want %v ok=%v", c.in, got, err, c.want, c.ok)
		}
	}
	if err := (HaltPolicy{MaxFailureRate: 0.02}).Validate(); err == nil {
		t.Error("a policy without minimum devices validated")
	}
}

func TestFetchStats(t *testing.T) {
	s, _ := openStore(t, "sqlite")
	c := newCollector(t, s)
	srv := httptest.NewServer(c)
	defer srv.Close()
	if code, _, _ := post(t, c, bytes.NewReader(encode(t, rep(1, 1, outcome(report.HealthFailed)))), nil); code != http.StatusOK {
		t.Fatalf("post: %d", code)
	}
	st, err := FetchStats(context.Background(), nil, srv.URL+"/")
	if err != nil || len(st) != 1 || st[0].FailedDevices != 1 {
		t.Fatalf("FetchStats = %+v, %v", st, err)
	}
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"improvements":[`))
	}))
	defer bad.Close()
	if _, err := FetchStats(context.Background(), nil, bad.URL); err == nil {
		t.Error("a truncated answer was accepted")
	}
}

func TestHaltPolicyDecide(t *testing.T) {
	p := HaltPolicy{MaxFailureRate: 0.05, MinDevices: 10}
	st := func(c, id string, attempted, failed int) ImprovementStats {
		return ImprovementStats{Component: c, Improvement: id, Counts: Counts{AttemptedDevices: attempted, FailedDevices: failed}}
	}
	stats := []ImprovementStats{st("webkit", "a-1", 20, 5), st("webkit", "b-1", 20, 0), st("safari", "a-1", 20, 0), st("webkit", "c-1", 20, 20)}
	got := p.Decide(stats, []Rollout{
		{Component: "webkit", ID: "a-1"},
		{Component: "safari", ID: "a-1"},               // same id, other component: its own numbers
		{Component: "webkit", ID: "c-1", Halted: true}, // halted already: no decision
		{Component: "webkit", ID: "d-1"},               // no reports: no decision
	})
	want := []Decision{
		{Rollout: Rollout{Component: "webkit", ID: "a-1"}, Halt: true, Reason: "auto-halt: 5 of 20 devices failed (25%) > 5%"},
		{Rollout: Rollout{Component: "safari", ID: "a-1"}, Reason: "0 of 20 devices failed (0%) <= 5%"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Decide (-want +got):\n%s", diff)
	}
}
