package agent

import (
	"errors"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/bsiframework/bsi/manifest"
	"github.com/bsiframework/bsi/trust"
)

var dev263 = manifest.Device{Platform: "macos", Release: "26.3", Build: "25D125"}

// mf returns a valid active manifest for macos 26.3; opts edit it.
func mf(component string, seq int, opts ...func(*manifest.Manifest)) *manifest.Manifest {
	m := &manifest.Manifest{
		Schema:    manifest.Schema,
		ID:        fmt.Sprintf("%s-26.3-%c", component, 'a'+seq-1),
		Title:     "fix",
		Platform:  "macos",
		Component: component,
		AppliesTo: manifest.AppliesTo{Releases: []string{"26.3"}},
		Sequence:  seq,
		Severity:  manifest.SeverityHigh,
		Released:  "2026-11-27T10:00:00Z",
		Status:    manifest.StatusActive,
	}
	for _, o := range opts {
		o(m)
	}
	return m
}

func withdrawn(m *manifest.Manifest) {
	m.Status, m.WithdrawnReason = manifest.StatusWithdrawn, "breaks video"
}

func release(r string) func(*manifest.Manifest) {
	return func(m *manifest.Manifest) {
		m.AppliesTo.Releases = []string{r}
		m.ID = fmt.Sprintf("%s-%s-%c", m.Component, r, 'a'+m.Sequence-1)
	}
}

func av(m *manifest.Manifest) Available {
	return Available{Path: m.Component + "/" + m.ID + ".tar.gz", Role: m.Component, Manifest: m}
}

func inst(m *manifest.Manifest) Installed {
	return Installed{Component: m.Component, ID: m.ID, Sequence: m.Sequence, Release: m.AppliesTo.Releases[0],
		Path: m.Component + "/" + m.ID + ".tar.gz", Manifest: m}
}

// short is a comparable summary of an action.
type short struct {
	Kind      Kind
	Component string
	From, To  string
	Target    string
	Security  bool
}

func summarize(acts []Action) []short {
	var out []short
	for _, a := range acts {
		s := short{Kind: a.Kind, Component: a.Component, Security: errors.Is(a.Err, trust.ErrSecurity)}
		if a.From != nil {
			s.From = a.From.ID
		}
		if a.To != nil {
			s.To = a.To.Manifest.ID
		}
		if a.Target != nil {
			s.Target = a.Target.Path
		}
		out = append(out, s)
	}
	return out
}

