package transparency

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/transparency-dev/formats/log"
	fnote "github.com/transparency-dev/formats/note"
	"github.com/transparency-dev/formats/witness"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

// MaxCheckpointSize bounds a cosigned checkpoint note (tlog/checkpoint).
const MaxCheckpointSize = 16 << 10

// Checkpoint is a checkpoint verified against a policy: signed by the log
// and cosigned by a quorum of its witnesses.
type Checkpoint struct {
	Origin string
	Size   uint64
	Hash   []byte
	// Raw is the note exactly as verified.
	Raw []byte
	// Cosigned maps each policy witness (key name) whose cosignature
	// verified to the time that cosignature carries.
	Cosigned map[string]time.Time
	// Floor is the trusted time the cosignatures prove: see TimeFloor.
	Floor time.Time
}

// String is "origin@size".
func (c *Checkpoint) String() string { return fmt.Sprintf("%s@%d", c.Origin, c.Size) }

// VerifyCheckpoint verifies a checkpoint note against the policy: the log's
// signature and origin, every cosignature by a policy witness (a forged one
// fails the whole note), and the policy's quorum. The error is a
// *TransparencyError (CheckSignature or CheckQuorum). The policy remembers
// the last checkpoint that verified: the same bytes again are not verified
// again. It is safe for concurrent use.
func (p *Policy) VerifyCheckpoint(raw []byte) (*Checkpoint, error) {
	if len(raw) > MaxCheckpointSize {
		return nil, &TransparencyError{Check: CheckSignature, Reason: fmt.Sprintf("checkpoint of %d bytes, more than %d", len(raw), MaxCheckpointSize)}
	}
	sum := sha256.Sum256(raw)
	p.mu.Lock()
	last := p.last
	if last != nil && p.lastSum != sum {
		last = nil
	}
	p.mu.Unlock()
	if last != nil {
		return last.clone(), nil
	}
	c, err := p.verifyCheckpoint(raw)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	p.last, p.lastSum = c.clone(), sum
	p.mu.Unlock()
	return c, nil
}

func (c *Checkpoint) clone() *Checkpoint {
	d := *c
	d.Hash, d.Raw, d.Cosigned = bytes.Clone(c.Hash), bytes.Clone(c.Raw), maps.Clone(c.Cosigned)
	return &d
}

func (p *Policy) verifyCheckpoint(raw []byte) (*Checkpoint, error) {
	if err := canonicalSigs(raw); err != nil {
		return nil, &TransparencyError{Check: CheckSignature, Reason: "signature lines", Err: err}
	}
	cp, _, n, err := log.ParseCheckpoint(raw, p.Origin, p.log, p.witnessVerifiers()...)
	if err != nil {
		return nil, &TransparencyError{Check: CheckSignature, Reason: fmt.Sprintf("not a checkpoint of log %s with valid signatures", p.Origin), Err: err}
	}
	c := &Checkpoint{Origin: cp.Origin, Size: cp.Size, Hash: cp.Hash, Raw: bytes.Clone(raw), Cosigned: map[string]time.Time{}}
	for _, s := range n.Sigs {
		if s.Name == p.log.Name() && s.Hash == p.log.KeyHash() {
			continue
		}
		t, err := fnote.CoSigV1Timestamp(s)
		if err != nil {
			return nil, &TransparencyError{Check: CheckSignature, Checkpoint: c.String(), Witnesses: []string{s.Name},
				Reason: "cosignature carries no timestamp", Err: err}
		}
		c.Cosigned[s.Name] = t
	}
	// The quorum over the cosignatures note.Open verified above (the
	// same rule as witness.Group.Satisfied, without verifying each one
	// again).
	if !satisfied(p.quorum, func(w witness.Witness) bool { _, ok := c.Cosigned[w.Key.Name()]; return ok }) {
		var missing []string
		for _, w := range p.witnesses {
			if _, ok := c.Cosigned[w.Key.Name()]; !ok {
				missing = append(missing, w.Key.Name())
			}
		}
		return nil, &TransparencyError{Check: CheckQuorum, Checkpoint: c.String(), Witnesses: missing,
			Reason: fmt.Sprintf("cosigned by %d witnesses of the policy, not a quorum (a view nobody witnessed)", len(c.Cosigned))}
	}
	c.Floor = p.timeFloor(c.Cosigned)
	return c, nil
}

// canonicalSigs refuses a signature line whose base64 is not canonical
// (non-zero padding bits), so that one checkpoint has one encoding.
func canonicalSigs(raw []byte) error {
	i := bytes.LastIndex(raw, []byte("\n\n"))
	if i < 0 {
		return nil // note.Open says what is wrong
	}
	for _, line := range strings.Split(strings.TrimSuffix(string(raw[i+2:]), "\n"), "\n") {
		f := strings.Fields(line)
		if len(f) == 3 {
			if _, err := base64.StdEncoding.Strict().DecodeString(f[2]); err != nil {
				return fmt.Errorf("signature by %s is not canonical base64: %w", f[1], err)
			}
		}
	}
	return nil
}

// TimeFloor is the largest time T such that the policy's quorum holds among
// the witnesses of c whose cosignature time is T or later: a time that a
// quorum of independent witnesses vouched had been reached. Zero when c
// has no quorum.
func TimeFloor(c *Checkpoint, p *Policy) time.Time { return p.timeFloor(c.Cosigned) }

func (p *Policy) timeFloor(cosigned map[string]time.Time) time.Time {
	ts := slices.SortedFunc(maps.Values(cosigned), func(a, b time.Time) int { return b.Compare(a) })
	for _, t := range ts {
		if satisfied(p.quorum, func(w witness.Witness) bool {
			c, ok := cosigned[w.Key.Name()]
			return ok && !c.Before(t)
		}) {
			return t.UTC()
		}
	}
	return time.Time{}
}

