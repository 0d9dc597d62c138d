package client

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// trustedSet is the verifying core: bytes in, verified values out. It does
// no I/O and reads no clock; its methods enforce the order of the TUF
// client workflow (root, timestamp, snapshot, targets, delegated roles)
// and every check of specification section 5. The I/O shell (Client)
// decides where the bytes come from.
type trustedSet struct {
	now       time.Time
	root      *rootFile
	timestamp *timestampFile
	snapshot  *snapshotFile
	roles     map[string]*targetsFile
}

// source says where bytes handed to the set came from.
type source int

const (
	fromRemote source = iota // just downloaded: every check
	fromCache                // our own earlier verified copy: signatures, no listing hashes
	fromRecord               // bytes whose hash matches a verified-state record: no signatures
	fromIndex                // trusted through the record, read through its look-up index (index.go)
)

type rootFile struct {
	raw    []byte
	sum    [32]byte
	signed rootSigned
	keys   map[string]*roleKeys // top-level role -> keys, threshold
}

type timestampFile struct {
	raw      []byte
	sum      [32]byte
	signed   timestampSigned
	snapshot *metaInfo // signed.Meta["snapshot.json"]
}

type snapshotFile struct {
	raw    []byte
	sum    [32]byte
	signed snapshotSigned
	// lazy is set for a file trusted through the verified-state record:
	// signed holds its version and expiry (from the record) and the meta
	// entries read so far (metaOf); decodeAll decodes the rest.
	lazy bool
}

// metaOf returns what the snapshot lists for the file name (nil when it
// lists nothing). A snapshot trusted through the record is not decoded
// for it: one scan finds the entry, which alone is decoded and checked.
func (n *snapshotFile) metaOf(name string) (*metaInfo, error) {
	if !n.lazy {
		return n.signed.Meta[name], nil
	}
	if m, ok := n.signed.Meta[name]; ok {
		return m, nil
	}
	var raw []byte
	err := scanMember(n.raw, "meta", func(s *scanner, key []byte) error {
		if !keyIs(key, name) {
			return s.skip()
		}
		var err error
		raw, err = s.value()
		return err
	})
	if errors.Is(err, errOddKey) {
		if err := n.decodeAll(); err != nil {
			return nil, err
		}
		return n.signed.Meta[name], nil
	}
	if err != nil {
		return nil, &FormatError{Role: roleSnapshot, Err: err}
	}
	var m *metaInfo
	if raw != nil {
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, &FormatError{Role: roleSnapshot, Err: err}
		}
		if err := checkMeta(roleSnapshot, name, m); err != nil {
			return nil, err
		}
	}
	if n.signed.Meta == nil {
		n.signed.Meta = map[string]*metaInfo{}
	}
	n.signed.Meta[name] = m
	return m, nil
}

// count returns the number of files the snapshot lists.
func (n *snapshotFile) count() (int, error) {
	if !n.lazy {
		return len(n.signed.Meta), nil
	}
	c := 0
	err := scanMember(n.raw, "meta", func(s *scanner, _ []byte) error {
		c++
		return s.skip()
	})
	if errors.Is(err, errOddKey) {
		if err := n.decodeAll(); err != nil {
			return 0, err
		}
		return len(n.signed.Meta), nil
	}
	if err != nil {
		return 0, &FormatError{Role: roleSnapshot, Err: err}
	}
	return c, nil
}

// decodeAll decodes and checks a lazy snapshot in full, as when it was
// stored.
func (n *snapshotFile) decodeAll() error {
	if !n.lazy {
		return nil
	}
	var sn snapshotSigned
	if _, err := decode(roleSnapshot, roleSnapshot, n.raw, &sn); err != nil {
		return err
	}
	for name, m := range sn.Meta {
		if err := checkMeta(roleSnapshot, name, m); err != nil {
			return err
		}
	}
	if sn.Version != n.signed.Version || !sn.Expires.Equal(n.signed.Expires) {
		return &FormatError{Role: roleSnapshot, Err: fmt.Errorf("version %d, expiry %s differ from the verified-state record (%d, %s)",
			sn.Version, sn.Expires.Format(time.RFC3339), n.signed.Version, n.signed.Expires.Format(time.RFC3339))}
	}
	n.signed, n.lazy = sn, false
	return nil
}

