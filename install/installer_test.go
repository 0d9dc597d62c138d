package install

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// versionTree is what snapshot shows for payloadFor(id) installed under
// component at versions/<id>.
func versionTree(component, id string) map[string]string {
	p := component + "/versions/" + id
	return map[string]string{
		p:                      "dir 755",
		p + "/VERSION":         "file 644 " + id,
		p + "/bin":             "dir 755",
		p + "/bin/tool":        "file 755 #!/bin/sh\necho " + id + "\n",
		p + "/lib":             "dir 755",
		p + "/lib/libfoo.so.1": "file 644 foo " + id,
		p + "/lib/libfoo.so":   "link libfoo.so.1",
	}
}

// tree builds the expected snapshot of one component: current (or none)
// and the given versions.
func tree(component, current string, versions ...string) map[string]string {
	m := map[string]string{component: "dir 755", component + "/versions": "dir 755"}
	if current != "" {
		m[component+"/current"] = "link versions/" + current
	}
	for _, v := range versions {
		for k, val := range versionTree(component, v) {
			m[k] = val
		}
	}
	return m
}

func checkTree(t *testing.T, in *Installer, want map[string]string) {
	t.Helper()
	if diff := cmp.Diff(want, snapshot(t, in.Root())); diff != "" {
		t.Errorf("tree (-want +got):\n%s", diff)
	}
	checkStateDir(t, in.Root())
}

func checkCurrent(t *testing.T, in *Installer, component, wantID string, wantOK bool) {
	t.Helper()
	id, ok, err := in.Current(component)
	if err != nil || id != wantID || ok != wantOK {
		t.Errorf("Current(%s) = %q, %v, %v; want %q, %v", component, id, ok, err, wantID, wantOK)
	}
}

func TestInstallAndRollbackKeepingPrevious(t *testing.T) {
	ctx := context.Background()
	payloads := t.TempDir()
	in := newInstaller(t, Options{KeepPrevious: true})
	checkCurrent(t, in, "webkit", "", false)

	if err := in.Install(ctx, "webkit", "26.3-a", payloadFor(t, payloads, "26.3-a")); err != nil {
		t.Fatal(err)
	}
	checkTree(t, in, tree("webkit", "26.3-a", "26.3-a"))
	checkCurrent(t, in, "webkit", "26.3-a", true)

	if err := in.Install(ctx, "webkit", "26.3-b", payloadFor(t, payloads, "26.3-b")); err != nil {
		t.Fatal(err)
	}
	checkTree(t, in, tree("webkit", "26.3-b", "26.3-a", "26.3-b"))
	if got, err := in.Versions("webkit"); err != nil || !cmp.Equal(got, []string{"26.3-a", "26.3-b"}) {
		t.Errorf("Versions = %v, %v", got, err)
	}
	// The installed tree works: the symlink resolves through current.
	data, err := os.ReadFile(filepath.Join(in.Root(), "webkit/current/lib/libfoo.so"))
	if err != nil || string(data) != "foo 26.3-b" {
		t.Errorf("read through current = %q, %v", data, err)
	}

	// A third install keeps only the version it replaces.
	if err := in.Install(ctx, "webkit", "26.3-c", payloadFor(t, payloads, "26.3-c")); err != nil {
		t.Fatal(err)
	}
	checkTree(t, in, tree("webkit", "26.3-c", "26.3-b", "26.3-c"))

	if err := in.Rollback(ctx, "webkit", "26.3-b"); err != nil {
		t.Fatal(err)
	}
	checkTree(t, in, tree("webkit", "26.3-b", "26.3-b"))

	if err := in.Rollback(ctx, "webkit", ""); err != nil {
		t.Fatal(err)
	}
	checkTree(t, in, tree("webkit", ""))
	checkCurrent(t, in, "webkit", "", false)
	if got, err := in.Versions("webkit"); err != nil || len(got) != 0 {
		t.Errorf("Versions after rollback to baseline = %v, %v", got, err)
	}
}

func TestInstallRemovesPrevious(t *testing.T) {
	ctx := context.Background()
	payloads := t.TempDir()
	in := newInstaller(t, Options{})
	for _, id := range []string{"1", "2"} {
		if err := in.Install(ctx, "libxml", id, payloadFor(t, payloads, id)); err != nil {
			t.Fatal(err)
		}
	}
	checkTree(t, in, tree("libxml", "2", "2"))
	// Installing what is current again changes nothing.
	if err := in.Install(ctx, "libxml", "2", filepath.Join(payloads, "missing")); err != nil {
		t.Fatalf("reinstall of current: %v", err)
	}
	checkTree(t, in, tree("libxml", "2", "2"))
	if got, err := in.Components(); err != nil || !cmp.Equal(got, []string{"libxml"}) {
		t.Errorf("Components = %v, %v", got, err)
	}
}

