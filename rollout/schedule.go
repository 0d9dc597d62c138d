package rollout

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/bsiframework/bsi/manifest"
)

// Schema is the value of the "schema" field of every schedule.
const Schema = "bsi.rollout/v1"

// Role is the name of the delegated role that signs rollout entries, and
// the first segment of their target paths.
const Role = "rollout"

// CustomKey is the key of the schedule inside a TUF target's custom field.
const CustomKey = "bsi_rollout"

// Limits of a schedule.
const (
	Full      = 10000                // basis points of every device: 100%
	MaxSize   = 64 << 10             // bytes of JSON that Parse accepts
	MaxStages = 32                   // stages of one schedule
	MaxRings  = 16                   // rings named by one stage
	MaxHold   = 365 * 24 * time.Hour // hold of one stage
	MaxReason = 1000                 // characters of a halt reason
	maxRing   = 32                   // bytes of a ring name
)

// Stage is one step of a rollout: the devices whose bucket is below
// BasisPoints (of 10000), restricted to Rings when it names any, for
// HoldSeconds before the next stage begins. The last stage is 10000 basis
// points, names no rings and has no hold.
type Stage struct {
	BasisPoints int      `json:"basis_points"`
	HoldSeconds int64    `json:"hold_seconds,omitempty"`
	Rings       []string `json:"rings,omitempty"`
}

// Hold returns the stage's hold as a duration.
func (s Stage) Hold() time.Duration { return time.Duration(s.HoldSeconds) * time.Second }

// Halt is a stop of a rollout: no device that has not installed the
// improvement is offered it. It never uninstalls.
type Halt struct {
	At     time.Time `json:"at"`
	Reason string    `json:"reason"`
}

// Schedule is the rollout of one improvement, as the rollout role signs
// it. Fields are declared in the order of their JSON keys, which is the
// sorted order: the encoding is canonical JSON.
type Schedule struct {
	Component   string    `json:"component"`
	Halted      *Halt     `json:"halted,omitempty"`
	ID          string    `json:"id"`
	Improvement string    `json:"improvement"`
	Schema      string    `json:"schema"`
	Stages      []Stage   `json:"stages"`
	Start       time.Time `json:"start"`
}

// TargetPath returns the rollout target path of an improvement:
// "rollout/<component>/<id>.json".
func TargetPath(component, id string) string { return Role + "/" + component + "/" + id + ".json" }

// ParseTargetPath splits a rollout target path into component and id; ok
// is false for any other path (or a component or id that breaks the
// naming rules).
func ParseTargetPath(path string) (component, id string, ok bool) {
	rest, ok := strings.CutPrefix(path, Role+"/")
	if !ok {
		return "", "", false
	}
	component, file, ok := strings.Cut(rest, "/")
	id, ext := strings.CutSuffix(file, ".json")
	if !ok || !ext || manifest.ValidComponent(component) != nil || manifest.ValidID(id) != nil {
		return "", "", false
	}
	return component, id, true
}

// Path returns the schedule's own target path (see [TargetPath]).
func (s *Schedule) Path() string { return TargetPath(s.Component, s.ID) }

// Validate checks every rule of the package documentation and returns the
// first problem found as a *FieldError, or nil.
func (s *Schedule) Validate() error {
	if s == nil {
		return fieldErr("", "no schedule")
	}
	if s.Schema != Schema {
		return fieldErr("schema", "%q is not supported, want %q", s.Schema, Schema)
	}
	if err := manifest.ValidComponent(s.Component); err != nil {
		return fieldErr("component", "%s", nameProblem(err))
	}
	if err := manifest.ValidID(s.ID); err != nil {
		return fieldErr("id", "%s", nameProblem(err))
	}
	if s.Improvement != s.Component+"/"+s.ID+".tar.gz" && s.Improvement != s.Component+"/"+s.ID+".tar" {
		return fieldErr("improvement", "%q is not %s/%s.tar.gz or .tar", s.Improvement, s.Component, s.ID)
	}
	if err := checkTime(s.Start); err != "" {
		return fieldErr("start", "%s", err)
	}
	if err := validateStages(s.Stages, "stages"); err != nil {
		return err
	}
	if h := s.Halted; h != nil {
		if err := checkTime(h.At); err != "" {
			return fieldErr("halted.at", "%s", err)
		}
		if h.Reason == "" {
			return fieldErr("halted.reason", "empty: say why the rollout stopped")
		}
		if p := validText(h.Reason, MaxReason); p != "" {
			return fieldErr("halted.reason", "%s", p)
		}
	}
	return nil
}

// checkTime requires a UTC time in whole seconds, from 2000 on.
func checkTime(t time.Time) string {
	switch {
	case t.Location() != time.UTC || !t.Equal(t.Truncate(time.Second)):
		return fmt.Sprintf("%s is not RFC 3339 UTC in whole seconds like 2026-11-27T10:00:00Z", t.Format(time.RFC3339Nano))
	case t.Year() < 2000 || t.Year() > 9999:
		return fmt.Sprintf("%s is out of range (2000 to 9999)", t.Format(time.RFC3339))
	}
	return ""
}

