package agent

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bsiframework/bsi/manifest"
	"github.com/bsiframework/bsi/rollout"
	"github.com/bsiframework/bsi/trust/client"
)

// offersCase is a random repository as a check sees it: targets with
// manifests of two components (some withdrawn, for another platform or
// release, sharing sequences, mismatched, invalid, absent), what is
// installed and declined, and what a rollout holds back.
type offersCase struct {
	device    manifest.Device
	targets   []*client.Target
	installed map[string]*Installed
	declined  map[string]bool // component/id
	held      map[string]bool // target paths
}

func randomOffers(t *testing.T, r *rand.Rand) offersCase {
	t.Helper()
	c := offersCase{device: manifest.Device{Platform: "macos", Release: "26.3"},
		installed: map[string]*Installed{}, declined: map[string]bool{}, held: map[string]bool{}}
	var ms []*manifest.Manifest
	for i := range 5 + r.IntN(40) {
		comp := []string{"webkit", "safari"}[r.IntN(2)]
		m := mf(comp, 1+r.IntN(8), func(m *manifest.Manifest) {
			m.ID = fmt.Sprintf("%s-%d", comp, i)
			m.Released = []string{"2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z"}[r.IntN(2)]
		})
		switch r.IntN(10) {
		case 0:
			withdrawn(m)
		case 1:
			m.Platform = "ios"
		case 2:
			release("26.2")(m)
		case 3:
			withdrawn(m)
			release("26.2")(m)
		}
		role, path := comp, comp+"/"+m.ID+[]string{".tar.gz", ".tar"}[r.IntN(2)]
		var custom []byte
		switch r.IntN(25) {
		case 0:
			role = "targets" // the top-level role lists it: rejected
		case 1:
			path = comp + "/other.tar.gz" // a path that is not its id
		case 2:
			custom = []byte(`{"bsi":{"id":1}}`) // invalid
		case 3:
			custom = []byte(`{"x":1}`) // not an improvement
		}
		if custom == nil {
			b, err := m.Custom()
			if err != nil {
				t.Fatal(err)
			}
			custom = b
		}
		roles := []string{"targets"}
		if role != "targets" {
			roles = append(roles, role)
		}
		c.targets = append(c.targets, &client.Target{Path: path, Custom: custom, Roles: roles})
		ms = append(ms, m)
		if r.IntN(6) == 0 {
			c.declined[comp+"/"+m.ID] = true
		}
		if r.IntN(5) == 0 {
			c.held[path] = true
		}
	}
	for _, comp := range []string{"webkit", "safari"} {
		switch r.IntN(3) {
		case 0:
			m := ms[r.IntN(len(ms))]
			if m.Component == comp {
				c.installed[comp] = &Installed{Component: comp, ID: m.ID, Sequence: m.Sequence, Manifest: m}
			}
		case 1:
			m := mf(comp, 1+r.IntN(8), func(m *manifest.Manifest) { m.ID = comp + "-gone" })
			c.installed[comp] = &Installed{Component: comp, ID: m.ID, Sequence: m.Sequence, Manifest: m}
		}
	}
	return c
}

func (c offersCase) excluded(component, id string) bool { return c.declined[component+"/"+id] }

func (c offersCase) installedList() []Installed {
	var out []Installed
	for _, in := range c.installed {
		out = append(out, *in)
	}
	sortInstalled(out)
	return out
}

// lookup is the search of a check, over the case's targets: the last one
// listed at a path.
func (c offersCase) lookup(_ context.Context, path string) (*client.Target, error) {
	var found *client.Target
	for _, t := range c.targets {
		if t.Path == path {
			found = t
		}
	}
	return found, nil
}

func (c offersCase) collect() *improvements {
	col := newImprovements(c.device, c.installed, c.excluded)
	for _, t := range c.targets {
		col.add(t)
	}
	return col
}

// TestPlanFromOffers: Plan decides the same from what the check keeps as
// from every improvement listed (what it decided from before offers):
// the same actions, reasons and targets, manifests included, for random
// repositories, installs, declines and rollout holds. The rollout sees
// the same candidates it would from every improvement, and a rollback
// picks the same lower improvement.
func TestPlanFromOffers(t *testing.T) {
	for seed := range uint64(400) {
		r := rand.New(rand.NewPCG(seed, 7))
		c := randomOffers(t, r)
		if slices.ContainsFunc(c.targets, func(t *client.Target) bool {
			return slices.ContainsFunc(c.targets, func(u *client.Target) bool { return u != t && u.Path == t.Path })
		}) {
			continue // one target per path, as in verified metadata
		}
		all, notes := Collect(c.targets)
		full := slices.DeleteFunc(slices.Clone(all), func(v Available) bool {
			in := c.installed[v.Manifest.Component]
			return c.held[v.Path] || c.excluded(v.Manifest.Component, v.Manifest.ID) && (in == nil || in.ID != v.Manifest.ID)
		})
		want := append(Plan(c.device, c.installedList(), full, nil), notes...)

		col := c.collect()
		kept := 0
		for _, o := range col.offers {
			if o.m != nil {
				kept++
			}
		}
		avail, err := col.forPlan(t.Context(), c.lookup, c.held)
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		got := append(Plan(c.device, c.installedList(), avail, nil), col.notes...)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("seed %d: plan from offers differs\ngot  %s\nwant %s", seed, describeAll(got), describeAll(want))
		}
		// Kept: the noted ones, and per component (two) the installed
		// one and the best so far.
		if kept > countNoted(col)+2*2 {
			t.Fatalf("seed %d: %d manifests kept of %d, %d of them noted", seed, kept, len(col.offers), countNoted(col))
		}

		// The rollout's candidates: the same as from every improvement.
		var cands []rollout.Candidate
		for _, v := range all {
			if v.Role == "targets" || v.Verify() != nil {
				continue
			}
			m := v.Manifest
			in := c.installed[m.Component]
			cands = append(cands, rollout.Candidate{Target: v.Path, Component: m.Component, ID: m.ID,
				Active: m.Status == manifest.StatusActive, Applicable: m.Check(c.device).Applies, Installed: in != nil && in.ID == m.ID})
		}
		if got := col.candidates(nil); !reflect.DeepEqual(got, cands) {
			t.Fatalf("seed %d: rollout candidates\ngot  %+v\nwant %+v", seed, got, cands)
		}

		// A rollback's lower improvement: manifest.Select below the
		// installed sequence, declined ones left out.
		for comp, in := range c.installed {
			var ms []*manifest.Manifest
			for _, v := range all {
				m := v.Manifest
				if m.Component == comp && m.Sequence < in.Sequence && v.Verify() == nil && !c.excluded(m.Component, m.ID) {
					ms = append(ms, m)
				}
			}
			got, err := col.lower(t.Context(), c.lookup, comp, in.Sequence)
			if err != nil {
				t.Fatal(err)
			}
			want := manifest.Select(c.device, ms)
			if (got == nil) != (want == nil) || got != nil && !reflect.DeepEqual(got.Manifest, want) {
				t.Fatalf("seed %d: lower than %s: got %+v, want %+v", seed, in.ID, got, want)
			}
		}
	}
}

