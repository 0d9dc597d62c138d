package manifest

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// valid returns a manifest that passes every rule; tests mutate copies.
func valid() *Manifest {
	return &Manifest{
		Schema:          Schema,
		ID:              "webkit-26.3-a",
		Title:           "WebKit: use-after-free in media element",
		Platform:        "macos",
		Component:       "webkit",
		AppliesTo:       AppliesTo{Releases: []string{"26.3"}, Builds: []string{"25D125"}},
		Sequence:        1,
		Severity:        SeverityHigh,
		Advisories:      []string{"CVE-2026-20001"},
		Supersedes:      []string{"webkit-26.2-c"},
		RequiresRestart: false,
		Released:        "2026-11-27T10:00:00Z",
		Status:          StatusActive,
	}
}

func TestValidateAcceptsValid(t *testing.T) {
	for name, m := range map[string]*Manifest{
		"full": valid(),
		"minimal": func() *Manifest {
			m := valid()
			m.AppliesTo.Builds, m.Advisories, m.Supersedes = nil, nil, nil
			return m
		}(),
		"withdrawn": func() *Manifest {
			m := valid()
			m.Status, m.WithdrawnReason = StatusWithdrawn, "breaks video playback"
			return m
		}(),
		"limits": func() *Manifest {
			m := valid()
			m.ID = "a" + strings.Repeat("b", 63)
			m.Component = "c" + strings.Repeat("-", 31)
			m.Platform = strings.Repeat("P", 64)
			m.Title = strings.Repeat("é", MaxTitle)
			m.Sequence = MaxSequence
			m.Severity = SeverityLow
			m.AppliesTo.Releases = nil
			for i := range MaxListLen {
				m.AppliesTo.Releases = append(m.AppliesTo.Releases, fmt.Sprint("26.", i))
			}
			m.Advisories = []string{"CVE-1999-0001", "CVE-2026-1234567890123456789"}
			return m
		}(),
	} {
		if err := m.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestValidateRules checks that each broken rule gives exactly one problem,
// at the right path, saying what is wrong; and that Decode of the same
// manifest as JSON reports the same.
func TestValidateRules(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(m *Manifest)
		path    string
		problem string
	}{
		{"schema other version", func(m *Manifest) { m.Schema = "bsi.improvement/v2" }, "schema", `"bsi.improvement/v2" is not supported`},
		{"schema empty", func(m *Manifest) { m.Schema = "" }, "schema", `"" is not supported, want "bsi.improvement/v1"`},
		{"id too short", func(m *Manifest) { m.ID = "ab" }, "id", "shorter than 3"},
		{"id too long", func(m *Manifest) { m.ID = strings.Repeat("a", 65) }, "id", "longer than 64"},
		{"id upper case", func(m *Manifest) { m.ID = "WebKit-1" }, "id", "must start with a lower-case letter or a digit"},
		{"id leading dot", func(m *Manifest) { m.ID = ".webkit" }, "id", "must start with"},
		{"id slash", func(m *Manifest) { m.ID = "webkit/../x" }, "id", `character "/" not allowed`},
		{"id underscore", func(m *Manifest) { m.ID = "webkit_1" }, "id", `character "_" not allowed`},
		{"id non-ASCII", func(m *Manifest) { m.ID = "webkité" }, "id", `character "é" not allowed`},
		{"id dot-dot", func(m *Manifest) { m.ID = "webkit..1" }, "id", `must not contain ".."`},
		{"title empty", func(m *Manifest) { m.Title = "" }, "title", "empty"},
		{"title too long", func(m *Manifest) { m.Title = strings.Repeat("x", MaxTitle+1) }, "title", "201 characters, more than 200"},
		{"title control", func(m *Manifest) { m.Title = "a\x1b[31mred" }, "title", "control or invalid character at byte 1"},
		{"title newline", func(m *Manifest) { m.Title = "two\nlines" }, "title", "control or invalid character at byte 3"},
		{"title replacement char", func(m *Manifest) { m.Title = "bad \ufffd" }, "title", "control or invalid character"},
		{"platform empty", func(m *Manifest) { m.Platform = "" }, "platform", "empty"},
		{"platform space", func(m *Manifest) { m.Platform = "mac os" }, "platform", `character " " not allowed`},
		{"platform leading dash", func(m *Manifest) { m.Platform = "-macos" }, "platform", "must start with a letter or a digit"},
		{"platform too long", func(m *Manifest) { m.Platform = strings.Repeat("m", 65) }, "platform", "longer than 64"},
		{"component empty", func(m *Manifest) { m.Component = "" }, "component", "empty"},
		{"component upper case", func(m *Manifest) { m.Component = "WebKit" }, "component", "must start with a lower-case letter"},
		{"component digit first", func(m *Manifest) { m.Component = "1webkit" }, "component", "must start with a lower-case letter"},
		{"component underscore", func(m *Manifest) { m.Component = "web_kit" }, "component", `character "_" not allowed`},
		{"component too long", func(m *Manifest) { m.Component = strings.Repeat("w", 33) }, "component", "longer than 32"},
		{"component root", func(m *Manifest) { m.Component = "root" }, "component", "reserved for the root role"},
		{"component targets", func(m *Manifest) { m.Component = "targets" }, "component", "reserved for the targets role"},
		{"component snapshot", func(m *Manifest) { m.Component = "snapshot" }, "component", "reserved for the snapshot role"},
		{"component timestamp", func(m *Manifest) { m.Component = "timestamp" }, "component", "reserved for the timestamp role"},
		{"component rollout", func(m *Manifest) { m.Component = "rollout" }, "component", "reserved for the rollout role"},
		{"releases none", func(m *Manifest) { m.AppliesTo.Releases = []string{} }, "applies_to.releases", "at least one release is required"},
		{"release empty", func(m *Manifest) { m.AppliesTo.Releases = []string{"26.3", ""} }, "applies_to.releases[1]", "empty"},
		{"release duplicate", func(m *Manifest) { m.AppliesTo.Releases = []string{"26.3", "26.4", "26.3"} }, "applies_to.releases[2]", `"26.3" repeats applies_to.releases[0]`},
		{"release slash", func(m *Manifest) { m.AppliesTo.Releases = []string{"26/3"} }, "applies_to.releases[0]", `character "/" not allowed`},
		{"releases too many", func(m *Manifest) {
			m.AppliesTo.Releases = strings.Split(strings.Repeat("r,", MaxListLen)+"r", ",")
		}, "applies_to.releases", "65 entries, more than 64"},
		{"build bad", func(m *Manifest) { m.AppliesTo.Builds = []string{"25D125", "25 D"} }, "applies_to.builds[1]", `character " " not allowed`},
		{"build duplicate", func(m *Manifest) { m.AppliesTo.Builds = []string{"25D125", "25D125"} }, "applies_to.builds[1]", "repeats applies_to.builds[0]"},
		{"sequence zero", func(m *Manifest) { m.Sequence = 0 }, "sequence", "0 is out of range, want 1 to 2147483647"},
		{"sequence negative", func(m *Manifest) { m.Sequence = -3 }, "sequence", "-3 is out of range"},
		{"sequence too big", func(m *Manifest) { m.Sequence = MaxSequence + 1 }, "sequence", "2147483648 is out of range"},
		{"severity empty", func(m *Manifest) { m.Severity = "" }, "severity", `"" is not one of critical, high, medium, low`},
		{"severity unknown", func(m *Manifest) { m.Severity = "urgent" }, "severity", `"urgent" is not one of`},
		{"severity capitalised", func(m *Manifest) { m.Severity = "High" }, "severity", `"High" is not one of`},
		{"advisory lower case", func(m *Manifest) { m.Advisories = []string{"cve-2026-20001"} }, "advisories[0]", "not shaped like CVE-YYYY-NNNN"},
		{"advisory short year", func(m *Manifest) { m.Advisories = []string{"CVE-26-20001"} }, "advisories[0]", "not shaped like"},
		{"advisory three digits", func(m *Manifest) { m.Advisories = []string{"CVE-2026-123"} }, "advisories[0]", "not shaped like"},
		{"advisory letters", func(m *Manifest) { m.Advisories = []string{"CVE-2026-12a4"} }, "advisories[0]", "not shaped like"},
		{"advisory other scheme", func(m *Manifest) { m.Advisories = []string{"CVE-2026-1234", "GHSA-xxxx-yyyy-zzzz"} }, "advisories[1]", `"GHSA-xxxx-yyyy-zzzz" is not shaped like`},
		{"advisory trailing", func(m *Manifest) { m.Advisories = []string{"CVE-2026-1234-1"} }, "advisories[0]", "not shaped like"},
		{"advisory duplicate", func(m *Manifest) { m.Advisories = []string{"CVE-2026-1234", "CVE-2026-1234"} }, "advisories[1]", "repeats advisories[0]"},
		{"supersedes itself", func(m *Manifest) { m.Supersedes = []string{"webkit-26.2-c", "webkit-26.3-a"} }, "supersedes[1]", `"webkit-26.3-a" is the improvement itself`},
		{"supersedes bad id", func(m *Manifest) { m.Supersedes = []string{"Old"} }, "supersedes[0]", `"Old": must start with`},
		{"supersedes duplicate", func(m *Manifest) { m.Supersedes = []string{"webkit-1", "webkit-1"} }, "supersedes[1]", "repeats supersedes[0]"},
		{"released empty", func(m *Manifest) { m.Released = "" }, "released", "not RFC 3339 UTC"},
		{"released offset", func(m *Manifest) { m.Released = "2026-11-27T11:00:00+01:00" }, "released", "not RFC 3339 UTC"},
		{"released fraction", func(m *Manifest) { m.Released = "2026-11-27T10:00:00.5Z" }, "released", "whole seconds"},
		{"released lower-case z", func(m *Manifest) { m.Released = "2026-11-27t10:00:00z" }, "released", "not RFC 3339"},
		{"released date only", func(m *Manifest) { m.Released = "2026-11-27" }, "released", "not RFC 3339"},
		{"released impossible date", func(m *Manifest) { m.Released = "2026-02-30T10:00:00Z" }, "released", "not RFC 3339"},
		{"status empty", func(m *Manifest) { m.Status = "" }, "status", `"" is not one of active, withdrawn`},
		{"status unknown", func(m *Manifest) { m.Status = "pulled" }, "status", `"pulled" is not one of active, withdrawn`},
		{"withdrawn without reason", func(m *Manifest) { m.Status = StatusWithdrawn }, "withdrawn_reason", `required when status is "withdrawn"`},
		{"reason while active", func(m *Manifest) { m.WithdrawnReason = "oops" }, "withdrawn_reason", `set, but status is "active"`},
		{"reason control", func(m *Manifest) { m.Status, m.WithdrawnReason = StatusWithdrawn, "bad\x00" }, "withdrawn_reason", "control or invalid character at byte 3"},
		{"reason too long", func(m *Manifest) {
			m.Status, m.WithdrawnReason = StatusWithdrawn, strings.Repeat("r", MaxReason+1)
		}, "withdrawn_reason", "1001 characters, more than 1000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := valid()
			tt.mutate(m)
			checkOneProblem(t, "Validate", m.Validate(), tt.path, tt.problem)
			data, err := json.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			_, err = Decode(data)
			checkOneProblem(t, "Decode", err, tt.path, tt.problem)
			_, err = m.Encode()
			checkOneProblem(t, "Encode", err, tt.path, tt.problem)
		})
	}
}

