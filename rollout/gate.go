package rollout

import (
	"encoding/json"
	"fmt"
	"time"
)

// Candidate is an improvement that a component role signed, as the device
// judged it before any rollout: the device's own decisions on status and
// applicability are inputs here, never outputs.
type Candidate struct {
	Target     string // its target path: "webkit/webkit-26.3-b.tar.gz"
	Component  string // the component role that signed it
	ID         string // its manifest's id
	Active     bool   // status active in signed metadata (false: withdrawn)
	Applicable bool   // applies to this device's platform, release and build
	Installed  bool   // installed on the device now
}

// Entry is one target of the verified rollout role: its path and custom
// field.
type Entry struct {
	Path   string
	Custom json.RawMessage
}

// Held is a candidate that a rollout holds back from this device.
type Held struct {
	Target   string
	Decision Decision
}

// Ignored is a rollout entry that gates nothing, and why.
type Ignored struct {
	Path   string
	Reason string
}

// Gated is what Gate decided.
type Gated struct {
	// Allowed lists, in candidate order, the targets of active, applicable
	// candidates that no rollout holds back: those without an entry, those
	// offered, and those already installed (a rollout never uninstalls).
	Allowed []string
	// Held lists the active, applicable candidates not installed that a
	// rollout holds back (not offered yet, or halted).
	Held []Held
	// Ignored lists entries that gate nothing: a bad path or schedule, or
	// one naming an improvement that no component role signed as active
	// and applicable to this device.
	Ignored []Ignored
	// Decisions holds, by target, the decision of every candidate an
	// entry gates.
	Decisions map[string]Decision
}

// Gate applies the rollout entries to the candidates for device d at the
// trusted time t. The rollout role can only hold back: Allowed is always a
// subset of the active, applicable candidates; a withdrawn candidate is in
// no list (withdrawals are never gated); an installed candidate is always
// allowed, halted or not. An entry is ignored, and reported, when its path
// is not "rollout/<component>/<id>.json", its custom field is not a valid
// schedule, the schedule's component or id differ from its path, or its
// improvement is not a candidate of that component that is active and
// applicable. Two entries gating one candidate hold it back when either
// does.
func Gate(cands []Candidate, entries []Entry, d Device, t time.Time) Gated {
	out := Gated{Decisions: map[string]Decision{}}
	byTarget := map[string]Candidate{}
	for _, c := range cands {
		byTarget[c.Target] = c
	}
	held := map[string]bool{}
	for _, e := range entries {
		s, reason := gateEntry(e, byTarget)
		if reason != "" {
			out.Ignored = append(out.Ignored, Ignored{Path: e.Path, Reason: reason})
			continue
		}
		dec := Decide(s, d, t)
		c := byTarget[s.Improvement]
		if prev, ok := out.Decisions[c.Target]; !ok || prev.Offered {
			out.Decisions[c.Target] = dec
		}
		if !dec.Offered && !c.Installed {
			held[c.Target] = true
		}
	}
	for _, c := range cands {
		switch {
		case !c.Active || !c.Applicable:
		case held[c.Target]:
			out.Held = append(out.Held, Held{Target: c.Target, Decision: out.Decisions[c.Target]})
		default:
			out.Allowed = append(out.Allowed, c.Target)
		}
	}
	return out
}

// gateEntry returns the schedule of an entry that gates a candidate, or
// the reason it gates nothing.
func gateEntry(e Entry, cands map[string]Candidate) (*Schedule, string) {
	comp, id, ok := ParseTargetPath(e.Path)
	if !ok {
		return nil, fmt.Sprintf("path %q is not %s/<component>/<id>.json", e.Path, Role)
	}
	s, err := FromCustom(e.Custom)
	if err != nil {
		return nil, "invalid schedule: " + err.Error()
	}
	if s.Component != comp || s.ID != id {
		return nil, fmt.Sprintf("the schedule is for %s/%s, not for its path %s", s.Component, s.ID, e.Path)
	}
	c, ok := cands[s.Improvement]
	switch {
	case !ok:
		return nil, fmt.Sprintf("gates %s, which no component role signed", s.Improvement)
	case c.Component != s.Component || c.ID != s.ID:
		return nil, fmt.Sprintf("gates %s, which role %s signed as id %s", s.Improvement, c.Component, c.ID)
	case !c.Active:
		return nil, fmt.Sprintf("gates %s, which is withdrawn: withdrawals are never gated", s.Improvement)
	case !c.Applicable:
		return nil, fmt.Sprintf("gates %s, which does not apply to this device", s.Improvement)
	}
	return s, ""
}
