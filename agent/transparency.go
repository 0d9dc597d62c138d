package agent

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/bsiframework/bsi/transparency"
	"github.com/bsiframework/bsi/trust/client"
)

// Names inside the state directory.
const (
	tlogFile   = "transparency.json" // TransparencyState
	policyFile = "tlog-policy"       // the verified policy target
)

// TransparencyState is STATE/transparency.json: what the device keeps of
// the repository's transparency log. It only moves forward: the policy,
// once seen, stays required; the accepted checkpoint never shrinks; the
// floor never decreases.
type TransparencyState struct {
	// PolicySHA256 is the hex SHA-256 of the last tlog-policy target
	// verified; "" when the repository never had one.
	PolicySHA256 string `json:"policy_sha256,omitempty"`
	// Origin is that policy's log.
	Origin string `json:"origin,omitempty"`
	// Checkpoint is the largest checkpoint the device accepted.
	Checkpoint *transparency.Accepted `json:"checkpoint,omitempty"`
	// Floor is the trusted time: the latest time a quorum of the
	// policy's witnesses vouched for in a checkpoint the device verified.
	Floor time.Time `json:"floor,omitzero"`
	// FloorRaised is when (by the device clock) Floor last rose.
	FloorRaised time.Time `json:"floor_raised,omitzero"`
}

func readTransparency(name string) (*TransparencyState, error) {
	st := &TransparencyState{}
	if err := readJSON(name, st); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	return st, nil
}

// trustedNow is the clock for expiry: the later of the device clock and
// the trusted floor, so that a device whose clock was set back cannot be
// fed metadata that expired before the time its witnesses vouched for.
func (a *Agent) trustedNow() time.Time {
	return transparency.Now(a.opts.Now(), a.tlog.Floor)
}

// accept records c as verified: the stored checkpoint grows to it when it
// is larger, and the floor rises to its witnessed time when that is later.
// It writes the state only when something changed.
func (a *Agent) accept(c *transparency.Checkpoint) error {
	st := *a.tlog
	changed := false
	if st.Checkpoint == nil || st.Checkpoint.Origin != c.Origin || c.Size > st.Checkpoint.Size {
		st.Checkpoint, changed = c.Accepted(), true
	}
	if c.Floor.After(st.Floor) {
		st.Floor, st.FloorRaised, changed = c.Floor, a.opts.Now().UTC(), true
	}
	if !changed {
		return nil
	}
	if err := writeJSON(a.path(tlogFile), &st); err != nil {
		return err
	}
	*a.tlog = st
	return nil
}

