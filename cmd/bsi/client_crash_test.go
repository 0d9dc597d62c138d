package main

import (
	"context"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestClientInstallKilled runs "bsi client install --all" as a child
// process (the test binary, as testscript installs it on PATH) and kills it
// with SIGKILL at points of a journaled install: while the payload
// downloads, and after the switch while the health command runs. The next
// command must recover: the device is in the old or the new state, the
// journal agrees with the install root, and converging then finishes.
func TestClientInstallKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("runs child processes")
	}
	bsiBin, err := exec.LookPath("bsi")
	if err != nil {
		t.Skip("bsi test binary not on PATH:", err)
	}
	tests := []struct {
		name     string
		health   string // --health-cmd
		killPath string // request path prefix on which the server kills the child
		want     string // webkit after recovery
	}{
		{name: "during metadata refresh", killPath: "/timestamp.json", want: "webkit-26.3-a"},
		{name: "during download", killPath: "/targets/webkit/", want: "webkit-26.3-a"},
		{name: "after switch, in health check", health: "kill -9 $PPID", want: "webkit-26.3-b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newClientFixture(t, time.Now().UTC().Truncate(time.Second))
			f.publish(improvement("webkit", "26.3", 1))
			f.init()
			f.must("client", "install", f.state, "--all")
			f.publish(improvement("webkit", "26.3", 2))

			var pid atomic.Int64
			if tt.killPath != "" {
				f.repo.Intercept(func(w http.ResponseWriter, r *http.Request) bool {
					if strings.HasPrefix(r.URL.Path, tt.killPath) {
						if p := pid.Load(); p != 0 {
							syscall.Kill(int(p), syscall.SIGKILL)
						}
						http.Error(w, "gone", http.StatusServiceUnavailable)
						return true
					}
					return false
				})
			}
			args := []string{"client", "install", f.state, "--all"}
			if tt.health != "" {
				args = append(args, "--health-cmd", tt.health)
			}
			cmd := exec.Command(bsiBin, args...)
			var out strings.Builder
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			pid.Store(int64(cmd.Process.Pid))
			err := cmd.Wait()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || !ee.ProcessState.Sys().(syscall.WaitStatus).Signaled() {
				t.Fatalf("child was not killed: %v\n%s", err, out.String())
			}
			f.repo.Intercept(nil)

			if tt.health != "" {
				if st := f.must("client", "status", f.state); !strings.Contains(st, "an interrupted install of webkit") {
					t.Errorf("status before recovery does not show the interrupted step:\n%s", st)
				}
			}
			code, _, errOut := f.bsi(context.Background(), "client", "check", f.state)
			if code != 0 {
				t.Fatalf("check after the crash: exit %d\n%s", code, errOut)
			}
			if tt.health != "" && !strings.Contains(errOut, "bsi: recovered: install of webkit webkit-26.3-a → webkit-26.3-b: finished") {
				t.Errorf("check did not report the recovery:\n%s", errOut)
			}
			f.wantCurrent("webkit", tt.want)
			st := f.must("client", "status", f.state, "--json")
			if !strings.Contains(st, `"id": "`+tt.want+`"`) || strings.Contains(st, `"interrupted"`) {
				t.Errorf("status after recovery does not agree with the install root (%s):\n%s", tt.want, st)
			}
			assertNoTemps(t, f.state)
			f.must("client", "install", f.state, "--all")
			f.wantCurrent("webkit", "webkit-26.3-b")
		})
	}
}

func assertNoTemps(t *testing.T, dir string) {
	t.Helper()
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.Contains(d.Name(), "tmp") {
			t.Errorf("temporary file left: %s", p)
		}
		return nil
	})
}