// ValidRing checks a ring name: a lower-case letter, then lower-case
// letters, digits and '-', at most 32 characters.
func ValidRing(name string) error {
	switch {
	case name == "":
		return errors.New("empty ring name")
	case len(name) > maxRing:
		return fmt.Errorf("ring %q is longer than %d characters", name, maxRing)
	case name[0] < 'a' || name[0] > 'z':
		return fmt.Errorf("ring %q must start with a lower-case letter", name)
	case strings.ContainsFunc(name, func(r rune) bool { return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') }):
		return fmt.Errorf("ring %q: only a-z, 0-9 and - are allowed", name)
	}
	return nil
}

// validateStages checks a stage list (see the package documentation).
func validateStages(stages []Stage, path string) error {
	switch {
	case len(stages) == 0:
		return fieldErr(path, "no stages: at least the final 100%% is needed")
	case len(stages) > MaxStages:
		return fieldErr(path, "%d stages, more than %d", len(stages), MaxStages)
	}
	last := len(stages) - 1
	for i, st := range stages {
		at := fmt.Sprintf("%s[%d]", path, i)
		if st.BasisPoints < 1 || st.BasisPoints > Full {
			return fieldErr(at+".basis_points", "stage %d: %d is out of range, want 1 to %d (0.01%% to 100%%)", i+1, st.BasisPoints, Full)
		}
		if len(st.Rings) > MaxRings {
			return fieldErr(at+".rings", "stage %d: %d rings, more than %d", i+1, len(st.Rings), MaxRings)
		}
		for j, r := range st.Rings {
			if err := ValidRing(r); err != nil {
				return fieldErr(fmt.Sprintf("%s.rings[%d]", at, j), "stage %d: %v", i+1, err)
			}
			if slices.Contains(st.Rings[:j], r) {
				return fieldErr(fmt.Sprintf("%s.rings[%d]", at, j), "stage %d: ring %q named twice", i+1, r)
			}
		}
		if i == last {
			switch {
			case st.BasisPoints != Full || len(st.Rings) > 0:
				return fieldErr(at, "the last stage is %s, want 100%% of every device: a rollout must end at 100%%", describe(st))
			case st.HoldSeconds != 0:
				return fieldErr(at+".hold_seconds", "the last stage (100%%) has no hold")
			}
			break
		}
		if st.HoldSeconds < 1 || st.HoldSeconds > int64(MaxHold/time.Second) {
			return fieldErr(at+".hold_seconds", "stage %d (%s): hold %ds is out of range, want 1s to %s", i+1, describe(st), st.HoldSeconds, formatHold(MaxHold))
		}
		for j := range i {
			if covers(stages[j].Rings, st.Rings) && st.BasisPoints < stages[j].BasisPoints {
				return fieldErr(at+".basis_points", "stage %d: %s is lower than stage %d's %s", i+1, describe(st), j+1, describe(stages[j]))
			}
		}
	}
	return nil
}

// covers reports whether a stage restricted to rings a reaches every
// device a stage restricted to rings b reaches (no rings: every device).
func covers(a, b []string) bool {
	if len(a) == 0 {
		return true
	}
	if len(b) == 0 {
		return false
	}
	for _, r := range b {
		if !slices.Contains(a, r) {
			return false
		}
	}
	return true
}

// describe prints a stage's share: "5%", "canary+beta 100%".
func describe(st Stage) string {
	if len(st.Rings) == 0 {
		return FormatPercent(st.BasisPoints)
	}
	return strings.Join(st.Rings, "+") + " " + FormatPercent(st.BasisPoints)
}

// validText checks free text: no control or format characters, no line
// or paragraph separators, valid UTF-8, at most max characters.
func validText(s string, max int) string {
	if !utf8.ValidString(s) {
		return "invalid UTF-8"
	}
	if n := utf8.RuneCountInString(s); n > max {
		return fmt.Sprintf("%d characters, more than %d", n, max)
	}
	if i := strings.IndexFunc(s, func(r rune) bool {
		return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == '\u2028' || r == '\u2029' || r == utf8.RuneError
	}); i >= 0 {
		return fmt.Sprintf("control, format or invalid character at byte %d", i)
	}
	return ""
}

func nameProblem(err error) string {
	var ne *manifest.NameError
	if errors.As(err, &ne) {
		return fmt.Sprintf("%q: %s", ne.Name, ne.Problem)
	}
	return err.Error()
}

// Encode validates s and returns its canonical JSON: compact, keys
// sorted, no HTML escaping, no final newline. These are the bytes of the
// rollout target file; [Parse] reads them back to an equal schedule.
func (s *Schedule) Encode() ([]byte, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return s.encode()
}

func (s *Schedule) encode() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		return nil, fieldErr("", "encoding: %v", err)
	}
	b := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	if len(b) > MaxSize {
		return nil, fieldErr("", "encoded schedule is %d bytes, more than the limit of %d", len(b), MaxSize)
	}
	return b, nil
}

// Custom validates s and returns the value of the rollout target's custom
// field: {"bsi_rollout":<the canonical schedule>}.
func (s *Schedule) Custom() (json.RawMessage, error) {
	b, err := s.Encode()
	if err != nil {
		return nil, err
	}
	return append(append([]byte(`{"`+CustomKey+`":`), b...), '}'), nil
}

// Clone returns a deep copy of s.
func (s *Schedule) Clone() *Schedule {
	c := *s
	c.Stages = make([]Stage, len(s.Stages))
	for i, st := range s.Stages {
		st.Rings = slices.Clone(st.Rings)
		c.Stages[i] = st
	}
	if s.Halted != nil {
		h := *s.Halted
		c.Halted = &h
	}
	return &c
}