// Now is the reference time for expiry: the later of the device clock and
// the trusted floor.
func Now(clock, floor time.Time) time.Time {
	if floor.After(clock) {
		return floor
	}
	return clock
}

// Accepted is what a device keeps of the last checkpoint it accepted.
type Accepted struct {
	Origin string `json:"origin"`
	Size   uint64 `json:"size"`
	Hash   []byte `json:"hash"`
}

// Accepted is what a device keeps of c.
func (c *Checkpoint) Accepted() *Accepted {
	return &Accepted{Origin: c.Origin, Size: c.Size, Hash: bytes.Clone(c.Hash)}
}

// NotOlder checks that c is not older than the last accepted checkpoint:
// a smaller tree, or a tree of the same size with another root (a fork),
// is a *TransparencyError (CheckStale). A larger tree is accepted: the
// witnesses checked it is consistent with the ones they saw. last may be
// nil (nothing accepted yet), and one of another origin (the policy named
// a new log) does not bind c.
func (c *Checkpoint) NotOlder(last *Accepted) error {
	if last == nil || last.Origin != c.Origin {
		return nil
	}
	switch {
	case c.Size < last.Size:
		return &TransparencyError{Check: CheckStale, Checkpoint: c.String(),
			Reason: fmt.Sprintf("tree size %d is smaller than the accepted %d", c.Size, last.Size)}
	case c.Size == last.Size && !bytes.Equal(c.Hash, last.Hash):
		return &TransparencyError{Check: CheckStale, Checkpoint: c.String(),
			Reason: fmt.Sprintf("root hash differs from the accepted checkpoint of the same size %d (a fork)", c.Size)}
	}
	return nil
}

// Target is what the signed TUF metadata says of an improvement, as a
// proof's entry must repeat it.
type Target struct {
	// Component is the component role that signed the target.
	Component string
	Path      string
	Length    int64
	Hashes    map[string]string
	// Custom is the target's custom field, holding the manifest.
	Custom json.RawMessage
}

// Match checks that e logs t: an improvement of t's component with t's
// path, length, every hash t lists (and no other) and t's manifest. The
// error is a *TransparencyError (CheckEntry).
func (e *Entry) Match(t Target) error {
	bad := func(format string, a ...any) error {
		return &TransparencyError{Check: CheckEntry, Target: t.Path, Reason: fmt.Sprintf(format, a...)}
	}
	switch {
	case e.Kind != KindImprovement:
		return bad("the entry is of kind %q, not %q", e.Kind, KindImprovement)
	case e.Component != t.Component:
		return bad("the entry's component is %q, the signed target's %q", e.Component, t.Component)
	case e.Path != t.Path:
		return bad("the entry is for path %q", e.Path)
	case e.Length != t.Length:
		return bad("the entry's length is %d, the signed target's %d", e.Length, t.Length)
	case !maps.Equal(e.Hashes, t.Hashes):
		return bad("the entry's hashes %v differ from the signed target's %v", e.Hashes, t.Hashes)
	}
	mh, err := ManifestHash(t.Custom)
	if err != nil {
		return &TransparencyError{Check: CheckEntry, Target: t.Path, Reason: "the signed target's manifest", Err: err}
	}
	if e.ManifestSHA256 != mh {
		return bad("the entry's manifest-sha256 %s differs from the signed manifest's %s", e.ManifestSHA256, mh)
	}
	return nil
}

// VerifyProof verifies the tlog-proof of target t against the policy, in
// this order: (1) the proof parses; (2) its checkpoint is signed by the log
// and cosigned by a quorum of witnesses; (3) its entry parses and matches
// t; (4) the inclusion proof leads from the entry's leaf hash
// (SHA-256(0x00 || entry)) to the checkpoint's root; (5) the checkpoint
// is not older than last. It returns the verified checkpoint; every error
// is a *TransparencyError naming t.Path.
func (p *Policy) VerifyProof(data []byte, t Target, last *Accepted) (*Checkpoint, error) {
	pr, err := ParseProof(data)
	if err != nil {
		return nil, ForTarget(err, t.Path)
	}
	c, err := p.VerifyCheckpoint(pr.Checkpoint)
	if err != nil {
		return nil, ForTarget(err, t.Path)
	}
	e, err := ParseEntry(pr.Entry)
	if err != nil {
		return nil, &TransparencyError{Check: CheckEntry, Target: t.Path, Checkpoint: c.String(), Reason: "the logged entry", Err: err}
	}
	if err := e.Match(t); err != nil {
		return nil, err
	}
	if pr.Index >= c.Size {
		return nil, &TransparencyError{Check: CheckInclusion, Target: t.Path, Checkpoint: c.String(),
			Reason: fmt.Sprintf("index %d is outside the tree of size %d", pr.Index, c.Size)}
	}
	hashes := make([][]byte, len(pr.Hashes))
	for i := range pr.Hashes {
		hashes[i] = pr.Hashes[i][:]
	}
	leaf := rfc6962.DefaultHasher.HashLeaf(pr.Entry)
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, pr.Index, c.Size, leaf, hashes, c.Hash); err != nil {
		return nil, &TransparencyError{Check: CheckInclusion, Target: t.Path, Checkpoint: c.String(),
			Reason: fmt.Sprintf("entry %d (leaf %s) is not in the tree", pr.Index, hex.EncodeToString(leaf)), Err: err}
	}
	if err := c.NotOlder(last); err != nil {
		return nil, ForTarget(err, t.Path)
	}
	return c, nil
}
