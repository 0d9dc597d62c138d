package conformance

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/bsiframework/bsi/manifest"
	"github.com/bsiframework/bsi/trust/client"
	"github.com/theupdateframework/go-tuf/v2/metadata"
)

const auditMetaLimit = 64 << 20

func (a *auditor) walk(ctx context.Context) error {
	root, err := metadata.Root().FromBytes(a.o.Root)
	if err != nil {
		return fmt.Errorf("audit: trusted root: %w", err)
	}
	a.rootOK = true
	if err := root.VerifyDelegate("root", root); err != nil {
		a.rootOK = false
		a.find(SevSecurity, "root", "signature", "the trusted root (version %d) cannot be used: %s",
			root.Signed.Version, notSigned(err, "root", root.Signed.Version, root.Signed.Roles["root"], "itself"))
	}
	root = a.rootChain(ctx, root)
	a.root = root
	a.keyHygiene(root)
	ts := a.timestamp(ctx, root)
	if ts == nil {
		return nil
	}
	snap := a.snapshot(ctx, root, ts)
	if snap == nil {
		return nil
	}
	a.targetsTree(ctx, root, snap)
	return nil
}

// rootChain follows N.root.json from the trusted root to the newest.
func (a *auditor) rootChain(ctx context.Context, root *metadata.Metadata[metadata.RootType]) *metadata.Metadata[metadata.RootType] {
	for {
		v := root.Signed.Version + 1
		b, err := a.fetch(ctx, fmt.Sprintf("%s/%d.root.json", a.o.URL, v), auditMetaLimit)
		if err != nil {
			a.find(SevError, "root", "fetch", "root version %d: %v", v, err)
			break
		}
		if b == nil {
			break
		}
		next, err := metadata.Root().FromBytes(b)
		if err != nil {
			a.find(SevSecurity, "root", "format", "%d.root.json: %v", v, err)
			break
		}
		if next.Signed.Version != v {
			a.find(SevSecurity, "root", "version", "%d.root.json carries version %d", v, next.Signed.Version)
			break
		}
		if err := root.VerifyDelegate("root", next); err != nil {
			a.find(SevSecurity, "root", "signature", "%s", notSigned(err, "root", v, root.Signed.Roles["root"], fmt.Sprintf("root version %d", v-1)))
			break
		}
		if err := next.VerifyDelegate("root", next); err != nil {
			a.find(SevSecurity, "root", "signature", "%s", notSigned(err, "root", v, next.Signed.Roles["root"], "itself"))
			break
		}
		root = next
	}
	// The newest root is verified only when the chain started from a
	// trusted root that itself verified.
	a.budget(RoleAudit{Role: "root", Version: root.Signed.Version, Expires: root.Signed.Expires, Verified: a.rootOK,
		Threshold: root.Signed.Roles["root"].Threshold, Keys: roleKeyIDs(root.Signed.Roles["root"]), Signatures: len(root.Signatures)}, "root")
	if !root.Signed.ConsistentSnapshot {
		a.find(SevWarning, "root", "consistent-snapshot", "the root does not enable consistent snapshots")
	}
	return root
}

// keyHygiene warns about keys shared by top-level roles and thresholds
// of 1 on the offline roles.
func (a *auditor) keyHygiene(root *metadata.Metadata[metadata.RootType]) {
	owners := map[string][]string{}
	for _, role := range []string{"root", "targets", "snapshot", "timestamp"} {
		r := root.Signed.Roles[role]
		if r == nil {
			a.find(SevSecurity, role, "format", "the root does not define role %s", role)
			continue
		}
		for _, id := range r.KeyIDs {
			owners[id] = append(owners[id], role)
		}
		a.unusableKeys(role, r.KeyIDs, root.Signed.Keys)
		if (role == "root" || role == "targets") && r.Threshold < 2 {
			a.find(SevWarning, role, "threshold", "offline role %s has threshold %d (one stolen key signs it)", role, r.Threshold)
		}
	}
	ids := make([]string, 0, len(owners))
	for id := range owners {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		if len(owners[id]) > 1 {
			a.find(SevWarning, strings.Join(owners[id], ","), "shared-key", "key %.16s signs several roles: %s", id, strings.Join(owners[id], ", "))
		}
	}
}

