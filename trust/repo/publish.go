package repo

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// PublishResult says what Publish or Refresh did.
type PublishResult struct {
	Written          []string `json:"written"` // destination names, in write order
	Skipped          int      `json:"skipped"` // files or roles already present
	SnapshotVersion  int64    `json:"snapshot_version"`
	TimestampVersion int64    `json:"timestamp_version"`
	// Set by Refresh: the new timestamp's expiry, and the snapshot's when
	// it was signed again.
	TimestampExpires time.Time `json:"timestamp_expires,omitzero"`
	SnapshotExpires  time.Time `json:"snapshot_expires,omitzero"`
}

// Publish signs snapshot and timestamp with the online keys when anything
// changed and writes the consistent-snapshot tree to dest, in an order that
// keeps what clients already see valid: payloads, delegated roles, targets,
// every root version, snapshot, and timestamp.json last. Files already
// present with the same content are not written again.
//
// Roles below their signature threshold give a *PendingError; an expired
// role a *ExpiredError; a failing destination a *DestinationError. On any
// error the workspace is unchanged.
func (w *Workspace) Publish(ctx context.Context, dest Destination) (*PublishResult, error) {
	res := &PublishResult{}
	err := w.mutate(func() error {
		if err := w.preload(ctx, sortedKeys(w.cfg.Edited)); err != nil {
			return err
		}
		pend, err := w.pending()
		if err != nil {
			return err
		}
		if len(pend) > 0 {
			return &PendingError{Roles: pend}
		}
		if err := w.checkExpired(); err != nil {
			return err
		}
		meta, err := w.snapshotMeta()
		if err != nil {
			return err
		}
		// Nothing is signed until the tree verifies as a device would.
		if err := w.verifyPublish(ctx, dest, meta); err != nil {
			return err
		}
		first := !w.cfg.Published
		published := w.snapshot.Signed.Meta // as of the last publish
		req := onlineRequest{meta: meta, root: w.root,
			snapshot:  w.cfg.Edited[metadata.SNAPSHOT] || w.cfg.Edited[metadata.ROOT] || first,
			timestamp: w.cfg.Edited[metadata.TIMESTAMP] || first}
		req.minSnapshot, req.minTimestamp = w.destAhead(ctx, dest)
		if err := w.resignOnline(ctx, req); err != nil {
			return err
		}
		if err := w.logTransparency(ctx, dest); err != nil {
			return err
		}
		if err := w.writeTree(ctx, dest, published, res); err != nil {
			return err
		}
		w.verified, w.verifiedSize = nil, 0
		w.cfg.Edited = map[string]bool{}
		w.cfg.Unpublished = nil
		w.cfg.Published = true
		w.pruneOnline()
		return nil
	})
	if err != nil {
		return nil, err
	}
	res.SnapshotVersion, res.TimestampVersion = w.snapshot.Signed.Version, w.timestamp.Signed.Version
	w.opts.Logger.Info("published", "dest", fmt.Sprint(dest), "written", len(res.Written), "skipped", res.Skipped,
		"snapshot", res.SnapshotVersion, "timestamp", res.TimestampVersion)
	return res, nil
}

// checkExpired refuses to publish a root or targets-family role that has
// expired: clients would reject it.
func (w *Workspace) checkExpired() error {
	now := w.opts.Now()
	if now.After(w.root.Signed.Expires) {
		return &ExpiredError{Role: metadata.ROOT, Version: w.root.Signed.Version, Expires: w.root.Signed.Expires}
	}
	names, _ := w.roleNames()
	for _, role := range names {
		exp, ok := w.cfg.Expiries[role]
		if !ok || !now.After(exp) {
			continue
		}
		e := &ExpiredError{Role: role, Expires: exp}
		if m, err := w.targetsRole(role); err == nil {
			e.Version = m.Signed.Version
		}
		return e
	}
	return nil
}

