package repo

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/bsiframework/bsi/rollout"
)

// binInfix separates a component from its bin suffix: "webkit.bin-3f".
// Component names cannot contain '.', so bin names never clash with them.
const binInfix = ".bin"

func binPrefix(component string) string { return component + binInfix }

// binComponent returns the component of a bin role name.
func binComponent(role string) (string, bool) {
	i := strings.Index(role, binInfix+"-")
	if i <= 0 {
		return "", false
	}
	return role[:i], true
}

func isTopLevel(role string) bool { return slices.Contains(metadata.TOP_LEVEL_ROLE_NAMES[:], role) }

// kindOf returns the expiry kind of a role.
func kindOf(role string) string {
	if isTopLevel(role) {
		return role
	}
	return kindComponent
}

// roleKeys is who may sign a role: the keys its delegator lists for it.
type roleKeys struct {
	keys      map[string]*metadata.Key
	ids       []string
	threshold int
}

// keysFor returns the keys and threshold the current metadata sets for role.
func (w *Workspace) keysFor(role string) (roleKeys, error) {
	if isTopLevel(role) {
		return rootKeysFor(w.root, role), nil
	}
	if comp, ok := binComponent(role); ok {
		c, err := w.targetsRole(comp)
		if err != nil {
			return roleKeys{}, err
		}
		d := c.Signed.Delegations
		if d == nil || d.SuccinctRoles == nil || !d.SuccinctRoles.IsDelegatedRole(role) {
			return roleKeys{}, &RoleError{Role: role, Reason: "is not a hash bin of " + comp}
		}
		return roleKeys{keys: d.Keys, ids: d.SuccinctRoles.KeyIDs, threshold: d.SuccinctRoles.Threshold}, nil
	}
	t, err := w.targetsRole(metadata.TARGETS)
	if err != nil {
		return roleKeys{}, err
	}
	if d := t.Signed.Delegations; d != nil {
		for _, r := range d.Roles {
			if r.Name == role {
				return roleKeys{keys: d.Keys, ids: r.KeyIDs, threshold: r.Threshold}, nil
			}
		}
	}
	return roleKeys{}, &RoleError{Role: role, Reason: "is not delegated"}
}

func rootKeysFor(root *rootMeta, role string) roleKeys {
	r := root.Signed.Roles[role]
	if r == nil {
		// A root that does not name the role authorises no key for it,
		// and no count of signatures satisfies it.
		return roleKeys{keys: root.Signed.Keys, threshold: math.MaxInt}
	}
	return roleKeys{keys: root.Signed.Keys, ids: r.KeyIDs, threshold: r.Threshold}
}

// checkRootRoles refuses a root that lacks one of the top-level roles or
// gives one a threshold below 1 (TUF section 4: root MUST specify each).
func checkRootRoles(what string, root *rootMeta) error {
	for _, role := range []string{metadata.ROOT, metadata.TARGETS, metadata.SNAPSHOT, metadata.TIMESTAMP} {
		r := root.Signed.Roles[role]
		switch {
		case r == nil:
			return &ChainError{Role: what, Field: "roles." + role, Reason: "roles." + role + " is missing: a root must name the keys of root, targets, snapshot and timestamp"}
		case r.Threshold < 1:
			return &ChainError{Role: what, Field: "roles." + role + ".threshold", Reason: fmt.Sprintf("roles.%s.threshold is %d, below 1", role, r.Threshold)}
		}
	}
	return nil
}

// previousRoot returns the root that the current one must also satisfy:
// the last published root, when root has been edited since and is not v1.
func (w *Workspace) previousRoot() (*rootMeta, error) {
	if !w.cfg.Edited[metadata.ROOT] || w.root.Signed.Version == 1 {
		return nil, nil
	}
	data := w.prevRoot
	if data == nil {
		var err error
		data, err = w.readFile(w.path("metadata", "roots", fmt.Sprintf("%d.root.json", w.root.Signed.Version-1)))
		if err != nil {
			return nil, fmt.Errorf("previous root: %w", err)
		}
	}
	return new(rootMeta).FromBytes(data)
}

