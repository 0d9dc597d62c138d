package repo

import (
	"bytes"
	"context"
	"crypto"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/bsiframework/bsi/trust"
)

// Export is a role prepared for signing on another (air-gapped) machine.
type Export struct {
	Role      string   `json:"role"`
	Version   int64    `json:"version"`
	Threshold int      `json:"threshold"`
	KeyIDs    []string `json:"key_ids"`         // keys that may sign (for root: new and previous)
	Missing   []string `json:"missing_key_ids"` // of those, the ones that have not signed
	// Canonical is exactly what a signature covers: the canonical JSON of
	// the role's "signed" object.
	Canonical []byte `json:"-"`
	// Metadata is the role file as it stands, with its signatures. Sign it
	// with SignFile (bsi repo sign --file) or any TUF tool.
	Metadata []byte `json:"-"`
}

// ExportRole returns a changed offline role for signing elsewhere.
func (w *Workspace) ExportRole(role string) (*Export, error) {
	if !offline(role) {
		return nil, &RoleError{Role: role, Reason: "is signed by its online key at publish"}
	}
	if !w.cfg.Edited[role] {
		return nil, &RoleError{Role: role, Reason: "has no unpublished changes to sign"}
	}
	st, err := w.roleStatus(role)
	if err != nil {
		return nil, err
	}
	payload, _, _, err := w.signable(role)
	if err != nil {
		return nil, err
	}
	data, err := w.fileBytes(role)
	if err != nil {
		return nil, err
	}
	e := &Export{Role: role, Version: st.Version, Threshold: st.Threshold, KeyIDs: slices.Clone(st.KeyIDs),
		Missing: slices.Clone(st.Missing), Canonical: payload, Metadata: data}
	if p := st.Previous; p != nil {
		prev, _ := w.previousRoot()
		for _, id := range rootKeysFor(prev, metadata.ROOT).ids {
			if !slices.Contains(e.KeyIDs, id) {
				e.KeyIDs = append(e.KeyIDs, id)
			}
		}
		for _, id := range p.Missing {
			if !slices.Contains(e.Missing, id) {
				e.Missing = append(e.Missing, id)
			}
		}
	}
	return e, nil
}

// ImportSignatures adds signatures made elsewhere to role. Each must come
// from a key the role lists (for root: the new or the previous root keys)
// and verify over the role's current canonical bytes; otherwise nothing is
// added and the error is a *NotAuthorisedError or a *SignatureError.
// Signatures already present are skipped. It returns how many were added.
// Options.Confirm is shown the role's change first (*DeclinedError).
func (w *Workspace) ImportSignatures(ctx context.Context, role string, sigs []metadata.Signature) (int, error) {
	added := 0
	err := w.mutate(func() error {
		if !offline(role) || !w.cfg.Edited[role] {
			return &RoleError{Role: role, Reason: "has no unpublished changes to sign"}
		}
		payload, cur, _, err := w.signable(role)
		if err != nil {
			return err
		}
		keys, err := w.signingKeys(role)
		if err != nil {
			return err
		}
		fresh := false
		for _, s := range sigs {
			if k, ok := keys[s.KeyID]; !ok || !hasValid(*cur, s.KeyID, k, payload) {
				fresh = true
			}
		}
		if fresh {
			if err := w.confirm(ctx, []string{role}); err != nil {
				return err
			}
		}
		for _, s := range sigs {
			k, ok := keys[s.KeyID]
			if !ok {
				return &NotAuthorisedError{KeyID: s.KeyID, Role: role}
			}
			if err := verifySignature(k, payload, s.Signature); err != nil {
				return &SignatureError{Role: role, KeyID: s.KeyID, Err: err}
			}
			if hasValid(*cur, s.KeyID, k, payload) {
				continue
			}
			*cur = replaceSignature(*cur, metadata.Signature{KeyID: s.KeyID, Signature: s.Signature})
			added++
		}
		w.dirty[role] = true
		return nil
	})
	return added, err
}

