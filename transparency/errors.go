package transparency

import (
	"fmt"
	"strings"

	"github.com/bsiframework/bsi/trust"
)

// What a *TransparencyError says failed.
const (
	CheckPolicy        = "policy"           // the tlog-policy target is unusable
	CheckDroppedPolicy = "dropped policy"   // a device that had a policy was shown a repository without one
	CheckProofFormat   = "proof format"     // the tlog-proof is not one
	CheckSignature     = "log signature"    // the checkpoint is not signed by the policy's log key (or a signature on it is forged)
	CheckQuorum        = "witness quorum"   // the policy's quorum of witnesses did not cosign the checkpoint
	CheckEntry         = "entry"            // the logged entry differs from the signed target
	CheckInclusion     = "inclusion proof"  // the entry is not in the tree the checkpoint commits to
	CheckStale         = "stale checkpoint" // older than (or a fork of) the checkpoint the device accepted
)

// TransparencyError is a transparency check that failed: the device must
// not install the target. It is a security failure:
// errors.Is(err, trust.ErrSecurity) holds.
type TransparencyError struct {
	// Check is what failed, one of the Check constants.
	Check string
	// Target is the target path being verified; "" for a checkpoint or
	// policy check.
	Target string
	// Checkpoint describes the checkpoint involved ("origin@size"); ""
	// when none was read.
	Checkpoint string
	// Witnesses names the witnesses involved: those missing from a
	// quorum, or the one whose cosignature was refused.
	Witnesses []string
	// Reason says what was wrong, for people.
	Reason string
	// Err is the underlying error, if any.
	Err error
}

func (e *TransparencyError) Error() string {
	var b strings.Builder
	b.WriteString("transparency: ")
	if e.Target != "" {
		fmt.Fprintf(&b, "target %s: ", e.Target)
	}
	b.WriteString(e.Check)
	if e.Checkpoint != "" {
		fmt.Fprintf(&b, " (checkpoint %s)", e.Checkpoint)
	}
	b.WriteString(": ")
	b.WriteString(e.Reason)
	if len(e.Witnesses) > 0 {
		fmt.Fprintf(&b, " [witnesses: %s]", strings.Join(e.Witnesses, ", "))
	}
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	return b.String()
}

// Unwrap returns the cause and trust.ErrSecurity.
func (e *TransparencyError) Unwrap() []error {
	if e.Err == nil {
		return []error{trust.ErrSecurity}
	}
	return []error{e.Err, trust.ErrSecurity}
}

// ForTarget returns a copy of err naming target t when err is a
// *TransparencyError without a target; other errors are returned as they
// are.
func ForTarget(err error, t string) error {
	te, ok := err.(*TransparencyError)
	if !ok || te.Target != "" {
		return err
	}
	c := *te
	c.Target = t
	return &c
}