// snapshotMeta computes the snapshot's meta: the version, length and
// sha256 of every targets-family role file, so that a mirror holding one
// component's key cannot substitute another file that key signed with
// the same version (mix-and-match). A role unchanged since the last
// publish keeps the entry that publish signed, when it pins the hash.
func (w *Workspace) snapshotMeta() (map[string]*metadata.MetaFiles, error) {
	names, err := w.roleNames()
	if err != nil {
		return nil, err
	}
	meta := map[string]*metadata.MetaFiles{}
	for _, role := range names {
		if !offline(role) || role == metadata.ROOT {
			continue
		}
		old, ok := w.snapshot.Signed.Meta[role+".json"]
		if ok && !w.cfg.Edited[role] && w.cfg.Published && pinned(old) {
			meta[role+".json"] = old
			continue
		}
		m, err := w.targetsRole(role)
		if err != nil {
			return nil, err
		}
		data, err := w.fileBytes(role)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(data)
		meta[role+".json"] = &metadata.MetaFiles{Version: m.Signed.Version, Length: int64(len(data)),
			Hashes: metadata.Hashes{"sha256": sum[:]}}
	}
	return meta, nil
}

// pinned reports whether a snapshot entry carries length and sha256.
func pinned(mf *metadata.MetaFiles) bool {
	return mf != nil && mf.Length > 0 && len(mf.Hashes["sha256"]) == sha256.Size
}

func metaEqual(a, b map[string]*metadata.MetaFiles) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		o, ok := b[k]
		if !ok || o.Version != v.Version || o.Length != v.Length || !hashesEqual(o.Hashes, v.Hashes) {
			return false
		}
	}
	return true
}

// hashesEqual reports whether two hash sets are identical (go-tuf's
// Hashes.Equal is false for two empty sets).
func hashesEqual(a, b metadata.Hashes) bool {
	if len(a) != len(b) {
		return false
	}
	for alg, h := range a {
		if !bytes.Equal(h, b[alg]) {
			return false
		}
	}
	return true
}

// onlineRequest says what resignOnline must do.
type onlineRequest struct {
	meta      map[string]*metadata.MetaFiles // snapshot meta wanted
	root      *rootMeta                      // root whose keys sign
	snapshot  bool                           // re-sign snapshot even if meta is unchanged
	timestamp bool                           // re-sign timestamp even if snapshot is unchanged
	// minSnapshot and minTimestamp are versions the destination already
	// serves without the workspace having recorded them (destAhead): the
	// new versions must be higher.
	minSnapshot, minTimestamp int64
}

// destAhead returns the snapshot and timestamp versions dest serves when
// a publish wrote them but was interrupted before the workspace recorded
// it (dest's timestamp.json is not the workspace's and not older), else
// zeros. Signing those versions again, with other expiries, would give a
// published name other bytes; the next publish goes above them instead.
func (w *Workspace) destAhead(ctx context.Context, dest Destination) (snap, ts int64) {
	data, t := servedTimestamp(ctx, dest)
	if t == nil || t.Signed.Version < w.timestamp.Signed.Version {
		return 0, 0
	}
	if mine, err := w.timestamp.ToBytes(false); err == nil && bytes.Equal(mine, data) && w.cfg.Published {
		return 0, 0
	}
	return t.Signed.Meta["snapshot.json"].Version, t.Signed.Version
}

// servedTimestamp returns dest's timestamp.json and its decoding, or nil
// when it has none that parses and lists a snapshot.
func servedTimestamp(ctx context.Context, dest Destination) ([]byte, *timestampMeta) {
	data, err := dest.ReadFile(ctx, "timestamp.json")
	if err != nil {
		return nil, nil
	}
	t, err := new(timestampMeta).FromBytes(data)
	if err != nil || t.Signed.Meta["snapshot.json"] == nil {
		return nil, nil
	}
	return data, t
}

