package rollout

import (
	"errors"
	"fmt"
	"time"
)

// ErrNoSchedule is returned by [FromCustom] when a target's custom field
// has no "bsi_rollout" key: the target is not a rollout entry.
var ErrNoSchedule = errors.New("target custom field has no bsi_rollout schedule")

// FieldError is one problem with a schedule or a stage list, at a JSON
// path such as "stages[2].basis_points" (empty for the document as a
// whole). [Parse], [FromCustom], [Schedule.Validate], [Schedule.Encode] and
// [ParseStages] return it.
type FieldError struct {
	Path    string
	Problem string
}

func (e *FieldError) Error() string {
	if e.Path == "" {
		return "rollout: " + e.Problem
	}
	return "rollout: " + e.Path + ": " + e.Problem
}

func fieldErr(path, format string, a ...any) *FieldError {
	return &FieldError{Path: path, Problem: fmt.Sprintf(format, a...)}
}

// HaltedError is returned by [Decision.ManualInstall] for a halted
// rollout without an override.
type HaltedError struct {
	Component, ID string
	Reason        string
	At            time.Time
}

func (e *HaltedError) Error() string {
	return fmt.Sprintf("rollout of %s/%s is halted since %s: %s (install it anyway with an explicit override)",
		e.Component, e.ID, e.At.UTC().Format(time.RFC3339), e.Reason)
}
