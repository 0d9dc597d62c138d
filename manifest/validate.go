package manifest

import (
	"errors"
	"fmt"
	"slices"
)

// Validate checks every rule of the package documentation and returns nil or
// a *ValidationError listing every problem, each with its JSON path, in field
// order. It does not check that the component matches the role that signed
// the manifest: that is the client's job, see [Manifest.CheckTargetPath].
func (m *Manifest) Validate() error {
	if m == nil {
		return &ValidationError{Problems: []*FieldError{{Problem: "no manifest"}}}
	}
	var ps problems
	if m.Schema != Schema {
		ps.add("schema", "%q is not supported, want %q", m.Schema, Schema)
	}
	if err := ValidID(m.ID); err != nil {
		ps.add("id", "%s", nameProblem(err))
	}
	switch {
	case m.Title == "":
		ps.add("title", "empty")
	case validText(m.Title, MaxTitle) != "":
		ps.add("title", "%s", validText(m.Title, MaxTitle))
	}
	if p := validToken(m.Platform); p != "" {
		ps.add("platform", "%s", p)
	}
	if err := ValidComponent(m.Component); err != nil {
		ps.add("component", "%s", nameProblem(err))
	}
	if len(m.AppliesTo.Releases) == 0 {
		ps.add("applies_to.releases", "at least one release is required")
	}
	checkList(&ps, "applies_to.releases", m.AppliesTo.Releases, validToken)
	checkList(&ps, "applies_to.builds", m.AppliesTo.Builds, validToken)
	if m.Sequence < 1 || m.Sequence > MaxSequence {
		ps.add("sequence", "%d is out of range, want 1 to %d", m.Sequence, MaxSequence)
	}
	switch m.Severity {
	case SeverityCritical, SeverityHigh, SeverityMedium, SeverityLow:
	default:
		ps.add("severity", "%q is not one of critical, high, medium, low", m.Severity)
	}
	checkList(&ps, "advisories", m.Advisories, func(s string) string {
		if !validAdvisory(s) {
			return fmt.Sprintf("%q is not shaped like CVE-YYYY-NNNN", s)
		}
		return ""
	})
	checkList(&ps, "supersedes", m.Supersedes, func(s string) string {
		if err := ValidID(s); err != nil {
			return nameProblem(err)
		}
		if s == m.ID {
			return fmt.Sprintf("%q is the improvement itself", s)
		}
		return ""
	})
	if _, err := m.ReleasedTime(); err != nil {
		ps.add("released", "%s", err.(*FieldError).Problem)
	}
	m.validateStatus(&ps)
	return ps.err()
}

func (m *Manifest) validateStatus(ps *problems) {
	switch m.Status {
	case StatusActive:
		if m.WithdrawnReason != "" {
			ps.add("withdrawn_reason", "set, but status is %q (only a withdrawn improvement has a reason)", m.Status)
		}
	case StatusWithdrawn:
		switch {
		case m.WithdrawnReason == "":
			ps.add("withdrawn_reason", "required when status is %q", m.Status)
		case validText(m.WithdrawnReason, MaxReason) != "":
			ps.add("withdrawn_reason", "%s", validText(m.WithdrawnReason, MaxReason))
		}
	default:
		ps.add("status", "%q is not one of active, withdrawn", m.Status)
	}
}

// checkList checks each entry with check, refuses duplicates and overlong
// lists.
func checkList(ps *problems, path string, list []string, check func(string) string) {
	if len(list) > MaxListLen {
		ps.add(path, "%d entries, more than %d", len(list), MaxListLen)
		return
	}
	for i, s := range list {
		if msg := check(s); msg != "" {
			ps.add(fmt.Sprintf("%s[%d]", path, i), "%s", msg)
		} else if j := slices.Index(list[:i], s); j >= 0 {
			ps.add(fmt.Sprintf("%s[%d]", path, i), "%q repeats %s[%d]", s, path, j)
		}
	}
}

// nameProblem returns the rule a name broke, with the name quoted.
func nameProblem(err error) string {
	var ne *NameError
	if errors.As(err, &ne) {
		return fmt.Sprintf("%q: %s", ne.Name, ne.Problem)
	}
	return err.Error()
}