// resignOnline bumps and signs snapshot (when its meta changed or asked)
// and timestamp (when snapshot changed or asked) with the online keys.
func (w *Workspace) resignOnline(ctx context.Context, req onlineRequest) error {
	now := w.now()
	if req.snapshot || !metaEqual(req.meta, w.snapshot.Signed.Meta) || w.snapshot.Signed.Version <= req.minSnapshot {
		if w.cfg.Published {
			w.snapshot.Signed.Version++
		}
		w.snapshot.Signed.Version = max(w.snapshot.Signed.Version, req.minSnapshot+1)
		w.snapshot.Signed.Meta = req.meta
		w.snapshot.Signed.Expires = now.Add(w.expiry(kindSnapshot))
		if err := w.signOnline(ctx, metadata.SNAPSHOT, req.root); err != nil {
			return err
		}
		req.timestamp = true
	}
	if !req.timestamp && w.timestamp.Signed.Version > req.minTimestamp {
		return nil
	}
	snap, err := w.snapshot.ToBytes(false)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(snap)
	if w.cfg.Published {
		w.timestamp.Signed.Version++
	}
	w.timestamp.Signed.Version = max(w.timestamp.Signed.Version, req.minTimestamp+1)
	w.timestamp.Signed.Meta = map[string]*metadata.MetaFiles{"snapshot.json": {
		Version: w.snapshot.Signed.Version, Length: int64(len(snap)), Hashes: metadata.Hashes{"sha256": sum[:]}}}
	w.timestamp.Signed.Expires = now.Add(w.expiry(kindTimestamp))
	return w.signOnline(ctx, metadata.TIMESTAMP, req.root)
}

// signOnline replaces the signatures of an online role by those of its
// configured keys that root authorises.
func (w *Workspace) signOnline(ctx context.Context, role string, root *rootMeta) error {
	if w.opts.LoadSigner == nil {
		return fmt.Errorf("%s: no signer loader for the online keys", role)
	}
	rk := rootKeysFor(root, role)
	payload, sigs, _, err := w.signable(role)
	if err != nil {
		return err
	}
	*sigs = []metadata.Signature{}
	for _, ok := range w.cfg.Online[role] {
		key := rk.keys[ok.KeyID]
		if key == nil || !slices.Contains(rk.ids, ok.KeyID) {
			continue
		}
		s, err := w.opts.LoadSigner(ctx, ok.Ref)
		if err != nil {
			return fmt.Errorf("%s: loading online key %s: %w", role, ok.Ref, err)
		}
		if _, err := w.signRole(ctx, role, s, []string{ok.KeyID}); err != nil {
			return err
		}
	}
	if have, missing := tally(rk, payload, *sigs); have < rk.threshold {
		return &PendingError{Roles: []PendingRole{{Role: role, Version: w.versionOf(role), Have: have, Threshold: rk.threshold, Missing: missing}}}
	}
	w.dirty[role] = true
	return nil
}

func (w *Workspace) versionOf(role string) int64 {
	_, _, v, _ := w.signable(role)
	return v
}

// pruneOnline forgets online key references that the current root no
// longer lists.
func (w *Workspace) pruneOnline() {
	for role, refs := range w.cfg.Online {
		ids := w.root.Signed.Roles[role].KeyIDs
		w.cfg.Online[role] = slices.DeleteFunc(refs, func(k onlineKey) bool { return !slices.Contains(ids, k.KeyID) })
	}
}