// targetsFile is a verified targets or delegated targets role. signed is
// decoded lazily for files trusted through the verified-state record.
type targetsFile struct {
	role    string
	raw     []byte
	sum     [32]byte
	version int64
	expires time.Time
	signed  *targetsSigned
	// delegations, once scanned is set, are those of a file trusted
	// through the record and not decoded (see find).
	delegations *delegations
	scanned     bool
	// entries, when set, locate the entries of a file not decoded whole,
	// sorted by path (see readEntries).
	entries *entryTable
	// lazy, when set, reads the stored file through its look-up index;
	// raw stays nil until something needs the whole file (bytes).
	lazy *indexedFile
	// verifiedBy holds the delegators whose keys verified this file.
	verifiedBy map[string]bool
}

// parseRoot decodes and checks a root and resolves the keys of every
// top-level role.
func parseRoot(raw []byte) (*rootFile, *envelope, error) {
	r := &rootFile{raw: raw, sum: sha256.Sum256(raw)}
	env, err := decode(roleRoot, roleRoot, raw, &r.signed)
	if err != nil {
		return nil, nil, err
	}
	signer := "root v" + strconv.FormatInt(r.signed.Version, 10)
	r.keys = map[string]*roleKeys{}
	for _, name := range []string{roleRoot, roleTimestamp, roleSnapshot, roleTargets} {
		role := r.signed.Roles[name]
		if role == nil {
			return nil, nil, &FormatError{Role: roleRoot, Err: fmt.Errorf("no %s role", name)}
		}
		rk, err := newRoleKeys(signer, name, role.KeyIDs, role.Threshold, r.signed.Keys)
		if err != nil {
			return nil, nil, err
		}
		r.keys[name] = rk
	}
	return r, env, nil
}

// newTrustedSet loads the trusted root (5.2): it must be signed by a
// threshold of its own root keys. Its expiry does not matter yet.
func newTrustedSet(rootRaw []byte, now time.Time) (*trustedSet, error) {
	return loadRoot(rootRaw, now, true)
}

// loadRoot is newTrustedSet; with check false (the stored root's bytes are
// those the record says verified) the signatures are not checked again.
func loadRoot(rootRaw []byte, now time.Time, check bool) (*trustedSet, error) {
	r, env, err := parseRoot(rootRaw)
	if err != nil {
		return nil, err
	}
	if check {
		if err := r.keys[roleRoot].verify(roleRoot, r.signed.Version, env); err != nil {
			return nil, err
		}
	}
	return &trustedSet{now: now, root: r, roles: map[string]*targetsFile{}}, nil
}

// updateRoot verifies raw as root version N+1 (5.3.3 to 5.3.6).
func (s *trustedSet) updateRoot(raw []byte) error {
	if s.timestamp != nil {
		return fmt.Errorf("client: root update after timestamp")
	}
	r, env, err := parseRoot(raw)
	if err != nil {
		return err
	}
	// 5.3.3: a threshold of the trusted root's root keys ...
	if err := s.root.keys[roleRoot].verify(roleRoot, r.signed.Version, env); err != nil {
		return err
	}
	// 5.3.4: exactly version N+1 (a lower one is a rollback).
	if want := s.root.signed.Version + 1; r.signed.Version != want {
		if r.signed.Version < want {
			return &RollbackError{Role: roleRoot, Trusted: s.root.signed.Version, Got: r.signed.Version}
		}
		return &VersionError{Role: roleRoot, Want: want, Got: r.signed.Version}
	}
	// 5.3.3: ... and a threshold of its own root keys.
	if err := r.keys[roleRoot].verify(roleRoot, r.signed.Version, env); err != nil {
		return err
	}
	// 5.3.5: the expiry of an intermediate root does not matter.
	s.root = r // 5.3.6
	return nil
}

// checkRoot is 5.3.10: the final root must not be expired.
func (s *trustedSet) checkRoot() error {
	return s.fresh(roleRoot, s.root.signed.Version, s.root.signed.Expires)
}

