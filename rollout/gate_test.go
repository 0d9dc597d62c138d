package rollout

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// entryFor returns the rollout entry of s at its own path.
func entryFor(t *testing.T, s *Schedule) Entry {
	t.Helper()
	c, err := s.Custom()
	if err != nil {
		t.Fatal(err)
	}
	return Entry{Path: s.Path(), Custom: c}
}

// schedule returns a valid schedule of component/id, started at t0, 1%
// for a day then 100%.
func schedule(t *testing.T, component, id string) *Schedule {
	return &Schedule{Schema: Schema, Component: component, ID: id, Improvement: component + "/" + id + ".tar.gz",
		Start: t0, Stages: []Stage{{BasisPoints: 1, HoldSeconds: 86400}, {BasisPoints: Full}}}
}

// lateDevice has a bucket of at least 1 for every improvement of these
// tests, so that a 1% stage does not reach it.
var lateDevice = Device{Seed: Seed{1}}

func cand(component, id string) Candidate {
	return Candidate{Target: component + "/" + id + ".tar.gz", Component: component, ID: id, Active: true, Applicable: true}
}

func TestGateHoldsBackUntilStage(t *testing.T) {
	a, b := cand("webkit", "webkit-26.3-a"), cand("webkit", "webkit-26.3-b")
	e := entryFor(t, schedule(t, "webkit", "webkit-26.3-b"))
	if Bucket(lateDevice.Seed, "webkit", "webkit-26.3-b") < 1 {
		t.Fatal("test device is in the first stage")
	}
	g := Gate([]Candidate{a, b}, []Entry{e}, lateDevice, t0.Add(time.Hour))
	if !cmp.Equal(g.Allowed, []string{a.Target}) || len(g.Held) != 1 || g.Held[0].Target != b.Target || len(g.Ignored) != 0 {
		t.Fatalf("at stage 1: %+v", g)
	}
	g = Gate([]Candidate{a, b}, []Entry{e}, lateDevice, t0.Add(25*time.Hour))
	if !cmp.Equal(g.Allowed, []string{a.Target, b.Target}) || len(g.Held) != 0 || !g.Decisions[b.Target].Offered {
		t.Fatalf("at 100%%: %+v", g)
	}
}

// A rollout entry can only hold back: one naming a withdrawn, inapplicable
// or unsigned improvement, or another path, is ignored and reported, and
// nothing it names becomes allowed.
func TestAttackRolloutEntryOffersWhatNoComponentSigned(t *testing.T) {
	withdrawn := cand("webkit", "webkit-26.3-w")
	withdrawn.Active = false
	other := cand("webkit", "webkit-26.2-x")
	other.Applicable = false
	cands := []Candidate{withdrawn, other}

	full := func(s *Schedule) *Schedule { s.Stages = []Stage{{BasisPoints: Full}}; return s }
	unsigned := full(schedule(t, "webkit", "webkit-26.3-evil"))
	renamed := entryFor(t, full(schedule(t, "webkit", "webkit-26.3-w")))
	renamed.Path = "rollout/webkit/webkit-26.3-z.json"
	otherComp := entryFor(t, full(schedule(t, "safari", "webkit-26.3-w")))
	otherComp.Path = "rollout/webkit/webkit-26.3-w.json"
	outside := entryFor(t, full(schedule(t, "webkit", "webkit-26.3-w")))
	outside.Path = "webkit/webkit-26.3-w.tar.gz"
	entries := []Entry{
		entryFor(t, full(schedule(t, "webkit", "webkit-26.3-w"))),
		entryFor(t, full(schedule(t, "webkit", "webkit-26.2-x"))),
		entryFor(t, unsigned),
		renamed, otherComp, outside,
		{Path: "rollout/webkit/webkit-26.3-q.json", Custom: json.RawMessage(`{"bsi_rollout":{"schema":"bsi.rollout/v1"}}`)},
	}
	g := Gate(cands, entries, Device{Ring: "canary"}, t0.Add(time.Hour))
	if len(g.Allowed) != 0 || len(g.Held) != 0 || len(g.Decisions) != 0 {
		t.Fatalf("entries for withdrawn, inapplicable or unsigned improvements changed the outcome: %+v", g)
	}
	want := []string{"is withdrawn: withdrawals are never gated", "does not apply to this device",
		"which no component role signed", "not for its path", "not for its path", "is not rollout/<component>/<id>.json", "invalid schedule"}
	if len(g.Ignored) != len(want) {
		t.Fatalf("ignored %d entries, want %d: %+v", len(g.Ignored), len(want), g.Ignored)
	}
	for i, w := range want {
		if !strings.Contains(g.Ignored[i].Reason, w) || g.Ignored[i].Path != entries[i].Path {
			t.Errorf("entry %d (%s): ignored as %q, want %q", i, entries[i].Path, g.Ignored[i].Reason, w)
		}
	}
}