func TestPlan(t *testing.T) {
	a1, a2, a3 := mf("webkit", 1), mf("webkit", 2), mf("webkit", 3)
	a2w, a3w := mf("webkit", 2, withdrawn), mf("webkit", 3, withdrawn)
	b1 := mf("webkit", 1, release("26.4"))
	s1 := mf("safari", 1)
	dev264 := manifest.Device{Platform: "macos", Release: "26.4", Build: "25E1"}
	tests := []struct {
		name      string
		device    manifest.Device
		installed []Installed
		available []Available
		want      []short
	}{
		{"empty", dev263, nil, nil, nil},
		{"fresh device installs highest", dev263, nil, []Available{av(a1), av(a3), av(a2)},
			[]short{{Kind: Install, Component: "webkit", To: a3.ID}}},
		{"upgrade to higher", dev263, []Installed{inst(a1)}, []Available{av(a1), av(a2)},
			[]short{{Kind: Install, Component: "webkit", From: a1.ID, To: a2.ID}}},
		{"up to date", dev263, []Installed{inst(a2)}, []Available{av(a1), av(a2)},
			[]short{{Kind: None, Component: "webkit", From: a2.ID, To: a2.ID}}},
		{"withdrawn rolls back to lower", dev263, []Installed{inst(a2)}, []Available{av(a1), av(a2w)},
			[]short{{Kind: RollBack, Component: "webkit", From: a2.ID, To: a1.ID}}},
		{"withdrawn rolls back past withdrawn lower", dev263, []Installed{inst(a3)},
			[]Available{av(a1), av(a2w), av(a3w)},
			[]short{{Kind: RollBack, Component: "webkit", From: a3.ID, To: a1.ID}}},
		{"withdrawn rolls back to baseline", dev263, []Installed{inst(a1)}, []Available{av(mf("webkit", 1, withdrawn))},
			[]short{{Kind: RollBack, Component: "webkit", From: a1.ID}}},
		{"withdrawn replaced by higher", dev263, []Installed{inst(a2)}, []Available{av(a1), av(a2w), av(a3)},
			[]short{{Kind: Install, Component: "webkit", From: a2.ID, To: a3.ID}}},
		{"withdrawn not installed is skipped", dev263, nil, []Available{av(a1), av(a2w)},
			[]short{{Kind: Install, Component: "webkit", To: a1.ID}}},
		{"disappeared kept", dev263, []Installed{inst(a2)}, []Available{av(a1)},
			[]short{{Kind: KeepAndWarn, Component: "webkit", From: a2.ID, To: a1.ID}}},
		{"disappeared, nothing listed, kept", dev263, []Installed{inst(a2)}, nil,
			[]short{{Kind: KeepAndWarn, Component: "webkit", From: a2.ID}}},
		{"disappeared superseded by higher", dev263, []Installed{inst(a2)}, []Available{av(a3)},
			[]short{{Kind: Install, Component: "webkit", From: a2.ID, To: a3.ID}}},
		{"sequence never goes down without withdrawal", dev263, []Installed{inst(a3)}, []Available{av(a1), av(a2), av(a3)},
			[]short{{Kind: None, Component: "webkit", From: a3.ID, To: a3.ID}}},
		{"release change retires to new release", dev264, []Installed{inst(a2)}, []Available{av(a2), av(b1)},
			[]short{
				{Kind: Retire, Component: "webkit", From: a2.ID, To: b1.ID},
				{Kind: Ignore, Component: "webkit", Target: av(a2).Path},
			}},
		{"release change retires to baseline", dev264, []Installed{inst(a2)}, []Available{av(a2)},
			[]short{
				{Kind: Retire, Component: "webkit", From: a2.ID},
				{Kind: Ignore, Component: "webkit", Target: av(a2).Path},
			}},
		{"release change retires a disappeared one", dev264, []Installed{inst(a2)}, nil,
			[]short{{Kind: Retire, Component: "webkit", From: a2.ID}}},
		{"improvement for two releases survives release change", dev264,
			[]Installed{inst(mf("webkit", 1, func(m *manifest.Manifest) { m.AppliesTo.Releases = []string{"26.3", "26.4"} }))},
			[]Available{av(mf("webkit", 1, func(m *manifest.Manifest) { m.AppliesTo.Releases = []string{"26.3", "26.4"} }))},
			[]short{{Kind: None, Component: "webkit", From: a1.ID, To: a1.ID}}},
		{"wrong platform ignored", dev263, nil, []Available{av(mf("webkit", 1, func(m *manifest.Manifest) { m.Platform = "ios" }))},
			[]short{
				{Kind: None, Component: "webkit"},
				{Kind: Ignore, Component: "webkit", Target: av(a1).Path},
			}},
		{"wrong build ignored", dev263, nil, []Available{av(mf("webkit", 1, func(m *manifest.Manifest) { m.AppliesTo.Builds = []string{"25D200"} }))},
			[]short{
				{Kind: None, Component: "webkit"},
				{Kind: Ignore, Component: "webkit", Target: av(a1).Path},
			}},
		{"matching build installs", dev263, nil, []Available{av(mf("webkit", 1, func(m *manifest.Manifest) { m.AppliesTo.Builds = []string{"25D125"} }))},
			[]short{{Kind: Install, Component: "webkit", To: a1.ID}}},
		{"components decided independently", dev263, []Installed{inst(a1)}, []Available{av(a1), av(s1)},
			[]short{
				{Kind: Install, Component: "safari", To: s1.ID},
				{Kind: None, Component: "webkit", From: a1.ID, To: a1.ID},
			}},
		{"component differs from role rejected", dev263, nil,
			[]Available{{Path: "webkit/safari-26.3-a.tar.gz", Role: "webkit", Manifest: s1}},
			[]short{{Kind: Reject, Component: "webkit", Target: "webkit/safari-26.3-a.tar.gz", Security: true},
				{Kind: Blocked, Component: "webkit"}}},
		{"component differs from path rejected", dev263, nil,
			[]Available{{Path: "safari/webkit-26.3-a.tar.gz", Role: "webkit", Manifest: a1}},
			[]short{{Kind: Reject, Component: "webkit", Target: "safari/webkit-26.3-a.tar.gz", Security: true},
				{Kind: Blocked, Component: "webkit"}}},
		{"id differs from path rejected", dev263, nil,
			[]Available{{Path: "webkit/webkit-26.3-z.tar.gz", Role: "webkit", Manifest: a1}},
			[]short{{Kind: Reject, Component: "webkit", Target: "webkit/webkit-26.3-z.tar.gz", Security: true},
				{Kind: Blocked, Component: "webkit"}}},
		{"top-level role may not sign improvements", dev263, nil,
			[]Available{{Path: av(a1).Path, Role: "targets", Manifest: a1}},
			[]short{{Kind: Reject, Component: "targets", Target: av(a1).Path, Security: true}}},
		{"rejected higher target never desired", dev263, []Installed{inst(a1)},
			[]Available{av(a1), {Path: "webkit/webkit-26.3-b.tar.gz", Role: "safari", Manifest: a2}},
			[]short{
				{Kind: Reject, Component: "safari", Target: "webkit/webkit-26.3-b.tar.gz", Security: true},
				{Kind: Blocked, Component: "safari"},
				{Kind: None, Component: "webkit", From: a1.ID, To: a1.ID},
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := summarize(Plan(tt.device, tt.installed, tt.available, nil))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Plan (-want +got):\n%s", diff)
			}
		})
	}
}