func (s *trustedSet) fresh(role string, version int64, expires time.Time) error {
	if !s.now.Before(expires) {
		return &ExpiredError{Role: role, Version: version, Expires: expires, Now: s.now}
	}
	return nil
}

// updateTimestamp verifies raw, whose SHA-256 is sum, as the timestamp
// (5.4). A cached copy (fromCache) is only checked for signatures: it
// serves as the trusted version for the rollback checks of the downloaded
// one. A cached copy whose bytes the record says the current root's
// timestamp keys verified (fromRecord) is not checked for signatures
// again, and a download identical to the trusted timestamp is kept
// without being decoded or verified again: the same bytes under the same
// keys verify the same way. It reports whether the set keeps the
// timestamp it had (same version).
func (s *trustedSet) updateTimestamp(raw []byte, sum [32]byte, src source) (kept bool, err error) {
	if s.snapshot != nil {
		return false, fmt.Errorf("client: timestamp update after snapshot")
	}
	if err := s.checkRoot(); err != nil {
		return false, err
	}
	if old := s.timestamp; old != nil && old.sum == sum {
		// Byte for byte the trusted timestamp, which passed the checks
		// below under this same root (no root update follows a
		// timestamp): the same bytes under the same keys give the same
		// result, so it is kept (5.4.3.1: same version) if still fresh.
		return true, s.fresh(roleTimestamp, old.signed.Version, old.signed.Expires)
	}
	t := &timestampFile{raw: raw, sum: sum}
	env, err := decode(roleTimestamp, roleTimestamp, raw, &t.signed)
	if err != nil {
		return false, err
	}
	t.snapshot = t.signed.Meta["snapshot.json"]
	if err := checkMeta(roleTimestamp, "snapshot.json", t.snapshot); err != nil {
		return false, err
	}
	// 5.4.2: signed by a threshold of the root's timestamp keys.
	if src != fromRecord {
		if err := s.root.keys[roleTimestamp].verify(roleTimestamp, t.signed.Version, env); err != nil {
			return false, err
		}
	}
	if old := s.timestamp; old != nil {
		// 5.4.3.1: the timestamp version never goes down ...
		if t.signed.Version < old.signed.Version {
			return false, &RollbackError{Role: roleTimestamp, Trusted: old.signed.Version, Got: t.signed.Version}
		}
		if t.signed.Version == old.signed.Version {
			return true, s.fresh(roleTimestamp, old.signed.Version, old.signed.Expires)
		}
		// 5.4.3.2: ... nor the snapshot version it lists.
		if t.snapshot.Version < old.snapshot.Version {
			return false, &RollbackError{Role: roleSnapshot, In: roleTimestamp, Trusted: old.snapshot.Version, Got: t.snapshot.Version}
		}
	}
	if src == fromCache {
		s.timestamp = t
		return false, nil
	}
	// 5.4.4: a new timestamp that is expired is discarded.
	if err := s.fresh(roleTimestamp, t.signed.Version, t.signed.Expires); err != nil {
		return false, err
	}
	s.timestamp = t
	return false, nil
}

// updateSnapshot verifies raw as the snapshot (5.5). A snapshot that
// passes the signature and rollback checks becomes the trusted snapshot
// even when the final checks (version listed by the timestamp, expiry)
// fail, so that it still guards the rollback checks of a newer one; such
// a failure is returned and blocks loading targets.
func (s *trustedSet) updateSnapshot(raw []byte, sum [32]byte, src source) error {
	if err := s.snapshotOrder(raw, sum, src != fromCache); err != nil {
		return err
	}
	n := &snapshotFile{raw: raw, sum: sum}
	env, err := decode(roleSnapshot, roleSnapshot, raw, &n.signed)
	if err != nil {
		return err
	}
	for name, m := range n.signed.Meta {
		if err := checkMeta(roleSnapshot, name, m); err != nil {
			return err
		}
	}
	// 5.5.3: signed by a threshold of the root's snapshot keys.
	if src != fromRecord {
		if err := s.root.keys[roleSnapshot].verify(roleSnapshot, n.signed.Version, env); err != nil {
			return err
		}
	}
	if err := s.noRollback(n); err != nil {
		return err
	}
	s.snapshot = n
	return s.checkSnapshot()
}

