package repo

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/bsiframework/bsi/manifest"
)

// Summary is what a signature is about to approve: for each role, the
// change from its last published and verified version to the version
// being signed. Every signing path of the workspace computes one and hands
// it to Options.Confirm before it signs; SignFile's checks return one for
// the offline machine. Field names are stable (bsi repo sign --json).
type Summary struct {
	Roles []RoleChange `json:"roles"`
}

// RoleChange is the change of one role.
type RoleChange struct {
	Role    string    `json:"role"`
	Type    string    `json:"type"` // "root" or "targets"
	Version int64     `json:"version"`
	Expires time.Time `json:"expires"`
	// New is set when the role was never published: it is shown whole.
	New bool `json:"new"`
	// PreviousVersion and PreviousExpires describe the version compared
	// with (zero when New or Unverified).
	PreviousVersion int64      `json:"previous_version,omitempty"`
	PreviousExpires *time.Time `json:"previous_expires,omitempty"`
	// Unverified says why the last published version could not be read
	// or did not verify; the role is then shown whole, as if new.
	Unverified string `json:"previous_unverified,omitempty"`
	// Keys are the keys added and removed (root keys, or the keys of the
	// role's delegations).
	Keys []KeyChange `json:"keys,omitempty"`
	// Signers are, for root, the keys and threshold of each top-level
	// role; for a targets-family role, its delegations.
	Signers []SignersChange `json:"signers,omitempty"`
	// Improvements are the targets added, changed, withdrawn or removed.
	Improvements []ImprovementChange `json:"improvements,omitempty"`
}

// Changes of a key, a delegation or an improvement.
const (
	ChangeAdded     = "added"
	ChangeRemoved   = "removed"
	ChangeChanged   = "changed"
	ChangeWithdrawn = "withdrawn"
	ChangeUnchanged = "unchanged"
)

// KeyChange is one key added to or removed from a role file.
type KeyChange struct {
	Change string   `json:"change"` // added or removed
	KeyID  string   `json:"keyid"`
	Type   string   `json:"type"`
	Scheme string   `json:"scheme"`
	Roles  []string `json:"roles,omitempty"` // the roles that list it (removed: listed)
	// Source names where the key came from (a public key file), when the
	// caller knows it (see Summary.NameKeys).
	Source string `json:"source,omitempty"`
}

// SignersChange is who signs one role: for root, a top-level role; for a
// targets-family role, one of its delegations (a hash-bin delegation is
// named "<prefix>-*").
type SignersChange struct {
	Role              string   `json:"role"`
	Change            string   `json:"change"` // added, removed, changed or unchanged
	Threshold         int      `json:"threshold"`
	PreviousThreshold int      `json:"previous_threshold,omitempty"`
	KeyIDs            []string `json:"keyids"`
	AddedKeyIDs       []string `json:"added_keyids,omitempty"`
	RemovedKeyIDs     []string `json:"removed_keyids,omitempty"`
	Paths             []string `json:"paths,omitempty"`
	PreviousPaths     []string `json:"previous_paths,omitempty"`
}

// ImprovementChange is one target added, changed, withdrawn or removed,
// with the key fields of its manifest (of the new version; of the old one
// when removed).
type ImprovementChange struct {
	Change         string   `json:"change"`
	Target         string   `json:"target"`
	SHA256         string   `json:"sha256"`
	Length         int64    `json:"length"`
	PreviousSHA256 string   `json:"previous_sha256,omitempty"`
	ID             string   `json:"id,omitempty"`
	Component      string   `json:"component,omitempty"`
	Platform       string   `json:"platform,omitempty"`
	Releases       []string `json:"releases,omitempty"`
	Sequence       int      `json:"sequence,omitempty"`
	Status         string   `json:"status,omitempty"`
	Reason         string   `json:"withdrawn_reason,omitempty"`
	// Manifest says why the manifest could not be read, when it could not.
	ManifestError string `json:"manifest_error,omitempty"`
}

// NameKeys sets the Source of every key change whose id is in names.
func (s *Summary) NameKeys(names map[string]string) {
	for i := range s.Roles {
		for j := range s.Roles[i].Keys {
			if n, ok := names[s.Roles[i].Keys[j].KeyID]; ok {
				s.Roles[i].Keys[j].Source = n
			}
		}
	}
}

