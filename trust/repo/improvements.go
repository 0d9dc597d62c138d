package repo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/bsiframework/bsi/manifest"
)

// AddRequest is one improvement to add.
type AddRequest struct {
	Manifest []byte // the manifest JSON (bsi.improvement/v1)
	Payload  string // path of the payload archive (tar or tar.gz)
	// AllowSequenceGap accepts a sequence more than one above the highest
	// of the same platform, release and component. A sequence that does
	// not go up is always refused.
	AllowSequenceGap bool
	// Signers sign the changed role right away (optional).
	Signers []signature.Signer
}

// Improvement is one improvement as listed by its role.
type Improvement struct {
	ID        string             `json:"id"`
	Component string             `json:"component"`
	Target    string             `json:"target"`
	Role      string             `json:"role"`
	Length    int64              `json:"length"`
	Pending   bool               `json:"pending"` // its role has unpublished changes
	Manifest  *manifest.Manifest `json:"manifest"`
}

// Add validates an improvement and adds its payload as the target
// "<component>/<id>.tar.gz" (or ".tar") of the component role, or of its
// hash bin, with the workspace's hashes (sha256 unless SetHashes or
// InitOptions.Hashes asked for sha512 too) and the manifest in custom.bsi.
//
// Errors: a *manifest.ValidationError for a bad manifest; an
// *ImprovementError for an undelegated component, a duplicate id, a
// sequence that does not go up (or skips without AllowSequenceGap); a
// *PayloadError for a payload that is not a non-empty, safe tar or tar.gz.
func (w *Workspace) Add(ctx context.Context, req AddRequest) (*Improvement, error) {
	var imp *Improvement
	err := w.mutate(func() error {
		var err error
		imp, err = w.add(ctx, req)
		return err
	})
	return imp, err
}

// AddBatch adds several improvements in one change: all or none. It is
// much faster than one Add per improvement when importing many, since each
// changed role file is written once.
func (w *Workspace) AddBatch(ctx context.Context, reqs []AddRequest) ([]*Improvement, error) {
	var out []*Improvement
	err := w.mutate(func() error {
		for _, req := range reqs {
			if err := ctx.Err(); err != nil {
				return err
			}
			imp, err := w.add(ctx, req)
			if err != nil {
				return err
			}
			out = append(out, imp)
		}
		return nil
	})
	return out, err
}

func (w *Workspace) add(ctx context.Context, req AddRequest) (*Improvement, error) {
	m, err := manifest.Decode(req.Manifest)
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	if m.Status != manifest.StatusActive {
		return nil, &ImprovementError{ID: m.ID, Reason: "a new improvement must have status active"}
	}
	cc, ok := w.cfg.Components[m.Component]
	if !ok {
		return nil, &ImprovementError{ID: m.ID, Reason: fmt.Sprintf("component %s is not delegated (bsi repo delegate --component %s)", m.Component, m.Component)}
	}
	data, kind, err := readPayload(req.Payload)
	if err != nil {
		return nil, err
	}
	if err := w.checkSequence(m, cc, req.AllowSequenceGap); err != nil {
		return nil, err
	}
	target := m.Component + "/" + m.ID + kind
	// The role the entry goes to is decoded anyway: loaded first, it is
	// looked up in memory rather than searched as bytes.
	if _, err := w.targetsRole(w.roleForTarget(m.Component, target)); err != nil {
		return nil, err
	}
	if found, err := w.findImprovement(m.ID); err != nil {
		return nil, err
	} else if found != nil {
		return nil, &ImprovementError{ID: m.ID, Reason: "already exists as " + found.Target}
	}
	tf, err := metadata.TargetFile().FromBytes(target, data, w.Hashes()...)
	if err != nil {
		return nil, err
	}
	custom, err := m.Custom()
	if err != nil {
		return nil, err
	}
	tf.Custom = &custom
	role := w.roleForTarget(m.Component, target)
	if err := w.edit(role); err != nil {
		return nil, err
	}
	w.targets[role].Signed.Targets[target] = tf
	w.changedTarget(role, target)
	w.newContent[fmt.Sprintf("%x", []byte(tf.Hashes["sha256"]))] = req.Payload
	for _, rel := range m.AppliesTo.Releases {
		cc.Sequences[seqKey(m.Platform, rel)] = max(cc.Sequences[seqKey(m.Platform, rel)], m.Sequence)
	}
	imp := &Improvement{ID: m.ID, Component: m.Component, Target: target, Role: role, Length: tf.Length, Pending: true, Manifest: m}
	return imp, w.signAll(ctx, req.Signers)
}

func readPayload(path string) ([]byte, string, error) {
	data, err := readFileDirect(path)
	if err != nil {
		return nil, "", &PayloadError{Path: path, Reason: err.Error()}
	}
	if err := checkDeviceRules(path, data); err != nil {
		return nil, "", err
	}
	kind, err := checkArchive(path, data)
	return data, kind, err
}

func seqKey(platform, release string) string { return platform + " " + release }

func (w *Workspace) checkSequence(m *manifest.Manifest, cc *componentConfig, gap bool) error {
	for _, rel := range m.AppliesTo.Releases {
		high := cc.Sequences[seqKey(m.Platform, rel)]
		switch {
		case m.Sequence <= high:
			return &ImprovementError{ID: m.ID, Reason: fmt.Sprintf("sequence %d is not higher than %d, the highest for %s %s %s",
				m.Sequence, high, m.Platform, rel, m.Component)}
		case m.Sequence > high+1 && !gap:
			return &ImprovementError{ID: m.ID, Reason: fmt.Sprintf("sequence %d skips from %d for %s %s %s (allow it with --allow-sequence-gap)",
				m.Sequence, high, m.Platform, rel, m.Component)}
		}
	}
	return nil
}

