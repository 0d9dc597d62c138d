package repo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/bsiframework/bsi/manifest"
	"github.com/bsiframework/bsi/transparency"
)

// Transparency is the publisher's side of the transparency log
// (transparency/publog implements it). When top-level targets lists a
// tlog-policy target, Publish calls LogPublish once the new metadata is
// signed and before any of it is written: the log appends what is new,
// gets its checkpoint cosigned by a quorum of witnesses and writes the log
// and a proof beside every listed improvement to dest. An error aborts the
// publish with nothing of the new metadata written.
type Transparency interface {
	LogPublish(ctx context.Context, dest Destination, facts *TransparencyFacts) error
}

// TransparencyFacts is what a publish makes public, as log entries.
type TransparencyFacts struct {
	// Policy is the content of the tlog-policy target.
	Policy []byte
	// Improvements lists every improvement target of every component role
	// (and bin), withdrawn or not.
	Improvements []LoggedImprovement
	// Roots lists every root version, 1 to the current one.
	Roots []transparency.Entry
}

// LoggedImprovement is one improvement target with the names of its
// published payload files.
type LoggedImprovement struct {
	Entry transparency.Entry
	// Files are the payload's consistent-snapshot names in the published
	// tree ("targets/webkit/<hex>.wk-1.tar.gz"), one per hash; its proof is
	// written at each name + transparency.ProofSuffix.
	Files []string
	// Withdrawn is set for a withdrawn improvement: it is logged, but gets
	// no proof (devices do not install it).
	Withdrawn bool
}

// TransparencyError is a failure of the transparency log during Publish.
type TransparencyError struct {
	Err error
}

func (e *TransparencyError) Error() string { return "transparency log: " + e.Err.Error() }
func (e *TransparencyError) Unwrap() error { return e.Err }

// logTransparency runs the transparency hook when targets lists a policy.
func (w *Workspace) logTransparency(ctx context.Context, dest Destination) error {
	facts, err := w.transparencyFacts(ctx)
	if err != nil || facts == nil {
		return err
	}
	if w.opts.Transparency == nil {
		return &TransparencyError{Err: errors.New("targets lists a tlog-policy but no transparency log is configured for this workspace (bsi repo tlog-enable)")}
	}
	if err := w.opts.Transparency.LogPublish(ctx, dest, facts); err != nil {
		return &TransparencyError{Err: err}
	}
	return nil
}

// transparencyFacts returns the facts of the workspace, or nil when
// top-level targets lists no tlog-policy.
func (w *Workspace) transparencyFacts(ctx context.Context) (*TransparencyFacts, error) {
	top, err := w.targetsRole(metadata.TARGETS)
	if err != nil {
		return nil, err
	}
	ptf := top.Signed.Targets[transparency.PolicyTarget]
	if ptf == nil {
		return nil, nil
	}
	policy, err := w.content(ptf)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", transparency.PolicyTarget, err)
	}
	facts := &TransparencyFacts{Policy: policy}
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
			for _, target := range sortedKeys(m.Signed.Targets) {
				li, err := loggedImprovement(c, role, m.Signed.Version, target, m.Signed.Targets[target])
				if err != nil {
					return nil, err
				}
				facts.Improvements = append(facts.Improvements, *li)
			}
		}
	}
	for v := int64(1); v <= w.root.Signed.Version; v++ {
		var data []byte
		if v == w.root.Signed.Version {
			data, err = w.fileBytes(metadata.ROOT)
		} else {
			data, err = w.readFile(w.path("metadata", "roots", fmt.Sprintf("%d.root.json", v)))
		}
		if err != nil {
			return nil, fmt.Errorf("root history: %w", err)
		}
		sum := sha256.Sum256(data)
		facts.Roots = append(facts.Roots, transparency.Entry{Kind: transparency.KindRoot, Version: v,
			Length: int64(len(data)), Hashes: map[string]string{"sha256": hex.EncodeToString(sum[:])}})
	}
	return facts, nil
}

func loggedImprovement(component, role string, version int64, target string, tf *metadata.TargetFiles) (*LoggedImprovement, error) {
	li := &LoggedImprovement{Entry: transparency.Entry{Kind: transparency.KindImprovement, Component: component,
		Path: target, Length: tf.Length, Hashes: map[string]string{}, Role: role, RoleVersion: version}}
	if tf.Custom == nil {
		return nil, fmt.Errorf("%s: target %s has no manifest", role, target)
	}
	mh, err := transparency.ManifestHash(*tf.Custom)
	if err != nil {
		return nil, fmt.Errorf("%s: target %s: %w", role, target, err)
	}
	li.Entry.ManifestSHA256 = mh
	if m, err := manifest.FromCustom(*tf.Custom); err == nil && m.Status == manifest.StatusWithdrawn {
		li.Withdrawn = true
	}
	dir, base := path.Split(target)
	for _, alg := range sortedKeys(tf.Hashes) {
		li.Entry.Hashes[alg] = hex.EncodeToString(tf.Hashes[alg])
		li.Files = append(li.Files, fmt.Sprintf("targets/%s%x.%s", dir, []byte(tf.Hashes[alg]), base))
	}
	return li, nil
}

// TransparencyPolicy returns the content of the tlog-policy target, or nil
// when top-level targets lists none.
func (w *Workspace) TransparencyPolicy() ([]byte, error) {
	top, err := w.targetsRole(metadata.TARGETS)
	if err != nil {
		return nil, err
	}
	tf := top.Signed.Targets[transparency.PolicyTarget]
	if tf == nil {
		return nil, nil
	}
	return w.content(tf)
}

// SetTransparencyPolicy makes the file policyFile (a C2SP tlog-policy) the
// tlog-policy target of top-level targets, signed with signers if any (targets is
// otherwise pending until its keys sign it). From the next publish on,
// Publish logs every new improvement and root and needs
// Options.Transparency.
func (w *Workspace) SetTransparencyPolicy(ctx context.Context, policyFile string, signers ...signature.Signer) error {
	policy, err := os.ReadFile(policyFile)
	if err != nil {
		return err
	}
	return w.mutate(func() error {
		tf, err := metadata.TargetFile().FromBytes(transparency.PolicyTarget, policy, "sha256")
		if err != nil {
			return err
		}
		if err := w.edit(metadata.TARGETS); err != nil {
			return err
		}
		w.targets[metadata.TARGETS].Signed.Targets[transparency.PolicyTarget] = tf
		w.changedTarget(metadata.TARGETS, transparency.PolicyTarget)
		w.newContent[fmt.Sprintf("%x", []byte(tf.Hashes["sha256"]))] = policyFile
		return w.signAll(ctx, signers)
	})
}