// ThresholdDown returns the roles whose threshold the change lowers.
func (c *RoleChange) ThresholdDown() []SignersChange {
	var out []SignersChange
	for _, s := range c.Signers {
		if s.Change != ChangeAdded && s.Change != ChangeRemoved && s.Threshold < s.PreviousThreshold {
			out = append(out, s)
		}
	}
	return out
}

// diffRoot compares root cur with prev (nil: cur is shown whole).
func diffRoot(role string, cur, prev *metadata.RootType) RoleChange {
	c := RoleChange{Role: role, Type: metadata.ROOT, Version: cur.Version, Expires: cur.Expires, New: prev == nil}
	var prevKeys map[string]*metadata.Key
	prevRoles := map[string]*metadata.Role{}
	if prev != nil {
		c.PreviousVersion, c.PreviousExpires = prev.Version, &prev.Expires
		prevKeys, prevRoles = prev.Keys, prev.Roles
	}
	rolesOf := func(r map[string]*metadata.Role, id string) []string {
		var out []string
		for _, name := range sortedKeys(r) {
			if slices.Contains(r[name].KeyIDs, id) {
				out = append(out, name)
			}
		}
		return out
	}
	c.Keys = diffKeys(cur.Keys, prevKeys, func(id string) []string { return rolesOf(cur.Roles, id) },
		func(id string) []string { return rolesOf(prevRoles, id) })
	for _, name := range topLevelOrder(cur.Roles, prevRoles) {
		n, o := cur.Roles[name], prevRoles[name]
		var s SignersChange
		switch {
		case n == nil:
			s = SignersChange{Role: name, Change: ChangeRemoved, PreviousThreshold: o.Threshold, RemovedKeyIDs: o.KeyIDs}
		case o == nil:
			s = SignersChange{Role: name, Change: ChangeAdded, Threshold: n.Threshold, KeyIDs: sorted(n.KeyIDs)}
			if prev == nil {
				s.AddedKeyIDs = sorted(n.KeyIDs)
			}
		default:
			s = signersDiff(name, n.KeyIDs, o.KeyIDs, n.Threshold, o.Threshold, nil, nil)
		}
		c.Signers = append(c.Signers, s)
	}
	return c
}

// topLevelOrder lists the role names of both maps: root, targets,
// snapshot, timestamp first, then any other sorted.
func topLevelOrder(a, b map[string]*metadata.Role) []string {
	var out []string
	for _, n := range metadata.TOP_LEVEL_ROLE_NAMES {
		if a[n] != nil || b[n] != nil {
			out = append(out, n)
		}
	}
	for _, m := range []map[string]*metadata.Role{a, b} {
		for _, n := range sortedKeys(m) {
			if !slices.Contains(out, n) {
				out = append(out, n)
			}
		}
	}
	return out
}

func sorted(ids []string) []string { return slices.Sorted(slices.Values(ids)) }

// signersDiff compares one role's keys, threshold and paths.
func signersDiff(name string, ids, prevIDs []string, t, prevT int, paths, prevPaths []string) SignersChange {
	s := SignersChange{Role: name, Change: ChangeUnchanged, Threshold: t, PreviousThreshold: prevT, KeyIDs: sorted(ids), Paths: paths}
	for _, id := range s.KeyIDs {
		if !slices.Contains(prevIDs, id) {
			s.AddedKeyIDs = append(s.AddedKeyIDs, id)
		}
	}
	for _, id := range sorted(prevIDs) {
		if !slices.Contains(ids, id) {
			s.RemovedKeyIDs = append(s.RemovedKeyIDs, id)
		}
	}
	if !slices.Equal(paths, prevPaths) {
		s.PreviousPaths = prevPaths
		if s.PreviousPaths == nil {
			s.PreviousPaths = []string{}
		}
	}
	if t != prevT || len(s.AddedKeyIDs)+len(s.RemovedKeyIDs) > 0 || s.PreviousPaths != nil {
		s.Change = ChangeChanged
	}
	return s
}

// diffKeys lists the keys added to and removed from a key map.
func diffKeys(cur, prev map[string]*metadata.Key, curRoles, prevRoles func(string) []string) []KeyChange {
	var out []KeyChange
	for _, id := range sortedKeys(cur) {
		if _, ok := prev[id]; !ok {
			k := cur[id]
			out = append(out, KeyChange{Change: ChangeAdded, KeyID: id, Type: k.Type, Scheme: k.Scheme, Roles: curRoles(id)})
		}
	}
	for _, id := range sortedKeys(prev) {
		if _, ok := cur[id]; !ok {
			k := prev[id]
			out = append(out, KeyChange{Change: ChangeRemoved, KeyID: id, Type: k.Type, Scheme: k.Scheme, Roles: prevRoles(id)})
		}
	}
	return out
}

