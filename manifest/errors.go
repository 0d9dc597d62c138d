package manifest

import (
	"errors"
	"fmt"
	"strings"
)

// ErrNoManifest is returned by [FromCustom] when a target's custom field
// holds no "bsi" key: the target is not an improvement (or was published by
// another tool). Callers decide whether that is an error.
var ErrNoManifest = errors.New("target custom field has no bsi manifest")

// FieldError is one problem with a manifest, at a JSON path such as
// "applies_to.releases[1]". Path is empty for problems with the document as a
// whole (size, encoding, syntax before any field).
type FieldError struct {
	Path    string // JSON path of the offending value, "" for the document
	Problem string // lower-case description: "missing", "want a string, got a number"
}

func (e *FieldError) Error() string {
	if e.Path == "" {
		return e.Problem
	}
	return e.Path + ": " + e.Problem
}

// ValidationError lists every problem found in one manifest, in document
// order. [Decode], [FromCustom], [Manifest.Validate], [Manifest.Encode] and
// [Manifest.Custom] return it; errors.As finds both the list and each
// *FieldError in it.
type ValidationError struct {
	Problems []*FieldError
}

func (e *ValidationError) Error() string {
	var b strings.Builder
	b.WriteString("invalid manifest: ")
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(p.Error())
	}
	return b.String()
}

// Unwrap returns the individual problems, for errors.As and errors.Is.
func (e *ValidationError) Unwrap() []error {
	out := make([]error, len(e.Problems))
	for i, p := range e.Problems {
		out[i] = p
	}
	return out
}

// problems collects FieldErrors while checking a manifest.
type problems []*FieldError

func (ps *problems) add(path, format string, a ...any) {
	*ps = append(*ps, &FieldError{Path: path, Problem: fmt.Sprintf(format, a...)})
}

// err returns nil when nothing was found, else a *ValidationError.
func (ps problems) err() error {
	if len(ps) == 0 {
		return nil
	}
	return &ValidationError{Problems: ps}
}

// NameError is returned by [ValidComponent] and [ValidID] for a name that
// breaks the naming rule.
type NameError struct {
	Kind    string // "component" or "id"
	Name    string
	Problem string
}

func (e *NameError) Error() string {
	return fmt.Sprintf("invalid %s %q: %s", e.Kind, e.Name, e.Problem)
}