func (a *auditor) timestamp(ctx context.Context, root *metadata.Metadata[metadata.RootType]) *metadata.Metadata[metadata.TimestampType] {
	b, err := a.fetch(ctx, a.o.URL+"/timestamp.json", 1<<20)
	if err != nil || b == nil {
		a.find(SevError, "timestamp", "fetch", "timestamp.json: %v", orMissing(err))
		return nil
	}
	ts, err := metadata.Timestamp().FromBytes(b)
	if err != nil {
		a.find(SevSecurity, "timestamp", "format", "timestamp.json: %v", err)
		return nil
	}
	ra := RoleAudit{Role: "timestamp", Version: ts.Signed.Version, Expires: ts.Signed.Expires, Threshold: root.Signed.Roles["timestamp"].Threshold,
		Keys: roleKeyIDs(root.Signed.Roles["timestamp"]), Signatures: len(ts.Signatures)}
	if err := root.VerifyDelegate("timestamp", ts); err != nil {
		a.find(SevSecurity, "timestamp", "signature", "%s", notSigned(err, "timestamp", ts.Signed.Version, root.Signed.Roles["timestamp"], "root"))
	} else {
		ra.Verified = a.rootOK
	}
	a.budget(ra, "timestamp")
	if ts.Signed.Meta["snapshot.json"] == nil {
		a.find(SevSecurity, "timestamp", "format", "timestamp version %d lists no snapshot", ts.Signed.Version)
		return nil
	}
	return ts
}

func orMissing(err error) error {
	if err == nil {
		return errors.New("not found (404)")
	}
	return err
}

// metaName is the published name of a role file at version v.
func metaName(root *metadata.Metadata[metadata.RootType], role string, v int64) string {
	name := url.PathEscape(role) + ".json"
	if root.Signed.ConsistentSnapshot {
		return strconv.FormatInt(v, 10) + "." + name
	}
	return name
}

// fetchListed fetches role's file as listed by meta and checks its length
// and hashes; it reports and returns nil on failure.
func (a *auditor) fetchListed(ctx context.Context, root *metadata.Metadata[metadata.RootType], role string, meta *metadata.MetaFiles) []byte {
	name := metaName(root, role, meta.Version)
	b, err := a.fetch(ctx, a.o.URL+"/"+name, auditMetaLimit)
	if err != nil || b == nil {
		a.find(SevError, role, "fetch", "%s: %v", name, orMissing(err))
		return nil
	}
	if err := meta.VerifyLengthHashes(b); err != nil {
		a.find(SevSecurity, role, "hash", "%s does not match its listed length or hashes: %v", name, err)
		return nil
	}
	return b
}

func (a *auditor) snapshot(ctx context.Context, root *metadata.Metadata[metadata.RootType], ts *metadata.Metadata[metadata.TimestampType]) *metadata.Metadata[metadata.SnapshotType] {
	meta := ts.Signed.Meta["snapshot.json"]
	b := a.fetchListed(ctx, root, "snapshot", meta)
	if b == nil {
		return nil
	}
	snap, err := metadata.Snapshot().FromBytes(b)
	if err != nil {
		a.find(SevSecurity, "snapshot", "format", "snapshot version %d: %v", meta.Version, err)
		return nil
	}
	if snap.Signed.Version != meta.Version {
		a.find(SevSecurity, "snapshot", "consistency", "the timestamp lists snapshot version %d, the file carries %d", meta.Version, snap.Signed.Version)
	}
	ra := RoleAudit{Role: "snapshot", Version: snap.Signed.Version, Expires: snap.Signed.Expires, Threshold: root.Signed.Roles["snapshot"].Threshold,
		Keys: roleKeyIDs(root.Signed.Roles["snapshot"]), Signatures: len(snap.Signatures)}
	if err := root.VerifyDelegate("snapshot", snap); err != nil {
		a.find(SevSecurity, "snapshot", "signature", "%s", notSigned(err, "snapshot", snap.Signed.Version, root.Signed.Roles["snapshot"], "root"))
	} else {
		ra.Verified = a.rootOK
	}
	a.budget(ra, "snapshot")
	a.unpinned(snap)
	return snap
}