// roleNames lists every role of the workspace: root, targets, components
// (sorted) each followed by its bins, the rollout role when targets
// delegates it, snapshot, timestamp.
func (w *Workspace) roleNames() ([]string, error) {
	names := []string{metadata.ROOT, metadata.TARGETS}
	for _, c := range w.components() {
		names = append(names, c)
		names = append(names, w.bins(c)...)
	}
	if on, err := w.RolloutEnabled(); err != nil {
		return nil, err
	} else if on {
		names = append(names, rollout.Role)
	}
	return append(names, metadata.SNAPSHOT, metadata.TIMESTAMP), nil
}

// components returns the delegated component names, sorted.
func (w *Workspace) components() []string { return sortedKeys(w.cfg.Components) }

// bins returns the bin role names of a component (none when not binned).
func (w *Workspace) bins(component string) []string {
	cc := w.cfg.Components[component]
	if cc == nil || cc.Bins == 0 {
		return nil
	}
	sr := metadata.SuccinctRoles{BitLength: bitLength(cc.Bins), NamePrefix: binPrefix(component)}
	return sr.GetRoles()
}

func bitLength(bins int) int {
	n := 0
	for 1<<n < bins {
		n++
	}
	return n
}

// edit marks role as changed: the first change since the last publish
// bumps its version; every change clears its signatures and renews its
// expiry. Every change of a role's signed part must follow an edit.
func (w *Workspace) edit(role string) error {
	first := !w.cfg.Edited[role]
	expires := w.now().Add(w.expiry(kindOf(role)))
	delete(w.canon, role)
	switch role {
	case metadata.ROOT:
		if first {
			data, err := w.readFile(w.rolePath(metadata.ROOT))
			if err != nil {
				return err
			}
			w.prevRoot, w.prevRootVer = data, w.root.Signed.Version
			w.root.Signed.Version++
		}
		w.root.Signed.Expires = expires
		w.root.Signatures = []metadata.Signature{}
	case metadata.SNAPSHOT, metadata.TIMESTAMP:
		// Online roles are bumped and signed by Publish and Refresh.
	default:
		m, err := w.targetsRole(role)
		if err != nil {
			return err
		}
		if first {
			m.Signed.Version++
			if w.cfg.Unpublished == nil {
				w.cfg.Unpublished = map[string][]string{}
			}
			w.cfg.Unpublished[role] = []string{}
		}
		m.Signed.Expires = expires
		m.Signatures = []metadata.Signature{}
	}
	w.cfg.Edited[role] = true
	w.dirty[role] = true
	return nil
}

// newTargetsRole creates an empty targets-family role, version 1, edited.
func (w *Workspace) newTargetsRole(role string) *targetsMeta {
	m := metadata.Targets(w.now().Add(w.expiry(kindOf(role))))
	w.targets[role] = m
	delete(w.removed, role)
	delete(w.canon, role)
	w.cfg.Edited[role] = true
	w.dirty[role] = true
	return m
}

// changedTarget records that role, edited, now lists target with new
// content (see config.Unpublished).
func (w *Workspace) changedTarget(role, target string) {
	list, ok := w.cfg.Unpublished[role]
	switch {
	case !ok:
	case len(list) >= maxUnpublished:
		delete(w.cfg.Unpublished, role)
	default:
		w.cfg.Unpublished[role] = append(list, target)
	}
}

