package repo

import (
	"cmp"
	"context"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// RoleStatus is the state of one role in the workspace.
type RoleStatus struct {
	Role    string        `json:"role"`
	Version int64         `json:"version"`
	Expires time.Time     `json:"expires"`
	Left    time.Duration `json:"time_left_ns"`
	// Expiring is set when the role expires within twice its refresh
	// interval (online roles: a quarter of their period; offline roles: an
	// eighth), Expired when it has expired.
	Expiring   bool     `json:"expiring"`
	Expired    bool     `json:"expired"`
	Signatures int      `json:"signatures"`
	Threshold  int      `json:"threshold"`
	KeyIDs     []string `json:"key_ids"`
	Missing    []string `json:"missing_key_ids,omitempty"`
	// Pending: changed since the last publish. Unsigned: below threshold
	// (for root, of the new or of the previous root keys).
	Pending  bool `json:"pending"`
	Unsigned bool `json:"unsigned"`
	// Previous is, for a changed root, the signatures of the previous
	// root's keys it carries.
	Previous *PendingRole `json:"previous_root,omitempty"`
	Targets  int          `json:"targets,omitempty"`
	// Keys describes each key of KeyIDs, in that order.
	Keys []StatusKey `json:"keys,omitempty"`
}

// StatusKey is one key of a role as the workspace's metadata lists it.
type StatusKey struct {
	KeyID  string `json:"keyid"`
	Short  string `json:"short"` // the first 12 hex digits, as the CLI prints ids
	Type   string `json:"type"`
	Scheme string `json:"scheme"`
	// Source is where the key comes from: for an online key the private
	// key file or KMS URI the workspace signs with; for an offline key the
	// file (or KMS URI) it was given as when added to a role or last used
	// to sign, as recorded by RecordKeySources; "" when the workspace does
	// not know (a key given only as a signature, or before bsi recorded
	// sources).
	Source string `json:"source,omitempty"`
	// Offline is set for a key of an offline role (root, targets, a
	// component): the workspace lists it, never holds it.
	Offline bool `json:"offline,omitempty"`
}

// Status reports every role: root, targets, each component and its bins,
// snapshot, timestamp.
func (w *Workspace) Status(ctx context.Context) ([]RoleStatus, error) {
	names, err := w.roleNames()
	if err != nil {
		return nil, err
	}
	var out []RoleStatus
	for _, role := range names {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		st, err := w.roleStatus(role)
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, nil
}

func (w *Workspace) roleStatus(role string) (RoleStatus, error) {
	payload, sigs, version, err := w.signable(role)
	if err != nil {
		return RoleStatus{}, err
	}
	rk, err := w.keysFor(role)
	if err != nil {
		return RoleStatus{}, err
	}
	have, missing := tally(rk, payload, *sigs)
	st := RoleStatus{Role: role, Version: version, Expires: w.expires(role), Signatures: have,
		Threshold: rk.threshold, KeyIDs: rk.ids, Missing: missing, Pending: w.cfg.Edited[role],
		Keys: w.statusKeys(role, rk)}
	now := w.opts.Now()
	st.Left = st.Expires.Sub(now)
	st.Expired = now.After(st.Expires)
	st.Expiring = st.Left < 2*w.refreshInterval(role)
	st.Unsigned = have < rk.threshold
	if role == metadata.ROOT {
		prev, err := w.previousRoot()
		if err != nil {
			return RoleStatus{}, err
		}
		if prev != nil {
			prk := rootKeysFor(prev, metadata.ROOT)
			ph, pm := tally(prk, payload, *sigs)
			st.Previous = &PendingRole{Role: role, Version: prev.Signed.Version, Have: ph, Threshold: prk.threshold, Missing: pm, Previous: true}
			st.Unsigned = st.Unsigned || ph < prk.threshold
		}
	}
	if !offline(role) && !w.cfg.Published {
		st.Unsigned = false // signed by Publish
	}
	if m, ok := w.targets[role]; ok {
		st.Targets = len(m.Signed.Targets)
	}
	return st, nil
}

// statusKeys describes the keys of role, with the reference of each online
// key the workspace signs with and the recorded source of the others.
func (w *Workspace) statusKeys(role string, rk roleKeys) []StatusKey {
	refs := map[string]string{}
	for _, k := range w.cfg.Online[role] {
		refs[k.KeyID] = k.Ref
	}
	out := make([]StatusKey, 0, len(rk.ids))
	for _, id := range rk.ids {
		sk := StatusKey{KeyID: id, Short: id[:min(12, len(id))], Source: cmp.Or(refs[id], w.cfg.KeySources[id]),
			Offline: offline(role)}
		if k := rk.keys[id]; k != nil {
			sk.Type, sk.Scheme = k.Type, k.Scheme
		}
		out = append(out, sk)
	}
	return out
}

func (w *Workspace) expires(role string) time.Time {
	switch role {
	case metadata.ROOT:
		return w.root.Signed.Expires
	case metadata.SNAPSHOT:
		return w.snapshot.Signed.Expires
	case metadata.TIMESTAMP:
		return w.timestamp.Signed.Expires
	}
	if m, ok := w.targets[role]; ok {
		return m.Signed.Expires
	}
	return time.Time{}
}

// refreshInterval is how often a role is expected to be renewed: a quarter
// of the period of online roles, an eighth of that of offline ones.
func (w *Workspace) refreshInterval(role string) time.Duration {
	if offline(role) {
		return w.expiry(kindOf(role)) / 8
	}
	return w.expiry(kindOf(role)) / 4
}

// pending lists the changed offline roles below their threshold.
func (w *Workspace) pending() ([]PendingRole, error) {
	var out []PendingRole
	for _, role := range sortedKeys(w.cfg.Edited) {
		if !offline(role) || w.removed[role] {
			continue
		}
		st, err := w.roleStatus(role)
		if err != nil {
			return nil, err
		}
		if st.Signatures < st.Threshold {
			out = append(out, PendingRole{Role: role, Version: st.Version, Have: st.Signatures, Threshold: st.Threshold, Missing: st.Missing})
		}
		if p := st.Previous; p != nil && p.Have < p.Threshold {
			out = append(out, *p)
		}
	}
	return out, nil
}
