package conformance

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/bsiframework/bsi/conformance/internal/protoclient"
)

// The default run drives non-race builds of go-tuf's adapter and of bsi
// (built once, see binaries), runs the go-tuf suite, the self-check and
// the broken clients at once, and aims each broken client at its own
// scenarios. BSI_CONFORMANCE_FULL=1 adds the complete matrix for local
// runs: go-tuf again through this (race-built) test binary, and every
// broken client against the whole suite.
var full = os.Getenv("BSI_CONFORMANCE_FULL") != ""

// testParallel is the number of scenarios run at once: they are bound by
// process starts and loopback round trips, not by CPU.
const testParallel = 8

// TestMain lets the test binary act as a protocol client: run as
// "TESTBINARY gotuf-client FAULT ARGS...", it is go-tuf's updater (with
// FAULT, a broken client). It also turns off the race runtime's one-second
// sleep at exit for the clients this binary starts (itself, race-built).
func TestMain(m *testing.M) {
	if len(os.Args) > 2 && os.Args[1] == "gotuf-client" {
		os.Exit(protoclient.Main(os.Args[3:], protoclient.Fault(strings.TrimPrefix(os.Args[2], "fault=")), os.Stderr))
	}
	os.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	os.Exit(m.Run())
}

// selfClient is this test binary as go-tuf's client (race-built when the
// tests are).
func selfClient(t *testing.T, fault protoclient.Fault) []string {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return []string{exe, "gotuf-client", "fault=" + string(fault)}
}

var (
	binOnce sync.Once
	binDir  string
	binErr  error
)

// binaries builds bsi and the go-tuf adapter without the race detector
// (the clients' own races are not under test; their speed is) once per
// test process, into a directory kept between runs and named after this
// checkout, so that go build finds them up to date and does not link again.
// It returns that directory.
func binaries(t *testing.T) string {
	binOnce.Do(func() {
		goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
		if _, err := os.Stat(goTool); err != nil {
			if goTool, err = exec.LookPath("go"); err != nil {
				binErr = err
				return
			}
		}
		src, err := filepath.Abs("..")
		if err != nil {
			binErr = err
			return
		}
		cache, err := os.UserCacheDir()
		if err != nil {
			cache = os.TempDir()
		}
		binDir = filepath.Join(cache, "bsi-conformance", fmt.Sprintf("%x", sha256.Sum256([]byte(src)))[:16])
		cmd := exec.Command(goTool, "build", "-ldflags=-s -w", "-o", binDir+string(filepath.Separator), "../cmd/bsi", "./internal/gotufclient")
		cmd.Env = append(os.Environ(), "GOFLAGS=")
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = &buildError{err, out}
		}
	})
	if binErr != nil {
		t.Fatalf("building the clients: %v", binErr)
	}
	return binDir
}

type buildError struct {
	err error
	out []byte
}

func (e *buildError) Error() string { return e.err.Error() + "\n" + string(e.out) }

// goTUFClient is the go-tuf adapter, broken by fault when not None.
func goTUFClient(t *testing.T, fault protoclient.Fault) []string {
	return []string{"env", "BSI_BROKEN_CLIENT=" + string(fault), filepath.Join(binaries(t), "gotufclient")}
}