// diffTargets compares a targets-family role cur with prev (nil: cur is
// shown whole).
func diffTargets(role string, cur, prev *metadata.TargetsType) RoleChange {
	c := RoleChange{Role: role, Type: metadata.TARGETS, Version: cur.Version, Expires: cur.Expires, New: prev == nil}
	var prevTargets map[string]*metadata.TargetFiles
	var prevDel *metadata.Delegations
	if prev != nil {
		c.PreviousVersion, c.PreviousExpires = prev.Version, &prev.Expires
		prevTargets, prevDel = prev.Targets, prev.Delegations
	}
	c.Keys, c.Signers = diffDelegations(cur.Delegations, prevDel)
	for _, p := range sortedKeys(cur.Targets) {
		n, o := cur.Targets[p], prevTargets[p]
		change := ChangeAdded
		if o != nil {
			change = targetChange(n, o)
		}
		if change == ChangeUnchanged {
			continue
		}
		ic := improvementChange(change, p, n)
		if o != nil && !hashesEqual(n.Hashes, o.Hashes) {
			ic.PreviousSHA256 = hex.EncodeToString(o.Hashes["sha256"])
		}
		c.Improvements = append(c.Improvements, ic)
	}
	for _, p := range sortedKeys(prevTargets) {
		if _, ok := cur.Targets[p]; !ok {
			c.Improvements = append(c.Improvements, improvementChange(ChangeRemoved, p, prevTargets[p]))
		}
	}
	return c
}

// targetChange classifies the change of one target present in both.
func targetChange(n, o *metadata.TargetFiles) string {
	if n.Length != o.Length || !hashesEqual(n.Hashes, o.Hashes) {
		return ChangeChanged
	}
	if bytes.Equal(rawCustom(n), rawCustom(o)) {
		return ChangeUnchanged
	}
	nm, _ := manifestOf(n)
	om, _ := manifestOf(o)
	if nm != nil && om != nil && nm.Status == manifest.StatusWithdrawn && om.Status != manifest.StatusWithdrawn {
		return ChangeWithdrawn
	}
	return ChangeChanged
}

func rawCustom(tf *metadata.TargetFiles) []byte {
	if tf.Custom == nil {
		return nil
	}
	var v any
	if json.Unmarshal(*tf.Custom, &v) != nil {
		return *tf.Custom
	}
	c, err := canonicalOf(v)
	if err != nil {
		return *tf.Custom
	}
	return c
}

func manifestOf(tf *metadata.TargetFiles) (*manifest.Manifest, error) {
	if tf.Custom == nil {
		return nil, nil
	}
	return manifest.FromCustom(*tf.Custom)
}

func improvementChange(change, target string, tf *metadata.TargetFiles) ImprovementChange {
	ic := ImprovementChange{Change: change, Target: target, SHA256: hex.EncodeToString(tf.Hashes["sha256"]), Length: tf.Length}
	m, err := manifestOf(tf)
	switch {
	case err != nil:
		ic.ManifestError = err.Error()
	case m == nil:
		ic.ManifestError = "no bsi manifest"
	default:
		ic.ID, ic.Component, ic.Platform, ic.Sequence = m.ID, m.Component, m.Platform, m.Sequence
		ic.Releases, ic.Status, ic.Reason = m.AppliesTo.Releases, string(m.Status), m.WithdrawnReason
	}
	return ic
}

