package repo

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"

	"github.com/theupdateframework/go-tuf/v2/metadata"
	"golang.org/x/sys/unix"
)

// Publishing verifies like a client. The workspace is a directory that
// someone other than the key holders may write to (the online machine),
// so before the online keys sign anything, Publish checks the tree it is
// about to publish as a device would, trusting none of the workspace's
// own bookkeeping (workspace.json, which roles it marks edited):
//
//  1. the root chain, from the root the destination serves (or, for a
//     first publish, the workspace's root v1, the one the operator
//     distributes) to the workspace's root: each new root signed by a
//     threshold of the previous root's keys and of its own (verifyRoots);
//  2. every targets-family role that the destination does not already
//     serve, and each of its delegators: signed by a threshold of the keys
//     its delegator (as it will be published) lists, its version not below
//     the one the destination serves, its bytes those the new snapshot
//     pins (verifyTargetsTree);
//  3. every payload those roles list that the destination lacks: in the
//     content store with the listed length and hashes (verifyPayloads).
//
// A failure is a *VerifyError naming the role (and the keys, or the
// payload); nothing is signed and nothing is written.

// verifyPublish runs steps 1 to 3 for meta, the snapshot meta about to be
// signed.
func (w *Workspace) verifyPublish(ctx context.Context, dest Destination, meta map[string]*metadata.MetaFiles) error {
	if err := w.verifyRoots(ctx, dest); err != nil {
		return err
	}
	destMeta := publishedMeta(ctx, dest)
	roles, err := w.verifyTargetsTree(ctx, dest, meta, destMeta)
	if err != nil {
		return err
	}
	return w.verifyPayloads(ctx, dest, roles, destMeta)
}

// verifyRoots checks the chain of roots from the one dest serves (or the
// workspace's v1) to the workspace's root.
func (w *Workspace) verifyRoots(ctx context.Context, dest Destination) error {
	cur := w.root.Signed.Version
	trusted, err := w.rootVersion(1)
	if err != nil {
		return err
	}
	if data, err := dest.ReadFile(ctx, "root.json"); err == nil {
		served, err := new(rootMeta).FromBytes(data)
		if err != nil {
			return &VerifyError{Role: metadata.ROOT, Reason: fmt.Sprintf("the destination's root.json does not parse: %v", err)}
		}
		if served.Signed.Version > cur {
			return &DestinationError{Dest: fmt.Sprint(dest), Name: "root.json", Err: fmt.Errorf("serves root v%d, newer than the workspace's v%d (published from another workspace?)", served.Signed.Version, cur)}
		}
		trusted = served
	}
	if err := trusted.VerifyDelegate(metadata.ROOT, trusted); err != nil {
		return rootVerifyError(trusted, trusted, err)
	}
	for v := trusted.Signed.Version + 1; v <= cur; v++ {
		next, err := w.rootVersion(v)
		if err != nil {
			return err
		}
		if next.Signed.Version != v {
			return &VerifyError{Role: metadata.ROOT, Reason: fmt.Sprintf("the workspace's file for root v%d holds v%d", v, next.Signed.Version)}
		}
		if err := trusted.VerifyDelegate(metadata.ROOT, next); err != nil {
			return rootVerifyError(trusted, next, err)
		}
		if err := next.VerifyDelegate(metadata.ROOT, next); err != nil {
			return rootVerifyError(next, next, err)
		}
		trusted = next
	}
	return nil
}

func rootVerifyError(by, m *rootMeta, err error) error {
	return &VerifyError{Role: fmt.Sprintf("root v%d", m.Signed.Version), KeyIDs: by.Signed.Roles[metadata.ROOT].KeyIDs,
		Reason: fmt.Sprintf("not signed by a threshold of root v%d's keys: %v", by.Signed.Version, err)}
}

// rootVersion returns version v of the workspace's root: the current one,
// or one kept under metadata/roots.
func (w *Workspace) rootVersion(v int64) (*rootMeta, error) {
	if v == w.root.Signed.Version {
		return w.root, nil
	}
	data := w.prevRoot
	if data == nil || v != w.prevRootVer {
		var err error
		if data, err = w.readFile(w.path("metadata", "roots", fmt.Sprintf("%d.root.json", v))); err != nil {
			return nil, &VerifyError{Role: fmt.Sprintf("root v%d", v), Reason: fmt.Sprintf("missing from the workspace: %v", err)}
		}
	}
	m, err := new(rootMeta).FromBytes(data)
	if err != nil {
		return nil, &VerifyError{Role: fmt.Sprintf("root v%d", v), Reason: err.Error()}
	}
	return m, nil
}

// treeRole is one targets-family role as it would be published.
type treeRole struct {
	m       *targetsMeta
	changed bool // dest does not serve these bytes yet
}

