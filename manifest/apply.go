package manifest

import (
	"fmt"
	"slices"
	"strings"
)

// SequenceLabel returns the label of a sequence number as users see it:
// 1 "(a)", 2 "(b)", 26 "(z)", 27 "(aa)", 28 "(ab)", 702 "(zz)", 703 "(aaa)"
// (bijective base 26). Numbers below 1 give "(?)".
func SequenceLabel(seq int) string {
	if seq < 1 {
		return "(?)"
	}
	var b []byte
	for n := seq; n > 0; n = (n - 1) / 26 {
		b = append(b, byte('a'+(n-1)%26))
	}
	slices.Reverse(b)
	return "(" + string(b) + ")"
}

// Label returns the user-facing name of the improvement on a release:
// "26.3 (a)". With release "" it uses the first release the manifest applies
// to.
func (m *Manifest) Label(release string) string {
	if release == "" && len(m.AppliesTo.Releases) > 0 {
		release = m.AppliesTo.Releases[0]
	}
	return release + " " + SequenceLabel(m.Sequence)
}

// Device is what a client knows about itself to decide what applies.
type Device struct {
	Platform string // "macos"
	Release  string // "26.3"
	Build    string // "25D125"; matters only for manifests that list builds
}

// Reason says why an improvement does not apply to a device, or that it
// does. Reasons are checked in this order, and the first that holds is
// reported.
type Reason int

const (
	Applies       Reason = iota // the improvement is for this device and active
	WrongPlatform               // manifest platform differs from the device's
	WrongRelease                // the device's release is not in applies_to.releases
	WrongBuild                  // applies_to.builds is set and lacks the device's build
	Withdrawn                   // for this device, but withdrawn by its publisher
)

var reasonNames = [...]string{"applies", "wrong platform", "wrong release", "wrong build", "withdrawn"}

func (r Reason) String() string {
	if r < 0 || int(r) >= len(reasonNames) {
		return fmt.Sprintf("Reason(%d)", int(r))
	}
	return reasonNames[r]
}

// Applicability is the answer of [Manifest.Check].
type Applicability struct {
	Applies bool
	Reason  Reason
	// Got is the device's value that did not match, and Want the values the
	// manifest accepts (platform, releases or builds). Both are empty when
	// Reason is Applies or Withdrawn.
	Got  string
	Want []string
}

func (a Applicability) String() string {
	switch a.Reason {
	case WrongPlatform, WrongRelease, WrongBuild:
		return fmt.Sprintf("%s: device has %q, improvement is for %s", a.Reason, a.Got, strings.Join(a.Want, ", "))
	}
	return a.Reason.String()
}

// Check says whether m applies to device d and, when not, why: the platform
// must be equal, the release one of applies_to.releases, the build one of
// applies_to.builds when that list is set, and the status active. (The
// contract called this method AppliesTo; Go does not allow a method with the
// name of the AppliesTo field.)
func (m *Manifest) Check(d Device) Applicability {
	switch r := m.reason(d); r {
	case WrongPlatform:
		return Applicability{Reason: r, Got: d.Platform, Want: []string{m.Platform}}
	case WrongRelease:
		return Applicability{Reason: r, Got: d.Release, Want: slices.Clone(m.AppliesTo.Releases)}
	case WrongBuild:
		return Applicability{Reason: r, Got: d.Build, Want: slices.Clone(m.AppliesTo.Builds)}
	default:
		return Applicability{Applies: r == Applies, Reason: r}
	}
}

// reason is the Reason of Check, without allocating.
func (m *Manifest) reason(d Device) Reason {
	switch {
	case m.Platform != d.Platform:
		return WrongPlatform
	case !slices.Contains(m.AppliesTo.Releases, d.Release):
		return WrongRelease
	case len(m.AppliesTo.Builds) > 0 && !slices.Contains(m.AppliesTo.Builds, d.Build):
		return WrongBuild
	case m.Status != StatusActive:
		return Withdrawn
	}
	return Applies
}

// Select returns the improvement device d should have among ms, the
// manifests of one component: the active, applicable one with the highest
// sequence, or nil when none applies. Nil entries are skipped. Should two
// applicable manifests share a sequence (a publisher error), the later
// released one wins, then the greater id, so the answer never depends on the
// order of ms. Rules about what is installed (withdrawal, retirement) are the
// client's; see the package documentation.
func Select(d Device, ms []*Manifest) *Manifest {
	var best *Manifest
	for _, m := range ms {
		if m == nil || m.reason(d) != Applies {
			continue
		}
		if best == nil || better(m, best) {
			best = m
		}
	}
	return best
}

func better(a, b *Manifest) bool {
	if a.Sequence != b.Sequence {
		return a.Sequence > b.Sequence
	}
	if a.Released != b.Released { // RFC 3339 UTC in whole seconds sorts as text
		return a.Released > b.Released
	}
	return a.ID > b.ID
}

// SelectAll applies [Select] per component: it returns, for each component
// with an applicable improvement in ms, the desired one.
func SelectAll(d Device, ms []*Manifest) map[string]*Manifest {
	out := make(map[string]*Manifest)
	for _, m := range ms {
		if m == nil || m.reason(d) != Applies {
			continue
		}
		if best := out[m.Component]; best == nil || better(m, best) {
			out[m.Component] = m
		}
	}
	return out
}
