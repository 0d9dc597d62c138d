package agent

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain lets the crash tests re-execute the test binary as an agent that
// kills itself with SIGKILL at a chosen journal step.
func TestMain(m *testing.M) {
	if os.Getenv("BSI_AGENT_CRASH_STATE") != "" {
		os.Exit(crashHelper())
	}
	os.Exit(m.Run())
}

// crashHelper converges the state named in the environment, killing the
// process at the step numbered BSI_AGENT_CRASH_AT (1-based, counting agent
// journal steps and health checks).
func crashHelper() int {
	at, _ := strconv.Atoi(os.Getenv("BSI_AGENT_CRASH_AT"))
	now, err := time.Parse(time.RFC3339, os.Getenv("BSI_AGENT_CRASH_NOW"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	n := 0
	step := func(name string) {
		n++
		fmt.Fprintf(os.Stderr, "step %d: %s\n", n, name)
		if n == at {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {}
		}
	}
	opts := Options{State: os.Getenv("BSI_AGENT_CRASH_STATE"), Now: func() time.Time { return now }, step: step,
		Health: func(ctx context.Context, component, id, dir string) error { step("health " + component); return nil }}
	a, err := Open(context.Background(), opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	rep, err := a.Check(context.Background())
	if err == nil {
		_, err = a.Apply(context.Background(), rep, nil)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// TestCrashAtEveryJournalStep kills a converging agent (webkit upgraded,
// safari rolled back because withdrawn) at each step in turn; the next
// agent must find every component in its old or its new state, journal and
// install root agreeing, no temporary files left, and then converge.
func TestCrashAtEveryJournalStep(t *testing.T) {
	if testing.Short() {
		t.Skip("re-executes the test binary")
	}
	a1, a2, s1 := mf("webkit", 1), mf("webkit", 2), mf("safari", 1)
	old := map[string]string{"webkit": a1.ID, "safari": s1.ID}
	want := map[string]string{"webkit": a2.ID, "safari": ""}
	for at := 1; ; at++ {
		f := newFixture(t)
		f.publish(a1, s1)
		f.mustConverge()
		f.publish(a2)
		f.withdraw(s1)
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "BSI_AGENT_CRASH_STATE="+f.state, "BSI_AGENT_CRASH_AT="+strconv.Itoa(at),
			"BSI_AGENT_CRASH_NOW="+f.clock.Now().Format(time.RFC3339))
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		killed := errors.As(err, &ee) && ee.ProcessState.Sys().(syscall.WaitStatus).Signaled()
		if err != nil && !killed {
			t.Fatalf("crash at %d: child failed: %v\n%s", at, err, out)
		}
		a := f.open()
		for c := range old {
			cur, jid := f.current(c), f.journalID(c)
			if cur != jid || (cur != old[c] && cur != want[c]) {
				t.Errorf("crash at %d: %s: install root %q, journal %q; want both %q or both %q\n%s",
					at, c, cur, jid, old[c], want[c], out)
			}
		}
		if a.j.Pending != nil {
			t.Errorf("crash at %d: journal still has a pending step after Open", at)
		}
		a.Close()
		checkNoTemps(t, f.state)
		f.mustConverge()
		for c, id := range want {
			f.wantInstalled(c, id)
		}
		if !killed {
			// download, then intent, (health,) switched, committed per component
			if at-1 != 8 {
				t.Errorf("%d steps before completion, want 8", at-1)
			}
			break
		}
		t.Logf("killed at step %d: %s", at, lastLine(out))
	}
}

func checkNoTemps(t *testing.T, dir string) {
	t.Helper()
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.Contains(d.Name(), "tmp") {
			t.Errorf("temporary file left: %s", p)
		}
		return nil
	})
}

func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}