// TestReinstallKeptVersion installs a version that is present but not
// current: the stale copy is replaced by a fresh extraction.
func TestReinstallKeptVersion(t *testing.T) {
	ctx := context.Background()
	payloads := t.TempDir()
	in := newInstaller(t, Options{KeepPrevious: true})
	for _, id := range []string{"a", "b"} {
		if err := in.Install(ctx, "c", id, payloadFor(t, payloads, id)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(in.VersionDir("c", "a"), "VERSION"), []byte("tampered"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := in.Install(ctx, "c", "a", filepath.Join(payloads, "a.tar.gz")); err != nil {
		t.Fatal(err)
	}
	checkTree(t, in, tree("c", "a", "a", "b"))
}

func TestRollbackErrors(t *testing.T) {
	ctx := context.Background()
	in := newInstaller(t, Options{})
	if err := in.Install(ctx, "webkit", "1", payloadFor(t, t.TempDir(), "1")); err != nil {
		t.Fatal(err)
	}
	err := in.Rollback(ctx, "webkit", "0")
	if nie, ok := errors.AsType[*NotInstalledError](err); !ok || nie.ID != "0" || nie.Component != "webkit" {
		t.Errorf("Rollback to missing version = %v; want *NotInstalledError", err)
	}
	// Rolling back to what is current, or to the baseline twice, is a no-op.
	for _, to := range []string{"1", ""} {
		if err := in.Rollback(ctx, "webkit", to); err != nil {
			t.Fatalf("Rollback(%q) = %v", to, err)
		}
	}
	if err := in.Rollback(ctx, "webkit", ""); err != nil {
		t.Fatalf("second rollback to baseline = %v", err)
	}
	checkTree(t, in, tree("webkit", ""))
}

func TestRemove(t *testing.T) {
	ctx := context.Background()
	payloads := t.TempDir()
	in := newInstaller(t, Options{KeepPrevious: true})
	for _, id := range []string{"1", "2"} {
		if err := in.Install(ctx, "webkit", id, payloadFor(t, payloads, id)); err != nil {
			t.Fatal(err)
		}
	}
	if err := in.Remove(ctx, "webkit", "2"); err == nil || !strings.Contains(err.Error(), "current") {
		t.Errorf("Remove of current = %v", err)
	}
	if err := in.Remove(ctx, "webkit", "1"); err != nil {
		t.Fatal(err)
	}
	if _, ok := errors.AsType[*NotInstalledError](in.Remove(ctx, "webkit", "1")); !ok {
		t.Error("second Remove: want *NotInstalledError")
	}
	checkTree(t, in, tree("webkit", "2", "2"))
}

func TestNamesAreValidated(t *testing.T) {
	ctx := context.Background()
	payload := payloadFor(t, t.TempDir(), "1")
	in := newInstaller(t, Options{})
	for _, tc := range []struct{ component, id string }{
		{"WebKit", "1"}, {"../x", "1"}, {"a/b", "1"}, {"", "1"}, {".bsi", "1"}, {"a..b", "1"},
		{"webkit", "-1"}, {"webkit", "1/2"}, {"webkit", ".."}, {"webkit", "1..2"}, {"webkit", ""},
		{"webkit", "A"}, {"webkit", strings.Repeat("1", 129)}, {"webkit", "1\x00"},
	} {
		err := in.Install(ctx, tc.component, tc.id, payload)
		ne, ok := errors.AsType[*NameError](err)
		if !ok {
			t.Errorf("Install(%q, %q) = %v; want *NameError", tc.component, tc.id, err)
			continue
		}
		if !strings.Contains(err.Error(), "invalid") || (ne.Name != tc.component && ne.Name != tc.id) {
			t.Errorf("Install(%q, %q): error %q", tc.component, tc.id, err)
		}
		if tc.id != "" {
			if _, ok := errors.AsType[*NameError](in.Rollback(ctx, tc.component, tc.id)); !ok {
				t.Errorf("Rollback(%q, %q) did not refuse the name", tc.component, tc.id)
			}
		}
	}
	if _, err := os.Stat(in.Root()); !os.IsNotExist(err) {
		t.Errorf("root was created: %v", err)
	}
	for _, good := range []string{"webkit", "26.3", "1.0+deb12u1", "0ad", "a-b.c"} {
		if !ValidComponent(good) || !ValidID(good) {
			t.Errorf("%q refused", good)
		}
	}
}

func TestHealthFailureUndoesSwitch(t *testing.T) {
	ctx := context.Background()
	payloads := t.TempDir()
	var checked []string
	bad := errors.New("renderer crashed")
	health := func(_ context.Context, component, id, dir string) error {
		data, err := os.ReadFile(filepath.Join(dir, "VERSION"))
		if err != nil || string(data) != id {
			t.Errorf("health check of %s sees VERSION %q, %v", id, data, err)
		}
		checked = append(checked, component+" "+id)
		if id == "2" || id == "first" {
			return bad
		}
		return nil
	}
	in := newInstaller(t, Options{Health: health})
	if err := in.Install(ctx, "webkit", "1", payloadFor(t, payloads, "1")); err != nil {
		t.Fatal(err)
	}
	err := in.Install(ctx, "webkit", "2", payloadFor(t, payloads, "2"))
	he, ok := errors.AsType[*HealthError](err)
	if !ok || he.Component != "webkit" || he.ID != "2" || he.From != "1" || !errors.Is(err, bad) {
		t.Fatalf("Install = %v; want *HealthError wrapping the health error", err)
	}
	for _, s := range []string{"webkit", "2", "renderer crashed", "switched back to 1"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not mention %q", err, s)
		}
	}
	checkTree(t, in, tree("webkit", "1", "1"))

	// A failing first install leaves no trace of the component.
	if _, ok := errors.AsType[*HealthError](in.Install(ctx, "libpng", "first", payloadFor(t, payloads, "first"))); !ok {
		t.Fatal("first install: want *HealthError")
	}
	checkTree(t, in, tree("webkit", "1", "1"))
	if want := []string{"webkit 1", "webkit 2", "libpng first"}; !cmp.Equal(checked, want) {
		t.Errorf("health checks %v; want %v", checked, want)
	}
}

// TestConcurrentOperationIsBusy holds the lock in one Installer (inside its
// health check) while a second one tries to change the same root.
func TestConcurrentOperationIsBusy(t *testing.T) {
	ctx := context.Background()
	payloads := t.TempDir()
	root := filepath.Join(t.TempDir(), "root")
	other := newInstaller(t, Options{Root: root})
	var inner error
	in := newInstaller(t, Options{Root: root, Health: func(context.Context, string, string, string) error {
		ctx, cancel := context.WithCancel(ctx)
		cancel() // do not wait for the lock
		inner = other.Install(ctx, "libpng", "1", payloadFor(t, payloads, "1"))
		return nil
	}})
	if err := in.Install(ctx, "webkit", "1", payloadFor(t, payloads, "1")); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(inner, ErrBusy) {
		t.Errorf("concurrent Install = %v; want ErrBusy", inner)
	}
	if err := other.Install(ctx, "libpng", "1", payloadFor(t, payloads, "1")); err != nil {
		t.Errorf("Install after the lock was released: %v", err)
	}
}

// crashAt returns a step hook that panics at the step whose description
// starts with prefix, simulating a crash inside this process.
func crashAt(prefix string) func(string) {
	return func(step string) {
		if strings.HasPrefix(step, prefix) {
			panic("crash at " + step)
		}
	}
}

func runCrashing(t *testing.T, f func() error) {
	t.Helper()
	defer func() {
		if recover() == nil {
			t.Fatal("no crash")
		}
	}()
	_ = f()
}

func TestInterruptedInstallNeedsRecover(t *testing.T) {
	ctx := context.Background()
	payloads := t.TempDir()
	root := filepath.Join(t.TempDir(), "root")
	crashing := newInstaller(t, Options{Root: root})
	crashing.opts.stepHook = crashAt("symlink current.tmp-")
	runCrashing(t, func() error { return crashing.Install(ctx, "webkit", "1", payloadFor(t, payloads, "1")) })

	in := newInstaller(t, Options{Root: root})
	if err := in.Install(ctx, "webkit", "2", payloadFor(t, payloads, "2")); !errors.Is(err, ErrRecoveryNeeded) {
		t.Errorf("Install with a pending journal = %v; want ErrRecoveryNeeded", err)
	}
	if err := in.Rollback(ctx, "webkit", ""); !errors.Is(err, ErrRecoveryNeeded) {
		t.Errorf("Rollback with a pending journal = %v; want ErrRecoveryNeeded", err)
	}
	rec, err := in.Recover(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := Recovered{Action: RolledForward, Op: "install", Component: "webkit", ID: "1"}
	if diff := cmp.Diff(want, rec); diff != "" {
		t.Errorf("Recovered (-want +got):\n%s", diff)
	}
	if got := rec.String(); got != "rolled forward: install of webkit 1 (from baseline)" {
		t.Errorf("String() = %q", got)
	}
	checkTree(t, in, tree("webkit", "1", "1"))
	if rec, err := in.Recover(ctx); err != nil || rec.Action != NothingPending {
		t.Errorf("second Recover = %v, %v", rec, err)
	}
}

func TestInterruptedExtractionIsUndone(t *testing.T) {
	ctx := context.Background()
	payloads := t.TempDir()
	root := filepath.Join(t.TempDir(), "root")
	crashing := newInstaller(t, Options{Root: root})
	crashing.opts.stepHook = crashAt("write lib/")
	runCrashing(t, func() error { return crashing.Install(ctx, "webkit", "1", payloadFor(t, payloads, "1")) })

	in := newInstaller(t, Options{Root: root})
	rec, err := in.Recover(ctx)
	if err != nil || rec.Action != RolledBack {
		t.Fatalf("Recover = %v, %v; want rolled back", rec, err)
	}
	checkTree(t, in, map[string]string{})
}

func TestRecoverRunsHealthCheck(t *testing.T) {
	ctx := context.Background()
	payloads := t.TempDir()
	root := filepath.Join(t.TempDir(), "root")
	in := newInstaller(t, Options{Root: root})
	if err := in.Install(ctx, "webkit", "1", payloadFor(t, payloads, "1")); err != nil {
		t.Fatal(err)
	}
	in.opts.stepHook = crashAt("rename temp to")
	runCrashing(t, func() error { return in.Install(ctx, "webkit", "2", payloadFor(t, payloads, "2")) })

	bad := errors.New("unhealthy")
	in = newInstaller(t, Options{Root: root, Health: func(context.Context, string, string, string) error { return bad }})
	rec, err := in.Recover(ctx)
	if err != nil || rec.Action != RolledBack || !errors.Is(rec.Cause, bad) {
		t.Fatalf("Recover = %+v, %v; want rolled back because of the health check", rec, err)
	}
	checkTree(t, in, tree("webkit", "1", "1"))
}

func TestRecoverRemovesLeftovers(t *testing.T) {
	ctx := context.Background()
	in := newInstaller(t, Options{})
	if err := in.Install(ctx, "webkit", "1", payloadFor(t, t.TempDir(), "1")); err != nil {
		t.Fatal(err)
	}
	leftovers := []string{"webkit/versions/.tmp-2-abc", "webkit/versions/.trash-0-def"}
	for _, d := range leftovers {
		if err := os.MkdirAll(filepath.Join(in.Root(), d, "sub"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("versions/2", filepath.Join(in.Root(), "webkit/current.tmp-123")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(in.Root(), ".bsi/journal.json.tmp-1"), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	rec, err := in.Recover(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := Recovered{Action: NothingPending, Removed: []string{
		".bsi/journal.json.tmp-1", "webkit/current.tmp-123", leftovers[0], leftovers[1]}}
	if diff := cmp.Diff(want, rec); diff != "" {
		t.Errorf("Recovered (-want +got):\n%s", diff)
	}
	checkTree(t, in, tree("webkit", "1", "1"))
}

func TestRecoverRefusesDamagedJournal(t *testing.T) {
	for name, content := range map[string]string{
		"not json":        "{",
		"unknown field":   `{"op":"install","component":"webkit","id":"1","temp":".tmp-1-a","state":"extracting","x":1}`,
		"temp elsewhere":  `{"op":"install","component":"webkit","id":"1","temp":"../../etc","state":"extracting"}`,
		"bad component":   `{"op":"rollback","component":"../etc","from":"1","state":"switching"}`,
		"unknown state":   `{"op":"install","component":"webkit","id":"1","temp":".tmp-1-a","state":"done"}`,
		"rollback from ?": `{"op":"rollback","component":"webkit","state":"switching"}`,
		"install current": `{"op":"install","component":"webkit","id":"1","from":"1","temp":".tmp-1-a","state":"extracted"}`,
	} {
		t.Run(name, func(t *testing.T) {
			in := newInstaller(t, Options{})
			if err := os.MkdirAll(in.stateDir(), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(in.journalPath(), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := in.Recover(context.Background())
			if _, ok := errors.AsType[*JournalError](err); !ok {
				t.Errorf("Recover = %v; want *JournalError", err)
			}
			if _, err := os.Stat(in.journalPath()); err != nil {
				t.Errorf("journal was removed: %v", err)
			}
		})
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	if _, err := New(Options{}); err == nil {
		t.Error("New without a root succeeded")
	}
	if _, err := New(Options{Root: t.TempDir(), Limits: Limits{MaxEntries: -1}}); err == nil {
		t.Error("New with a negative limit succeeded")
	}
}

func TestWithLimits(t *testing.T) {
	in := newInstaller(t, Options{})
	payload := writePayload(t, t.TempDir(), "p.tar.gz", file("a", strings.Repeat("x", 100)))
	err := in.WithLimits(Limits{MaxTotalSize: 99}).Install(context.Background(), "c", "1", payload)
	if ae, ok := errors.AsType[*ArchiveError](err); !ok || ae.Problem != ProblemTooLarge {
		t.Errorf("Install with a lowered limit = %v; want %q", err, ProblemTooLarge)
	}
	if err := in.Install(context.Background(), "c", "1", payload); err != nil {
		t.Errorf("Install with default limits = %v", err)
	}
}

func TestJournalRecordsIntent(t *testing.T) {
	ctx := context.Background()
	payloads := t.TempDir()
	in := newInstaller(t, Options{KeepPrevious: true})
	if err := in.Install(ctx, "webkit", "26.3-a", payloadFor(t, payloads, "26.3-a")); err != nil {
		t.Fatal(err)
	}
	in.opts.stepHook = crashAt("mkdir")
	runCrashing(t, func() error { return in.Install(ctx, "webkit", "26.3-b", payloadFor(t, payloads, "26.3-b")) })
	j, err := in.readJournal()
	if err != nil || j == nil {
		t.Fatalf("readJournal = %v, %v", j, err)
	}
	tmp := "versions/" + j.Temp
	want := &journal{Op: "install", Component: "webkit", ID: "26.3-b", From: "26.3-a", Temp: j.Temp,
		KeepPrevious: true, State: "extracting", Steps: []string{
			"extract and sync " + tmp, "rename " + tmp + " to versions/26.3-b",
			"switch current to versions/26.3-b", "health check", "remove other versions"}}
	if diff := cmp.Diff(want, j); diff != "" {
		t.Errorf("journal (-want +got):\n%s", diff)
	}
	if !strings.HasPrefix(j.Temp, ".tmp-26.3-b-") {
		t.Errorf("temp %q", j.Temp)
	}
}

// TestInstallErrorUndoes makes the rename of the complete temporary
// directory fail (versions/2 appears, not empty, just before it): Install
// returns the error having undone itself, with no journal, temporary
// directory or new version left, and the same Install then succeeds.
func TestInstallErrorUndoes(t *testing.T) {
	ctx := context.Background()
	payloads := t.TempDir()
	in := newInstaller(t, Options{})
	if err := in.Install(ctx, "webkit", "1", payloadFor(t, payloads, "1")); err != nil {
		t.Fatal(err)
	}
	in.opts.stepHook = func(step string) {
		if strings.HasPrefix(step, "rename temp to") {
			if err := os.MkdirAll(filepath.Join(in.VersionDir("webkit", "2"), "in-the-way"), 0o755); err != nil {
				t.Error(err)
			}
		}
	}
	err := in.Install(ctx, "webkit", "2", payloadFor(t, payloads, "2"))
	if err == nil {
		t.Fatal("Install succeeded with versions/2 in the way")
	}
	if pending, perr := in.Pending(); pending || perr != nil {
		t.Errorf("after the failed Install: Pending = %v, %v; want an undone operation", pending, perr)
	}
	checkTree(t, in, tree("webkit", "1", "1"))
	checkStateDir(t, in.Root())
	in.opts.stepHook = nil
	if err := in.Install(ctx, "webkit", "2", payloadFor(t, payloads, "2")); err != nil {
		t.Fatalf("the next Install: %v", err)
	}
	checkTree(t, in, tree("webkit", "2", "2"))
}
