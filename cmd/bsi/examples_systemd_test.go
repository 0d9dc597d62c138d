package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bsiframework/bsi/fleet/report"
)

// The systemd units of examples/systemd run bsi commands (bsi-agent client
// ... on devices, the same code); these tests run each unit's ExecStart
// in-process through bsi, with the unit's paths replaced by
// temporary ones, so that a renamed command or flag breaks a test rather
// than a deployment.

const systemdDir = "../../examples/systemd"

// unitDirectives reads a unit file into its directives, in order.
func unitDirectives(t *testing.T, name string) map[string][]string {
	t.Helper()
	f, err := os.Open(filepath.Join(systemdDir, name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == '[' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: not a directive: %q", name, line)
		}
		out[k] = append(out[k], v)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// execStart returns the bsi arguments of the unit's ExecStart, with paths
// replaced as repl says.
func execStart(t *testing.T, name string, repl ...string) []string {
	t.Helper()
	d := unitDirectives(t, name)
	if len(d["ExecStart"]) != 1 {
		t.Fatalf("%s: %d ExecStart lines", name, len(d["ExecStart"]))
	}
	words := strings.Fields(strings.NewReplacer(repl...).Replace(d["ExecStart"][0]))
	// Devices run the device binary, bsi-agent, whose commands are bsi's
	// own (cmd/internal/devicecli); publishers the full bsi.
	bin := "/usr/local/bin/bsi"
	if strings.HasPrefix(name, "bsi-client") {
		bin = "/usr/local/bin/bsi-agent"
	}
	if words[0] != bin {
		t.Fatalf("%s runs %s, want %s", name, words[0], bin)
	}
	return words[1:]
}

// TestSystemdHardening: every service keeps the hardening the README
// explains.
func TestSystemdHardening(t *testing.T) {
	services, err := filepath.Glob(filepath.Join(systemdDir, "*.service"))
	if err != nil || len(services) < 3 {
		t.Fatalf("services: %v %v", services, err)
	}
	want := map[string]string{
		"NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes",
		"PrivateTmp": "yes", "CapabilityBoundingSet": "", "RestrictSUIDSGID": "yes",
		"SystemCallFilter": "@system-service",
	}
	for _, s := range services {
		d := unitDirectives(t, filepath.Base(s))
		for k, v := range want {
			if len(d[k]) == 0 || d[k][0] != v {
				t.Errorf("%s: %s=%v, want %q", filepath.Base(s), k, d[k], v)
			}
		}
		if len(d["User"]) == 0 || d["User"][0] == "root" {
			t.Errorf("%s: runs as %v", filepath.Base(s), d["User"])
		}
		if len(d["StateDirectory"]) == 0 {
			t.Errorf("%s: no StateDirectory", filepath.Base(s))
		}
	}
}

// TestSystemdClientOnce runs bsi-client-once.service's command: one round
// that installs.
func TestSystemdClientOnce(t *testing.T) {
	f := newClientFixture(t, clientStart)
	f.publish(improvement("webkit", "26.3", 1))
	f.init()
	f.must(execStart(t, "bsi-client-once.service", "/var/lib/bsi", f.state)...)
	f.wantCurrent("webkit", "webkit-26.3-a")
}

// TestSystemdClientLoop runs bsi-client.service's command until it has
// installed, then stops it as systemd does, which must be a clean exit.
func TestSystemdClientLoop(t *testing.T) {
	f := newClientFixture(t, clientStart)
	f.publish(improvement("webkit", "26.3", 1))
	f.init()
	args := execStart(t, "bsi-client.service", "/var/lib/bsi", f.state)
	stopped := runUntil(t, f, args, func() bool { return f.current("webkit") == "webkit-26.3-a" })
	if stopped != 0 {
		t.Errorf("exit %d after SIGTERM", stopped)
	}
}

// TestSystemdKeepFresh runs bsi-keep-fresh.service's command against a
// published workspace until it has written a newer timestamp.
func TestSystemdKeepFresh(t *testing.T) {
	f := newClientFixture(t, clientStart)
	ws := signedWorkspace(t, f)
	public := filepath.Join(t.TempDir(), "public")
	f.must("repo", "publish", ws, "--to", public)
	args := execStart(t, "bsi-keep-fresh.service",
		"/var/lib/bsi-publisher/ws", ws, "s3://bsi-repo?region=eu-west-1", public)
	version := func() int64 {
		var ts struct {
			Signed struct{ Version int64 } `json:"signed"`
		}
		b, err := os.ReadFile(filepath.Join(public, "timestamp.json"))
		if err == nil {
			json.Unmarshal(b, &ts)
		}
		return ts.Signed.Version
	}
	if v := version(); v != 1 {
		t.Fatalf("timestamp v%d after publish", v)
	}
	if code := runUntil(t, f, args, func() bool { return version() > 1 }); code != 0 {
		t.Errorf("exit %d after SIGTERM", code)
	}
}

// runUntil runs args in-process until done reports true, then cancels the
// context (what SIGTERM does in main) and returns the exit code.
func runUntil(t *testing.T, f *clientFixture, args []string, done func() bool) int {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	exit := make(chan int, 1)
	go func() {
		code, _, _ := f.bsi(ctx, args...)
		exit <- code
	}()
	deadline := time.After(30 * time.Second)
	for !done() {
		select {
		case code := <-exit:
			t.Fatalf("bsi %s exited %d before doing its work", strings.Join(args, " "), code)
		case <-deadline:
			t.Fatalf("bsi %s did not do its work in 30s", strings.Join(args, " "))
		case <-time.After(20 * time.Millisecond):
		}
	}
	cancel()
	return <-exit
}

// TestSystemdRolloutWatch runs bsi-rollout-watch.service's command against
// a rollout whose device reports fail, until the published rollout role
// carries the halt; then stops it as systemd does.
func TestSystemdRolloutWatch(t *testing.T) {
	c, ws := rolloutWS(t)
	c.ok("rollout", "start", ws, "webkit-26.3-b", "--stages", "100%", "--publish")
	col, _ := watchCollector(t, func() time.Time { return c.now })
	var rs []report.Report
	for i := range 200 {
		o := report.Installed
		if i%10 == 0 {
			o = report.HealthFailed
		}
		rs = append(rs, report.Report{ID: fmt.Sprintf("%032x", i+1), Device: fmt.Sprintf("%032x", 1000+i),
			Platform: "macos", Release: "26.3", Component: "webkit", Improvement: "webkit-26.3-b",
			Sequence: 2, Outcome: o, Time: c.now})
	}
	postReports(t, col.URL, rs)
	public := filepath.Join(ws, "public")
	args := execStart(t, "bsi-rollout-watch.service", "/var/lib/bsi-publisher/ws", ws,
		"https://fleet.example.com", col.URL, "s3://bsi-repo?region=eu-west-1", public)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	exit := make(chan int, 1)
	go func() {
		code, _, _ := c.run(ctx, args...)
		exit <- code
	}()
	deadline := time.After(30 * time.Second)
	for publishedSchedule(t, public, "rollout/webkit/webkit-26.3-b.json").Halted == nil {
		select {
		case code := <-exit:
			t.Fatalf("bsi %s exited %d before halting", strings.Join(args, " "), code)
		case <-deadline:
			t.Fatalf("bsi %s did not halt in 30s", strings.Join(args, " "))
		case <-time.After(20 * time.Millisecond):
		}
	}
	cancel()
	if code := <-exit; code != 0 {
		t.Errorf("exit %d after SIGTERM", code)
	}
	want := "auto-halt: 20 of 200 devices failed (10%) > 2%"
	if h := publishedSchedule(t, public, "rollout/webkit/webkit-26.3-b.json").Halted; h.Reason != want {
		t.Errorf("halt reason %q, want %q", h.Reason, want)
	}
}
