package manifest

import (
	"fmt"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSequenceLabel(t *testing.T) {
	for seq, want := range map[int]string{
		1: "(a)", 2: "(b)", 25: "(y)", 26: "(z)", 27: "(aa)", 28: "(ab)", 52: "(az)",
		53: "(ba)", 702: "(zz)", 703: "(aaa)", 18278: "(zzz)", 18279: "(aaaa)",
		MaxSequence: "(fxshrxw)", 0: "(?)", -1: "(?)",
	} {
		if got := SequenceLabel(seq); got != want {
			t.Errorf("SequenceLabel(%d) = %q, want %q", seq, got, want)
		}
	}
}

// TestSequenceLabelDistinct checks that labels are distinct and ordered by
// length then alphabet, like the numbers they stand for.
func TestSequenceLabelDistinct(t *testing.T) {
	prev := SequenceLabel(1)
	for seq := 2; seq <= 20000; seq++ {
		l := SequenceLabel(seq)
		if len(l) < len(prev) || len(l) == len(prev) && l <= prev {
			t.Fatalf("SequenceLabel(%d) = %q does not follow %q", seq, l, prev)
		}
		prev = l
	}
}

func TestLabel(t *testing.T) {
	m := valid()
	m.AppliesTo.Releases = []string{"26.3", "26.3.1"}
	m.Sequence = 27
	if got := m.Label("26.3.1"); got != "26.3.1 (aa)" {
		t.Errorf("Label = %q", got)
	}
	if got := m.Label(""); got != "26.3 (aa)" {
		t.Errorf("Label(\"\") = %q", got)
	}
}

func TestCheck(t *testing.T) {
	m := valid() // macos, release 26.3, build 25D125
	withdrawn := valid()
	withdrawn.Status, withdrawn.WithdrawnReason = StatusWithdrawn, "broke things"
	anyBuild := valid()
	anyBuild.AppliesTo = AppliesTo{Releases: []string{"26.3", "26.3.1"}}
	tests := []struct {
		name string
		m    *Manifest
		d    Device
		want Applicability
	}{
		{"applies", m, Device{"macos", "26.3", "25D125"}, Applicability{Applies: true}},
		{"other platform", m, Device{"ios", "26.3", "25D125"}, Applicability{Reason: WrongPlatform, Got: "ios", Want: []string{"macos"}}},
		{"platform case matters", m, Device{"macOS", "26.3", "25D125"}, Applicability{Reason: WrongPlatform, Got: "macOS", Want: []string{"macos"}}},
		{"other release", m, Device{"macos", "26.4", "25E100"}, Applicability{Reason: WrongRelease, Got: "26.4", Want: []string{"26.3"}}},
		{"release prefix is not a match", m, Device{"macos", "26", "25D125"}, Applicability{Reason: WrongRelease, Got: "26", Want: []string{"26.3"}}},
		{"other build", m, Device{"macos", "26.3", "25D126"}, Applicability{Reason: WrongBuild, Got: "25D126", Want: []string{"25D125"}}},
		{"no build given", m, Device{"macos", "26.3", ""}, Applicability{Reason: WrongBuild, Got: "", Want: []string{"25D125"}}},
		{"any build", anyBuild, Device{"macos", "26.3.1", "whatever"}, Applicability{Applies: true}},
		{"withdrawn", withdrawn, Device{"macos", "26.3", "25D125"}, Applicability{Reason: Withdrawn}},
		{"withdrawn elsewhere is wrong platform first", withdrawn, Device{"ios", "26.3", "25D125"}, Applicability{Reason: WrongPlatform, Got: "ios", Want: []string{"macos"}}},
	}
	for _, tt := range tests {
		got := tt.m.Check(tt.d)
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%s: (-want +got):\n%s", tt.name, diff)
		}
	}
}

func TestCheckDoesNotShareLists(t *testing.T) {
	m := valid()
	a := m.Check(Device{"macos", "27.0", ""})
	a.Want[0] = "changed"
	if m.AppliesTo.Releases[0] != "26.3" {
		t.Error("Applicability.Want aliases the manifest")
	}
}

