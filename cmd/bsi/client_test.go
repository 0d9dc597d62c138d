package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bsiframework/bsi/agent/testrepo"
	"github.com/bsiframework/bsi/manifest"
)

// clientFixture is a repository with webkit and safari roles on 127.0.0.1,
// a root file on disk and a state directory path, driven through run().
type clientFixture struct {
	t     *testing.T
	mu    sync.Mutex
	now   time.Time
	repo  *testrepo.Repo
	root  string
	state string
}

func newClientFixture(t *testing.T, now time.Time) *clientFixture {
	t.Helper()
	f := &clientFixture{t: t, now: now}
	repo, err := testrepo.New(f.clock, "webkit", "safari")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(repo.Close)
	f.repo = repo
	dir := t.TempDir()
	f.root = filepath.Join(dir, "root.json")
	f.state = filepath.Join(dir, "state")
	if err := os.WriteFile(f.root, repo.RootJSON(), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *clientFixture) clock() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *clientFixture) advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
}

// bsi runs one command line in-process and returns its exit code, stdout
// and stderr.
func (f *clientFixture) bsi(ctx context.Context, args ...string) (int, string, string) {
	f.t.Helper()
	var stdout, stderr bytes.Buffer
	e := &env{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" },
		Now: f.clock, Logger: slog.New(slog.DiscardHandler)}
	code := run(ctx, args, e)
	return code, stdout.String(), stderr.String()
}

