package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/bsiframework/bsi/agent/testrepo"
	"github.com/bsiframework/bsi/manifest"
)

// TestAttackRejectedTargetDoesNotBlockOtherComponents: the webkit role
// signs a target whose manifest claims to be safari's while safari
// withdraws its installed improvement. check, install, status and run
// report webkit (security, exit 3), and safari's withdrawal is rolled back.
func TestAttackRejectedTargetDoesNotBlockOtherComponents(t *testing.T) {
	f := newClientFixture(t, clientStart)
	w1, s1, s2 := improvement("webkit", "26.3", 1), improvement("safari", "26.3", 1), improvement("safari", "26.3", 2)
	f.publish(w1, s1, s2)
	f.init()
	f.must("client", "install", f.state, "--all")
	f.wantCurrent("safari", s2.ID)

	evil := improvement("safari", "26.3", 3, func(m *manifest.Manifest) { m.ID = "webkit-evil" })
	custom, _ := evil.Custom()
	f.repo.AddTarget("webkit", "webkit/webkit-evil.tar.gz", testrepo.TarGz(map[string]string{"x": "y"}), custom)
	s2w := *s2
	s2w.Status, s2w.WithdrawnReason = manifest.StatusWithdrawn, "breaks video"
	f.publish(&s2w)

	out := f.want(3, "differs from signing role", "client", "check", f.state)
	for _, want := range []string{"REJECTED webkit/webkit-evil.tar.gz", "BLOCKED (security) webkit:", "safari: safari-26.3-b is withdrawn"} {
		if !strings.Contains(out, want) {
			t.Errorf("check output does not show %q:\n%s", want, out)
		}
	}
	out = f.want(3, "webkit", "client", "install", f.state, "--all")
	if !strings.Contains(out, "rolled back safari: safari-26.3-b -> safari 26.3 (a) safari-26.3-a") {
		t.Errorf("install did not roll safari back:\n%s", out)
	}
	f.wantCurrent("safari", s1.ID)
	f.wantCurrent("webkit", w1.ID)

	out = f.must("client", "status", f.state)
	if !strings.Contains(out, "failed (security) for component(s):\n  webkit (security):") || strings.Contains(out, "disappeared") {
		t.Errorf("status does not name webkit as the failure:\n%s", out)
	}
	var st struct {
		LastCheck struct {
			Class      string `json:"class"`
			Components []struct{ Component, Class string }
		} `json:"last_check"`
	}
	if err := json.Unmarshal([]byte(f.must("client", "status", f.state, "--json")), &st); err != nil {
		t.Fatal(err)
	}
	if lc := st.LastCheck; lc.Class != "security" || len(lc.Components) != 1 || lc.Components[0].Component != "webkit" {
		t.Errorf("status --json last_check = %+v, want webkit as a security failure", lc)
	}
	var rep reportJSON
	if err := json.Unmarshal([]byte(f.want(3, "webkit", "client", "check", f.state, "--json")), &rep); err != nil {
		t.Fatal(err)
	}
	blocked := false
	for _, c := range rep.Components {
		blocked = blocked || c.Component == "webkit" && c.Action.String() == "blocked" && c.Class == "security"
	}
	if !blocked {
		t.Errorf("check --json components %+v: want webkit blocked (security)", rep.Components)
	}
	out = f.want(3, "webkit", "client", "run", f.state, "--once", "--auto-install")
	if !strings.Contains(out, "blocked (security) webkit:") {
		t.Errorf("run does not report webkit blocked:\n%s", out)
	}
}

func TestClientInstallTwoIDsOfOneComponent(t *testing.T) {
	f := newClientFixture(t, clientStart)
	f.publish(improvement("webkit", "26.3", 1), improvement("webkit", "26.3", 2))
	f.init()
	f.want(2, "webkit: webkit-26.3-b and webkit-26.3-a name two improvements of one component",
		"client", "install", f.state, "webkit-26.3-b", "webkit-26.3-a")
	f.wantCurrent("webkit", "")
	out := f.must("client", "check", f.state)
	if !strings.Contains(out, "1 change(s) pending") {
		t.Errorf("after a refused request, check says:\n%s", out)
	}
}