// updateSnapshotRecorded takes raw, trusted through the verified-state
// record, as the snapshot: the checks of updateSnapshot for fromRecord
// (no signatures: they verified when it was stored), with the version
// and expiry verified then (rec). Its meta is read entry by entry when
// asked (metaOf), so that a refresh when nothing changed decodes no
// snapshot listing 256 hash bins.
func (s *trustedSet) updateSnapshotRecorded(raw []byte, sum [32]byte, rec *cachedFile) error {
	if err := s.snapshotOrder(raw, sum, true); err != nil {
		return err
	}
	n := &snapshotFile{raw: raw, sum: sum, lazy: true}
	n.signed.Version, n.signed.Expires = rec.version, rec.expires
	if err := s.noRollback(n); err != nil {
		return err
	}
	s.snapshot = n
	return s.checkSnapshot()
}

// snapshotOrder holds the checks before a snapshot is read: the order of
// the workflow, a timestamp still fresh, and, when listed is set, 5.5.2:
// the length and hashes the timestamp lists, if any.
func (s *trustedSet) snapshotOrder(raw []byte, sum [32]byte, listed bool) error {
	if s.timestamp == nil {
		return fmt.Errorf("client: snapshot update before timestamp")
	}
	if len(s.roles) > 0 {
		return fmt.Errorf("client: snapshot update after targets")
	}
	if err := s.fresh(roleTimestamp, s.timestamp.signed.Version, s.timestamp.signed.Expires); err != nil {
		return err
	}
	if !listed {
		return nil
	}
	meta := s.timestamp.snapshot
	return checkLengthHashes("snapshot.json", raw, sum, meta.Length, meta.Hashes)
}

// noRollback is 5.5.5: against the trusted snapshot, no targets-family
// file disappears from n or goes down.
func (s *trustedSet) noRollback(n *snapshotFile) error {
	old := s.snapshot
	if old == nil {
		return nil
	}
	if err := old.decodeAll(); err != nil {
		return err
	}
	if err := n.decodeAll(); err != nil {
		return err
	}
	for name, m := range old.signed.Meta {
		role := roleFromFile(name)
		got, ok := n.signed.Meta[name]
		if !ok {
			return &RollbackError{Role: role, In: roleSnapshot, Trusted: m.Version, Removed: true}
		}
		if got.Version < m.Version {
			return &RollbackError{Role: role, In: roleSnapshot, Trusted: m.Version, Got: got.Version}
		}
	}
	return nil
}

// checkSnapshot holds the final snapshot checks: 5.5.4 the version the
// timestamp lists, 5.5.6 not expired.
func (s *trustedSet) checkSnapshot() error {
	if s.snapshot == nil {
		return fmt.Errorf("client: no trusted snapshot")
	}
	sn := s.snapshot.signed
	if want := s.timestamp.snapshot.Version; sn.Version != want {
		if sn.Version < want {
			return &RollbackError{Role: roleSnapshot, Trusted: want, Got: sn.Version}
		}
		return &VersionError{Role: roleSnapshot, Want: want, Got: sn.Version}
	}
	return s.fresh(roleSnapshot, sn.Version, sn.Expires)
}

func roleFromFile(name string) string {
	if len(name) > 5 && name[len(name)-5:] == ".json" {
		return name[:len(name)-5]
	}
	return name
}

// parsed returns the decoded targets of a trusted role, decoding it on
// first use when it was trusted through the verified-state record.
func (f *targetsFile) parsed() (*targetsSigned, error) {
	if f.signed == nil {
		raw, err := f.bytes()
		if err != nil {
			return nil, err
		}
		var t targetsSigned
		if _, err := decode(f.role, roleTargets, raw, &t); err != nil {
			return nil, err
		}
		if err := checkTargets(f.role, &t); err != nil {
			return nil, err
		}
		f.signed = &t
	}
	return f.signed, nil
}