func TestReasonString(t *testing.T) {
	var got []string
	for r := Applies; r <= Withdrawn+1; r++ {
		got = append(got, r.String())
	}
	want := []string{"applies", "wrong platform", "wrong release", "wrong build", "withdrawn", "Reason(5)"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	a := valid().Check(Device{"macos", "26.4", ""})
	if s := a.String(); s != `wrong release: device has "26.4", improvement is for 26.3` {
		t.Errorf("Applicability.String() = %q", s)
	}
}

// improvement returns an active webkit manifest for macOS with the given
// sequence and releases.
func improvement(seq int, releases ...string) *Manifest {
	m := valid()
	m.AppliesTo = AppliesTo{Releases: releases}
	m.Sequence = seq
	m.ID = fmt.Sprintf("webkit-%s", SequenceLabel(seq)[1:2])
	m.Supersedes = nil
	return m
}

func withdraw(m *Manifest) *Manifest {
	m.Status, m.WithdrawnReason = StatusWithdrawn, "broke things"
	return m
}

func TestSelect(t *testing.T) {
	d := Device{Platform: "macos", Release: "26.3", Build: "25D125"}
	a, b, c := improvement(1, "26.3"), improvement(2, "26.3"), improvement(3, "26.3")
	bWithdrawn := withdraw(improvement(2, "26.3"))
	cOtherRelease := improvement(3, "26.4")
	cOtherPlatform := improvement(3, "26.3")
	cOtherPlatform.Platform = "ios"
	cOtherBuild := improvement(3, "26.3")
	cOtherBuild.AppliesTo.Builds = []string{"25D999"}
	tests := []struct {
		name string
		ms   []*Manifest
		want *Manifest
	}{
		{"none", nil, nil},
		{"only nil", []*Manifest{nil}, nil},
		{"highest sequence", []*Manifest{a, c, b}, c},
		{"withdrawn highest falls back", []*Manifest{a, bWithdrawn}, a},
		{"all withdrawn", []*Manifest{bWithdrawn}, nil},
		{"other release skipped", []*Manifest{a, b, cOtherRelease}, b},
		{"other platform skipped", []*Manifest{nil, a, cOtherPlatform}, a},
		{"other build skipped", []*Manifest{b, cOtherBuild}, b},
		{"nothing for this release", []*Manifest{cOtherRelease}, nil},
	}
	for _, tt := range tests {
		if got := Select(d, tt.ms); got != tt.want {
			t.Errorf("%s: Select = %v, want %v", tt.name, label(got), label(tt.want))
		}
	}
}

// TestSelectTieIgnoresOrder: two manifests with one sequence (a publisher
// mistake) must give one answer whatever the order of the list.
func TestSelectTieIgnoresOrder(t *testing.T) {
	d := Device{Platform: "macos", Release: "26.3"}
	x, y, z := improvement(2, "26.3"), improvement(2, "26.3"), improvement(2, "26.3")
	x.ID, y.ID, z.ID = "webkit-x", "webkit-y", "webkit-z"
	y.Released = "2026-12-01T00:00:00Z" // latest: wins
	ms := []*Manifest{x, y, z, improvement(1, "26.3")}
	for range 24 {
		if got := Select(d, ms); got != y {
			t.Fatalf("order %v: Select = %s", ids(ms), got.ID)
		}
		ms = append(ms[1:], ms[0])
		slices.Reverse(ms[:2])
	}
	y.Released = x.Released // same time: greatest id wins
	if got := Select(d, []*Manifest{z, x, y}); got != z {
		t.Errorf("Select = %s, want webkit-z", got.ID)
	}
}

func TestSelectAll(t *testing.T) {
	d := Device{Platform: "macos", Release: "26.3"}
	w1, w2 := improvement(1, "26.3"), improvement(2, "26.3")
	x1 := improvement(1, "26.3")
	x1.Component, x1.ID = "libxml2", "libxml2-a"
	x2 := withdraw(improvement(2, "26.3"))
	x2.Component, x2.ID = "libxml2", "libxml2-b"
	k := improvement(4, "26.4")
	k.Component = "kernel"
	got := SelectAll(d, []*Manifest{w2, x1, w1, x2, k, nil})
	want := map[string]*Manifest{"webkit": w2, "libxml2": x1}
	if !cmp.Equal(want, got) {
		t.Errorf("SelectAll = %v", got)
	}
}

func label(m *Manifest) string {
	if m == nil {
		return "nil"
	}
	return m.ID + " " + m.Label("")
}

func ids(ms []*Manifest) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.ID)
	}
	return out
}