func checkOneProblem(t *testing.T, what string, err error, path, problem string) {
	t.Helper()
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("%s: got %v, want a *ValidationError", what, err)
	}
	if len(ve.Problems) != 1 {
		t.Fatalf("%s: got %d problems, want 1: %v", what, len(ve.Problems), err)
	}
	p := ve.Problems[0]
	if p.Path != path || !strings.Contains(p.Problem, problem) {
		t.Errorf("%s: got %q, want path %q and a problem containing %q", what, p, path, problem)
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	m := valid()
	m.ID = "X"
	m.AppliesTo.Releases = []string{"26.3", "26.3"}
	m.Sequence = 0
	m.Status = StatusWithdrawn
	err := m.Validate()
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("got %v, want a *ValidationError", err)
	}
	want := []*FieldError{
		{"id", `"X": shorter than 3 characters`},
		{"applies_to.releases[1]", `"26.3" repeats applies_to.releases[0]`},
		{"sequence", "0 is out of range, want 1 to 2147483647"},
		{"withdrawn_reason", `required when status is "withdrawn"`},
	}
	if diff := cmp.Diff(want, ve.Problems); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Path != "id" {
		t.Errorf("errors.As(*FieldError) = %v, want the first problem", fe)
	}
	wantMsg := `invalid manifest: id: "X": shorter than 3 characters; applies_to.releases[1]: "26.3" repeats`
	if !strings.HasPrefix(err.Error(), wantMsg) {
		t.Errorf("Error() = %q, want prefix %q", err, wantMsg)
	}
}

