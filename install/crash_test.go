//go:build unix

package install

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The crash tests run an operation in a child process (this test binary,
// re-executed into TestHelperProcess) that sends itself SIGKILL at its Nth
// durable step, for N = 1, 2, ... until the operation completes without
// reaching N. After each kill, the parent runs Recover and requires the
// tree to be exactly the old or the new one, with nothing temporary left.

const helperEnv = "BSI_INSTALL_CRASH_HELPER"

// crashOp is what the helper process does: BSI_OP is install, rollback,
// remove or recover; BSI_CRASH_AT is the step to be killed at (0: never).
type crashOp struct {
	root, op, component, id, payload, health string
	keep                                     bool
	crashAt                                  int
}

func (c crashOp) env() []string {
	return append(os.Environ(), helperEnv+"=1",
		"BSI_ROOT="+c.root, "BSI_OP="+c.op, "BSI_COMPONENT="+c.component, "BSI_ID="+c.id,
		"BSI_PAYLOAD="+c.payload, "BSI_HEALTH="+c.health, "BSI_KEEP="+strconv.FormatBool(c.keep),
		"BSI_CRASH_AT="+strconv.Itoa(c.crashAt),
		// The race detector otherwise sleeps a second before each exit.
		"GORACE="+os.Getenv("GORACE")+" atexit_sleep_ms=0")
}

// healthFunc returns the health check named by a scenario: "" (none),
// "ok" (the version directory must hold its own VERSION) or "fail".
func healthFunc(name string) func(context.Context, string, string, string) error {
	switch name {
	case "ok":
		return func(_ context.Context, _, id, dir string) error {
			data, err := os.ReadFile(filepath.Join(dir, "VERSION"))
			if err == nil && string(data) != id {
				err = fmt.Errorf("VERSION is %q", data)
			}
			return err
		}
	case "fail":
		return func(context.Context, string, string, string) error { return errors.New("unhealthy") }
	}
	return nil
}

func (c crashOp) run(ctx context.Context, in *Installer) error {
	switch c.op {
	case "install":
		return in.Install(ctx, c.component, c.id, c.payload)
	case "rollback":
		return in.Rollback(ctx, c.component, c.id)
	case "remove":
		return in.Remove(ctx, c.component, c.id)
	case "recover":
		_, err := in.Recover(ctx)
		return err
	}
	return fmt.Errorf("unknown op %q", c.op)
}

// TestHelperProcess is the child of the crash tests; it does nothing in a
// normal test run.
func TestHelperProcess(t *testing.T) {
	if os.Getenv(helperEnv) != "1" {
		t.Skip("helper process of the crash tests")
	}
	keep, _ := strconv.ParseBool(os.Getenv("BSI_KEEP"))
	crashAt, _ := strconv.Atoi(os.Getenv("BSI_CRASH_AT"))
	c := crashOp{op: os.Getenv("BSI_OP"), component: os.Getenv("BSI_COMPONENT"), id: os.Getenv("BSI_ID"),
		payload: os.Getenv("BSI_PAYLOAD")}
	steps := 0
	in, err := New(Options{Root: os.Getenv("BSI_ROOT"), KeepPrevious: keep, Health: healthFunc(os.Getenv("BSI_HEALTH")),
		stepHook: func(string) {
			steps++
			if steps == crashAt {
				_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
				select {} // the signal is on its way
			}
		}})
	if err == nil {
		err = c.run(context.Background(), in)
	}
	fmt.Printf("steps=%d err=%v\n", steps, err)
	os.Exit(0)
}

// runChild runs c in a child process and reports whether it was killed.
func runChild(t *testing.T, c crashOp) (killed bool) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = c.env()
	out, err := cmd.CombinedOutput()
	if err == nil {
		return false
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
			return true
		}
	}
	t.Fatalf("helper %s at step %d: %v\n%s", c.op, c.crashAt, err, out)
	return false
}

// fastTempDir returns a temporary directory on tmpfs when there is one:
// a kill does not lose the page cache, so the crash tests do not need the
// disk, and fsync on tmpfs costs nothing.
func fastTempDir(t *testing.T) string {
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		if dir, err := os.MkdirTemp("/dev/shm", "bsi-install-test-"); err == nil {
			t.Cleanup(func() { os.RemoveAll(dir) })
			return dir
		}
	}
	return t.TempDir()
}

type crashScenario struct {
	name   string
	keep   bool
	health string
	setup  []string // versions installed in order before the operation
	op     string   // install, rollback or remove
	id     string   // version to install or roll back to
	// nested also crashes the Recover that follows the first kill in each
	// journal state, at each of its own steps.
	nested bool
}

func TestCrashAtEveryStep(t *testing.T) {
	if testing.Short() {
		t.Skip("crash tests start many processes")
	}
	payloads := t.TempDir()
	for _, id := range []string{"a", "b", "c", "z"} {
		payloadFor(t, payloads, id)
	}
	for _, sc := range []crashScenario{
		{name: "first install", op: "install", id: "a"},
		{name: "install over a", setup: []string{"a"}, op: "install", id: "b", health: "ok"},
		{name: "install keeping previous", keep: true, setup: []string{"z", "a"}, op: "install", id: "b"},
		{name: "reinstall kept version", keep: true, setup: []string{"a", "b"}, op: "install", id: "a"},
		{name: "health check fails", setup: []string{"a"}, op: "install", id: "b", health: "fail", nested: true},
		{name: "rollback to kept", keep: true, setup: []string{"a", "b"}, op: "rollback", id: "a", nested: true},
		{name: "rollback to baseline", setup: []string{"a"}, op: "rollback", id: ""},
		{name: "remove kept version", keep: true, setup: []string{"a", "b"}, op: "remove", id: "a"},
	} {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			sc.run(t, payloads)
		})
	}
}

