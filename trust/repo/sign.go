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
// A named role the key may not sign, or pending roles none of which it
// may sign, give a *NotAuthorisedError; a named role without changes gives
// a *RoleError; no pending role at all a *NothingPendingError (not a
// security failure). Options.Confirm, when set, is shown the change of
// every role about to get a new signature first; when it refuses, the
// error is a *DeclinedError and nothing is signed.
func (w *Workspace) Sign(ctx context.Context, signer signature.Signer, roles ...string) ([]string, error) {
	var done []string
	err := w.mutate(func() error {
		var err error
		done, err = w.signWith(ctx, signer, roles)
		return err
	})
	return done, err
}

// signWith is Sign without the commit. It plans every signature first,
// shows the roles that get a new one to Options.Confirm, then signs.
func (w *Workspace) signWith(ctx context.Context, signer signature.Signer, roles []string) ([]string, error) {
	pub, err := signer.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	explicit := len(roles) > 0
	if !explicit {
		roles = slices.DeleteFunc(sortedKeys(w.cfg.Edited), func(r string) bool { return !offline(r) })
		if len(roles) == 0 {
			return nil, &NothingPendingError{KeyID: w.describeKey(pub)}
		}
	}
	type planned struct {
		role string
		ids  []string
	}
	var plan []planned
	for _, role := range roles {
		if !offline(role) {
			return nil, &RoleError{Role: role, Reason: "is signed by its online key at publish"}
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
		plan = append(plan, planned{role, ids})
	}
	if len(plan) == 0 {
		return nil, &NotAuthorisedError{KeyID: w.describeKey(pub)}
	}
	var show []string
	for _, p := range plan {
		need, err := w.needsSignature(p.role, pub, p.ids)
		if err != nil {
			return nil, err
		}
		if need {
			show = append(show, p.role)
		}
	}
	if err := w.confirm(ctx, show); err != nil {
		return nil, err
	}
	var done []string
	for _, p := range plan {
		added, err := w.signRole(ctx, p.role, signer, p.ids)
		if err != nil {
			return nil, err
		}
		if added {
			done = append(done, p.role)
		}
	}
	return done, nil
}

// needsSignature reports whether one of ids has no valid signature of
// pub on role yet.
func (w *Workspace) needsSignature(role string, pub crypto.PublicKey, ids []string) (bool, error) {
	payload, sigs, _, err := w.signable(role)
	if err != nil {
		return false, err
	}
	key, err := tufKey(w.opts, pub)
	if err != nil {
		return false, err
	}
	for _, id := range ids {
		if !hasValid(*sigs, id, key, payload) {
			return true, nil
		}
	}
	return false, nil
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