// diffDelegations compares the delegations of two targets-family roles.
func diffDelegations(cur, prev *metadata.Delegations) ([]KeyChange, []SignersChange) {
	type deleg struct {
		ids       []string
		threshold int
		paths     []string
	}
	flatten := func(d *metadata.Delegations) (map[string]*metadata.Key, map[string]deleg, []string) {
		out := map[string]deleg{}
		var order []string
		if d == nil {
			return nil, out, nil
		}
		for _, r := range d.Roles {
			paths := slices.Clone(r.Paths)
			if r.PathHashPrefixes != nil {
				for _, h := range r.PathHashPrefixes {
					paths = append(paths, "hash-prefix:"+h)
				}
			}
			out[r.Name] = deleg{r.KeyIDs, r.Threshold, paths}
			order = append(order, r.Name)
		}
		if s := d.SuccinctRoles; s != nil {
			name := s.NamePrefix + "-*"
			out[name] = deleg{s.KeyIDs, s.Threshold, []string{"bits:" + strconv.Itoa(s.BitLength)}}
			order = append(order, name)
		}
		return d.Keys, out, order
	}
	ck, cd, corder := flatten(cur)
	pk, pd, porder := flatten(prev)
	rolesOf := func(m map[string]deleg) func(string) []string {
		return func(id string) []string {
			var out []string
			for _, n := range sortedKeys(m) {
				if slices.Contains(m[n].ids, id) {
					out = append(out, n)
				}
			}
			return out
		}
	}
	keys := diffKeys(ck, pk, rolesOf(cd), rolesOf(pd))
	var signers []SignersChange
	for _, name := range corder {
		n := cd[name]
		o, ok := pd[name]
		if !ok {
			signers = append(signers, SignersChange{Role: name, Change: ChangeAdded, Threshold: n.threshold, KeyIDs: sorted(n.ids), Paths: n.paths})
			continue
		}
		s := signersDiff(name, n.ids, o.ids, n.threshold, o.threshold, n.paths, o.paths)
		if s.Change != ChangeUnchanged {
			signers = append(signers, s)
		}
	}
	for _, name := range porder {
		if _, ok := cd[name]; !ok {
			o := pd[name]
			signers = append(signers, SignersChange{Role: name, Change: ChangeRemoved, PreviousThreshold: o.threshold, RemovedKeyIDs: sorted(o.ids), PreviousPaths: o.paths})
		}
	}
	return keys, signers
}

// Summarise returns what signing roles would approve: each role's change
// from its last published version, which is read from Options.Published
// (DIR/public when nil) and verified against the last published version
// of its delegator (root: against its own keys) before it is compared
// with. A role never published is shown whole (New); one whose published
// version cannot be read or does not verify is shown whole too, with the
// reason in Unverified.
func (w *Workspace) Summarise(ctx context.Context, roles []string) (*Summary, error) {
	pc := &lastPublished{w: w, roles: map[string]publishedRole{}}
	s := &Summary{Roles: []RoleChange{}}
	for _, role := range roles {
		c, err := w.roleChange(ctx, pc, role)
		if err != nil {
			return nil, err
		}
		s.Roles = append(s.Roles, c)
	}
	return s, nil
}

func (w *Workspace) roleChange(ctx context.Context, pc *lastPublished, role string) (RoleChange, error) {
	prev := pc.get(ctx, role)
	if role == metadata.ROOT {
		var p *metadata.RootType
		if prev.root != nil {
			p = &prev.root.Signed
		}
		c := diffRoot(role, &w.root.Signed, p)
		c.Unverified, c.New = prev.why, prev.never
		return c, nil
	}
	if !offline(role) {
		return RoleChange{}, &RoleError{Role: role, Reason: "is signed by its online key at publish"}
	}
	m, err := w.targetsRole(role)
	if err != nil {
		return RoleChange{}, err
	}
	var p *metadata.TargetsType
	if prev.targets != nil {
		p = &prev.targets.Signed
	}
	c := diffTargets(role, &m.Signed, p)
	c.Unverified, c.New = prev.why, prev.never
	return c, nil
}

// lastPublished finds and verifies the last published version of roles.
type lastPublished struct {
	w     *Workspace
	roles map[string]publishedRole
}

// publishedRole is the last published version of a role: root or targets
// set when it was found and verified; never when the role was never
// published; why when it could not be had.
type publishedRole struct {
	root    *rootMeta
	targets *targetsMeta
	never   bool
	why     string
}

func (pc *lastPublished) get(ctx context.Context, role string) publishedRole {
	if r, ok := pc.roles[role]; ok {
		return r
	}
	r := pc.load(ctx, role)
	pc.roles[role] = r
	return r
}