// sameIDs publishes fix-1 in webkit and in safari.
func sameIDs(f *clientFixture) {
	fix := func(m *manifest.Manifest) { m.ID = "fix-1" }
	f.publish(improvement("webkit", "26.3", 1, fix), improvement("safari", "26.3", 1, fix))
}

func TestClientInstallComponentSlashID(t *testing.T) {
	f := newClientFixture(t, clientStart)
	sameIDs(f)
	f.init()
	f.want(2, "fix-1 is ambiguous: name one of safari/fix-1, webkit/fix-1", "client", "install", f.state, "fix-1")
	f.want(2, "neither ID nor COMPONENT/ID", "client", "install", f.state, "webkit/")
	f.want(1, "not listed", "client", "install", f.state, "webkit/fix-2")
	f.must("client", "install", f.state, "webkit/fix-1")
	f.wantCurrent("webkit", "fix-1")
	f.wantCurrent("safari", "")
}

func TestClientRollbackAmbiguousID(t *testing.T) {
	f := newClientFixture(t, clientStart)
	sameIDs(f)
	f.init()
	f.must("client", "install", f.state, "--all")
	f.want(2, "fix-1 is ambiguous: name one of safari/fix-1, webkit/fix-1", "client", "rollback", f.state, "fix-1", "--baseline")
	f.wantCurrent("webkit", "fix-1")
	f.wantCurrent("safari", "fix-1")
	out := f.must("client", "rollback", f.state, "safari/fix-1", "--baseline")
	if !strings.Contains(out, "rolled back safari: fix-1 -> baseline") {
		t.Errorf("rollback says:\n%s", out)
	}
	f.wantCurrent("safari", "")
	f.wantCurrent("webkit", "fix-1")
}

// TestAttackEscapesOnStdout: a component role lists a target whose path
// carries terminal escapes, a bidi override and a C1 control; every client
// command that shows it, in text and JSON, prints it escaped on stdout and
// stderr.
func TestAttackEscapesOnStdout(t *testing.T) {
	f := newClientFixture(t, clientStart)
	f.publish(improvement("safari", "26.3", 1))
	f.init()
	hostile := "webkit/\x1b[2J\x1b]0;owned\x07\u202e\u009b31m.tar.gz"
	m := improvement("webkit", "26.3", 1)
	custom, _ := m.Custom()
	f.repo.AddTarget("webkit", hostile, testrepo.TarGz(map[string]string{"x": "y"}), custom)
	f.repo.Publish()
	for _, args := range [][]string{
		{"client", "check", f.state},
		{"client", "check", f.state, "--json"},
		{"client", "install", f.state, "--all"},
		{"client", "status", f.state},
		{"client", "status", f.state, "--json"},
		{"client", "run", f.state, "--once", "--auto-install"},
		{"client", "run", f.state, "--once", "--json"},
	} {
		code, out, errOut := f.bsi(context.Background(), args...)
		if code != 0 && code != 3 {
			t.Errorf("bsi %s: exit %d, want 3 (or 0 for status)\n%s", strings.Join(args[2:], " "), code, errOut)
		}
		for _, o := range []struct{ name, text string }{{"stdout", out}, {"stderr", errOut}} {
			if i := rawTerminalRune(o.text); i >= 0 {
				t.Errorf("bsi %s: %s holds a raw control or format character at byte %d:\n%q", args[1], o.name, i, o.text)
			}
		}
		if !strings.Contains(out+errOut, `\x1b[2J`) && !strings.Contains(out+errOut, `\u001b[2J`) {
			t.Errorf("bsi %s does not show the hostile path escaped:\n%s%s", strings.Join(args[1:], " "), out, errOut)
		}
	}
	f.wantCurrent("safari", "safari-26.3-a") // installed by install --all: webkit alone is blocked
}