// writeTree writes the roles that dest does not have yet, in safe order.
// published is the snapshot meta of the workspace's last publish.
func (w *Workspace) writeTree(ctx context.Context, dest Destination, published map[string]*metadata.MetaFiles, res *PublishResult) error {
	if dw, ok := dest.(deferredWriter); ok {
		// Also drops what a directory destination remembers of its
		// directories from an earlier publish that ended in an error.
		if err := dw.Flush(ctx); err != nil {
			return &DestinationError{Dest: fmt.Sprint(dest), Err: err}
		}
	}
	destMeta := publishedMeta(ctx, dest)
	var changed []string
	for _, name := range sortedKeys(w.snapshot.Signed.Meta) {
		if old, ok := destMeta[name]; ok && old.Version == w.snapshot.Signed.Meta[name].Version {
			res.Skipped++
			continue
		}
		changed = append(changed, strings.TrimSuffix(name, ".json"))
	}
	// Bins, then components, then targets: a delegator never points at a
	// file that is not there yet.
	slices.SortStableFunc(changed, func(a, b string) int { return depth(b) - depth(a) })
	var plan []payloadName
	for _, role := range changed {
		var err error
		if plan, err = w.planPayloads(ctx, dest, role, destMeta, published, plan, res); err != nil {
			return err
		}
	}
	if err := w.writePayloads(ctx, dest, plan, res); err != nil {
		return err
	}
	// Every file so far has a new name that nothing points at until
	// timestamp.json does; putFile makes them all durable (one barrier)
	// before it writes root.json or timestamp.json.
	for _, role := range changed {
		data, err := w.fileBytes(role)
		if err != nil {
			return err
		}
		v := w.snapshot.Signed.Meta[role+".json"].Version
		kind := immutable
		if old := destMeta[role+".json"]; old == nil || old.Version < v {
			kind = unreferenced
		}
		if err := putFile(ctx, w.opts.Logger, dest, fmt.Sprintf("%d.%s.json", v, role), data, kind, res); err != nil {
			return err
		}
	}
	if err := w.publishRoots(ctx, dest, res); err != nil {
		return err
	}
	snap, err := w.snapshot.ToBytes(false)
	if err != nil {
		return err
	}
	if err := putSnapshot(ctx, w.opts.Logger, dest, w.snapshot.Signed.Version, snap, res); err != nil {
		return err
	}
	ts, err := w.timestamp.ToBytes(false)
	if err != nil {
		return err
	}
	return putFile(ctx, w.opts.Logger, dest, "timestamp.json", ts, mutable, res)
}

// putSnapshot writes version v of the snapshot: replacing what an
// interrupted publish left under that name when the destination's
// timestamp.json lists an older snapshot (the rerun signs it again, with
// another expiry), refusing other bytes when it lists this one.
func putSnapshot(ctx context.Context, log *slog.Logger, dest Destination, v int64, snap []byte, res *PublishResult) error {
	kind := unreferenced
	if pub := publishedSnapshotVersion(ctx, dest); pub >= v {
		kind = immutable
	}
	return putFile(ctx, log, dest, fmt.Sprintf("%d.snapshot.json", v), snap, kind, res)
}

// publishedSnapshotVersion returns the snapshot version dest's
// timestamp.json lists, 0 when it has none (or none that parses).
func publishedSnapshotVersion(ctx context.Context, dest Destination) int64 {
	if _, t := servedTimestamp(ctx, dest); t != nil {
		return t.Signed.Meta["snapshot.json"].Version
	}
	return 0
}

func depth(role string) int {
	switch {
	case role == metadata.TARGETS:
		return 0
	case strings.Contains(role, binInfix+"-"):
		return 2
	}
	return 1
}

// publishedMeta reads the snapshot meta that dest currently serves, or nil.
func publishedMeta(ctx context.Context, dest Destination) map[string]*metadata.MetaFiles {
	v := publishedSnapshotVersion(ctx, dest)
	if v == 0 {
		return nil
	}
	data, err := dest.ReadFile(ctx, fmt.Sprintf("%d.snapshot.json", v))
	if err != nil {
		return nil
	}
	snap, err := new(snapshotMeta).FromBytes(data)
	if err != nil {
		return nil
	}
	return snap.Signed.Meta
}

// fileBytes returns the exact bytes of a role file of the workspace.
func (w *Workspace) fileBytes(role string) ([]byte, error) {
	if w.dirty[role] {
		return w.roleBytes(role)
	}
	if data, ok := w.raw[role]; ok {
		return data, nil
	}
	data, err := w.readFile(w.rolePath(role))
	if err == nil {
		w.raw[role] = data
	}
	return data, err
}