// verifyTargetsTree checks every targets-family role that dest does not
// serve as meta lists it, and the delegators above each. It returns the
// roles checked, by name.
func (w *Workspace) verifyTargetsTree(ctx context.Context, dest Destination, meta, destMeta map[string]*metadata.MetaFiles) (map[string]treeRole, error) {
	need := map[string]bool{}
	for name, mf := range meta {
		role := strings.TrimSuffix(name, ".json")
		old := destMeta[name]
		if old != nil && old.Version > mf.Version {
			return nil, &DestinationError{Dest: fmt.Sprint(dest), Name: name, Err: fmt.Errorf("the destination's snapshot lists %s v%d, the workspace's is v%d, lower (published from another workspace?)", role, old.Version, mf.Version)}
		}
		if old != nil && old.Version == mf.Version {
			if len(old.Hashes) > 0 && len(mf.Hashes) > 0 && !hashesEqual(old.Hashes, mf.Hashes) {
				// The name would not be written again: devices would get
				// bytes the new snapshot does not pin.
				return nil, &DestinationError{Dest: fmt.Sprint(dest), Name: fmt.Sprintf("%d.%s", mf.Version, name),
					Err: errors.New("already holds different content (published from another workspace?)")}
			}
			continue
		}
		for r := role; r != ""; r = delegatorOf(r) {
			need[r] = true
		}
	}
	order := sortedKeys(need)
	slices.SortStableFunc(order, func(a, b string) int { return depth(a) - depth(b) })
	out := map[string]treeRole{}
	for _, role := range order {
		mf := meta[role+".json"]
		if mf == nil {
			return nil, &VerifyError{Role: role, Reason: "delegates a role the snapshot would list, but is not listed itself"}
		}
		old := destMeta[role+".json"]
		changed := old == nil || old.Version != mf.Version
		m, err := w.publishedBytes(ctx, dest, role, mf, changed)
		if err != nil {
			return nil, err
		}
		if m.Signed.Version != mf.Version {
			return nil, &VerifyError{Role: role, Reason: fmt.Sprintf("the file holds version %d, the snapshot would list %d", m.Signed.Version, mf.Version)}
		}
		if err := verifyDelegated(w.root, out, role, m, w.canonicalBytes(role, m)); err != nil {
			return nil, err
		}
		out[role] = treeRole{m: m, changed: changed}
	}
	return out, nil
}

// publishedBytes returns role as it would be published under mf: the
// workspace's copy when its bytes are those mf pins (or, for a role dest
// does not serve yet, when mf pins nothing), else the one dest serves.
func (w *Workspace) publishedBytes(ctx context.Context, dest Destination, role string, mf *metadata.MetaFiles, changed bool) (*targetsMeta, error) {
	if changed || pinned(mf) {
		data, err := w.fileBytes(role)
		if err != nil {
			return nil, &VerifyError{Role: role, Reason: fmt.Sprintf("reading v%d: %v", mf.Version, err)}
		}
		if mf.Length != 0 || len(mf.Hashes) > 0 {
			if err := mf.VerifyLengthHashes(data); err != nil {
				return nil, &VerifyError{Role: role, Reason: fmt.Sprintf("the workspace's file differs from v%d as the snapshot pins it: %v", mf.Version, err)}
			}
		}
		m, err := w.targetsRole(role)
		if err != nil {
			return nil, &VerifyError{Role: role, Reason: err.Error()}
		}
		return m, nil
	}
	// Published before snapshots pinned hashes: what devices get is what
	// dest serves.
	name := fmt.Sprintf("%d.%s.json", mf.Version, role)
	data, err := dest.ReadFile(ctx, name)
	if err != nil {
		return nil, &VerifyError{Role: role, Reason: fmt.Sprintf("reading %s from the destination: %v", name, err)}
	}
	m, err := parseRole[metadata.TargetsType](&w.stats, name, data)
	if err != nil {
		return nil, &VerifyError{Role: role, Reason: err.Error()}
	}
	return m, nil
}

// delegatorOf returns the role that delegates role ("" for targets).
func delegatorOf(role string) string {
	if role == metadata.TARGETS {
		return ""
	}
	if comp, ok := binComponent(role); ok {
		return comp
	}
	return metadata.TARGETS
}

// canonicalBytes returns the canonical bytes of m's signed part, made
// for signing it in this session, or nil when there are none.
func (w *Workspace) canonicalBytes(role string, m *targetsMeta) []byte {
	if c, ok := w.canon[role]; ok && c.m == m {
		return c.bytes
	}
	return nil
}

