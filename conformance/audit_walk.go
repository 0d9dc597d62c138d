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
	"github.com/theupdateframework/go-tuf/v2/metadata"
)

const auditMetaLimit = 64 << 20

func (a *auditor) walk(ctx context.Context) error {
	root, err := metadata.Root().FromBytes(a.o.Root)
	if err != nil {
		return fmt.Errorf("audit: trusted root: %w", err)
	}
	if err := root.VerifyDelegate("root", root); err != nil {
		a.find(SevSecurity, "root", "signature", "trusted root version %d: %v", root.Signed.Version, err)
	}
	root = a.rootChain(ctx, root)
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
			a.find(SevSecurity, "root", "signature", "root version %d is not signed by a threshold of version %d's keys: %v", v, v-1, err)
			break
		}
		if err := next.VerifyDelegate("root", next); err != nil {
			a.find(SevSecurity, "root", "signature", "root version %d is not signed by a threshold of its own keys: %v", v, err)
			break
		}
		root = next
	}
	a.budget(RoleAudit{Role: "root", Version: root.Signed.Version, Expires: root.Signed.Expires, Verified: true,
		Threshold: root.Signed.Roles["root"].Threshold}, "root")
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
	ra := RoleAudit{Role: "timestamp", Version: ts.Signed.Version, Expires: ts.Signed.Expires, Threshold: root.Signed.Roles["timestamp"].Threshold}
	if err := root.VerifyDelegate("timestamp", ts); err != nil {
		a.find(SevSecurity, "timestamp", "signature", "timestamp version %d: %v", ts.Signed.Version, err)
	} else {
		ra.Verified = true
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
	ra := RoleAudit{Role: "snapshot", Version: snap.Signed.Version, Expires: snap.Signed.Expires, Threshold: root.Signed.Roles["snapshot"].Threshold}
	if err := root.VerifyDelegate("snapshot", snap); err != nil {
		a.find(SevSecurity, "snapshot", "signature", "snapshot version %d: %v", snap.Signed.Version, err)
	} else {
		ra.Verified = true
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
	verify    func(md any) error       // checks the role's signatures
	paths     func(target string) bool // the delegated paths
	threshold int
}

func (a *auditor) targetsTree(ctx context.Context, root *metadata.Metadata[metadata.RootType], snap *metadata.Metadata[metadata.SnapshotType]) {
	queue := []delegation{{name: "targets", verify: func(md any) error { return root.VerifyDelegate("targets", md) },
		paths: func(string) bool { return true }, threshold: root.Signed.Roles["targets"].Threshold}}
	seen := map[string]bool{}
	var manifests []auditedManifest
	for len(queue) > 0 {
		d := queue[0]
		queue = queue[1:]
		if seen[d.name] {
			continue
		}
		seen[d.name] = true
		md := a.targetsRole(ctx, root, snap, d)
		if md == nil {
			continue
		}
		manifests = append(manifests, a.roleTargets(ctx, d, md)...)
		queue = append(queue, children(d, md)...)
	}
	for name := range snap.Signed.Meta {
		if r := strings.TrimSuffix(name, ".json"); !seen[r] {
			a.find(SevWarning, r, "orphan", "the snapshot lists %s, which no role delegates to", name)
		}
	}
	a.sequenceRules(manifests)
}

func (a *auditor) targetsRole(ctx context.Context, root *metadata.Metadata[metadata.RootType], snap *metadata.Metadata[metadata.SnapshotType], d delegation) *metadata.Metadata[metadata.TargetsType] {
	meta := snap.Signed.Meta[d.name+".json"]
	if meta == nil {
		a.find(SevSecurity, d.name, "snapshot", "the snapshot does not list delegated role %s", d.name)
		return nil
	}
	b := a.fetchListed(ctx, root, d.name, meta)
	if b == nil {
		return nil
	}
	md, err := metadata.Targets().FromBytes(b)
	if err != nil {
		a.find(SevSecurity, d.name, "format", "%s version %d: %v", d.name, meta.Version, err)
		return nil
	}
	if md.Signed.Version != meta.Version {
		a.find(SevSecurity, d.name, "consistency", "the snapshot lists %s version %d, the file carries %d", d.name, meta.Version, md.Signed.Version)
	}
	ra := RoleAudit{Role: d.name, Version: md.Signed.Version, Expires: md.Signed.Expires, Targets: len(md.Signed.Targets), Threshold: d.threshold}
	if err := d.verify(md); err != nil {
		a.find(SevSecurity, d.name, "signature", "%s version %d: %v", d.name, md.Signed.Version, err)
	} else {
		ra.Verified = true
	}
	class := "delegated"
	if d.name == "targets" {
		class = "targets"
	}
	a.budget(ra, class)
	return md
}

// children lists the roles md delegates to.
func children(d delegation, md *metadata.Metadata[metadata.TargetsType]) []delegation {
	dl := md.Signed.Delegations
	if dl == nil {
		return nil
	}
	var out []delegation
	verify := func(name string) func(any) error {
		return func(child any) error { return md.VerifyDelegate(name, child) }
	}
	for _, r := range dl.Roles {
		out = append(out, delegation{name: r.Name, component: r.Name, verify: verify(r.Name),
			paths: func(p string) bool { ok, _ := r.IsDelegatedPath(p); return ok && d.paths(p) }, threshold: r.Threshold})
	}
	if s := dl.SuccinctRoles; s != nil {
		comp := d.name
		for _, name := range s.GetRoles() {
			out = append(out, delegation{name: name, component: comp, verify: verify(name), threshold: s.Threshold,
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

// payload downloads the target under every published name and checks it.
func (a *auditor) payload(ctx context.Context, role, p string, tf *metadata.TargetFiles) {
	dir, base := path.Split(p)
	names := []string{p}
	if len(tf.Hashes) > 0 {
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