func TestValidateNil(t *testing.T) {
	var m *Manifest
	if err := m.Validate(); err == nil {
		t.Error("nil manifest validated")
	}
}

func TestValidNames(t *testing.T) {
	tests := []struct {
		check   func(string) error
		name    string
		problem string // "" when valid
	}{
		{ValidComponent, "webkit", ""},
		{ValidComponent, "a", ""},
		{ValidComponent, "lib-xml2", ""},
		{ValidComponent, "targets", "reserved for the targets role"},
		{ValidComponent, "Targets", "must start with a lower-case letter"},
		{ValidComponent, "-webkit", "must start with a lower-case letter"},
		{ValidComponent, "web.kit", `character "." not allowed`},
		{ValidComponent, "webkit/x", `character "/" not allowed`},
		{ValidComponent, "", "empty"},
		{ValidID, "a..", `must not contain ".."`},
		{ValidID, "a.b.c", ""},
		{ValidID, "0day.fix+1", ""},
		{ValidID, "a..", `must not contain ".."`},
		{ValidID, "a.b.c", ""},
		{ValidID, "..a", "must start with"},
		{ValidID, "a b", `character " " not allowed`},
		{ValidID, "", "shorter than 3"},
	}
	for _, tt := range tests {
		err := tt.check(tt.name)
		if tt.problem == "" {
			if err != nil {
				t.Errorf("%q: %v", tt.name, err)
			}
			continue
		}
		var ne *NameError
		if !errors.As(err, &ne) || ne.Name != tt.name || !strings.Contains(ne.Problem, tt.problem) {
			t.Errorf("%q: got %v, want a *NameError containing %q", tt.name, err, tt.problem)
		}
	}
}