// unpinned warns when the snapshot lists a targets-family file by version
// only: a mirror holding that role's key could then serve any file the
// key signed with that version (mix-and-match within one key).
func (a *auditor) unpinned(snap *metadata.Metadata[metadata.SnapshotType]) {
	var names []string
	for _, name := range slices.Sorted(maps.Keys(snap.Signed.Meta)) {
		if mf := snap.Signed.Meta[name]; mf.Length == 0 || len(mf.Hashes["sha256"]) == 0 {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return
	}
	shown := names
	if len(shown) > 5 {
		shown = append(slices.Clone(shown[:5]), fmt.Sprintf("and %d more", len(names)-5))
	}
	a.find(SevWarning, "snapshot", "snapshot-meta-unpinned",
		"snapshot version %d lists %d targets-family file(s) without length and sha256 (%s): a mirror holding one of their keys can substitute any file that key signed with the listed version; publish with a bsi that pins them",
		snap.Signed.Version, len(names), strings.Join(shown, ", "))
}

// delegation is a role to visit and what delegated it.
type delegation struct {
	name      string
	component string                   // the component role above (bins), or the role
	top       string                   // the role targets delegates to on the way here (trust/client's Component)
	verify    func(md any) error       // checks the role's signatures
	paths     func(target string) bool // the delegated paths
	threshold int
	keys      []string // the key ids the delegator gives the role
	delegator string
	// parentOK is whether every role above verified: a role signed by
	// the keys of an unverified delegator is not verified either.
	parentOK bool
}

func (a *auditor) targetsTree(ctx context.Context, root *metadata.Metadata[metadata.RootType], snap *metadata.Metadata[metadata.SnapshotType]) {
	queue := []delegation{{name: "targets", verify: func(md any) error { return root.VerifyDelegate("targets", md) },
		top:   "targets",
		paths: func(string) bool { return true }, threshold: root.Signed.Roles["targets"].Threshold,
		keys: root.Signed.Roles["targets"].KeyIDs, delegator: "root", parentOK: a.rootOK}}
	seen := map[string]bool{}
	var manifests []auditedManifest
	for len(queue) > 0 {
		d := queue[0]
		queue = queue[1:]
		if seen[d.name] {
			continue
		}
		seen[d.name] = true
		a.component[d.name] = d.top
		md, ok := a.targetsRole(ctx, root, snap, d)
		if md == nil {
			continue
		}
		manifests = append(manifests, a.roleTargets(ctx, d, md)...)
		if md.Signed.Delegations != nil {
			for _, r := range md.Signed.Delegations.Roles {
				a.unusableKeys(r.Name, r.KeyIDs, md.Signed.Delegations.Keys)
			}
			if sr := md.Signed.Delegations.SuccinctRoles; sr != nil {
				a.unusableKeys(sr.NamePrefix+"-*", sr.KeyIDs, md.Signed.Delegations.Keys)
			}
		}
		queue = append(queue, children(d, md, ok)...)
	}
	for name := range snap.Signed.Meta {
		if r := strings.TrimSuffix(name, ".json"); !seen[r] {
			a.find(SevWarning, r, "orphan", "the snapshot lists %s, which no role delegates to", name)
		}
	}
	a.sequenceRules(manifests)
}

// targetsRole fetches and checks one targets-family role; it returns the
// role (nil when it cannot be read) and whether it verified.
func (a *auditor) targetsRole(ctx context.Context, root *metadata.Metadata[metadata.RootType], snap *metadata.Metadata[metadata.SnapshotType], d delegation) (*metadata.Metadata[metadata.TargetsType], bool) {
	meta := snap.Signed.Meta[d.name+".json"]
	if meta == nil {
		a.find(SevSecurity, d.name, "snapshot", "the snapshot does not list delegated role %s", d.name)
		return nil, false
	}
	b := a.fetchListed(ctx, root, d.name, meta)
	if b == nil {
		return nil, false
	}
	md, err := metadata.Targets().FromBytes(b)
	if err != nil {
		a.find(SevSecurity, d.name, "format", "%s version %d: %v", d.name, meta.Version, err)
		return nil, false
	}
	if md.Signed.Version != meta.Version {
		a.find(SevSecurity, d.name, "consistency", "the snapshot lists %s version %d, the file carries %d", d.name, meta.Version, md.Signed.Version)
	}
	ra := RoleAudit{Role: d.name, Version: md.Signed.Version, Expires: md.Signed.Expires, Targets: len(md.Signed.Targets), Threshold: d.threshold,
		Keys: slices.Clone(d.keys), Signatures: len(md.Signatures), Delegator: d.delegator}
	if err := d.verify(md); err != nil {
		a.find(SevSecurity, d.name, "signature", "%s", notSigned(err, d.name, md.Signed.Version, &metadata.Role{KeyIDs: d.keys, Threshold: d.threshold}, d.delegator))
	} else {
		ra.Verified = d.parentOK
	}
	class := "delegated"
	if d.name == "targets" {
		class = "targets"
	}
	a.budget(ra, class)
	return md, ra.Verified
}

// children lists the roles md delegates to.
func children(d delegation, md *metadata.Metadata[metadata.TargetsType], ok bool) []delegation {
	dl := md.Signed.Delegations
	if dl == nil {
		return nil
	}
	var out []delegation
	verify := func(name string) func(any) error {
		return func(child any) error { return md.VerifyDelegate(name, child) }
	}
	for _, r := range dl.Roles {
		top := d.top // a nested role belongs to its top-level component
		if d.name == "targets" {
			top = r.Name
		}
		out = append(out, delegation{name: r.Name, component: r.Name, top: top, verify: verify(r.Name),
			paths:     func(p string) bool { ok, _ := r.IsDelegatedPath(p); return ok && d.paths(p) },
			threshold: r.Threshold, keys: r.KeyIDs, delegator: d.name, parentOK: ok})
	}
	if s := dl.SuccinctRoles; s != nil {
		comp := d.name
		for _, name := range s.GetRoles() {
			top := d.top
			if d.name == "targets" {
				top = name
			}
			out = append(out, delegation{name: name, component: comp, top: top, verify: verify(name), threshold: s.Threshold,
				keys: s.KeyIDs, delegator: d.name, parentOK: ok,
				paths: func(p string) bool {
					rs := s.GetRolesForTarget(p)
					return len(rs) == 1 && rs[0].Name == name && d.paths(p)
				}})
		}
	}
	return out
}

type auditedManifest struct {
	role string
	m    *manifest.Manifest
}

// roleTargets checks every target of md: path restriction, manifest,
// payload.
func (a *auditor) roleTargets(ctx context.Context, d delegation, md *metadata.Metadata[metadata.TargetsType]) []auditedManifest {
	var out []auditedManifest
	paths := make([]string, 0, len(md.Signed.Targets))
	for p := range md.Signed.Targets {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		tf := md.Signed.Targets[p]
		a.rep.Targets++
		if !d.paths(p) {
			a.find(SevSecurity, d.name, "delegation", "%s lists %s, outside the paths delegated to it", d.name, p)
		}
		if m := a.targetManifest(d, p, tf); m != nil {
			out = append(out, auditedManifest{role: d.name, m: m})
		}
		if !a.o.SkipPayloads {
			a.payload(ctx, d.name, p, tf)
		}
	}
	return out
}

func (a *auditor) targetManifest(d delegation, p string, tf *metadata.TargetFiles) *manifest.Manifest {
	if tf.Custom == nil {
		return nil
	}
	m, err := manifest.FromCustom(*tf.Custom)
	if errors.Is(err, manifest.ErrNoManifest) {
		return nil
	}
	if err != nil {
		a.find(SevSecurity, d.name, "manifest", "%s: %v", p, err)
		return nil
	}
	comp := d.component
	if d.name == "targets" {
		comp = ""
	}
	if m.Component != comp {
		a.find(SevSecurity, d.name, "manifest-role", "%s: manifest component %q is signed by role %s", p, m.Component, d.name)
	}
	if err := m.CheckTargetPath(p); err != nil {
		a.find(SevSecurity, d.name, "manifest-path", "%s: %v", p, err)
	}
	return m
}

// payload downloads the target under every published name and checks it:
// the hash-prefixed names when the root enables consistent snapshots,
// the plain name otherwise (5.7.3).
func (a *auditor) payload(ctx context.Context, role, p string, tf *metadata.TargetFiles) {
	dir, base := path.Split(p)
	names := []string{p}
	if a.root.Signed.ConsistentSnapshot && len(tf.Hashes) > 0 {
		names = names[:0]
		algs := make([]string, 0, len(tf.Hashes))
		for alg := range tf.Hashes {
			algs = append(algs, alg)
		}
		sort.Strings(algs)
		for _, alg := range algs {
			names = append(names, dir+hex.EncodeToString(tf.Hashes[alg])+"."+base)
		}
	}
	for _, n := range names {
		b, err := a.fetch(ctx, a.o.TargetsURL+"/"+escapeURLPath(n), tf.Length)
		if err != nil || b == nil {
			a.find(SevError, role, "payload-missing", "%s: %s: %v", p, n, orMissing(err))
			continue
		}
		a.rep.Payloads++
		if err := tf.VerifyLengthHashes(b); err != nil {
			a.find(SevSecurity, role, "payload-hash", "%s: %s does not match its listed length and hashes: %v", p, n, err)
		}
	}
}

func escapeURLPath(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

// sequenceRules checks that no two active improvements share a sequence
// for one platform, release and component, and that ids are unique.
func (a *auditor) sequenceRules(ms []auditedManifest) {
	seq := map[string]string{}
	ids := map[string]string{}
	for _, am := range ms {
		m := am.m
		if other, ok := ids[m.ID]; ok {
			a.find(SevError, am.role, "manifest-id", "improvement id %s is listed twice (%s and %s)", m.ID, other, am.role)
		}
		ids[m.ID] = am.role
		if m.Status != manifest.StatusActive {
			continue
		}
		for _, rel := range m.AppliesTo.Releases {
			k := fmt.Sprintf("%s %s %s #%d", m.Platform, rel, m.Component, m.Sequence)
			if other, ok := seq[k]; ok {
				a.find(SevError, am.role, "sequence", "%s and %s are both active with sequence %d for %s %s %s",
					other, m.ID, m.Sequence, m.Platform, rel, m.Component)
			}
			seq[k] = m.ID
		}
	}
}

// notSigned says, in bsi's words, why role version v did not verify
// against the keys and threshold r that signer gives it. go-tuf's own
// messages stay out of the report: they name neither the keys nor the
// delegator.
func notSigned(err error, role string, v int64, r *metadata.Role, signer string) string {
	threshold := 0
	if r != nil {
		threshold = r.Threshold
	}
	var unsigned *metadata.ErrUnsignedMetadata
	if errors.As(err, &unsigned) || r == nil {
		return fmt.Sprintf("%s version %d is not signed by a threshold (%d) of the keys %s gives it", role, v, threshold, signer)
	}
	return fmt.Sprintf("%s version %d cannot be checked against the keys %s gives it (threshold %d): %s", role, v, signer, threshold, err)
}

// roleKeyIDs is the key ids of r (nil for a missing role).
func roleKeyIDs(r *metadata.Role) []string {
	if r == nil {
		return nil
	}
	return slices.Clone(r.KeyIDs)
}

// unusableKeys reports each key of role that devices (trust/client)
// cannot verify with: it never counts towards the role's threshold.
func (a *auditor) unusableKeys(role string, ids []string, keys map[string]*metadata.Key) {
	for _, id := range ids {
		k := keys[id]
		if k == nil {
			a.find(SevWarning, role, "key-unusable", "key %.12s… of role %s is not defined by its delegator", id, role)
			continue
		}
		if err := client.KeyUsable(k.Type, k.Scheme, k.Value.PublicKey); err != nil {
			a.find(SevWarning, role, "key-unusable", "key %.12s… of role %s is unusable on bsi devices: %v", id, role, err)
		}
	}
}