// must runs a command that must exit 0.
func (f *clientFixture) must(args ...string) string {
	f.t.Helper()
	code, out, errOut := f.bsi(context.Background(), args...)
	if code != 0 {
		f.t.Fatalf("bsi %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// want runs a command that must exit with code and mention text on stderr.
func (f *clientFixture) want(code int, text string, args ...string) string {
	f.t.Helper()
	got, out, errOut := f.bsi(context.Background(), args...)
	if got != code || !strings.Contains(errOut, text) {
		f.t.Fatalf("bsi %s: exit %d, stderr %q; want exit %d mentioning %q\n%s",
			strings.Join(args, " "), got, errOut, code, text, out)
	}
	return out
}

func (f *clientFixture) init(extra ...string) {
	f.t.Helper()
	f.must(append([]string{"client", "init", f.state, "--root", f.root, "--url", f.repo.URL(),
		"--platform", "macos", "--release", "26.3", "--build", "25D125"}, extra...)...)
}

func improvement(component, release string, seq int, edit ...func(*manifest.Manifest)) *manifest.Manifest {
	m := &manifest.Manifest{
		Schema: manifest.Schema, ID: fmt.Sprintf("%s-%s-%c", component, release, 'a'+seq-1), Title: "fix",
		Platform: "macos", Component: component, AppliesTo: manifest.AppliesTo{Releases: []string{release}},
		Sequence: seq, Severity: manifest.SeverityHigh, Released: "2026-11-27T10:00:00Z", Status: manifest.StatusActive,
	}
	for _, e := range edit {
		e(m)
	}
	return m
}

// publish lists each improvement under its component's role and publishes.
func (f *clientFixture) publish(ms ...*manifest.Manifest) {
	f.t.Helper()
	for _, m := range ms {
		custom, err := m.Custom()
		if err != nil {
			f.t.Fatal(err)
		}
		payload := testrepo.TarGz(map[string]string{"lib/" + m.Component + ".txt": m.ID + "\n"})
		path := m.Component + "/" + m.ID + ".tar.gz"
		if err := f.repo.AddTarget(m.Component, path, payload, custom); err != nil {
			if err := f.repo.SetCustom(m.Component, path, custom); err != nil {
				f.t.Fatal(err)
			}
		}
	}
	if err := f.repo.Publish(); err != nil {
		f.t.Fatal(err)
	}
}

// current is the id whose payload the install root serves for component,
// "" for the baseline.
func (f *clientFixture) current(component string) string {
	f.t.Helper()
	b, err := os.ReadFile(filepath.Join(f.state, "root", component, "current", "lib", component+".txt"))
	if os.IsNotExist(err) {
		return ""
	}
	if err != nil {
		f.t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func (f *clientFixture) wantCurrent(component, id string) {
	f.t.Helper()
	if got := f.current(component); got != id {
		f.t.Errorf("%s: current %q, want %q", component, got, id)
	}
}

var clientStart = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func TestClientLifecycle(t *testing.T) {
	f := newClientFixture(t, clientStart)
	a1, s1 := improvement("webkit", "26.3", 1), improvement("safari", "26.3", 1)
	f.publish(a1, s1, improvement("webkit", "26.4", 1))
	f.init()

	out := f.must("client", "check", f.state)
	for _, s := range []string{"webkit", "webkit-26.3-a 26.3 (a)", "install", "ignored webkit/webkit-26.4-a.tar.gz: wrong release",
		"timestamp v2 expires 2026-11-28T12:00:00Z (in 24h0m0s)", "2 change(s) pending: bsi client install " + f.state + " --all"} {
		if !strings.Contains(out, s) {
			t.Errorf("check output lacks %q:\n%s", s, out)
		}
	}
	var rep reportJSON
	if err := json.Unmarshal([]byte(f.must("client", "check", f.state, "--json")), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Components) != 2 || rep.Components[1].Desired.ID != a1.ID || rep.Components[1].Action.String() != "install" {
		t.Errorf("check --json components = %+v", rep.Components)
	}
	f.wantCurrent("webkit", "")

	out = f.must("client", "install", f.state, "--all")
	if !strings.Contains(out, "installed webkit: baseline -> webkit 26.3 (a) webkit-26.3-a") {
		t.Errorf("install output:\n%s", out)
	}
	f.wantCurrent("webkit", a1.ID)
	f.wantCurrent("safari", s1.ID)
	out = f.must("client", "status", f.state)
	for _, s := range []string{"webkit 26.3 (a) webkit-26.3-a", "safari 26.3 (a) safari-26.3-a", "last check: 2026-11-27T12:00:00Z, ok"} {
		if !strings.Contains(out, s) {
			t.Errorf("status lacks %q:\n%s", s, out)
		}
	}

	// A new improvement, applied by one round of the daemon.
	a2 := improvement("webkit", "26.3", 2)
	f.advance(time.Hour)
	f.publish(a2)
	out = f.must("client", "run", f.state, "--once")
	if !strings.Contains(out, "pending: webkit install to webkit-26.3-b") {
		t.Errorf("run without --auto-install:\n%s", out)
	}
	f.wantCurrent("webkit", a1.ID)
	out = f.must("client", "run", f.state, "--once", "--auto-install")
	if !strings.Contains(out, "installed webkit: webkit-26.3-a -> webkit 26.3 (b) webkit-26.3-b") {
		t.Errorf("run --auto-install:\n%s", out)
	}
	f.wantCurrent("webkit", a2.ID)

	// Withdrawn: check reports the rollback, install --all does it.
	a2w := improvement("webkit", "26.3", 2, func(m *manifest.Manifest) {
		m.Status, m.WithdrawnReason = manifest.StatusWithdrawn, "crashes video playback"
	})
	f.publish(a2w)
	out = f.must("client", "check", f.state)
	if !strings.Contains(out, "rollback") || !strings.Contains(out, "crashes video playback") {
		t.Errorf("check after withdrawal:\n%s", out)
	}
	f.must("client", "install", f.state, "--all")
	f.wantCurrent("webkit", a1.ID)

	// The user removes safari's improvement; converging leaves it out.
	out = f.must("client", "rollback", f.state, s1.ID)
	if !strings.Contains(out, "rolled back safari: safari-26.3-a -> baseline") {
		t.Errorf("rollback output:\n%s", out)
	}
	f.must("client", "install", f.state, "--all")
	f.wantCurrent("safari", "")
	out = f.must("client", "status", f.state)
	if !strings.Contains(out, "safari-26.3-a is declined") {
		t.Errorf("status does not show the decline:\n%s", out)
	}
	// Named, it comes back.
	f.must("client", "install", f.state, s1.ID)
	f.wantCurrent("safari", s1.ID)

	// The device moves to 26.4: 26.3 improvements are retired.
	f.must("client", "set-release", f.state, "26.4", "--build", "25E1")
	out = f.must("client", "install", f.state, "--all")
	if !strings.Contains(out, "retired webkit: webkit-26.3-a -> webkit 26.4 (a) webkit-26.4-a") ||
		!strings.Contains(out, "retired safari: safari-26.3-a -> baseline") {
		t.Errorf("install after release change:\n%s", out)
	}
	f.wantCurrent("webkit", "webkit-26.4-a")
	f.wantCurrent("safari", "")

	var st statusJSON
	if err := json.Unmarshal([]byte(f.must("client", "status", f.state, "--json")), &st); err != nil {
		t.Fatal(err)
	}
	if st.Device.Release != "26.4" || len(st.Installed) != 1 || st.Installed[0].Label != "26.4 (a)" || len(st.History) == 0 {
		t.Errorf("status --json = %+v", st)
	}
}

func TestClientInitRefusals(t *testing.T) {
	f := newClientFixture(t, clientStart)
	f.init()
	f.want(1, "exists and is not empty", "client", "init", f.state, "--root", f.root, "--url", f.repo.URL(),
		"--platform", "macos", "--release", "26.3")
	f.want(2, "missing --platform", "client", "init", t.TempDir(), "--root", f.root, "--url", f.repo.URL(), "--release", "26.3")

	// A root whose signature does not verify: exit 3, nothing written.
	bad := bytes.Replace(f.repo.RootJSON(), []byte(`"consistent_snapshot": true`), []byte(`"consistent_snapshot": false`), 1)
	if bytes.Equal(bad, f.repo.RootJSON()) {
		t.Fatal("test root not modified")
	}
	badFile := filepath.Join(t.TempDir(), "root.json")
	os.WriteFile(badFile, bad, 0o644)
	state := filepath.Join(t.TempDir(), "s")
	f.want(3, "root", "client", "init", state, "--root", badFile, "--url", f.repo.URL(), "--platform", "macos", "--release", "26.3")
	if _, err := os.Stat(state); !os.IsNotExist(err) {
		t.Errorf("state %s exists after a failed init: %v", state, err)
	}
	f.want(2, "give either IDs or --all", "client", "install", f.state)
	f.want(1, "not a bsi client state directory", "client", "check", t.TempDir())
}

func TestClientExitCodes(t *testing.T) {
	f := newClientFixture(t, clientStart)
	f.publish(improvement("webkit", "26.3", 1))
	f.init()

	// Network: exit 1, naming the URL; nothing installed.
	f.repo.Intercept(func(w http.ResponseWriter, r *http.Request) bool {
		http.Error(w, "down", http.StatusBadGateway)
		return true
	})
	f.want(1, f.repo.URL(), "client", "install", f.state, "--all", "--retries", "0")
	f.want(1, f.repo.URL(), "client", "check", f.state, "--retries", "0")

	// Forged payload: exit 3, nothing installed.
	f.repo.Intercept(func(w http.ResponseWriter, r *http.Request) bool {
		if !strings.HasPrefix(r.URL.Path, "/targets/") {
			return false
		}
		w.Write(testrepo.TarGz(map[string]string{"lib/webkit.txt": "evil\n"}))
		return true
	})
	f.want(3, "download webkit/webkit-26.3-a.tar.gz", "client", "install", f.state, "--all")
	f.wantCurrent("webkit", "")
	f.repo.Intercept(nil)

	// Manifest/role mismatch: exit 3 on check and install.
	evil := improvement("safari", "26.3", 1, func(m *manifest.Manifest) { m.ID = "webkit-evil" })
	custom, _ := evil.Custom()
	f.repo.AddTarget("webkit", "webkit/webkit-evil.tar.gz", testrepo.TarGz(map[string]string{"x": "y"}), custom)
	f.repo.Publish()
	out := f.want(3, "differs from signing role", "client", "check", f.state)
	if !strings.Contains(out, "REJECTED webkit/webkit-evil.tar.gz") {
		t.Errorf("check output does not show the rejection:\n%s", out)
	}
	out = f.want(3, "differs from signing role", "client", "install", f.state, "--all")
	if !strings.Contains(out, "nothing to do") {
		t.Errorf("install with webkit blocked did something:\n%s", out)
	}
	f.wantCurrent("webkit", "")
	f.repo.RemoveTarget("webkit", "webkit/webkit-evil.tar.gz")
	f.repo.Publish()

	// Freeze: the timestamp expires and is not renewed: exit 4.
	f.advance(25 * time.Hour)
	f.want(4, "expired", "client", "install", f.state, "--all")
	f.wantCurrent("webkit", "")
	out = f.must("client", "status", f.state)
	if !strings.Contains(out, "failed (freshness)") {
		t.Errorf("status after a freeze:\n%s", out)
	}
	// Publishing again lifts it.
	f.repo.Publish()
	f.must("client", "install", f.state, "--all")
	f.wantCurrent("webkit", "webkit-26.3-a")
}

func TestClientRunStopsOnCancel(t *testing.T) {
	f := newClientFixture(t, clientStart)
	f.publish(improvement("webkit", "26.3", 1))
	f.init()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if code, out, errOut := f.bsi(ctx, "client", "run", f.state, "--interval", "1h"); code != 0 || out != "" {
		t.Errorf("run with a cancelled context: exit %d, %q %q", code, out, errOut)
	}
	// Long enough for two rounds even on a loaded machine; the loop itself
	// waits 5ms between rounds.
	ctx, cancel = context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	code, out, errOut := f.bsi(ctx, "client", "run", f.state, "--interval", "5ms", "--jitter", "1ms", "--auto-install", "--json")
	if code != 0 {
		t.Fatalf("run: exit %d\n%s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 2 || !strings.Contains(lines[0], `"done":["installed webkit`) {
		t.Errorf("run rounds:\n%s", out)
	}
	f.wantCurrent("webkit", "webkit-26.3-a")
	f.want(2, "--interval must be positive", "client", "run", f.state)
}

func TestClientHealthCommand(t *testing.T) {
	f := newClientFixture(t, clientStart)
	f.publish(improvement("webkit", "26.3", 1))
	f.init()
	f.want(1, "health", "client", "install", f.state, "--all", "--health-cmd", `test "$BSI_ID" != webkit-26.3-a`)
	f.wantCurrent("webkit", "")
	f.must("client", "install", f.state, "webkit-26.3-a", "--health-cmd", `test -f "$BSI_DIR/lib/webkit.txt"`)
	f.wantCurrent("webkit", "webkit-26.3-a")
}

// TestClientHealthFailureSaidOnce: a failed health check is said once, with
// its cause, and the final error line names the failed component instead
// of repeating the cause (issue 18: the same cause was printed four times).
func TestClientHealthFailureSaidOnce(t *testing.T) {
	f := newClientFixture(t, clientStart)
	f.publish(improvement("webkit", "26.3", 1))
	f.init()
	code, _, errOut := f.bsi(context.Background(), "client", "install", f.state, "--all", "--health-cmd", `exit 7`)
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, errOut)
	}
	if n := strings.Count(errOut, "exit status 7"); n != 1 {
		t.Errorf("the cause is printed %d times, want once:\n%s", n, errOut)
	}
	if strings.Contains(errOut, "install webkit: install webkit") {
		t.Errorf("the action is named twice:\n%s", errOut)
	}
	if !strings.Contains(errOut, "bsi: error: 1 change(s) failed (webkit)") {
		t.Errorf("no summary line naming webkit:\n%s", errOut)
	}
}