func countNoted(col *improvements) int {
	n := 0
	for _, o := range col.offers {
		if o.noted() {
			n++
		}
	}
	return n
}

func describeAll(acts []Action) string {
	var s string
	for _, a := range acts {
		s += fmt.Sprintf("\n  %s %s %s: %s", a.Component, a.Kind, targetPath(a.To)+targetPath(a.Target), a.Reason)
	}
	return s
}

// TestRolloutNamedCandidates: the rollout decides the same from the
// candidates its schedules name as from every candidate (gate passes
// only those).
func TestRolloutNamedCandidates(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for seed := range uint64(200) {
		r := rand.New(rand.NewPCG(seed, 11))
		c := randomOffers(t, r)
		col := c.collect()
		all := col.candidates(nil)
		var entries []rollout.Entry
		named := map[string]bool{}
		for _, cand := range all {
			if r.IntN(3) != 0 {
				continue
			}
			s := &rollout.Schedule{Schema: rollout.Schema, Component: cand.Component, ID: cand.ID, Improvement: cand.Target,
				Start: now.Add(-time.Hour), Stages: []rollout.Stage{{BasisPoints: r.IntN(rollout.Full + 1), HoldSeconds: 3600}, {BasisPoints: rollout.Full}}}
			if r.IntN(4) == 0 {
				s.Halted = &rollout.Halt{At: now.Add(-time.Minute), Reason: "crash reports"}
			}
			custom, err := s.Custom()
			if err != nil {
				t.Fatal(err)
			}
			entries = append(entries, rollout.Entry{Path: rollout.TargetPath(cand.Component, cand.ID), Custom: custom})
			named[s.Improvement] = true
		}
		dev := rollout.Device{Seed: rollout.Seed{byte(seed), byte(seed >> 8)}}
		want := rollout.Gate(all, entries, dev, now)
		got := rollout.Gate(col.candidates(named), entries, dev, now)
		want.Allowed, got.Allowed = nil, nil
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("seed %d: gate from named candidates\ngot  %+v\nwant %+v", seed, got, want)
		}
	}
}

// TestMaterializeRefusesChangedTarget: a manifest read again must be the
// one the check saw; metadata changed in between fails with "check
// again", and nothing is decided from it.
func TestMaterializeRefusesChangedTarget(t *testing.T) {
	c := offersCase{device: manifest.Device{Platform: "macos", Release: "26.3"}, installed: map[string]*Installed{},
		declined: map[string]bool{}, held: map[string]bool{}}
	for seq := 1; seq <= 3; seq++ {
		b, err := mf("webkit", seq).Custom()
		if err != nil {
			t.Fatal(err)
		}
		c.targets = append(c.targets, &client.Target{Path: "webkit/" + mf("webkit", seq).ID + ".tar.gz", Custom: b, Roles: []string{"targets", "webkit"}})
	}
	col := c.collect()
	c.held[c.targets[2].Path] = true // the best is held back: the next one is read again
	b, err := mf("webkit", 2, func(m *manifest.Manifest) { m.Sequence = 7 }).Custom()
	if err != nil {
		t.Fatal(err)
	}
	c.targets[1] = &client.Target{Path: c.targets[1].Path, Custom: b, Roles: c.targets[1].Roles}
	_, err = col.forPlan(t.Context(), c.lookup, c.held)
	if err == nil || !strings.Contains(err.Error(), "webkit-26.3-b.tar.gz changed during the check; check again") {
		t.Fatalf("forPlan = %v, want a changed-target error", err)
	}
}

// TestOpenRemovesMetadataTemps: a role written to its temporary file as
// it verified, by a check killed before the batch renamed it, is removed
// when the agent next opens its state; the check then verifies as usual.
func TestOpenRemovesMetadataTemps(t *testing.T) {
	f := newFixture(t)
	f.publish(mf("webkit", 1))
	if _, _, err := f.converge(); err != nil {
		t.Fatal(err)
	}
	left := filepath.Join(f.state, metadataDir, ".tmp-webkit.json-1234")
	if err := os.WriteFile(left, []byte("half a role"), 0o644); err != nil {
		t.Fatal(err)
	}
	a := f.open()
	if _, err := os.Stat(left); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("temporary file left after Open: %v", err)
	}
	if _, err := a.Check(t.Context()); err != nil {
		t.Fatal(err)
	}
}