// roleForTarget returns the role that lists target: the component role or
// its hash bin.
func (w *Workspace) roleForTarget(component, target string) string {
	cc := w.cfg.Components[component]
	if cc == nil || cc.Bins == 0 {
		return component
	}
	sr := metadata.SuccinctRoles{BitLength: bitLength(cc.Bins), NamePrefix: binPrefix(component)}
	return sr.GetRolesForTarget(target)[0].Name
}

// findImprovement looks an id up in every component, reading only the
// roles (or bins) that could list it.
func (w *Workspace) findImprovement(id string) (*Improvement, error) {
	for _, c := range w.components() {
		for _, ext := range []string{extTarGz, extTar} {
			target := c + "/" + id + ext
			role := w.roleForTarget(c, target)
			tf, err := w.lookupTarget(role, target)
			if err != nil {
				return nil, err
			}
			if tf != nil {
				return w.improvement(role, target, tf)
			}
		}
	}
	return nil, nil
}

// lookupTarget returns role's entry for target, or nil. A role not loaded
// yet is first searched as raw bytes for the quoted path, which any file
// listing it contains (target paths hold no character that JSON escapes),
// and decoded only on a match.
func (w *Workspace) lookupTarget(role, target string) (*metadata.TargetFiles, error) {
	if _, loaded := w.targets[role]; !loaded && !w.removed[role] && plainJSON(target) {
		data, err := w.readFile(w.rolePath(role))
		if errors.Is(err, fs.ErrNotExist) {
			return nil, &RoleError{Role: role, Reason: "does not exist"}
		}
		if err != nil {
			return nil, err
		}
		w.raw[role] = data
		if !bytes.Contains(data, []byte(`"`+target+`"`)) {
			return nil, nil
		}
		m, err := parseRole[metadata.TargetsType](&w.stats, w.rolePath(role), data)
		if err != nil {
			return nil, err
		}
		w.targets[role] = m
	}
	m, err := w.targetsRole(role)
	if err != nil {
		return nil, err
	}
	return m.Signed.Targets[target], nil
}

// plainJSON reports whether s is written as it is inside a JSON string.
func plainJSON(s string) bool {
	for _, c := range []byte(s) {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("./+-_", c) >= 0
		if !ok {
			return false
		}
	}
	return true
}

func (w *Workspace) improvement(role, target string, tf *metadata.TargetFiles) (*Improvement, error) {
	imp := &Improvement{Target: target, Role: role, Length: tf.Length, Pending: w.cfg.Edited[role]}
	imp.Component, imp.ID, _ = strings.Cut(target, "/")
	imp.ID = strings.TrimSuffix(strings.TrimSuffix(imp.ID, extTarGz), extTar)
	if tf.Custom != nil {
		m, err := manifest.FromCustom(*tf.Custom)
		if err != nil {
			return nil, fmt.Errorf("%s: target %s: %w", role, target, err)
		}
		imp.Manifest = m
	}
	return imp, nil
}

// Withdraw marks an improvement withdrawn with a reason, in a new version
// of its role. The target entry stays: clients need it to roll back. An
// unknown or already withdrawn id gives an *ImprovementError.
func (w *Workspace) Withdraw(ctx context.Context, id, reason string, signers ...signature.Signer) error {
	return w.mutate(func() error {
		imp, err := w.findImprovement(id)
		if err != nil {
			return err
		}
		if imp == nil || imp.Manifest == nil {
			return &ImprovementError{ID: id, Reason: "not found"}
		}
		m := imp.Manifest
		if m.Status == manifest.StatusWithdrawn {
			return &ImprovementError{ID: id, Reason: "is already withdrawn"}
		}
		m.Status, m.WithdrawnReason = manifest.StatusWithdrawn, reason
		custom, err := m.Custom()
		if err != nil {
			return fmt.Errorf("withdraw %s: %w", id, err)
		}
		if err := w.edit(imp.Role); err != nil {
			return err
		}
		old := w.targets[imp.Role].Signed.Targets[imp.Target]
		tf := *old
		tf.Custom = (*json.RawMessage)(&custom)
		w.targets[imp.Role].Signed.Targets[imp.Target] = &tf
		w.changedTarget(imp.Role, imp.Target)
		return w.signAll(ctx, signers)
	})
}

// List returns every improvement, by component, platform and sequence.
func (w *Workspace) List(ctx context.Context) ([]Improvement, error) {
	var out []Improvement
	for _, c := range w.components() {
		roles := w.bins(c)
		if len(roles) == 0 {
			roles = []string{c}
		}
		for _, role := range roles {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			m, err := w.targetsRole(role)
			if err != nil {
				return nil, err
			}
			for target, tf := range m.Signed.Targets {
				imp, err := w.improvement(role, target, tf)
				if err != nil {
					return nil, err
				}
				out = append(out, *imp)
			}
		}
	}
	slices.SortFunc(out, func(a, b Improvement) int {
		if c := strings.Compare(a.Component, b.Component); c != 0 {
			return c
		}
		if a.Manifest != nil && b.Manifest != nil {
			if c := strings.Compare(a.Manifest.Platform, b.Manifest.Platform); c != 0 {
				return c
			}
			if c := a.Manifest.Sequence - b.Manifest.Sequence; c != 0 {
				return c
			}
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}
