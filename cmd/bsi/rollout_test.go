package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bsiframework/bsi/keys"
	"github.com/bsiframework/bsi/rollout"
	"github.com/bsiframework/bsi/trust/repo"
)

// rolloutWS is a published workspace with a rollout role, webkit-26.3-a
// and webkit-26.3-b (both published, neither rolling out).
func rolloutWS(t *testing.T) (*repoCLI, string) {
	c := newRepoCLI(t)
	priv, err := keys.Generate(keys.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	if err := keys.WriteKeyPair(c.path("rollout.key"), priv, nil); err != nil {
		t.Fatal(err)
	}
	ws := c.path("ws")
	k := func(n string) string { return c.path(n + ".key") }
	out := c.ok("repo", "init", ws, "--root-key", k("root1")+".pub", "--targets-key", k("targets")+".pub",
		"--snapshot-key", k("snapshot"), "--timestamp-key", k("timestamp"), "--rollout", "--rollout-key", k("rollout"))
	if !strings.Contains(out, "rollout role delegated") {
		t.Fatalf("init: %s", out)
	}
	c.ok("repo", "delegate", ws, "--component", "webkit", "--key", k("webkit")+".pub")
	for i, id := range []string{"webkit-26.3-a", "webkit-26.3-b"} {
		m, p := c.improvement(id, i+1)
		c.ok("repo", "add", ws, "--manifest", m, "--payload", p, "--key", k("webkit"))
	}
	c.ok("repo", "sign", ws, "--key", k("root1"))
	c.ok("repo", "sign", ws, "--key", k("targets"))
	c.ok("repo", "publish", ws)
	return c, ws
}

func rolloutStatus(t *testing.T, c *repoCLI, args ...string) []repo.RolloutState {
	t.Helper()
	var st []repo.RolloutState
	out := c.ok(append([]string{"rollout", "status"}, args...)...)
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("status --json: %v\n%s", err, out)
	}
	return st
}

func TestRolloutCommands(t *testing.T) {
	c, ws := rolloutWS(t)
	out := c.ok("rollout", "start", ws, "webkit-26.3-b", "--stages", "canary:100%:24h,5%:24h,25%:24h,100%")
	if !strings.Contains(out, "started webkit-26.3-b: stage 1 of 4 (canary 100%)") {
		t.Fatalf("start: %s", out)
	}
	// Published: the tree has the rollout role and the schedule under its
	// sha256 (the workspace's default hashes).
	out = c.ok("rollout", "status", ws, "--json")
	if st := rolloutStatus(t, c, ws, "--json"); len(st) != 1 || !st[0].Pending || st[0].Stage != 1 {
		t.Fatalf("status before publish: %s", out)
	}
	c.ok("repo", "publish", ws)
	if _, err := os.Stat(filepath.Join(ws, "public", "2.rollout.json")); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(ws, "public", "targets", "rollout", "webkit", "*.webkit-26.3-b.json"))
	if len(files) != 1 {
		t.Fatalf("published schedule files: %v", files)
	}
	data, _ := os.ReadFile(files[0])
	if s, err := rollout.Parse(data); err != nil || s.Improvement != "webkit/webkit-26.3-b.tar.gz" {
		t.Fatalf("published schedule: %v %v", s, err)
	}

	c.now = c.now.Add(25 * time.Hour)
	out = c.ok("rollout", "status", ws)
	if !strings.Contains(out, "webkit/webkit-26.3-b") || !strings.Contains(out, "stage 2 of 4 (5%)") || !strings.Contains(out, "yes") {
		t.Fatalf("status:\n%s", out)
	}
	out = c.ok("rollout", "halt", ws, "webkit-26.3-b", "--reason", "crash reports from canaries", "--publish")
	if !strings.Contains(out, "HALTED since") || !strings.Contains(out, "crash reports from canaries") || !strings.Contains(out, "published: snapshot v3") {
		t.Fatalf("halt: %s", out)
	}
	if st := rolloutStatus(t, c, ws, "webkit-26.3-b", "--json"); !st[0].Halted || st[0].Pending {
		t.Fatalf("halted status: %+v", st[0])
	}
	c.now = c.now.Add(2 * time.Hour)
	if out := c.ok("rollout", "resume", ws, "webkit-26.3-b"); !strings.Contains(out, "resumed webkit-26.3-b: stage 2 of 4 (5%)") {
		t.Fatalf("resume: %s", out)
	}
	c.now = c.now.Add(time.Hour)
	if out := c.ok("rollout", "set", ws, "webkit-26.3-b", "--percent", "50"); !strings.Contains(out, "set webkit-26.3-b: stage 3 of 4 (50%)") {
		t.Fatalf("set: %s", out)
	}
	c.now = c.now.Add(time.Hour)
	var st repo.RolloutState
	if err := json.Unmarshal([]byte(c.ok("rollout", "set", ws, "webkit-26.3-b", "--percent", "100%", "--publish", "--json")), &st); err != nil || !st.Complete {
		t.Fatalf("set 100%% --json: %+v %v", st, err)
	}
	if st := rolloutStatus(t, c, ws, "--json"); st[0].Pending || !st[0].Complete {
		t.Fatalf("after set --publish: %+v", st[0])
	}
}