// checkTransparency runs after a verified refresh. It reads the policy
// from the TOP-LEVEL targets role only (a component role listing
// tlog-policy is not the repository's policy), refuses a repository that
// dropped the policy a device saw before, and verifies the log's current
// checkpoint, raising the stored checkpoint and the floor. It returns the
// policy, nil when the repository has none (and never had one).
func (a *Agent) checkTransparency(ctx context.Context, c *client.Client, comps []client.Component) (*transparency.Policy, error) {
	var pt *client.Target
	for _, comp := range comps {
		if comp.Role != "targets" {
			continue
		}
		for _, t := range comp.Targets {
			if t.Path == transparency.PolicyTarget && len(t.Roles) == 1 && t.Roles[0] == "targets" {
				pt = t
			}
		}
	}
	if pt == nil {
		if a.tlog.PolicySHA256 != "" {
			return nil, &transparency.TransparencyError{Check: transparency.CheckDroppedPolicy,
				Reason: fmt.Sprintf("the top-level targets role no longer lists %s, which this device verified before (sha256 %s, log %s): a repository cannot leave transparency",
					transparency.PolicyTarget, a.tlog.PolicySHA256, a.tlog.Origin)}
		}
		return nil, nil
	}
	if pt.Length > transparency.MaxPolicySize {
		return nil, &transparency.TransparencyError{Check: transparency.CheckPolicy,
			Reason: fmt.Sprintf("the signed %s is %d bytes, more than %d", transparency.PolicyTarget, pt.Length, transparency.MaxPolicySize)}
	}
	// Kept beside the state files, out of the payload cache (which
	// Apply prunes): Download makes no request while it matches.
	p := a.path(policyFile)
	if err := c.Download(ctx, pt, p); err != nil {
		return nil, fmt.Errorf("download %s: %w", transparency.PolicyTarget, err)
	}
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	pol, err := transparency.ParsePolicy(data)
	if err != nil {
		return nil, err
	}
	if a.tlog.PolicySHA256 != pol.SHA256() {
		st := *a.tlog
		st.PolicySHA256, st.Origin = pol.SHA256(), pol.Origin
		if err := writeJSON(a.path(tlogFile), &st); err != nil {
			return nil, err
		}
		*a.tlog = st
		a.log.InfoContext(ctx, "transparency policy", "sha256", pol.SHA256(), "log", pol.Origin, "witnesses", pol.Witnesses())
	}
	raw, err := c.Fetch(ctx, c.MetadataFileURL(transparency.CheckpointPath), transparency.MaxCheckpointSize)
	if err != nil {
		// Proofs carry their own checkpoints: installs are still
		// verified; only the floor waits for the next check.
		a.log.WarnContext(ctx, "transparency checkpoint not fetched", "err", err)
		return pol, nil
	}
	cp, err := pol.VerifyCheckpoint(raw)
	if err == nil {
		err = cp.NotOlder(a.tlog.Checkpoint)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", transparency.CheckpointPath, err)
	}
	if err := a.accept(cp); err != nil {
		return nil, err
	}
	return pol, a.stillFresh(c)
}

// stillFresh checks the metadata just verified against the floor the
// checkpoint may have raised: a device whose clock was set back learns
// the time from its witnesses and refuses what expired before it, in this
// very check (the next refresh would refuse it anyway).
func (a *Agent) stillFresh(c *client.Client) error {
	now := a.trustedNow()
	f := c.Freshness()
	for _, r := range []struct {
		role    string
		version int64
		expires time.Time
	}{{"timestamp", f.TimestampVersion, f.TimestampExpires}, {"snapshot", f.SnapshotVersion, f.SnapshotExpires},
		{"targets", 0, f.TargetsExpires}, {"root", 0, f.RootExpires}} {
		if !r.expires.IsZero() && !r.expires.After(now) {
			return fmt.Errorf("after the witnessed time %s: %w", a.tlog.Floor.UTC().Format(time.RFC3339),
				&client.ExpiredError{Role: r.role, Version: r.version, Expires: r.expires, Now: now})
		}
	}
	return nil
}

// verifyLogged fetches the tlog-proof published beside target t (its
// payload URL + ".tlog-proof") and verifies it against the policy and the
// accepted checkpoint; the verified checkpoint is then accepted. The
// error is a *transparency.TransparencyError for a proof that does not
// verify, a fetch error when there is none to fetch.
func (a *Agent) verifyLogged(ctx context.Context, c *client.Client, pol *transparency.Policy, component string, t *client.Target) error {
	url := c.TargetURL(t) + transparency.ProofSuffix
	data, err := c.Fetch(ctx, url, transparency.MaxProofSize)
	if err != nil {
		var le *client.LengthError
		if errors.As(err, &le) {
			return &transparency.TransparencyError{Check: transparency.CheckProofFormat, Target: t.Path,
				Reason: fmt.Sprintf("proof larger than %d bytes", transparency.MaxProofSize), Err: err}
		}
		return fmt.Errorf("transparency proof of %s: %w", t.Path, err)
	}
	cp, err := pol.VerifyProof(data, transparency.Target{Component: component, Path: t.Path, Length: t.Length,
		Hashes: t.Hashes, Custom: t.Custom}, a.tlog.Checkpoint)
	if err != nil {
		return err
	}
	return a.accept(cp)
}
