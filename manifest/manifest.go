package manifest

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Schema is the value of the "schema" field of every manifest this package
// reads and writes.
const Schema = "bsi.improvement/v1"

// MaxSize is the largest manifest, in bytes of JSON, that [Decode] accepts.
const MaxSize = 64 << 10

// Limits on free-text and list fields.
const (
	MaxSequence     = 1<<31 - 1 // fits an int everywhere and a JSON number exactly
	MaxTitle        = 200       // characters of title
	MaxReason       = 1000      // characters of withdrawn_reason
	MaxListLen      = 64        // entries of releases, builds, advisories, supersedes
	maxTokenLen     = 64        // bytes of a platform, release or build name
	maxComponentLen = 32
)

// Status says whether an improvement is offered or has been taken back.
type Status string

const (
	StatusActive    Status = "active"
	StatusWithdrawn Status = "withdrawn"
)

// Severity is the publisher's rating of the problem an improvement fixes.
type Severity string

const (
	SeverityCritical Severity = "critical"
	SeverityHigh     Severity = "high"
	SeverityMedium   Severity = "medium"
	SeverityLow      Severity = "low"
)

// AppliesTo says which devices an improvement is for: any of Releases and,
// when Builds is not empty, only those builds.
type AppliesTo struct {
	Releases []string `json:"releases"`
	Builds   []string `json:"builds,omitempty"`
}

// Manifest describes one improvement. The JSON form is specified in the
// package documentation; fields without omitempty are required in JSON.
type Manifest struct {
	Schema          string    `json:"schema"`
	ID              string    `json:"id"`
	Title           string    `json:"title"`
	Platform        string    `json:"platform"`
	Component       string    `json:"component"`
	AppliesTo       AppliesTo `json:"applies_to"`
	Sequence        int       `json:"sequence"`
	Severity        Severity  `json:"severity"`
	Advisories      []string  `json:"advisories,omitempty"`
	Supersedes      []string  `json:"supersedes,omitempty"`
	RequiresRestart bool      `json:"requires_restart"`
	Released        string    `json:"released"`
	Status          Status    `json:"status"`
	WithdrawnReason string    `json:"withdrawn_reason,omitempty"`
}

// reservedRoles are the top-level TUF roles and the rollout role; no
// component may take their name.
var reservedRoles = []string{"root", "targets", "snapshot", "timestamp", "rollout"}

// ValidComponent checks a component name: a lower-case letter, then lower-case
// letters, digits and '-', at most 32 characters, and not one of the role
// names root, targets, snapshot, timestamp, rollout. The error is a
// *NameError.
func ValidComponent(name string) error {
	bad := func(format string, a ...any) error {
		return &NameError{Kind: "component", Name: name, Problem: fmt.Sprintf(format, a...)}
	}
	switch {
	case name == "":
		return bad("empty")
	case len(name) > maxComponentLen:
		return bad("longer than %d characters", maxComponentLen)
	case name[0] < 'a' || name[0] > 'z':
		return bad("must start with a lower-case letter")
	case slices.Contains(reservedRoles, name):
		return bad("reserved for the %s role", name)
	}
	if i := strings.IndexFunc(name, func(r rune) bool { return !isLower(r) && !isDigit(r) && r != '-' }); i >= 0 {
		return bad("character %q not allowed (only a-z, 0-9 and -)", name[i:i+utf8RuneLen(name[i:])])
	}
	return nil
}

// ValidID checks an improvement id: `^[a-z0-9][a-z0-9.+-]{2,63}$` and no "..", so that
// "<component>/<id>.tar.gz" is a safe target path. The error is a *NameError.
func ValidID(id string) error {
	bad := func(format string, a ...any) error {
		return &NameError{Kind: "id", Name: id, Problem: fmt.Sprintf(format, a...)}
	}
	switch {
	case len(id) < 3:
		return bad("shorter than 3 characters")
	case len(id) > 64:
		return bad("longer than 64 characters")
	case !isLower(rune(id[0])) && !isDigit(rune(id[0])):
		return bad("must start with a lower-case letter or a digit")
	}
	if i := strings.IndexFunc(id, func(r rune) bool { return !isLower(r) && !isDigit(r) && !strings.ContainsRune(".+-", r) }); i >= 0 {
		return bad("character %q not allowed (only a-z, 0-9, '.', '+' and '-')", id[i:i+utf8RuneLen(id[i:])])
	}
	// The id names a directory on devices (versions/<id>): no "..".
	if strings.Contains(id, "..") {
		return bad(`must not contain ".."`)
	}
	return nil
}

// validToken checks a platform, release or build name: 1 to 64 characters
// from [A-Za-z0-9._+-], starting with a letter or digit. It returns a problem
// description, or "".
func validToken(s string) string {
	switch {
	case s == "":
		return "empty"
	case len(s) > maxTokenLen:
		return fmt.Sprintf("%q is longer than %d characters", s, maxTokenLen)
	case !isLetter(rune(s[0])) && !isDigit(rune(s[0])):
		return fmt.Sprintf("%q must start with a letter or a digit", s)
	}
	if i := strings.IndexFunc(s, func(r rune) bool { return !isLetter(r) && !isDigit(r) && !strings.ContainsRune("._+-", r) }); i >= 0 {
		return fmt.Sprintf("%q: character %q not allowed (only A-Z, a-z, 0-9, '.', '_', '+' and '-')", s, s[i:i+utf8RuneLen(s[i:])])
	}
	return ""
}

// validText checks a free-text field: no control characters, at most max
// characters. It returns a problem description, or "".
func validText(s string, max int) string {
	if n := utf8.RuneCountInString(s); n > max {
		return fmt.Sprintf("%d characters, more than %d", n, max)
	}
	if i := strings.IndexFunc(s, func(r rune) bool { return unicode.IsControl(r) || r == utf8.RuneError }); i >= 0 {
		return fmt.Sprintf("control or invalid character at byte %d", i)
	}
	return ""
}

// validAdvisory checks the shape CVE-YYYY-NNNN (four or more digits).
func validAdvisory(s string) bool {
	year, num, ok := strings.Cut(strings.TrimPrefix(s, "CVE-"), "-")
	if !ok || !strings.HasPrefix(s, "CVE-") || len(year) != 4 || len(num) < 4 || len(num) > 19 {
		return false
	}
	return !strings.ContainsFunc(year+num, func(r rune) bool { return !isDigit(r) })
}

// FormatTime formats t the way the released field wants it: RFC 3339 in UTC,
// whole seconds ("2026-11-27T10:00:00Z").
func FormatTime(t time.Time) string {
	return t.UTC().Truncate(time.Second).Format(time.RFC3339)
}

// ReleasedTime parses the released field.
func (m *Manifest) ReleasedTime() (time.Time, error) {
	t, err := time.Parse(time.RFC3339, m.Released)
	if err != nil || FormatTime(t) != m.Released {
		return time.Time{}, &FieldError{Path: "released", Problem: fmt.Sprintf("%q is not RFC 3339 UTC in whole seconds like 2026-11-27T10:00:00Z", m.Released)}
	}
	return t, nil
}

func isLower(r rune) bool  { return r >= 'a' && r <= 'z' }
func isLetter(r rune) bool { return isLower(r) || r >= 'A' && r <= 'Z' }
func isDigit(r rune) bool  { return r >= '0' && r <= '9' }

func utf8RuneLen(s string) int {
	_, n := utf8.DecodeRuneInString(s)
	return n
}