// bytes returns the whole file; for a file read through its index, the
// first call reads it and checks it against the SHA-256 verified before.
func (f *targetsFile) bytes() ([]byte, error) {
	if f.raw == nil && f.lazy != nil {
		raw, err := f.lazy.all()
		if err != nil {
			return nil, err
		}
		f.raw = raw
	}
	return f.raw, nil
}

// targetsMeta returns what the trusted snapshot lists for role.
func (s *trustedSet) targetsMeta(role, delegator string) (*metaInfo, error) {
	if err := s.checkSnapshot(); err != nil {
		return nil, err
	}
	m, err := s.snapshot.metaOf(role + ".json")
	if err != nil {
		return nil, err
	}
	if m == nil {
		return nil, &DelegationError{Role: role, Delegator: delegator, Reason: "the trusted snapshot does not list it"}
	}
	return m, nil
}

// cachedFile describes a file trusted through the verified-state record.
type cachedFile struct {
	version int64
	expires time.Time
}

// updateTargets verifies raw as the metadata of role, delegated by
// delegator ("root" for the top-level targets) with keys rk (5.6.1 to
// 5.6.5 for targets, the same checks for delegated roles in 5.6.7).
// For src fromRecord, rec carries the version and expiry verified before.
func (s *trustedSet) updateTargets(role, delegator string, rk *roleKeys, raw []byte, sum [32]byte, src source, rec *cachedFile) (*targetsFile, error) {
	meta, err := s.targetsMeta(role, delegator)
	if err != nil {
		return nil, err
	}
	name := role + ".json"
	// 5.6.2: length and hashes the snapshot lists, if any.
	if err := checkLengthHashes(name, raw, sum, meta.Length, meta.Hashes); err != nil {
		return nil, err
	}
	f := &targetsFile{role: role, raw: raw, sum: sum, verifiedBy: map[string]bool{delegator: true}}
	switch {
	case src == fromRecord:
		f.version, f.expires = rec.version, rec.expires
	case len(raw) >= checkedMin:
		// A role of some size is not decoded into a map of every entry:
		// each entry is decoded and checked as encoding/json reaches it,
		// then dropped, and is read from the bytes again when asked
		// (find, paths), as for a role trusted through the record. The
		// decoded copy would be twice the file, held at once (a device
		// enumerating 256 hash bins would hold every bin twice).
		if err := f.decodeChecked(rk, raw); err != nil {
			return nil, err
		}
	default:
		if err := f.decodeFull(rk, raw); err != nil {
			return nil, err
		}
	}
	// 5.6.4: the version the snapshot lists.
	if f.version != meta.Version {
		if f.version < meta.Version {
			return nil, &RollbackError{Role: role, Trusted: meta.Version, Got: f.version}
		}
		return nil, &VersionError{Role: role, Want: meta.Version, Got: f.version}
	}
	// 5.6.5: not expired.
	if err := s.fresh(role, f.version, f.expires); err != nil {
		return nil, err
	}
	s.roles[role] = f
	return f, nil
}

// checkedMin is the smallest role file that updateTargets checks entry by
// entry instead of decoding into a map: below it, a map costs little and
// answers look-ups without a scan. A map costs about twice the file: 256
// hash bins of 10,000 improvements are 10 to 21 KiB each, and a device
// enumerating them holds each as a few runs of entries read from disk
// (readFrom), not as a map.
const checkedMin = 4 << 10

// decodeChecked is decodeFull for a role of checkedMin bytes or more:
// its entries are checked one by one and not kept, and are read from
// its bytes when asked (find, paths).
func (f *targetsFile) decodeChecked(rk *roleKeys, raw []byte) error {
	t := targetsChecked{Targets: checkedEntries{role: f.role}}
	env, err := decode(f.role, roleTargets, raw, &t)
	if err != nil {
		return err
	}
	if t.Targets.merged() {
		// encoding/json merged two "targets": decoded in full as it
		// merges them (the scanner gives up on such a file too).
		if err := f.decodeFull(rk, raw); err != nil {
			return err
		}
		f.delegations, f.scanned, f.signed = f.signed.Delegations, true, nil
		return nil
	}
	if t.Targets.err != nil {
		return t.Targets.err
	}
	if err := checkDelegations(f.role, t.Delegations); err != nil {
		return err
	}
	// 5.6.3: signed by a threshold of the delegator's keys for role.
	if err := rk.verify(f.role, t.Version, env); err != nil {
		return err
	}
	f.version, f.expires = t.Version, t.Expires
	f.delegations, f.scanned = t.Delegations, true
	return nil
}