// verifyDelegated checks m, published as role, against its delegator:
// root for targets, else the delegator as verified in done. canon, when
// not nil, is the canonical form of m.Signed, which go-tuf's
// VerifyDelegate would otherwise encode again (per key).
func verifyDelegated(root *rootMeta, done map[string]treeRole, role string, m *targetsMeta, canon []byte) error {
	parent := delegatorOf(role)
	var err error
	var ids []string
	if parent == "" {
		ids = root.Signed.Roles[metadata.TARGETS].KeyIDs
		if canon != nil {
			err = verifyThreshold(root.Signed.Keys, root.Signed.Roles[metadata.TARGETS], m.Signatures, canon)
		} else {
			err = root.VerifyDelegate(role, m)
		}
	} else {
		p, ok := done[parent]
		if !ok {
			return &VerifyError{Role: role, Reason: "its delegator " + parent + " was not verified"}
		}
		ids = delegatedKeyIDs(p.m, role)
		if ids == nil {
			return &VerifyError{Role: role, Reason: parent + " (as it would be published) does not delegate it"}
		}
		if canon != nil {
			err = verifyThreshold(p.m.Signed.Delegations.Keys, delegatedRoleKeys(p.m, role), m.Signatures, canon)
		} else {
			err = p.m.VerifyDelegate(role, m)
		}
	}
	if err != nil {
		by := parent
		if by == "" {
			by = metadata.ROOT
		}
		return &VerifyError{Role: fmt.Sprintf("%s v%d", role, m.Signed.Version), KeyIDs: ids,
			Reason: fmt.Sprintf("not signed by a threshold of the keys %s lists for it: %v", by, err)}
	}
	return nil
}

// delegatedRoleKeys returns the key ids and threshold delegator sets for
// role, which it delegates (delegatedKeyIDs is not nil).
func delegatedRoleKeys(delegator *targetsMeta, role string) *metadata.Role {
	d := delegator.Signed.Delegations
	for _, r := range d.Roles {
		if r.Name == role {
			return &metadata.Role{KeyIDs: r.KeyIDs, Threshold: r.Threshold}
		}
	}
	return &metadata.Role{KeyIDs: d.SuccinctRoles.KeyIDs, Threshold: d.SuccinctRoles.Threshold}
}

// verifyThreshold is go-tuf's Metadata.VerifyDelegate over payload, the
// canonical bytes of the delegated role's signed part: for each key id
// the delegation lists (each one must be in keys), the last signature
// under that id is verified; keys that are one public key count once; at
// least the threshold must verify.
func verifyThreshold(keys map[string]*metadata.Key, r *metadata.Role, sigs []metadata.Signature, payload []byte) error {
	if r == nil || len(r.KeyIDs) == 0 {
		return errors.New("no delegation found")
	}
	if r.Threshold < 1 {
		return fmt.Errorf("insufficient threshold (%d) configured", r.Threshold)
	}
	signing := map[[sha256.Size]byte]bool{}
	for _, id := range r.KeyIDs {
		key, ok := keys[id]
		if !ok {
			return fmt.Errorf("key with ID %s not found", id)
		}
		pub, err := key.ToPublicKey()
		if err != nil {
			return err
		}
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			return err
		}
		var sig []byte
		for _, s := range sigs {
			if s.KeyID == id {
				sig = s.Signature
			}
		}
		if sig != nil && verifySignature(key, payload, sig) == nil {
			signing[sha256.Sum256(der)] = true
		}
	}
	if len(signing) < r.Threshold {
		return fmt.Errorf("verifying delegated role: signature threshold not met: %d of %d", len(signing), r.Threshold)
	}
	return nil
}

// delegatedKeyIDs returns the key ids delegator lists for role, nil when
// it does not delegate it.
func delegatedKeyIDs(delegator *targetsMeta, role string) []string {
	d := delegator.Signed.Delegations
	if d == nil {
		return nil
	}
	for _, r := range d.Roles {
		if r.Name == role {
			return r.KeyIDs
		}
	}
	if d.SuccinctRoles != nil && d.SuccinctRoles.IsDelegatedRole(role) {
		return d.SuccinctRoles.KeyIDs
	}
	return nil
}