// signingKeys returns every key that may sign role, by id.
func (w *Workspace) signingKeys(role string) (map[string]*metadata.Key, error) {
	rk, err := w.keysFor(role)
	if err != nil {
		return nil, err
	}
	out := map[string]*metadata.Key{}
	for _, id := range rk.ids {
		out[id] = rk.keys[id]
	}
	if role == metadata.ROOT {
		prev, err := w.previousRoot()
		if err != nil {
			return nil, err
		}
		if prev != nil {
			prk := rootKeysFor(prev, metadata.ROOT)
			for _, id := range prk.ids {
				out[id] = prk.keys[id]
			}
		}
	}
	return out, nil
}

// ImportFile adds the signatures of a role file signed elsewhere. The
// file's "signed" object must be exactly the workspace's (same canonical
// bytes); the signatures are then checked as by ImportSignatures.
func (w *Workspace) ImportFile(ctx context.Context, role string, data []byte) (int, error) {
	var env struct {
		Signed     json.RawMessage      `json:"signed"`
		Signatures []metadata.Signature `json:"signatures"`
	}
	if err := json.Unmarshal(data, &env); err != nil {
		return 0, fmt.Errorf("import %s: %w", role, err)
	}
	canon, err := canonicalSigned(data)
	if err != nil {
		return 0, fmt.Errorf("import %s: %w", role, err)
	}
	payload, _, _, err := w.signable(role)
	if err != nil {
		return 0, err
	}
	if !bytes.Equal(canon, payload) {
		return 0, &RoleError{Role: role, Reason: "the imported file is for other content (export the role again)"}
	}
	return w.ImportSignatures(ctx, role, env.Signatures)
}

