package repo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"
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
