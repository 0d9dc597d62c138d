package repo

import (
	"bytes"
	"context"
	"crypto"
	"fmt"
	"slices"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/options"
	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// authorisedIDs returns the key ids under which role lists pub: for root,
// under the current root and the previous one (a root change needs both).
func (w *Workspace) authorisedIDs(role string, pub crypto.PublicKey) ([]string, error) {
	rk, err := w.keysFor(role)
	if err != nil {
		return nil, err
	}
	var ids []string
	if id, ok := keyIDOf(rk, pub); ok {
		ids = append(ids, id)
	}
	if role == metadata.ROOT {
		prev, err := w.previousRoot()
		if err != nil {
			return nil, err
		}
		if prev != nil {
			if id, ok := keyIDOf(rootKeysFor(prev, metadata.ROOT), pub); ok && !slices.Contains(ids, id) {
				ids = append(ids, id)
			}
		}
	}
	return ids, nil
}

// offlineRoles are roles signed with Sign: every role but snapshot and
// timestamp, which Publish signs with the online keys.
func offline(role string) bool { return role != metadata.SNAPSHOT && role != metadata.TIMESTAMP }

// Sign adds signer's signature to roles, or, when none are named, to every
// role changed since the last publish that the key is authorised for. It
// never adds a second signature of one key. It returns the roles signed.
//
// A named role the key may not sign, or no pending role at all that it may
// sign, gives a *NotAuthorisedError; a named role without changes gives a
// *RoleError.
func (w *Workspace) Sign(ctx context.Context, signer signature.Signer, roles ...string) ([]string, error) {
	var done []string
	err := w.mutate(func() error {
		var err error
		done, err = w.signWith(ctx, signer, roles)
		return err
	})
	return done, err
}

// signWith is Sign without the commit.
func (w *Workspace) signWith(ctx context.Context, signer signature.Signer, roles []string) ([]string, error) {
	pub, err := signer.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	explicit := len(roles) > 0
	if !explicit {
		roles = sortedKeys(w.cfg.Edited)
	}
	var done []string
	for _, role := range roles {
		if !offline(role) {
			if explicit {
				return nil, &RoleError{Role: role, Reason: "is signed by its online key at publish"}
			}
			continue
		}
		if !w.cfg.Edited[role] {
			return nil, &RoleError{Role: role, Reason: "has no unpublished changes to sign"}
		}
		ids, err := w.authorisedIDs(role, pub)
		if err != nil {
			return nil, err
		}
		if len(ids) == 0 {
			if explicit {
				return nil, &NotAuthorisedError{KeyID: w.describeKey(pub), Role: role}
			}
			continue
		}
		added, err := w.signRole(ctx, role, signer, ids)
		if err != nil {
			return nil, err
		}
		if added {
			done = append(done, role)
		}
	}
	if len(done) == 0 && !w.anySigned(pub, roles) {
		return nil, &NotAuthorisedError{KeyID: w.describeKey(pub)}
	}
	return done, nil
}

// anySigned reports whether pub already has a signature on one of roles
// (signing again is then a no-op, not an error).
func (w *Workspace) anySigned(pub crypto.PublicKey, roles []string) bool {
	for _, role := range roles {
		if !offline(role) || !w.cfg.Edited[role] {
			continue
		}
		if ids, err := w.authorisedIDs(role, pub); err == nil && len(ids) > 0 {
			return true
		}
	}
	return false
}

func (w *Workspace) describeKey(pub crypto.PublicKey) string {
	if k, err := tufKey(w.opts, pub); err == nil {
		id, _ := k.ID()
		return id
	}
	return "(unknown key)"
}

// signRole signs role under each of ids unless a valid signature of that id
// is already there.
func (w *Workspace) signRole(ctx context.Context, role string, signer signature.Signer, ids []string) (bool, error) {
	payload, sigs, _, err := w.signable(role)
	if err != nil {
		return false, err
	}
	pub, _ := signer.PublicKey()
	key, err := tufKey(w.opts, pub)
	if err != nil {
		return false, err
	}
	var raw []byte
	added := false
	for _, id := range ids {
		if hasValid(*sigs, id, key, payload) {
			continue
		}
		if raw == nil {
			raw, err = signer.SignMessage(bytes.NewReader(payload), signatureOptions(ctx)...)
			if err != nil {
				return false, fmt.Errorf("%s: signing: %w", role, err)
			}
			if err := verifySignature(key, payload, raw); err != nil {
				return false, fmt.Errorf("%s: the signer's signature does not verify (an RSA key must sign with PSS): %w", role, err)
			}
		}
		*sigs = replaceSignature(*sigs, metadata.Signature{KeyID: id, Signature: raw})
		added = true
	}
	if added {
		w.dirty[role] = true
	}
	return added, nil
}

func hasValid(sigs []metadata.Signature, id string, key *metadata.Key, payload []byte) bool {
	for _, s := range sigs {
		if s.KeyID == id && verifySignature(key, payload, s.Signature) == nil {
			return true
		}
	}
	return false
}

// replaceSignature drops any signature of sig's key id and appends sig.
func replaceSignature(sigs []metadata.Signature, sig metadata.Signature) []metadata.Signature {
	out := slices.DeleteFunc(slices.Clone(sigs), func(s metadata.Signature) bool { return s.KeyID == sig.KeyID })
	return append(out, sig)
}

func signatureOptions(ctx context.Context) []signature.SignOption {
	return []signature.SignOption{options.WithContext(ctx)}
}
