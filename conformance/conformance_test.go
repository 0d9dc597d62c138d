package conformance

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/bsiframework/bsi/conformance/internal/protoclient"
)

// TestMain lets the test binary act as a protocol client: run as
// "TESTBINARY gotuf-client FAULT ARGS...", it is go-tuf's updater (with
// FAULT, a broken client).
func TestMain(m *testing.M) {
	if len(os.Args) > 2 && os.Args[1] == "gotuf-client" {
		os.Exit(protoclient.Main(os.Args[3:], protoclient.Fault(strings.TrimPrefix(os.Args[2], "fault=")), os.Stderr))
	}
	os.Exit(m.Run())
}

func clientCmd(t *testing.T, fault protoclient.Fault) []string {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return []string{exe, "gotuf-client", "fault=" + string(fault)}
}

var (
	goTUFOnce   sync.Once
	goTUFReport *Report
)

// goTUF runs the whole suite (but the bsi group) once against go-tuf.
func goTUF(t *testing.T) *Report {
	goTUFOnce.Do(func() {
		rep, err := Run(context.Background(), Options{Client: clientCmd(t, protoclient.None), Parallel: 4})
		if err != nil {
			t.Fatal(err)
		}
		goTUFReport = rep
	})
	if goTUFReport == nil {
		t.Fatal("the go-tuf run failed")
	}
	return goTUFReport
}

// TestGoTUF records go-tuf's result: its failures are expected failures
// (listed in testdata/gotuf.xfails), not test failures; a change in either
// direction is.
func TestGoTUF(t *testing.T) {
	rep := goTUF(t)
	c := rep.Counts("")
	var failed []string
	for _, r := range rep.Results {
		if r.Status == Fail {
			failed = append(failed, r.Name)
		}
	}
	t.Logf("go-tuf v2.4.2: %d passed, %d failed, %d skipped: %v", c.Pass, c.Fail, c.Skip, failed)
	want, err := os.ReadFile("testdata/gotuf.xfails")
	if err != nil {
		t.Fatal(err)
	}
	xf, err := ParseXFails(strings.NewReader(string(want)), Scenarios())
	if err != nil {
		t.Fatal(err)
	}
	var wantFailed []string
	for _, s := range Scenarios() {
		if _, ok := xf[s.Name]; ok {
			wantFailed = append(wantFailed, s.Name)
		}
	}
	if diff := cmp.Diff(wantFailed, failed); diff != "" {
		for _, r := range rep.Failed() {
			t.Logf("%s: %v %v", r.Name, r.Failures, r.Calls)
		}
		t.Errorf("go-tuf failures changed (-xfails +now):\n%s", diff)
	}
}

// TestBrokenClients proves the suite has teeth: go-tuf with one check
// removed must fail every scenario aimed at that fault that the intact
// go-tuf passes.
func TestBrokenClients(t *testing.T) {
	base := goTUF(t)
	passed := map[string]bool{}
	for _, r := range base.Results {
		passed[r.Name] = r.Status == Pass
	}
	for _, tc := range []struct {
		fault  protoclient.Fault
		target string // scenarios aimed at the fault
		match  string
	}{
		{protoclient.Expiry, "expiry", ""},
		{protoclient.Rollback, "rollback", "^rollback/"},
		{protoclient.Hash, "hash", "^targets/"},
		{protoclient.Signature, "signature", "^basic/init"},
	} {
		t.Run(string(tc.fault), func(t *testing.T) {
			var scen []Scenario
			for _, s := range Scenarios() {
				if s.Fault == tc.target && passed[s.Name] && (tc.match == "" || strings.HasPrefix(s.Name, tc.match[1:])) {
					scen = append(scen, s)
				}
			}
			if len(scen) < 2 {
				t.Fatalf("only %d scenarios aimed at %s", len(scen), tc.target)
			}
			rep, err := Run(context.Background(), Options{Client: clientCmd(t, tc.fault), Scenarios: scen})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rep.Results {
				if r.Status != Fail {
					t.Errorf("client without the %s check: %s %s, want fail", tc.fault, r.Name, r.Status)
				}
			}
			t.Logf("client without the %s check fails %d of %d scenarios aimed at it", tc.fault, len(rep.Failed()), len(scen))
		})
	}
}