func run(t *testing.T, o Options) *Report {
	t.Helper()
	if o.Parallel == 0 {
		o.Parallel = testParallel
	}
	// Generous: scenarios share two loaded cores; a hang still ends.
	o.Timeout = 3 * time.Minute
	rep, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// goTUFXFails are go-tuf's known failures (testdata/gotuf.xfails).
func goTUFXFails(t *testing.T) map[string]string {
	f, err := os.Open("testdata/gotuf.xfails")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	xf, err := ParseXFails(f, Scenarios())
	if err != nil {
		t.Fatal(err)
	}
	return xf
}

// TestGoTUF records go-tuf's result: its failures are expected failures
// (listed in testdata/gotuf.xfails), not test failures; a change in either
// direction is.
func TestGoTUF(t *testing.T) {
	t.Parallel()
	clients := map[string][]string{"adapter": goTUFClient(t, protoclient.None)}
	if full {
		clients["race-built test binary"] = selfClient(t, protoclient.None)
	}
	for name, client := range clients {
		rep := run(t, Options{Client: client})
		c := rep.Counts("")
		var failed, wantFailed []string
		for _, r := range rep.Results {
			if r.Status == Fail {
				failed = append(failed, r.Name)
			}
		}
		t.Logf("go-tuf v2.4.2 (%s): %d passed, %d failed, %d skipped: %v", name, c.Pass, c.Fail, c.Skip, failed)
		xf := goTUFXFails(t)
		for _, s := range Scenarios() {
			if _, ok := xf[s.Name]; ok {
				wantFailed = append(wantFailed, s.Name)
			}
		}
		if diff := cmp.Diff(wantFailed, failed); diff != "" {
			for _, r := range rep.Failed() {
				t.Logf("%s: %v %v", r.Name, r.Failures, r.Calls)
			}
			t.Errorf("go-tuf (%s) failures changed (-xfails +now):\n%s", name, diff)
		}
	}
}

// TestSelfCheck is the suite's own bar: every scenario passes against bsi,
// the TUF groups through "bsi tuf-client" and the bsi group through "bsi
// client".
func TestSelfCheck(t *testing.T) {
	t.Parallel()
	bsi := filepath.Join(binaries(t), "bsi")
	rep := run(t, Options{Client: []string{bsi, "tuf-client"}, BSI: []string{bsi}})
	c := rep.Counts("")
	if c.Pass != len(Scenarios()) || c.Pass < 140 || rep.Counts("bsi").Pass < 20 {
		for _, r := range rep.Results {
			if r.Status != Pass {
				t.Errorf("%s: %s: %v\n%v", r.Name, r.Status, r.Failures, r.Calls)
			}
		}
		t.Fatalf("bsi: %d of %d scenarios passed", c.Pass, len(Scenarios()))
	}
}

// TestBrokenClients proves the suite has teeth: go-tuf with one check
// removed must fail every scenario aimed at that fault that the intact
// go-tuf passes.
func TestBrokenClients(t *testing.T) {
	t.Parallel()
	xf := goTUFXFails(t)
	for _, tc := range []struct {
		fault  protoclient.Fault
		target string // scenarios aimed at the fault
		prefix string
	}{
		{protoclient.Expiry, "expiry", ""},
		{protoclient.Rollback, "rollback", "rollback/"},
		{protoclient.Hash, "hash", "targets/"},
		{protoclient.Signature, "signature", "basic/init"},
	} {
		t.Run(string(tc.fault), func(t *testing.T) {
			t.Parallel()
			var scen []Scenario
			for _, s := range Scenarios() {
				if _, known := xf[s.Name]; s.Fault == tc.target && !known && s.Group() != "bsi" && strings.HasPrefix(s.Name, tc.prefix) {
					scen = append(scen, s)
				}
			}
			if len(scen) < 2 {
				t.Fatalf("only %d scenarios aimed at %s", len(scen), tc.target)
			}
			o := Options{Client: goTUFClient(t, tc.fault), Scenarios: scen}
			if full {
				o.Client, o.Scenarios = selfClient(t, tc.fault), nil
			}
			rep := run(t, o)
			aimed := map[string]bool{}
			for _, s := range scen {
				aimed[s.Name] = true
			}
			failed := 0
			for _, r := range rep.Results {
				switch {
				case r.Status == Fail:
					failed++
				case aimed[r.Name]:
					t.Errorf("client without the %s check: %s %s, want fail", tc.fault, r.Name, r.Status)
				}
			}
			t.Logf("client without the %s check fails %d scenarios (%d aimed at it)", tc.fault, failed, len(scen))
		})
	}
}

// TestBrokenBSI proves the bsi group has teeth: a bsi that never installs
// anything fails every scenario that expects an install, and a real bsi
// whose exit codes are hidden fails every scenario aimed at an attack.
func TestBrokenBSI(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	lazy, liar := filepath.Join(dir, "lazy.sh"), filepath.Join(dir, "liar.sh")
	os.WriteFile(lazy, []byte("case \"$2\" in status) echo '{\"installed\":[],\"attention\":[]}';; esac\nexit 0\n"), 0o755)
	os.WriteFile(liar, []byte("\""+filepath.Join(binaries(t), "bsi")+"\" \"$@\"\nexit 0\n"), 0o755)
	installs := map[string]bool{"": true, "withdrawal": true, "sequence": true}
	attacks := map[string]bool{"expiry": true, "rollback": true, "hash": true, "signature": true, "manifest-role": true, "transparency": true}
	for _, tc := range []struct {
		name   string
		script string
		aimed  map[string]bool // faults of the scenarios it must fail
	}{
		{"never installs", lazy, installs},
		{"hides exit codes", liar, attacks},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var scen []Scenario
			for _, s := range Scenarios() {
				if s.Group() == "bsi" && (tc.aimed[s.Fault] || full) {
					scen = append(scen, s)
				}
			}
			rep := run(t, Options{Client: []string{"true"}, BSI: []string{"sh", tc.script}, Scenarios: scen})
			n := 0
			for _, r := range rep.Results {
				if !tc.aimed[r.Fault] {
					continue
				}
				n++
				if r.Status != Fail {
					t.Errorf("a bsi that %s: %s %s, want fail", tc.name, r.Name, r.Status)
				}
			}
			if n < 8 {
				t.Errorf("only %d bsi scenarios aimed at a bsi that %s", n, tc.name)
			}
			t.Logf("a bsi that %s fails %d of %d scenarios (%d aimed at it)", tc.name, len(rep.Failed()), len(scen), n)
		})
	}
}
