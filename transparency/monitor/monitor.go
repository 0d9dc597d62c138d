// Package monitor reads a repository's whole transparency log and compares
// it with what the repository lists: every logged improvement that the
// repository does not list (a release shown to someone else: a split view,
// or a release its team never made), every listed improvement that is not
// logged, every entry signed by a role that is not its component's, and a
// log that is not consistent with the last checkpoint the monitor saw.
//
// The core ([Check], [Advance]) is pure; [Read] fetches the checkpoint and
// the entries from a published tree's tlog/ (C2SP tlog-tiles).
package monitor

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera/client"
	"golang.org/x/mod/sumdb/note"

	"github.com/bsiframework/bsi/transparency"
	"github.com/bsiframework/bsi/transparency/publog"
	"github.com/bsiframework/bsi/trust"
)

// Finding kinds.
const (
	// LoggedNotListed: the log holds an improvement the repository does not
	// list (or lists with another payload): someone was shown a release
	// this view of the repository does not have.
	LoggedNotListed = "logged-not-listed"
	// NotLogged: the repository lists an improvement the log does not hold.
	NotLogged = "not-logged"
	// EntryDiffers: the latest entry of a listed path differs from it.
	EntryDiffers = "entry-differs"
	// WrongRole: an entry signed by a role that is not its component's.
	WrongRole = "wrong-role"
	// BadEntry: a leaf that is not a bsi entry.
	BadEntry = "bad-entry"
)

// Finding is one thing wrong.
type Finding struct {
	Kind   string `json:"kind"`
	Path   string `json:"path,omitempty"`
	Index  int64  `json:"index"` // -1 when not about a log entry
	Detail string `json:"detail"`
}

// Listed is an improvement target as the verified repository lists it.
type Listed struct {
	Path           string
	Length         int64
	Hashes         map[string]string
	ManifestSHA256 string
}

// Logged is one improvement entry with its index.
type Logged struct {
	Index int64              `json:"index"`
	Entry transparency.Entry `json:"entry"`
}

// Check compares the log's leaves with the listed improvements. It
// returns the findings and, when component is not empty, every entry of
// that component.
func Check(leaves [][]byte, listed []Listed, component string) (findings []Finding, mine []Logged) {
	byPath := map[string]*Listed{}
	for i := range listed {
		byPath[listed[i].Path] = &listed[i]
	}
	latest := map[string]int{}
	var entries []*transparency.Entry
	for i, leaf := range leaves {
		e, err := transparency.ParseEntry(leaf)
		entries = append(entries, e)
		if err != nil {
			findings = append(findings, Finding{Kind: BadEntry, Index: int64(i), Detail: err.Error()})
			continue
		}
		if e.Kind != transparency.KindImprovement {
			continue
		}
		if component != "" && e.Component == component {
			mine = append(mine, Logged{Index: int64(i), Entry: *e})
		}
		if first, _, _ := strings.Cut(e.Path, "/"); first != e.Component ||
			(e.Role != e.Component && !strings.HasPrefix(e.Role, e.Component+".bin")) {
			findings = append(findings, Finding{Kind: WrongRole, Path: e.Path, Index: int64(i),
				Detail: fmt.Sprintf("component %s, path %s, signed by role %s", e.Component, e.Path, e.Role)})
		}
		l := byPath[e.Path]
		if l == nil {
			findings = append(findings, Finding{Kind: LoggedNotListed, Path: e.Path, Index: int64(i),
				Detail: fmt.Sprintf("logged by role %s version %d, not in the repository", e.Role, e.RoleVersion)})
			continue
		}
		if e.Length != l.Length || !maps(e.Hashes, l.Hashes) {
			findings = append(findings, Finding{Kind: LoggedNotListed, Path: e.Path, Index: int64(i),
				Detail: fmt.Sprintf("logged with another payload (length %d, sha256 %s) than the repository lists", e.Length, e.Hashes["sha256"])})
		}
		latest[e.Path] = i
	}
	for _, l := range listed {
		i, ok := latest[l.Path]
		if !ok {
			findings = append(findings, Finding{Kind: NotLogged, Path: l.Path, Index: -1, Detail: "listed by the repository, not in the log"})
			continue
		}
		if e := entries[i]; e.ManifestSHA256 != l.ManifestSHA256 {
			findings = append(findings, Finding{Kind: EntryDiffers, Path: l.Path, Index: int64(i),
				Detail: fmt.Sprintf("latest entry has manifest-sha256 %s, the repository's manifest hashes to %s", e.ManifestSHA256, l.ManifestSHA256)})
		}
	}
	return findings, mine
}