// A halt keeps the improvement from devices that have not installed it
// and never takes it from those that have: Gate has no way to say
// "uninstall", and an installed candidate stays allowed.
func TestAttackHaltNeverUninstalls(t *testing.T) {
	s := schedule(t, "webkit", "webkit-26.3-b")
	s.Stages = []Stage{{BasisPoints: Full}}
	s.Halted = &Halt{At: t0.Add(time.Hour), Reason: "boot loops"}
	e := entryFor(t, s)
	installed := cand("webkit", "webkit-26.3-b")
	installed.Installed = true
	g := Gate([]Candidate{installed}, []Entry{e}, lateDevice, t0.Add(2*time.Hour))
	if !slices.Equal(g.Allowed, []string{installed.Target}) || len(g.Held) != 0 {
		t.Fatalf("halt on an installed improvement: %+v", g)
	}
	if d := g.Decisions[installed.Target]; !d.Halted || d.Offered || d.Reason != "boot loops" {
		t.Fatalf("decision: %+v", d)
	}
	fresh := cand("webkit", "webkit-26.3-b")
	g = Gate([]Candidate{fresh}, []Entry{e}, lateDevice, t0.Add(2*time.Hour))
	if len(g.Allowed) != 0 || len(g.Held) != 1 || !g.Held[0].Decision.Halted {
		t.Fatalf("halt on a new device: %+v", g)
	}
}

// A withdrawal is never gated: a halted or unstarted rollout of a
// withdrawn improvement leaves it out of every list, so the agent's
// withdrawal (roll back) goes on as without a rollout role.
func TestAttackRolloutBlocksWithdrawal(t *testing.T) {
	s := schedule(t, "webkit", "webkit-26.3-b")
	s.Start = t0.Add(1000 * time.Hour)
	s.Halted = &Halt{At: t0, Reason: "hold"}
	w := cand("webkit", "webkit-26.3-b")
	w.Active, w.Installed = false, true
	g := Gate([]Candidate{w}, []Entry{entryFor(t, s)}, lateDevice, t0.Add(time.Hour))
	if len(g.Allowed) != 0 || len(g.Held) != 0 || len(g.Ignored) != 1 {
		t.Fatalf("%+v", g)
	}
}

// Two entries gating one improvement: the one that holds back wins.
func TestGateTwoEntriesHoldBack(t *testing.T) {
	c := cand("webkit", "webkit-26.3-b")
	open := schedule(t, "webkit", "webkit-26.3-b")
	open.Stages = []Stage{{BasisPoints: Full}}
	tarOnly := schedule(t, "webkit", "webkit-26.3-b")
	tarOnly.Halted = &Halt{At: t0, Reason: "x"}
	g := Gate([]Candidate{c}, []Entry{entryFor(t, open), entryFor(t, tarOnly)}, lateDevice, t0.Add(time.Hour))
	if len(g.Allowed) != 0 || len(g.Held) != 1 {
		t.Fatalf("%+v", g)
	}
}