// verifyPayloads checks that every payload the changed roles list and
// dest lacks is in the content store with its listed length and hashes,
// on GOMAXPROCS workers. A payload that fits in what is left of
// verifiedBudget (given in the order of the roles and their targets) is
// read whole and kept (w.verified) for writePayloads, which then writes
// exactly the bytes verified here, without reading or hashing them again;
// a bigger one is streamed and read again (and checked again) when written.
func (w *Workspace) verifyPayloads(ctx context.Context, dest Destination, roles map[string]treeRole, destMeta map[string]*metadata.MetaFiles) error {
	type payloadCheck struct {
		role, path string
		tf         *metadata.TargetFiles
		keep       bool
		data       []byte
	}
	var checks []payloadCheck
	published := w.snapshot.Signed.Meta
	budget := verifiedBudget - w.verifiedSize
	for _, role := range sortedKeys(roles) {
		r := roles[role]
		if !r.changed {
			continue
		}
		paths, ok := w.unpublishedTargets(role, destMeta, published)
		if !ok {
			paths = w.newSince(ctx, dest, role, r.m, destMeta)
		}
		for _, p := range paths {
			tf := r.m.Signed.Targets[p]
			if tf == nil {
				continue
			}
			keep := tf.Length >= 0 && tf.Length <= budget
			if keep {
				budget -= tf.Length
			}
			checks = append(checks, payloadCheck{role: role, path: p, tf: tf, keep: keep})
		}
	}
	err := parallel(ctx, len(checks), func(i int) error {
		c := &checks[i]
		var err error
		if c.data, err = checkContent(w.dir, c.tf, c.keep); err != nil {
			return &VerifyError{Role: c.role, Reason: fmt.Sprintf("payload %s: %v", c.path, err)}
		}
		return nil
	})
	w.stats.read += len(checks)
	w.stats.payloads += len(checks)
	if err != nil {
		return err
	}
	for _, c := range checks {
		if c.data == nil {
			continue
		}
		if w.verified == nil {
			w.verified = map[*metadata.TargetFiles][]byte{}
		}
		w.verified[c.tf] = c.data
		w.verifiedSize += int64(len(c.data))
	}
	return nil
}

// verifiedBudget bounds the payload bytes one publish keeps in memory
// between verifying them and writing them (see verifyPayloads).
const verifiedBudget = 256 << 20

// checkContent checks the payload of the content store in the workspace
// dir against every hash its target entry lists, and its length. With keep
// it reads the payload whole and returns the bytes it checked; else it
// streams them and returns nil. It is safe for concurrent use, and opens
// the file with plain system calls (no os.File: a publish checks 100,000).
func checkContent(dir string, tf *metadata.TargetFiles, keep bool) ([]byte, error) {
	sum, ok := tf.Hashes["sha256"]
	if !ok {
		return nil, errors.New("no sha256 hash")
	}
	name := filepath.Join(dir, "content", fmt.Sprintf("%x", []byte(sum)))
	fd, err := openRead(name)
	if err != nil {
		return nil, fmt.Errorf("not in the content store: %w", err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, &fs.PathError{Op: "fstat", Path: name, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, fmt.Errorf("content store: %s is not a regular file", name)
	}
	if st.Size != tf.Length {
		return nil, fmt.Errorf("content store holds %d bytes, the role lists %d", st.Size, tf.Length)
	}
	r := &fdReader{fd: fd, name: name}
	if !keep {
		return nil, checkDigests(io.LimitReader(r, tf.Length+1), tf)
	}
	data := make([]byte, tf.Length)
	if _, err := io.ReadFull(r, data); err != nil {
		return nil, fmt.Errorf("content store: %s: %w", name, err)
	}
	if err := checkDigests(bytes.NewReader(data), tf); err != nil {
		return nil, err
	}
	return data, nil
}

// openRead opens name for reading with open(2) alone.
func openRead(name string) (int, error) {
	for {
		fd, err := unix.Open(name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return -1, &fs.PathError{Op: "open", Path: name, Err: err}
		}
		return fd, nil
	}
}

// fdReader reads a file descriptor with read(2).
type fdReader struct {
	fd   int
	name string
}

func (r *fdReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		n, err := unix.Read(r.fd, p)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			return 0, &fs.PathError{Op: "read", Path: r.name, Err: err}
		case n == 0:
			return 0, io.EOF
		}
		return n, nil
	}
}

// checkDigests reads r through every hash tf lists and compares length and
// hashes.
func checkDigests(r io.Reader, tf *metadata.TargetFiles) error {
	hs := map[string]hash.Hash{}
	var ws []io.Writer
	for alg := range tf.Hashes {
		var h hash.Hash
		switch alg {
		case "sha256":
			h = sha256.New()
		case "sha512":
			h = sha512.New()
		default:
			return fmt.Errorf("unsupported hash %q", alg)
		}
		hs[alg] = h
		ws = append(ws, h)
	}
	n, err := io.Copy(io.MultiWriter(ws...), r)
	if err != nil {
		return err
	}
	if n != tf.Length {
		return fmt.Errorf("content store holds %d bytes or more, the role lists %d", n, tf.Length)
	}
	for alg, h := range hs {
		if !bytes.Equal(h.Sum(nil), tf.Hashes[alg]) {
			return fmt.Errorf("content store copy does not match its listed %s", alg)
		}
	}
	return nil
}
