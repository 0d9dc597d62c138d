package repo

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// RotateOptions is a change of a role's keys. With no change at all,
// Rotate re-issues the role: a new version with a renewed expiry.
type RotateOptions struct {
	// Add are public keys to add (offline roles).
	Add []*metadata.Key
	// AddRefs are references to private keys to add to an online role
	// (snapshot, timestamp); they are resolved with Options.LoadSigner and
	// recorded, so Publish signs with them.
	AddRefs []string
	// Remove are key ids (or unique prefixes of at least 8 characters).
	Remove []string
	// Threshold is the new threshold; 0 keeps the current one.
	Threshold int
}

// Rotate changes the keys or threshold of any role: root, targets,
// snapshot, timestamp, or a component (its bins follow). The delegator
// (root or targets) gets a new version; so does the role itself when its
// signatures must be made again under the new keys. A root change becomes
// root N+1, to be signed by a threshold of the old and of the new root
// keys. A threshold the remaining keys cannot reach (removing the last
// root key included) gives a *ThresholdError. Options.Confirm is shown the
// change first (*DeclinedError).
func (w *Workspace) Rotate(ctx context.Context, role string, o RotateOptions) error {
	if _, ok := binComponent(role); ok {
		return &RoleError{Role: role, Reason: "is a hash bin: rotate its component"}
	}
	added := slices.Clone(o.Add)
	var refs []onlineKey
	if len(o.AddRefs) > 0 {
		if offline(role) {
			return &RoleError{Role: role, Reason: "is an offline role: add public keys, not key references"}
		}
		for _, ref := range o.AddRefs {
			k, err := loadOnlineKey(ctx, w.opts, ref)
			if err != nil {
				return fmt.Errorf("rotate %s: key %s: %w", role, ref, err)
			}
			id, _ := k.ID()
			added = append(added, k)
			refs = append(refs, onlineKey{Ref: ref, KeyID: id})
		}
	}
	addIDs, err := keyIDs(added)
	if err != nil {
		return err
	}
	return w.mutate(func() error {
		rk, err := w.keysFor(role)
		if err != nil {
			return err
		}
		ids, err := newKeyIDs(role, rk.ids, addIDs, o.Remove)
		if err != nil {
			return err
		}
		threshold := rk.threshold
		if o.Threshold != 0 {
			threshold = o.Threshold
		}
		if err := checkThreshold(role, threshold, len(ids)); err != nil {
			return err
		}
		keys := map[string]*metadata.Key{}
		for i, k := range added {
			keys[addIDs[i]] = k
		}
		if isTopLevel(role) {
			err = w.rotateTopLevel(role, ids, threshold, keys)
		} else {
			err = w.rotateComponent(role, ids, threshold, keys)
		}
		if err != nil {
			return err
		}
		if len(refs) > 0 {
			w.cfg.Online[role] = append(w.cfg.Online[role], refs...)
		}
		return w.confirm(ctx, w.rotated(role))
	})
}

// newKeyIDs applies removals (by id or unique prefix) and additions.
func newKeyIDs(role string, cur, add, remove []string) ([]string, error) {
	ids := slices.Clone(cur)
	for _, r := range remove {
		var match []string
		for _, id := range ids {
			if id == r || (len(r) >= 8 && strings.HasPrefix(id, r)) {
				match = append(match, id)
			}
		}
		if len(match) != 1 {
			return nil, &RoleError{Role: role, Reason: fmt.Sprintf("key %s is not one of its keys (or the prefix is ambiguous)", r)}
		}
		ids = slices.DeleteFunc(ids, func(id string) bool { return id == match[0] })
	}
	for _, a := range add {
		if slices.Contains(ids, a) {
			return nil, &RoleError{Role: role, Reason: fmt.Sprintf("key %s is already one of its keys", shortID(a))}
		}
		ids = append(ids, a)
	}
	slices.Sort(ids)
	return ids, nil
}

func (w *Workspace) rotateTopLevel(role string, ids []string, threshold int, keys map[string]*metadata.Key) error {
	if err := w.edit(metadata.ROOT); err != nil {
		return err
	}
	r := w.root.Signed
	for id, k := range keys {
		r.Keys[id] = k
	}
	r.Roles[role].KeyIDs, r.Roles[role].Threshold = ids, threshold
	used := map[string]bool{}
	for _, rl := range r.Roles {
		for _, id := range rl.KeyIDs {
			used[id] = true
		}
	}
	for id := range r.Keys {
		if !used[id] {
			delete(r.Keys, id)
		}
	}
	// The rotated role must be signed again under its new keys.
	if role != metadata.ROOT {
		return w.edit(role)
	}
	return nil
}

func (w *Workspace) rotateComponent(role string, ids []string, threshold int, keys map[string]*metadata.Key) error {
	if err := w.edit(metadata.TARGETS); err != nil {
		return err
	}
	d := w.targets[metadata.TARGETS].Signed.Delegations
	for id, k := range keys {
		d.Keys[id] = k
	}
	for i := range d.Roles {
		if d.Roles[i].Name == role {
			d.Roles[i].KeyIDs, d.Roles[i].Threshold = ids, threshold
		}
	}
	pruneKeys(d)
	if err := w.edit(role); err != nil {
		return err
	}
	c := w.targets[role]
	if c.Signed.Delegations == nil || c.Signed.Delegations.SuccinctRoles == nil {
		return nil
	}
	cd := c.Signed.Delegations
	cd.Keys = map[string]*metadata.Key{}
	for _, id := range ids {
		cd.Keys[id] = d.Keys[id]
	}
	cd.SuccinctRoles.KeyIDs, cd.SuccinctRoles.Threshold = ids, threshold
	for _, b := range w.bins(role) {
		if err := w.edit(b); err != nil {
			return err
		}
	}
	return nil
}

// rotated returns the roles a rotation of role changes that are signed
// offline: its delegator and (but for root) the role itself.
func (w *Workspace) rotated(role string) []string {
	delegator := metadata.TARGETS
	if isTopLevel(role) {
		delegator = metadata.ROOT
	}
	out := []string{delegator}
	if role != delegator && offline(role) {
		out = append(out, role)
	}
	return out
}