// signable returns the canonical bytes that signatures of role cover and
// a pointer to its signature list. Those of targets-family roles are
// cached until the next edit.
func (w *Workspace) signable(role string) ([]byte, *[]metadata.Signature, int64, error) {
	var signed any
	var sigs *[]metadata.Signature
	var version int64
	switch role {
	case metadata.ROOT:
		signed, sigs, version = w.root.Signed, &w.root.Signatures, w.root.Signed.Version
	case metadata.SNAPSHOT:
		signed, sigs, version = w.snapshot.Signed, &w.snapshot.Signatures, w.snapshot.Signed.Version
	case metadata.TIMESTAMP:
		signed, sigs, version = w.timestamp.Signed, &w.timestamp.Signatures, w.timestamp.Signed.Version
	default:
		m, err := w.targetsRole(role)
		if err != nil {
			return nil, nil, 0, err
		}
		if c, ok := w.canon[role]; ok && c.m == m {
			return c.bytes, &m.Signatures, m.Signed.Version, nil
		}
		payload, entries, err := canonicalTargetsCached(&m.Signed, w.entries[role])
		if err != nil {
			return nil, nil, 0, fmt.Errorf("%s: canonical json: %w", role, err)
		}
		w.canon[role] = canonical{m: m, bytes: payload}
		w.entries[role] = entries
		return payload, &m.Signatures, m.Signed.Version, nil
	}
	payload, err := canonicalOf(signed)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("%s: canonical json: %w", role, err)
	}
	return payload, sigs, version, nil
}

// verifySignature checks sig over payload with a TUF key, the way go-tuf
// does (ed25519, ECDSA with SHA-256/384, RSA-PSS with SHA-256).
func verifySignature(key *metadata.Key, payload, sig []byte) error {
	pub, err := key.ToPublicKey()
	if err != nil {
		return err
	}
	if pk, ok := pub.(ed25519.PublicKey); ok && key.Type == metadata.KeyTypeEd25519 {
		// What sigstore's ED25519Verifier does, without first copying the
		// payload (a large role's canonical bytes) through io.ReadAll.
		if !ed25519.Verify(pk, payload, sig) {
			return errors.New("failed to verify signature")
		}
		return nil
	}
	var v signature.Verifier
	switch {
	case key.Type == metadata.KeyTypeEd25519:
		v, err = signature.LoadVerifier(pub, crypto.Hash(0))
	case key.Type == metadata.KeyTypeRSASSA_PSS_SHA256:
		rk, ok := pub.(*rsa.PublicKey)
		if !ok {
			return errors.New("not an rsa key")
		}
		v, err = signature.LoadRSAPSSVerifier(rk, crypto.SHA256, &rsa.PSSOptions{Hash: crypto.SHA256})
	case key.Scheme == metadata.KeySchemeECDSA_SHA2_P384:
		v, err = signature.LoadVerifier(pub, crypto.SHA384)
	default:
		v, err = signature.LoadVerifier(pub, crypto.SHA256)
	}
	if err != nil {
		return err
	}
	return v.VerifySignature(bytes.NewReader(sig), bytes.NewReader(payload))
}

// tally counts the valid signatures of rk's keys in sigs and returns the
// authorised key ids that have not signed.
func tally(rk roleKeys, payload []byte, sigs []metadata.Signature) (have int, missing []string) {
	for _, id := range rk.ids {
		ok := false
		for _, s := range sigs {
			if s.KeyID == id && rk.keys[id] != nil && verifySignature(rk.keys[id], payload, s.Signature) == nil {
				ok = true
				break
			}
		}
		if ok {
			have++
		} else {
			missing = append(missing, id)
		}
	}
	return have, missing
}

// keyIDOf finds the key id under which rk lists pub, comparing the keys
// themselves (a key id depends on how the key was labelled).
func keyIDOf(rk roleKeys, pub crypto.PublicKey) (string, bool) {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	e, ok := pub.(equaler)
	if !ok {
		return "", false
	}
	for _, id := range rk.ids {
		k := rk.keys[id]
		if k == nil {
			continue
		}
		if p, err := k.ToPublicKey(); err == nil && e.Equal(p) {
			return id, true
		}
	}
	return "", false
}

// checkThreshold refuses a threshold that the key count cannot reach.
func checkThreshold(role string, threshold, keys int) error {
	if threshold < 1 || threshold > keys {
		return &ThresholdError{Role: role, Threshold: threshold, Keys: keys}
	}
	return nil
}