func TestRolloutCommandErrors(t *testing.T) {
	c, ws := rolloutWS(t)
	c.ok("rollout", "start", ws, "webkit-26.3-b", "--stages", "10%:1h,100%")
	for _, tc := range []struct {
		code int
		args []string
		want string
	}{
		{exitFailure, []string{"rollout", "start", ws, "webkit-26.3-z", "--stages", "100%"}, "improvement webkit-26.3-z: not found"},
		{exitUsage, []string{"rollout", "start", ws, "webkit-26.3-a", "--stages", "5%:24h,25%:24h"}, "must end at 100%"},
		{exitUsage, []string{"rollout", "start", ws, "webkit-26.3-a", "--stages", "50%:1h,25%:1h,100%"}, "stage 2: 25% is lower than stage 1's 50%"},
		{exitUsage, []string{"rollout", "start", ws, "webkit-26.3-a", "--stages", "5%,100%"}, "stage 1 (5%): hold 0s is out of range"},
		{exitUsage, []string{"rollout", "start", ws, "webkit-26.3-a"}, "missing --stages"},
		{exitUsage, []string{"rollout", "start", ws, "--stages", "100%"}, "missing workspace directory DIR and improvement ID"},
		{exitUsage, []string{"rollout", "start", ws, "webkit-26.3-a", "--stages", "100%", "--start", "tomorrow"}, "--start"},
		{exitFailure, []string{"rollout", "start", ws, "webkit-26.3-b", "--stages", "100%"}, "already rolling out"},
		{exitFailure, []string{"rollout", "halt", ws, "webkit-26.3-a", "--reason", "x"}, "rollout of webkit-26.3-a: is not rolling out"},
		{exitUsage, []string{"rollout", "halt", ws, "webkit-26.3-b"}, "missing --reason"},
		{exitFailure, []string{"rollout", "resume", ws, "webkit-26.3-b"}, "is not halted"},
		{exitUsage, []string{"rollout", "set", ws, "webkit-26.3-b", "--percent", "5"}, "5% is lower than stage 1's 10%"},
		{exitUsage, []string{"rollout", "set", ws, "webkit-26.3-b", "--percent", "0.001"}, "finer than 0.01%"},
		{exitUsage, []string{"rollout", "set", ws, "webkit-26.3-b"}, "missing --percent"},
		{exitFailure, []string{"rollout", "set", ws, "webkit-26.3-a", "--percent", "5"}, "is not rolling out"},
		{exitFailure, []string{"rollout", "status", ws, "webkit-26.3-a"}, "is not rolling out"},
		{exitFailure, []string{"rollout", "enable", ws, "--key", c.path("rollout.key")}, "already delegated"},
		{exitUsage, []string{"rollout", "enable", ws}, "missing --key"},
	} {
		errs := c.fail(tc.code, tc.args...)
		if !strings.Contains(errs, tc.want) {
			t.Errorf("bsi %s: %s, want %q", strings.Join(tc.args[2:], " "), errs, tc.want)
		}
	}
	// Nothing of the refused commands was saved.
	if st := rolloutStatus(t, c, ws, "--json"); len(st) != 1 || st[0].Stages != "10%:1h,100%" {
		t.Fatalf("after refused commands: %+v", st)
	}
}