func maps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// State is the last checkpoint a monitor verified, kept between runs.
type State struct {
	Format string `json:"format"`
	Origin string `json:"origin"`
	Size   uint64 `json:"size"`
	Hash   string `json:"hash"` // hex root hash
}

// StateFormat is the format of a monitor's state file.
const StateFormat = "bsi.monitor-state/v1"

// ParseState reads a state file, strictly.
func ParseState(data []byte) (*State, error) {
	var s State
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("monitor state: %w", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("monitor state: data after the object")
	}
	if s.Format != StateFormat {
		return nil, fmt.Errorf("monitor state: format %q, want %q", s.Format, StateFormat)
	}
	if h, err := hex.DecodeString(s.Hash); err != nil || len(h) != 32 || hex.EncodeToString(h) != s.Hash {
		return nil, fmt.Errorf("monitor state: hash %q is not 64 lowercase hex digits", s.Hash)
	}
	if s.Origin == "" {
		return nil, fmt.Errorf("monitor state: no origin")
	}
	return &s, nil
}

// InconsistentError says the log does not extend the checkpoint the
// monitor saw before: a fork, a split view or a rollback. It is a
// security failure.
type InconsistentError struct {
	Old, New uint64
	Reason   string
}

func (e *InconsistentError) Error() string {
	return fmt.Sprintf("transparency log: checkpoint of size %d is not consistent with size %d seen before: %s", e.New, e.Old, e.Reason)
}

// Unwrap makes it a security failure (exit 3).
func (e *InconsistentError) Unwrap() error { return trust.ErrSecurity }

// CheckpointError says the published checkpoint does not verify with the
// policy (log key, witness quorum): a security failure.
type CheckpointError struct{ Reason string }

func (e *CheckpointError) Error() string { return "transparency log: tlog/checkpoint: " + e.Reason }

// Unwrap makes it a security failure (exit 3).
func (e *CheckpointError) Unwrap() error { return trust.ErrSecurity }

// Advance checks that cp extends old (nil: first run) with the consistency
// proof p, and returns the new state.
func Advance(old *State, cp *log.Checkpoint, p [][]byte) (*State, error) {
	next := &State{Format: StateFormat, Origin: cp.Origin, Size: cp.Size, Hash: hex.EncodeToString(cp.Hash)}
	if old == nil {
		return next, nil
	}
	if old.Origin != cp.Origin {
		return nil, fmt.Errorf("monitor state is of log %q, the repository's log is %q", old.Origin, cp.Origin)
	}
	oh, _ := hex.DecodeString(old.Hash)
	switch {
	case cp.Size < old.Size:
		return nil, &InconsistentError{Old: old.Size, New: cp.Size, Reason: "the log is smaller (rolled back)"}
	case cp.Size == old.Size:
		if !bytes.Equal(oh, cp.Hash) {
			return nil, &InconsistentError{Old: old.Size, New: cp.Size, Reason: "same size, another root hash (a split view)"}
		}
	case old.Size > 0:
		if err := proof.VerifyConsistency(rfc6962.DefaultHasher, old.Size, cp.Size, p, oh, cp.Hash); err != nil {
			return nil, &InconsistentError{Old: old.Size, New: cp.Size, Reason: err.Error()}
		}
	}
	return next, nil
}