// prepare makes a fresh root with the scenario's versions installed: the
// first time by installing them, then by copying that template.
func (sc crashScenario) prepare(t *testing.T, root, payloads string) (*Installer, crashOp) {
	t.Helper()
	in := newInstaller(t, Options{Root: root, KeepPrevious: sc.keep, Health: healthFunc(sc.health)})
	op := crashOp{root: root, op: sc.op, component: "webkit", id: sc.id,
		payload: filepath.Join(payloads, sc.id+".tar.gz"), health: sc.health, keep: sc.keep}
	template := filepath.Join(payloads, "template-"+sc.name)
	if _, err := os.Stat(template); err == nil {
		copyTree(t, template, root)
		return in, op
	}
	setup := newInstaller(t, Options{Root: template, KeepPrevious: sc.keep})
	for _, id := range sc.setup {
		if err := setup.Install(context.Background(), "webkit", id, filepath.Join(payloads, id+".tar.gz")); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(setup.stateDir(), 0o755); err != nil {
		t.Fatal(err)
	}
	copyTree(t, template, root)
	return in, op
}

// copyTree copies directories, regular files (with their modes) and
// symbolic links from src to dst, which must not exist.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(link, target)
		case d.IsDir():
			if err := os.Mkdir(target, 0o755); err != nil {
				return err
			}
			return os.Chmod(target, info.Mode().Perm())
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if err := os.WriteFile(target, data, 0o600); err != nil {
			return err
		}
		return os.Chmod(target, info.Mode().Perm())
	})
	if err != nil {
		t.Fatal(err)
	}
}

func (sc crashScenario) run(t *testing.T, payloads string) {
	ctx := context.Background()
	base := fastTempDir(t)
	ref, op := sc.prepare(t, filepath.Join(base, "ref"), payloads)
	oldTree := snapshot(t, ref.Root())
	err := op.run(ctx, ref)
	if _, ok := err.(*HealthError); err != nil && !(ok && sc.health == "fail") {
		t.Fatalf("reference %s: %v", sc.op, err)
	}
	newTree := snapshot(t, ref.Root())
	seenStates := map[string]bool{}
	sawNew := false
	for n := 1; ; n++ {
		if n > 500 {
			t.Fatal("operation does not complete")
		}
		in, op := sc.prepare(t, filepath.Join(base, strconv.Itoa(n)), payloads)
		op.crashAt = n
		if !runChild(t, op) {
			checkTreeIs(t, in, n, "completed", newTree, newTree)
			if n < 3 {
				t.Fatalf("completed after %d steps", n-1)
			}
			t.Logf("%d steps", n-1)
			return
		}
		state := journalState(t, in)
		if sc.nested && !seenStates[state] {
			seenStates[state] = true
			sc.crashRecover(t, in, base, n, oldTree, newTree)
		}
		rec, err := in.Recover(ctx)
		if err != nil {
			t.Fatalf("step %d (%s): Recover: %v", n, state, err)
		}
		isNew := checkTreeIs(t, in, n, state, oldTree, newTree)
		if sawNew && !isNew && !cmp.Equal(oldTree, newTree) {
			t.Errorf("step %d: back to the old state after the new one was reached at an earlier step", n)
		}
		sawNew = sawNew || isNew
		if again, err := in.Recover(ctx); err != nil || again.Action != NothingPending || len(again.Removed) > 0 {
			t.Errorf("step %d: second Recover = %v, %v (first: %v)", n, again, err, rec)
		}
	}
}

// crashRecover takes the state left by the crash at step n (in the root
// of crashed), and kills a Recover of a copy of it at each of its steps m;
// the next Recover must still end in the old or the new state.
func (sc crashScenario) crashRecover(t *testing.T, crashed *Installer, base string, n int, oldTree, newTree map[string]string) {
	for m := 1; m <= 200; m++ {
		root := filepath.Join(base, fmt.Sprintf("%d.%d", n, m))
		copyTree(t, crashed.Root(), root)
		in := newInstaller(t, Options{Root: root, KeepPrevious: sc.keep, Health: healthFunc(sc.health)})
		if !runChild(t, crashOp{root: root, op: "recover", health: sc.health, crashAt: m}) {
			return
		}
		if _, err := in.Recover(context.Background()); err != nil {
			t.Fatalf("step %d, recover step %d: Recover: %v", n, m, err)
		}
		checkTreeIs(t, in, n, fmt.Sprintf("recover killed at %d", m), oldTree, newTree)
	}
	t.Fatal("Recover does not complete")
}

// checkTreeIs requires the tree to be oldTree or newTree, and the state
// directory to hold no journal; it reports whether it is the new one.
func checkTreeIs(t *testing.T, in *Installer, n int, state string, oldTree, newTree map[string]string) bool {
	t.Helper()
	checkStateDir(t, in.Root())
	got := snapshot(t, in.Root())
	switch {
	case cmp.Equal(got, newTree):
		return true
	case cmp.Equal(got, oldTree):
		return false
	}
	t.Fatalf("step %d (%s): tree is neither old nor new\nold (-want +got):\n%s\nnew (-want +got):\n%s",
		n, state, cmp.Diff(oldTree, got), cmp.Diff(newTree, got))
	return false
}

// journalState returns the state recorded in the journal, or "no journal".
func journalState(t *testing.T, in *Installer) string {
	j, err := in.readJournal()
	if err != nil {
		t.Fatal(err)
	}
	if j == nil {
		return "no journal"
	}
	return j.Op + " " + j.State
}
