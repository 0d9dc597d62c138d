package demo

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestDemo plays the whole story: every step must behave as expected, each
// attack must be stopped with an error of its class, and nothing may be left
// behind.
func TestDemo(t *testing.T) {
	dir := t.TempDir() + "/demo"
	var seen []Event
	res, err := Run(context.Background(), Options{Dir: dir, Event: func(ev Event) { seen = append(seen, ev) }})
	if err != nil {
		for _, ev := range seen {
			t.Logf("%d %s ok=%v %s %s", ev.Step, ev.Name, ev.OK, ev.Line, ev.Error)
		}
		t.Fatal(err)
	}
	var names []string
	classes := map[string]string{}
	for _, ev := range res.Events {
		names = append(names, ev.Name)
		if ev.Class != "" {
			classes[ev.Name] = ev.Class
		}
		if !ev.OK {
			t.Errorf("step %d %s: %s", ev.Step, ev.Name, ev.Line)
		}
	}
	want := []string{"keys", "publish", "serve", "install", "attack-rollback", "attack-freeze",
		"attack-tamper", "install-genuine", "attack-foreign-component", "attack-wrong-release",
		"withdraw", "rollout-canary", "rollout-ten-percent", "rollout-halt", "rollout-withdraw", "release-change",
		"transparency-log", "attack-split-view", "monitor-unseen-release"}
	if d := cmp.Diff(want, names); d != "" {
		t.Errorf("steps (-want +got):\n%s", d)
	}
	wantClasses := map[string]string{
		"attack-rollback":          "security",
		"attack-freeze":            "freshness",
		"attack-tamper":            "security",
		"attack-foreign-component": "security",
		"attack-split-view":        "security",
	}
	if d := cmp.Diff(wantClasses, classes); d != "" {
		t.Errorf("error classes (-want +got):\n%s", d)
	}
	for _, ev := range res.Events {
		// The split view is refused for lack of witnessed inclusion, not
		// for anything else the attacker could have got wrong.
		if ev.Name == "attack-split-view" && !strings.Contains(ev.Error, "not a quorum") {
			t.Errorf("split view refused for another reason: %s", ev.Error)
		}
	}
	if d := cmp.Diff(res.Events, seen); d != "" {
		t.Errorf("events passed to Event differ from the result:\n%s", d)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("demo directory left behind: %v", err)
	}
}

func TestDemoKeep(t *testing.T) {
	dir := t.TempDir()
	res, err := Run(context.Background(), Options{Dir: dir, Keep: true, fleet: 10})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"keys/root1", "keys/root1.pub", "workspace/workspace.json", "public/timestamp.json", "device/config.json", "fleet/009/seed"} {
		if _, err := os.Stat(res.Dir + "/" + p); err != nil {
			t.Errorf("kept directory lacks %s: %v", p, err)
		}
	}
}

func TestDemoCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Run(ctx, Options{Dir: t.TempDir() + "/d"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestStoppedNeedsTheRightClass(t *testing.T) {
	// The verdict itself is tested: an attack that got through, or was
	// stopped for the wrong reason, is a failed step.
	if ev := stopped("x", "l", nil, "security", nil, nil); ev.OK {
		t.Error("no error counted as stopped")
	}
	if ev := stopped("x", "l", errors.New("network down"), "security", nil, nil); ev.OK {
		t.Error("an operational error counted as a security stop")
	}
}

// TestDemoFailsWhenADefenceIsBroken breaks one defence at a time, by
// changing what the device receives or keeps, and requires Run to fail
// with a *StepError naming exactly that step, whose event says the attack
// got through.
func TestDemoFailsWhenADefenceIsBroken(t *testing.T) {
	for defence, step := range brokenDefences {
		t.Run(defence, func(t *testing.T) {
			res, err := Run(context.Background(), Options{Dir: t.TempDir() + "/demo", breakDefence: defence, fleet: 10})
			var se *StepError
			if !errors.As(err, &se) {
				t.Fatalf("err = %v, want a *StepError", err)
			}
			if d := cmp.Diff([]string{step}, se.Failed); d != "" {
				t.Errorf("failed steps (-want +got):\n%s", d)
			}
			if !strings.Contains(err.Error(), step) {
				t.Errorf("error %q does not name %s", err, step)
			}
			for _, ev := range res.Events {
				if ev.Name == step && (ev.OK || !strings.HasPrefix(ev.Line, "NOT STOPPED")) {
					t.Errorf("event %+v, want NOT STOPPED", ev)
				}
			}
			if res.Failed != 1 {
				t.Errorf("Result.Failed = %d, want 1", res.Failed)
			}
		})
	}
}

func TestDemoUnknownDefence(t *testing.T) {
	if _, err := Run(context.Background(), Options{Dir: t.TempDir(), breakDefence: "nope"}); err == nil {
		t.Fatal("an unknown defence name was accepted")
	}
}