// canonicalSigned decodes a role file of any type and returns the
// canonical bytes of its signed part.
func canonicalSigned(data []byte) ([]byte, error) {
	var head struct {
		Signed struct {
			Type string `json:"_type"`
		} `json:"signed"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, err
	}
	var signed any
	switch head.Signed.Type {
	case metadata.ROOT:
		m, err := new(rootMeta).FromBytes(data)
		if err != nil {
			return nil, err
		}
		signed = m.Signed
	case metadata.TARGETS:
		m, err := new(targetsMeta).FromBytes(data)
		if err != nil {
			return nil, err
		}
		signed = m.Signed
	default:
		return nil, fmt.Errorf("role type %q cannot be signed offline", head.Signed.Type)
	}
	return canonicalOf(signed)
}

// SignFile adds signer's signature to an exported role file (root or
// targets type) and returns the new file. It needs no workspace: it is what
// runs on the air-gapped machine. A previous signature of the same key is
// replaced. keyID names the key as the role lists it; empty means the id
// computed by tufKey (metadata.KeyFromPublicKey when nil).
func SignFile(ctx context.Context, signer signature.Signer, data []byte, keyID string) ([]byte, error) {
	canon, err := canonicalSigned(data)
	if err != nil {
		return nil, err
	}
	if keyID == "" {
		pub, err := signer.PublicKey()
		if err != nil {
			return nil, err
		}
		k, err := metadata.KeyFromPublicKey(pub)
		if err != nil {
			return nil, err
		}
		keyID, _ = k.ID()
	}
	raw, err := signer.SignMessage(bytes.NewReader(canon), signatureOptions(ctx)...)
	if err != nil {
		return nil, err
	}
	var env map[string]json.RawMessage
	if err := json.Unmarshal(data, &env); err != nil {
		return nil, err
	}
	var sigs []metadata.Signature
	if s, ok := env["signatures"]; ok {
		if err := json.Unmarshal(s, &sigs); err != nil {
			return nil, err
		}
	}
	sigs = replaceSignature(sigs, metadata.Signature{KeyID: keyID, Signature: raw})
	if env["signatures"], err = json.Marshal(sigs); err != nil {
		return nil, err
	}
	return json.Marshal(env)
}

// DefaultMinExpiry is the expiry floor of CheckFile: a role file that
// expires sooner than this after now is refused.
const DefaultMinExpiry = 30 * 24 * time.Hour

// FileCheck is what the offline machine trusts when it checks a role file
// before signing it (CheckFile).
type FileCheck struct {
	// TrustedRoot is the signer's own copy of the last trusted root. A root
	// file must follow it (version N+1, no threshold lowered) and be signed
	// by a key of either; a targets file by a key of its targets role.
	// Required unless NoTrustedRootUnsafe, or the file is root version 1
	// (the first root follows none; its own root keys must sign it).
	TrustedRoot []byte
	// NoTrustedRootUnsafe signs without TrustedRoot: nothing is checked
	// against a previous root and any key signs.
	NoTrustedRootUnsafe bool
	// Previous is, for a targets-type file, its previous version: the file
	// must be the next version and the change is shown against it
	// (optional; without it the role is shown whole).
	Previous []byte
	// Role, when set, is the role type the file must be ("root" or
	// "targets").
	Role string
	// Now is the time of the check.
	Now time.Time
	// MinExpiry is the expiry floor; 0 means DefaultMinExpiry.
	MinExpiry time.Duration
	// AllowThresholdDown accepts a root that lowers a role's threshold.
	AllowThresholdDown bool
	// TUFKey converts a public key to its TUF form; nil means
	// metadata.KeyFromPublicKey.
	TUFKey func(crypto.PublicKey) (*metadata.Key, error)
}

// ChainError is a role file that does not follow what the signer trusts:
// a version that is not the next one, another role type, an expiry below
// the floor, a lowered threshold. It wraps trust.ErrSecurity.
type ChainError struct {
	Role   string // root or targets
	Field  string // version, type, expires, threshold
	Reason string
}

func (e *ChainError) Error() string { return e.Role + ": " + e.Reason }

func (e *ChainError) Unwrap() error { return trust.ErrSecurity }

// CheckFile checks a role file before it is signed offline with pub and
// returns what the signature would approve and the key ids under which
// the file's keys list pub (sign under each with SignFile).
//
// Errors: a *ChainError when the file does not follow c.TrustedRoot or
// c.Previous; a *NotAuthorisedError when pub is not a key of the role (for
// root: of the new or the trusted root); a *RoleError when c.TrustedRoot is
// missing without NoTrustedRootUnsafe (but for root version 1).
func CheckFile(data []byte, pub crypto.PublicKey, c FileCheck) (*RoleChange, []string, error) {
	if c.MinExpiry == 0 {
		c.MinExpiry = DefaultMinExpiry
	}
	if c.TUFKey == nil {
		c.TUFKey = metadata.KeyFromPublicKey
	}
	typ, err := roleType(data)
	if err != nil {
		return nil, nil, err
	}
	if c.Role != "" && typ != c.Role {
		return nil, nil, &ChainError{Role: c.Role, Field: "type", Reason: fmt.Sprintf("the file is a %s role, not %s", typ, c.Role)}
	}
	var trusted *rootMeta
	switch {
	case c.TrustedRoot != nil:
		if t, _ := roleType(c.TrustedRoot); t != metadata.ROOT {
			return nil, nil, &ChainError{Role: typ, Field: "type", Reason: fmt.Sprintf("the trusted root is a %q role file, not root", t)}
		}
		if trusted, err = new(rootMeta).FromBytes(c.TrustedRoot); err != nil {
			return nil, nil, fmt.Errorf("trusted root: %w", err)
		}
		if err := checkRootRoles("trusted root", trusted); err != nil {
			return nil, nil, err
		}
	case !c.NoTrustedRootUnsafe && !firstRoot(typ, data):
		return nil, nil, &RoleError{Role: typ, Reason: "cannot be checked without your copy of the last trusted root (--trusted-root)"}
	}
	var change RoleChange
	var signers []roleKeys
	switch typ {
	case metadata.ROOT:
		m, err := new(rootMeta).FromBytes(data)
		if err != nil {
			return nil, nil, err
		}
		if err := checkRootRoles(metadata.ROOT, m); err != nil {
			return nil, nil, err
		}
		if err := checkRootChain(&m.Signed, trusted, c); err != nil {
			return nil, nil, err
		}
		var prev *metadata.RootType
		signers = []roleKeys{rootKeysFor(m, metadata.ROOT)}
		if trusted != nil {
			prev = &trusted.Signed
			signers = append(signers, rootKeysFor(trusted, metadata.ROOT))
		}
		change = diffRoot(metadata.ROOT, &m.Signed, prev)
	case metadata.TARGETS:
		m, err := new(targetsMeta).FromBytes(data)
		if err != nil {
			return nil, nil, err
		}
		var prev *metadata.TargetsType
		if c.Previous != nil {
			p, err := new(targetsMeta).FromBytes(c.Previous)
			if err != nil {
				return nil, nil, fmt.Errorf("previous version: %w", err)
			}
			prev = &p.Signed
			if m.Signed.Version != prev.Version+1 {
				return nil, nil, &ChainError{Role: typ, Field: "version",
					Reason: fmt.Sprintf("version %d does not follow previous version %d", m.Signed.Version, prev.Version)}
			}
		}
		if err := checkExpiryFloor(typ, m.Signed.Expires, c); err != nil {
			return nil, nil, err
		}
		if trusted != nil {
			signers = []roleKeys{rootKeysFor(trusted, metadata.TARGETS)}
		}
		change = diffTargets(typ, &m.Signed, prev)
	}
	ids, err := signerIDs(typ, pub, signers, c)
	if err != nil {
		return nil, nil, err
	}
	return &change, ids, nil
}

// firstRoot reports whether data is root version 1, which follows no
// trusted root (the first ceremony; it can replace no root a client
// trusts).
func firstRoot(typ string, data []byte) bool {
	if typ != metadata.ROOT {
		return false
	}
	var head struct {
		Signed struct {
			Version int64 `json:"version"`
		} `json:"signed"`
	}
	return json.Unmarshal(data, &head) == nil && head.Signed.Version == 1
}

// roleType returns the _type of a role file that can be signed offline.
func roleType(data []byte) (string, error) {
	var head struct {
		Signed struct {
			Type string `json:"_type"`
		} `json:"signed"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return "", err
	}
	if t := head.Signed.Type; t != metadata.ROOT && t != metadata.TARGETS {
		return "", fmt.Errorf("role type %q cannot be signed offline", t)
	}
	return head.Signed.Type, nil
}