// decodeFull decodes raw as f's role into a map of every entry, checks it
// (checkTargets) and verifies it (5.6.3: signed by a threshold of the
// delegator's keys for the role).
func (f *targetsFile) decodeFull(rk *roleKeys, raw []byte) error {
	var t targetsSigned
	env, err := decode(f.role, roleTargets, raw, &t)
	if err != nil {
		return err
	}
	if err := checkTargets(f.role, &t); err != nil {
		return err
	}
	if err := rk.verify(f.role, t.Version, env); err != nil {
		return err
	}
	f.signed, f.version, f.expires = &t, t.Version, t.Expires
	return nil
}

// acceptIndexed takes f, trusted through the verified-state record and
// read through its look-up index, as role's metadata: the checks of
// updateTargets for a file from the record (5.6.2, 5.6.4, 5.6.5), with the
// length from the index and the SHA-256 verified when it was stored.
func (s *trustedSet) acceptIndexed(f *targetsFile, delegator string) error {
	meta, err := s.targetsMeta(f.role, delegator)
	if err != nil {
		return err
	}
	name := f.role + ".json"
	if meta.Length != 0 && meta.Length != f.lazy.ix.size {
		return &LengthError{Name: name, Want: meta.Length, Got: f.lazy.ix.size}
	}
	// The caller made sure sha256 is the only algorithm: no bytes needed.
	if err := checkLengthHashes(name, nil, f.sum, 0, meta.Hashes); err != nil {
		return err
	}
	if f.version != meta.Version {
		return &VersionError{Role: f.role, Want: meta.Version, Got: f.version}
	}
	if err := s.fresh(f.role, f.version, f.expires); err != nil {
		return err
	}
	s.roles[f.role] = f
	return nil
}

// checkTargets checks the fields of a targets role the signature does not
// vouch for being sensible.
func checkTargets(role string, t *targetsSigned) error {
	for p, e := range t.Targets {
		if err := checkEntry(role, p, e); err != nil {
			return err
		}
	}
	return checkDelegations(role, t.Delegations)
}

// checkEntry checks one target entry. Its custom field needs no check of
// its own: every entry comes from encoding/json, which validates the whole
// document before it fills a json.RawMessage with the value's bytes (a
// second json.Valid pass over every custom cost 5% of a cold load of
// 100,000 targets and could never fail).
func checkEntry(role, path string, e *targetEntry) error {
	if e == nil || e.Length < 0 || len(e.Hashes) == 0 {
		return &FormatError{Role: role, Err: fmt.Errorf("target %q: needs a length and hashes", path)}
	}
	return nil
}

// checkDelegations checks the delegations of a targets role.
func checkDelegations(role string, d *delegations) error {
	if d == nil {
		return nil
	}
	if d.SuccinctRoles != nil && len(d.Roles) > 0 {
		return &FormatError{Role: role, Err: fmt.Errorf("delegations have both roles and succinct_roles")}
	}
	if sr := d.SuccinctRoles; sr != nil && (sr.BitLength < 1 || sr.BitLength > 32) {
		return &FormatError{Role: role, Err: fmt.Errorf("succinct_roles bit_length %d is not in 1..32", sr.BitLength)}
	}
	seen := map[string]bool{}
	for _, r := range d.Roles {
		if r == nil || r.Name == "" || seen[r.Name] || isTopLevel(r.Name) {
			return &FormatError{Role: role, Err: fmt.Errorf("bad or duplicate delegated role name")}
		}
		seen[r.Name] = true
		if len(r.Paths) > 0 && len(r.PathHashPrefixes) > 0 {
			return &FormatError{Role: role, Err: fmt.Errorf("role %q has both paths and path_hash_prefixes", r.Name)}
		}
	}
	return nil
}