// TestPlanBlocked: a component whose metadata failed, or whose role
// signed a rejected target, is blocked (kept as it is, never rolled back
// or retired for want of its targets), and every other component is
// decided as usual.
func TestPlanBlocked(t *testing.T) {
	a1, a2, a2w := mf("webkit", 1), mf("webkit", 2), mf("webkit", 2, withdrawn)
	s1, s2, s2w := mf("safari", 1), mf("safari", 2), mf("safari", 2, withdrawn)
	expired := fmt.Errorf("webkit.json expired: %w", trust.ErrFreshness)
	forged := fmt.Errorf("webkit.json signature: %w", trust.ErrSecurity)
	missing := errors.New("webkit.json: 404 Not Found")
	evil := Available{Path: "webkit/webkit-evil.tar.gz", Role: "webkit",
		Manifest: mf("safari", 3, func(m *manifest.Manifest) { m.ID = "webkit-evil" })}
	dev264 := manifest.Device{Platform: "macos", Release: "26.4", Build: "25E1"}
	tests := []struct {
		name      string
		device    manifest.Device
		installed []Installed
		available []Available
		failed    map[string]error
		want      []short
		security  bool
	}{
		{"expired role keeps its improvement, safari rolls back", dev263,
			[]Installed{inst(a2), inst(s2)}, []Available{av(s1), av(s2w)}, map[string]error{"webkit": expired},
			[]short{
				{Kind: RollBack, Component: "safari", From: s2.ID, To: s1.ID},
				{Kind: Blocked, Component: "webkit", From: a2.ID},
			}, false},
		{"failed role's verified targets are not used", dev263,
			[]Installed{inst(a2)}, []Available{av(a1), av(a2w)}, map[string]error{"webkit": forged},
			[]short{{Kind: Blocked, Component: "webkit", From: a2.ID, Security: true}}, true},
		{"missing role is not a disappearance", dev263,
			[]Installed{inst(a2)}, nil, map[string]error{"webkit": missing},
			[]short{{Kind: Blocked, Component: "webkit", From: a2.ID}}, false},
		{"failed role is not retired on release change", dev264,
			[]Installed{inst(a2)}, nil, map[string]error{"webkit": expired},
			[]short{{Kind: Blocked, Component: "webkit", From: a2.ID}}, false},
		{"rejected target blocks its role, not the component it claims", dev263,
			[]Installed{inst(a1), inst(s2)}, []Available{av(a1), av(a2), evil, av(s1), av(s2w)}, nil,
			[]short{
				{Kind: RollBack, Component: "safari", From: s2.ID, To: s1.ID},
				{Kind: Reject, Component: "webkit", Target: evil.Path, Security: true},
				{Kind: Blocked, Component: "webkit", From: a1.ID},
			}, true},
		{"improvement signed by top-level targets blocks every component", dev263,
			[]Installed{inst(a1), inst(s2)}, []Available{av(a1), {Path: av(a2).Path, Role: "targets", Manifest: a2}, av(s1), av(s2w)}, nil,
			[]short{
				{Kind: Blocked, Component: "safari", From: s2.ID},
				{Kind: Reject, Component: "targets", Target: av(a2).Path, Security: true},
				{Kind: Blocked, Component: "webkit", From: a1.ID},
			}, true},
		{"fresh device installs what is not blocked", dev263,
			nil, []Available{av(a1), av(s1)}, map[string]error{"webkit": expired},
			[]short{
				{Kind: Install, Component: "safari", To: s1.ID},
				{Kind: Blocked, Component: "webkit"},
			}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			acts := Plan(tt.device, tt.installed, tt.available, tt.failed)
			if diff := cmp.Diff(tt.want, summarize(acts)); diff != "" {
				t.Errorf("Plan (-want +got):\n%s", diff)
			}
			rep := &Report{Plan: acts}
			err := rep.Err()
			if got := errors.Is(err, trust.ErrSecurity); got != tt.security {
				t.Errorf("Report.Err() = %v: security %v, want %v", err, got, tt.security)
			}
			for c, ferr := range tt.failed {
				var ce *ComponentError
				if !errors.As(err, &ce) || ce.Component != c || !errors.Is(err, ferr) {
					t.Errorf("Report.Err() = %v, want a *ComponentError for %s wrapping %v", err, c, ferr)
				}
			}
		})
	}
}