// checkRootChain checks that root cur follows trusted: the next version,
// an expiry above the floor, no threshold lowered (unless allowed).
func checkRootChain(cur *metadata.RootType, trusted *rootMeta, c FileCheck) error {
	if trusted != nil && cur.Version != trusted.Signed.Version+1 {
		return &ChainError{Role: metadata.ROOT, Field: "version",
			Reason: fmt.Sprintf("version %d does not follow trusted version %d", cur.Version, trusted.Signed.Version)}
	}
	if err := checkExpiryFloor(metadata.ROOT, cur.Expires, c); err != nil {
		return err
	}
	if trusted == nil || c.AllowThresholdDown {
		return nil
	}
	for _, name := range sortedKeys(trusted.Signed.Roles) {
		old, n := trusted.Signed.Roles[name], cur.Roles[name]
		if n != nil && n.Threshold < old.Threshold {
			return &ChainError{Role: metadata.ROOT, Field: "threshold",
				Reason: fmt.Sprintf("threshold of %s lowered from %d to %d (allow with --allow-threshold-down)", name, old.Threshold, n.Threshold)}
		}
	}
	return nil
}

func checkExpiryFloor(role string, expires time.Time, c FileCheck) error {
	if floor := c.Now.Add(c.MinExpiry); expires.Before(floor) {
		return &ChainError{Role: role, Field: "expires", Reason: fmt.Sprintf("expires %s, before the floor %s (now + %s)",
			expires.UTC().Format(time.RFC3339), floor.UTC().Format(time.RFC3339), c.MinExpiry)}
	}
	return nil
}

// signerIDs returns the ids under which signers list pub; with no signers
// (no trusted root, unsafe) the id computed by c.TUFKey.
func signerIDs(role string, pub crypto.PublicKey, signers []roleKeys, c FileCheck) ([]string, error) {
	k, err := c.TUFKey(pub)
	if err != nil {
		return nil, err
	}
	own, err := k.ID()
	if err != nil {
		return nil, err
	}
	if len(signers) == 0 {
		return []string{own}, nil
	}
	var ids []string
	for _, rk := range signers {
		if id, ok := keyIDOf(rk, pub); ok && !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return nil, &NotAuthorisedError{KeyID: own, Role: role}
	}
	return ids, nil
}