// planPayloads appends to plan the names of the payloads role lists that
// dest's published version of role did not, under every hash (consistent
// snapshots), leaving out the names dest already holds.
func (w *Workspace) planPayloads(ctx context.Context, dest Destination, role string, destMeta, published map[string]*metadata.MetaFiles, plan []payloadName, res *PublishResult) ([]payloadName, error) {
	m, err := w.targetsRole(role)
	if err != nil {
		return nil, err
	}
	paths, ok := w.unpublishedTargets(role, destMeta, published)
	if !ok {
		paths = w.newSince(ctx, dest, role, m, destMeta)
	}
	for _, p := range paths {
		tf := m.Signed.Targets[p]
		if tf == nil {
			continue
		}
		if plan, err = planPayload(ctx, w.opts.Logger, dest, p, tf, plan, res); err != nil {
			return nil, err
		}
	}
	return plan, nil
}

// unpublishedTargets returns the targets role changed since the last
// publish, when dest holds exactly that publish's version of role and the
// workspace kept the list; ok is false otherwise.
func (w *Workspace) unpublishedTargets(role string, destMeta, published map[string]*metadata.MetaFiles) (paths []string, ok bool) {
	list, kept := w.cfg.Unpublished[role]
	d, p := destMeta[role+".json"], published[role+".json"]
	if !kept || !w.cfg.Published || d == nil || p == nil || d.Version != p.Version {
		return nil, false
	}
	return slices.Compact(slices.Sorted(slices.Values(list))), true
}

// newSince returns the targets of m that differ from, or are missing in,
// the version of role that dest serves (all of them when it serves none).
func (w *Workspace) newSince(ctx context.Context, dest Destination, role string, m *targetsMeta, destMeta map[string]*metadata.MetaFiles) []string {
	var old map[string]*metadata.TargetFiles
	if mf, ok := destMeta[role+".json"]; ok {
		name := fmt.Sprintf("%d.%s.json", mf.Version, role)
		if data, err := dest.ReadFile(ctx, name); err == nil {
			if prev, err := parseRole[metadata.TargetsType](&w.stats, name, data); err == nil {
				old = prev.Signed.Targets
			}
		}
	}
	var out []string
	for _, p := range sortedKeys(m.Signed.Targets) {
		tf := m.Signed.Targets[p]
		if o, ok := old[p]; ok && o.Length == tf.Length && hashesEqual(o.Hashes, tf.Hashes) {
			continue
		}
		out = append(out, p)
	}
	return out
}

// content reads a payload from the content store and checks it against
// its target entry.
func (w *Workspace) content(tf *metadata.TargetFiles) ([]byte, error) {
	w.stats.payloads++
	w.stats.read++
	return readContent(w.dir, tf)
}

// readContent is content for the workspace in dir, without counting: safe
// for concurrent use.
func readContent(dir string, tf *metadata.TargetFiles) ([]byte, error) {
	sum, ok := tf.Hashes["sha256"]
	if !ok {
		return nil, errors.New("no sha256 hash")
	}
	data, err := readFileDirect(filepath.Join(dir, "content", fmt.Sprintf("%x", []byte(sum))))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("payload missing from the content store: %w", err)
	}
	if err != nil {
		return nil, err
	}
	if err := tf.VerifyLengthHashes(data); err != nil {
		return nil, fmt.Errorf("content store: %w", err)
	}
	return data, nil
}

// publishRoots writes every root version, N.root.json, and root.json.
func (w *Workspace) publishRoots(ctx context.Context, dest Destination, res *PublishResult) error {
	for v := int64(1); v < w.root.Signed.Version; v++ {
		name := fmt.Sprintf("%d.root.json", v)
		data, err := w.readFile(w.path("metadata", "roots", name))
		if err != nil {
			return fmt.Errorf("root history: %w", err)
		}
		if err := putFile(ctx, w.opts.Logger, dest, name, data, immutable, res); err != nil {
			return err
		}
	}
	data, err := w.fileBytes(metadata.ROOT)
	if err != nil {
		return err
	}
	if err := putFile(ctx, w.opts.Logger, dest, fmt.Sprintf("%d.root.json", w.root.Signed.Version), data, immutable, res); err != nil {
		return err
	}
	return putFile(ctx, w.opts.Logger, dest, "root.json", data, mutable, res)
}