// TestReportErrSecurityWinsOverFreshness: the run's class is the worst
// component's: security (exit 3) before freshness (exit 4).
func TestReportErrSecurityWinsOverFreshness(t *testing.T) {
	acts := Plan(dev263, nil, nil, map[string]error{
		"webkit": fmt.Errorf("expired: %w", trust.ErrFreshness),
		"safari": fmt.Errorf("bad signature: %w", trust.ErrSecurity),
	})
	rep := &Report{Plan: acts}
	if got := errorClass(rep.Err()); got != "security" {
		t.Errorf("class of %v = %s, want security", rep.Err(), got)
	}
	if !errors.Is(rep.Err(), trust.ErrFreshness) {
		t.Errorf("%v lost the freshness failure", rep.Err())
	}
}

func TestMismatchErrorNamesRolePathComponent(t *testing.T) {
	a := Available{Path: "webkit/safari-26.3-a.tar.gz", Role: "webkit", Manifest: mf("safari", 1)}
	err := a.Verify()
	var me *MismatchError
	if !errors.As(err, &me) || !errors.Is(err, trust.ErrSecurity) {
		t.Fatalf("Verify = %v, want a *MismatchError wrapping trust.ErrSecurity", err)
	}
	want := `target webkit/safari-26.3-a.tar.gz signed by role webkit: manifest component "safari" differs from signing role "webkit"`
	if err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
}

func TestKindText(t *testing.T) {
	for k := None; k <= Blocked; k++ {
		b, _ := k.MarshalText()
		var back Kind
		if err := back.UnmarshalText(b); err != nil || back != k {
			t.Errorf("%v: round trip gave %v, %v", k, back, err)
		}
	}
	var k Kind
	if err := k.UnmarshalText([]byte("explode")); err == nil {
		t.Error("unknown kind accepted")
	}
}