// Log is what Read fetched: the verified checkpoint, its note, the
// consistency proof from a previous size and every leaf.
type Log struct {
	Checkpoint  log.Checkpoint
	Note        []byte
	Consistency [][]byte
	Leaves      [][]byte
}

// Read fetches the checkpoint at base + "tlog/checkpoint", verifies it
// with the policy (the log's key and the witnesses' quorum), fetches every
// entry bundle and checks that the leaves hash to the checkpoint's root,
// and the consistency proof from oldSize.
func Read(ctx context.Context, hc *http.Client, base string, pol *publog.Policy, oldSize uint64) (*Log, error) {
	u, err := url.Parse(strings.TrimSuffix(base, "/") + "/" + transparency.LogDir + "/")
	if err != nil {
		return nil, err
	}
	f, err := client.NewHTTPFetcher(u, hc)
	if err != nil {
		return nil, err
	}
	raw, err := f.ReadCheckpoint(ctx)
	if err != nil {
		return nil, fmt.Errorf("tlog/checkpoint: %w", err)
	}
	vs := []note.Verifier{pol.Log}
	for _, w := range pol.Witnesses {
		vs = append(vs, w.Verifier)
	}
	n, err := note.Open(raw, note.VerifierList(vs...))
	if err != nil {
		return nil, &CheckpointError{Reason: err.Error()}
	}
	if !slices.ContainsFunc(n.Sigs, func(s note.Signature) bool { return s.Name == pol.Log.Name() && s.Hash == pol.Log.KeyHash() }) {
		return nil, &CheckpointError{Reason: "not signed by the log key " + pol.LogKey}
	}
	if !pol.Group.Satisfied(raw) {
		return nil, &CheckpointError{Reason: "no quorum of witness cosignatures"}
	}
	l := &Log{Note: raw}
	if _, err := l.Checkpoint.Unmarshal([]byte(n.Text)); err != nil {
		return nil, &CheckpointError{Reason: err.Error()}
	}
	if l.Checkpoint.Origin != pol.Log.Name() {
		return nil, &CheckpointError{Reason: fmt.Sprintf("origin %q, the policy's log is %q", l.Checkpoint.Origin, pol.Log.Name())}
	}
	size := l.Checkpoint.Size
	var hashes [][]byte
	for b := uint64(0); b*256 < size; b++ {
		bundle, err := client.GetEntryBundle(ctx, f.ReadEntryBundle, b, size)
		if err != nil {
			return nil, err
		}
		for _, e := range bundle.Entries {
			l.Leaves = append(l.Leaves, e)
			hashes = append(hashes, rfc6962.DefaultHasher.HashLeaf(e))
		}
	}
	if uint64(len(l.Leaves)) != size {
		return nil, fmt.Errorf("tlog: %d entries in the bundles, checkpoint size %d", len(l.Leaves), size)
	}
	if size > 0 && !bytes.Equal(RootOf(hashes), l.Checkpoint.Hash) {
		return nil, &InconsistentError{Old: size, New: size, Reason: "the entries do not hash to the checkpoint's root"}
	}
	if oldSize > 0 && oldSize < size {
		pb, err := client.NewProofBuilder(ctx, size, f.ReadTile)
		if err != nil {
			return nil, err
		}
		if l.Consistency, err = pb.ConsistencyProof(ctx, oldSize, size); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// RootOf is the RFC 6962 Merkle tree hash of leaf hashes (at least one).
func RootOf(hashes [][]byte) []byte {
	if len(hashes) == 1 {
		return hashes[0]
	}
	k := 1
	for k*2 < len(hashes) {
		k *= 2
	}
	return rfc6962.DefaultHasher.HashChildren(RootOf(hashes[:k]), RootOf(hashes[k:]))
}

// Marshal returns the state file's bytes.
func (s *State) Marshal() ([]byte, error) { return json.MarshalIndent(s, "", "  ") }