func (pc *lastPublished) load(ctx context.Context, role string) publishedRole {
	w := pc.w
	if !w.cfg.Published {
		return publishedRole{never: true}
	}
	if role == metadata.ROOT {
		root := w.root
		if w.cfg.Edited[metadata.ROOT] {
			prev, err := w.previousRoot()
			if err != nil {
				return publishedRole{why: err.Error()}
			}
			if prev == nil { // root v1 edited before the first publish
				return publishedRole{never: true}
			}
			root = prev
		}
		if err := verifyRole(root, rootKeysFor(root, metadata.ROOT)); err != nil {
			return publishedRole{why: fmt.Sprintf("root v%d: %v", root.Signed.Version, err)}
		}
		return publishedRole{root: root}
	}
	mf := w.snapshot.Signed.Meta[role+".json"]
	if mf == nil {
		return publishedRole{never: true}
	}
	name := fmt.Sprintf("%d.%s.json", mf.Version, role)
	data, err := pc.read(ctx, name)
	if err != nil {
		return publishedRole{why: fmt.Sprintf("%s: %v", name, err)}
	}
	m, err := parseRole[metadata.TargetsType](&w.stats, name, data)
	if err != nil {
		return publishedRole{why: err.Error()}
	}
	if m.Signed.Version != mf.Version {
		return publishedRole{why: fmt.Sprintf("%s: version %d, the published snapshot lists %d", name, m.Signed.Version, mf.Version)}
	}
	rk, why := pc.delegatorKeys(ctx, role)
	if why != "" {
		return publishedRole{why: name + ": " + why}
	}
	if err := verifyRole(m, rk); err != nil {
		return publishedRole{why: fmt.Sprintf("%s: %v", name, err)}
	}
	return publishedRole{targets: m}
}

// delegatorKeys returns the keys the published delegator of role lists
// for it.
func (pc *lastPublished) delegatorKeys(ctx context.Context, role string) (roleKeys, string) {
	if role == metadata.TARGETS {
		r := pc.get(ctx, metadata.ROOT)
		if r.root == nil {
			return roleKeys{}, "published root unavailable: " + r.why
		}
		return rootKeysFor(r.root, metadata.TARGETS), ""
	}
	parent := metadata.TARGETS
	if comp, ok := binComponent(role); ok {
		parent = comp
	}
	p := pc.get(ctx, parent)
	if p.targets == nil {
		return roleKeys{}, fmt.Sprintf("published %s unavailable: %s", parent, p.why)
	}
	d := p.targets.Signed.Delegations
	if d == nil {
		return roleKeys{}, fmt.Sprintf("published %s delegates nothing", parent)
	}
	if d.SuccinctRoles != nil && d.SuccinctRoles.IsDelegatedRole(role) {
		return roleKeys{keys: d.Keys, ids: d.SuccinctRoles.KeyIDs, threshold: d.SuccinctRoles.Threshold}, ""
	}
	for _, r := range d.Roles {
		if r.Name == role {
			return roleKeys{keys: d.Keys, ids: r.KeyIDs, threshold: r.Threshold}, ""
		}
	}
	return roleKeys{}, fmt.Sprintf("published %s does not delegate %s", parent, role)
}

func (pc *lastPublished) read(ctx context.Context, name string) ([]byte, error) {
	if d := pc.w.opts.Published; d != nil {
		return d.ReadFile(ctx, name)
	}
	return pc.w.readFile(pc.w.path("public", name))
}

// verifyRole checks that a threshold of rk's keys signed m.
func verifyRole[T metadata.Roles](m *metadata.Metadata[T], rk roleKeys) error {
	payload, err := canonicalOf(m.Signed)
	if err != nil {
		return err
	}
	if have, _ := tally(rk, payload, m.Signatures); have < rk.threshold || rk.threshold < 1 {
		return fmt.Errorf("%d of the %d signatures needed verify", have, rk.threshold)
	}
	return nil
}

// confirm shows what signing roles approves to Options.Confirm; an error
// from it aborts the signing.
func (w *Workspace) confirm(ctx context.Context, roles []string) error {
	if w.opts.Confirm == nil || len(roles) == 0 {
		return nil
	}
	s, err := w.Summarise(ctx, roles)
	if err != nil {
		return err
	}
	if err := w.opts.Confirm(ctx, s); err != nil {
		return &DeclinedError{Roles: roles, Err: err}
	}
	return nil
}

// DeclinedError is a signing operation that Options.Confirm stopped:
// nothing was signed and the workspace is unchanged.
type DeclinedError struct {
	Roles []string
	Err   error
}

func (e *DeclinedError) Error() string {
	return fmt.Sprintf("signing %s declined: %v; nothing signed", strings.Join(e.Roles, ", "), e.Err)
}

func (e *DeclinedError) Unwrap() error { return e.Err }

// NothingPendingError is Sign with no role changed since the last
// publish: there is nothing to sign. It is not a security failure.
type NothingPendingError struct{ KeyID string }

func (e *NothingPendingError) Error() string {
	return fmt.Sprintf("nothing to sign: no role has changed since the last publish (key %s)", shortID(e.KeyID))
}
