package repo

import (
	"fmt"
	"strings"
	"time"

	"github.com/bsiframework/bsi/trust"
)

// LockedError is returned by Open and Init when another process (or another
// open Workspace in this process) holds the workspace lock.
type LockedError struct {
	Path  string
	PID   int       // 0 when the holder could not be read
	Since time.Time // zero when unknown
}

func (e *LockedError) Error() string {
	if e.PID == 0 {
		return fmt.Sprintf("workspace is locked (%s)", e.Path)
	}
	return fmt.Sprintf("workspace is locked by pid %d since %s", e.PID, e.Since.Format(time.RFC3339))
}

// PendingRole is one role that lacks signatures.
type PendingRole struct {
	Role      string   `json:"role"`
	Version   int64    `json:"version"`
	Have      int      `json:"have"`
	Threshold int      `json:"threshold"`
	Missing   []string `json:"missing_key_ids"` // authorised key ids that have not signed
	// For root: the threshold of the previous root's keys, when that one is
	// the unmet part.
	Previous bool `json:"previous_root,omitempty"`
}

// PendingError is returned by Publish when roles are below their signature
// threshold.
type PendingError struct{ Roles []PendingRole }

func (e *PendingError) Error() string {
	var parts []string
	for _, r := range e.Roles {
		what := r.Role
		if r.Previous {
			what += " (previous root keys)"
		}
		parts = append(parts, fmt.Sprintf("%s v%d needs %d more signature(s) from %s",
			what, r.Version, r.Threshold-r.Have, strings.Join(shortIDs(r.Missing), ", ")))
	}
	return "unsigned changes: " + strings.Join(parts, "; ")
}

func shortIDs(ids []string) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = shortID(id)
	}
	return out
}

func shortID(id string) string {
	if len(id) > 16 {
		return id[:16]
	}
	return id
}

// NotAuthorisedError is returned by Sign when the key may sign none of the
// requested roles, and by ImportSignature for a signature of a key the role
// does not list. It wraps trust.ErrSecurity.
type NotAuthorisedError struct {
	KeyID string
	Role  string // empty: no pending role at all
}

func (e *NotAuthorisedError) Error() string {
	if e.Role == "" {
		return fmt.Sprintf("key %s is not authorised for any pending role", shortID(e.KeyID))
	}
	return fmt.Sprintf("key %s is not authorised for role %s", shortID(e.KeyID), e.Role)
}

func (e *NotAuthorisedError) Unwrap() error { return trust.ErrSecurity }

// SignatureError is an imported signature that does not verify. It wraps
// trust.ErrSecurity.
type SignatureError struct {
	Role  string
	KeyID string
	Err   error
}

func (e *SignatureError) Error() string {
	return fmt.Sprintf("%s: signature of key %s does not verify: %v", e.Role, shortID(e.KeyID), e.Err)
}

func (e *SignatureError) Unwrap() []error { return []error{trust.ErrSecurity, e.Err} }

// ThresholdError is a threshold that the role's keys cannot reach, or a key
// change that would make it so.
type ThresholdError struct {
	Role      string
	Threshold int
	Keys      int
}

func (e *ThresholdError) Error() string {
	if e.Threshold < 1 {
		return fmt.Sprintf("%s: threshold %d must be at least 1", e.Role, e.Threshold)
	}
	return fmt.Sprintf("%s: threshold %d is unreachable with %d key(s)", e.Role, e.Threshold, e.Keys)
}

// ExpiredError is a signed role whose expiry has passed, found where it would
// be published. It wraps trust.ErrFreshness.
type ExpiredError struct {
	Role    string
	Version int64
	Expires time.Time
}

func (e *ExpiredError) Error() string {
	return fmt.Sprintf("%s v%d expired at %s", e.Role, e.Version, e.Expires.Format(time.RFC3339))
}

func (e *ExpiredError) Unwrap() error { return trust.ErrFreshness }

// RoleError names a role that does not exist or cannot take the operation.
type RoleError struct {
	Role   string
	Reason string
}

func (e *RoleError) Error() string { return fmt.Sprintf("role %s: %s", e.Role, e.Reason) }

// PayloadError is a payload that is not a well-formed, non-empty tar or
// tar.gz archive with safe entry names.
type PayloadError struct {
	Path   string
	Entry  string // offending entry, if any
	Reason string
}

func (e *PayloadError) Error() string {
	if e.Entry != "" {
		return fmt.Sprintf("payload %s: entry %q: %s", e.Path, e.Entry, e.Reason)
	}
	return fmt.Sprintf("payload %s: %s", e.Path, e.Reason)
}

// ImprovementError is an improvement that cannot be added or changed: an
// undelegated component, a duplicate id, a sequence that does not advance, an
// unknown id.
type ImprovementError struct {
	ID     string
	Reason string
}

func (e *ImprovementError) Error() string { return fmt.Sprintf("improvement %s: %s", e.ID, e.Reason) }

// DestinationError is a failure to read or write the publish destination.
type DestinationError struct {
	Dest string
	Name string
	Err  error
}

func (e *DestinationError) Error() string {
	if e.Name == "" {
		return fmt.Sprintf("destination %s: %v", e.Dest, e.Err)
	}
	return fmt.Sprintf("destination %s: %s: %v", e.Dest, e.Name, e.Err)
}

func (e *DestinationError) Unwrap() error { return e.Err }

// UnsafeFileError is a file or directory of the workspace, a destination or
// a commit journal that bsi refuses to touch: a symbolic link where a
// regular file or directory must be, a file with several hard links, or a
// journal entry naming a file that is not one of bsi's own. Someone with
// write access to the directory planted it, so it wraps trust.ErrSecurity.
type UnsafeFileError struct {
	Path   string
	Reason string
}

func (e *UnsafeFileError) Error() string { return fmt.Sprintf("%s: %s", e.Path, e.Reason) }

func (e *UnsafeFileError) Unwrap() error { return trust.ErrSecurity }

// VerifyError is a role (or payload) of the tree about to be published that
// a device would refuse. Publish and Refresh check the whole tree as a
// device would before any online signature, and refuse with this error.
// It wraps trust.ErrSecurity.
type VerifyError struct {
	Role   string
	KeyIDs []string // the keys that would have to sign, when that is the failure
	Reason string
}

func (e *VerifyError) Error() string {
	if len(e.KeyIDs) > 0 {
		return fmt.Sprintf("verifying the tree to publish: %s: %s (keys: %s)", e.Role, e.Reason, strings.Join(shortIDs(e.KeyIDs), ", "))
	}
	return fmt.Sprintf("verifying the tree to publish: %s: %s", e.Role, e.Reason)
}

func (e *VerifyError) Unwrap() error { return trust.ErrSecurity }