func TestRolloutWithoutRole(t *testing.T) {
	c := newRepoCLI(t)
	ws := c.path("ws")
	k := func(n string) string { return c.path(n + ".key") }
	errs := c.fail(exitUsage, "repo", "init", ws, "--root-key", k("root1")+".pub", "--targets-key", k("targets")+".pub",
		"--snapshot-key", k("snapshot"), "--timestamp-key", k("timestamp"), "--rollout")
	if !strings.Contains(errs, "--rollout needs --rollout-key") {
		t.Fatal(errs)
	}
	c.ok("repo", "init", ws, "--root-key", k("root1")+".pub", "--targets-key", k("targets")+".pub",
		"--snapshot-key", k("snapshot"), "--timestamp-key", k("timestamp"))
	c.ok("repo", "delegate", ws, "--component", "webkit", "--key", k("webkit")+".pub")
	m, p := c.improvement("webkit-26.3-a", 1)
	c.ok("repo", "add", ws, "--manifest", m, "--payload", p, "--key", k("webkit"))
	if errs := c.fail(exitFailure, "rollout", "start", ws, "webkit-26.3-a", "--stages", "100%"); !strings.Contains(errs, "no rollout role") {
		t.Fatal(errs)
	}
	if errs := c.fail(exitFailure, "rollout", "status", ws); !strings.Contains(errs, "bsi rollout enable") {
		t.Fatal(errs)
	}
	// Enabled later: targets must be signed again before publishing.
	c.ok("rollout", "enable", ws, "--key", k("timestamp2"))
	c.ok("repo", "sign", ws, "--key", k("root1"))
	c.ok("rollout", "start", ws, "webkit-26.3-a", "--stages", "1%:1h,100%")
	c.now = c.now.Add(time.Minute)
	if errs := c.fail(exitFailure, "rollout", "set", ws, "webkit-26.3-a", "--percent", "2", "--publish"); !strings.Contains(errs, "targets v1 needs 1 more signature") || !strings.Contains(errs, "the rollout change is saved") {
		t.Fatal(errs)
	}
	c.ok("repo", "sign", ws, "--key", k("targets"))
	c.ok("repo", "publish", ws)
	if st := rolloutStatus(t, c, ws, "--json"); len(st) != 1 || st[0].Percent != "2%" || st[0].Pending {
		t.Fatalf("%+v", st)
	}
	// A new rollout key: targets signs it in, then rollout changes use it.
	c.ok("rollout", "rotate-key", ws, "--key", k("webkit"))
	if errs := c.fail(exitFailure, "repo", "publish", ws); !strings.Contains(errs, "targets v2 needs 1 more signature") {
		t.Fatal(errs)
	}
	c.ok("repo", "sign", ws, "--key", k("targets"))
	c.ok("rollout", "halt", ws, "webkit-26.3-a", "--reason", "after rotation", "--publish")
	c.fail(exitUsage, "rollout", "rotate-key", ws)
}

func TestRolloutCommandsHelp(t *testing.T) {
	c := newRepoCLI(t)
	for _, cmd := range rolloutCommands() {
		out := c.ok(append(strings.Fields(cmd.Name), "-h")...)
		if !strings.Contains(out, "Example") {
			t.Errorf("%s: help has no example", cmd.Name)
		}
	}
	if out := c.ok("help"); !strings.Contains(out, "Publishers: staged rollout") || !strings.Contains(out, "bsi rollout halt") {
		t.Fatalf("bsi help:\n%s", out)
	}
}

// A repository with a rollout role stays readable by devices: the client
// verifies the rollout role like any delegated role, lists the
// improvements and honours the halt.
func TestClientReadsRepositoryWithRolloutRole(t *testing.T) {
	c, ws := rolloutWS(t)
	c.ok("rollout", "start", ws, "webkit-26.3-b", "--stages", "canary:100%:24h,100%")
	c.ok("rollout", "halt", ws, "webkit-26.3-b", "--reason", "hold", "--publish")
	f := newClientFixture(t, clientStart)
	pub := filepath.Join(ws, "public")
	srv := httptest.NewServer(http.FileServer(http.Dir(pub)))
	defer srv.Close()
	f.must("client", "init", f.state, "--root", filepath.Join(pub, "1.root.json"), "--url", srv.URL,
		"--platform", "macos", "--release", "26.3")
	// webkit-26.3-b is halted: the device is offered webkit-26.3-a.
	if out := f.must("client", "check", f.state); !strings.Contains(out, "webkit-26.3-a 26.3 (a)  install") ||
		!strings.Contains(out, "webkit/webkit-26.3-b: halted at ") {
		t.Fatalf("check against a repository with a rollout role:\n%s", out)
	}
	// An auditor finds nothing wrong with it either.
	if code, out, rep := auditRun(t, pub, c.now); code != exitOK {
		t.Fatalf("audit: exit %d\n%s\n%v", code, out, findings(rep))
	}
}
