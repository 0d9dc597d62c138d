package repo

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// Format is the value of the "format" field of DIR/workspace.json.
const Format = "bsi.workspace/v1"

// Default expiry periods, per role kind (DESIGN.md).
var defaultExpiry = map[string]time.Duration{
	kindRoot:      365 * 24 * time.Hour,
	kindTargets:   90 * 24 * time.Hour,
	kindComponent: 90 * 24 * time.Hour,
	kindSnapshot:  7 * 24 * time.Hour,
	kindTimestamp: 24 * time.Hour,
}

// Role kinds, the keys of expiry overrides.
const (
	kindRoot      = "root"
	kindTargets   = "targets"
	kindComponent = "component" // component roles and their hash bins
	kindSnapshot  = "snapshot"
	kindTimestamp = "timestamp"
)

// SignerLoader resolves a key reference (a private key file or a KMS URI)
// to a signer. The bsi command supplies one built on the keys package.
type SignerLoader func(ctx context.Context, ref string) (signature.Signer, error)

// Options are the workspace's collaborators. Now and LoadSigner are
// required for operations that need them; Logger may be nil.
type Options struct {
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives progress at debug and info levels; nil discards.
	Logger *slog.Logger
	// LoadSigner resolves the online keys (snapshot, timestamp) recorded in
	// the workspace. Required by Init, Publish, Refresh and Rotate of an
	// online role.
	LoadSigner SignerLoader
	// TUFKey converts a public key to its TUF form; nil means
	// metadata.KeyFromPublicKey.
	TUFKey func(crypto.PublicKey) (*metadata.Key, error)
	// After waits between KeepFresh rounds; nil means time.After.
	After func(time.Duration) <-chan time.Time
	// Confirm, when set, is shown what a signature is about to approve
	// (the change of each role since its last published version) before
	// any signing operation signs; an error from it aborts the operation
	// with a *DeclinedError and the workspace unchanged. See Summarise.
	Confirm func(ctx context.Context, s *Summary) error
	// Published is where the last published versions are read for the
	// summaries; nil means DIR/public, the default publish destination.
	Published Destination
	// Transparency logs each publish when targets lists a tlog-policy;
	// nil refuses to publish such a workspace.
	Transparency Transparency
}

func (o *Options) fill() {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.TUFKey == nil {
		o.TUFKey = metadata.KeyFromPublicKey
	}
	if o.After == nil {
		o.After = time.After
	}
}

// config is DIR/workspace.json.
type config struct {
	Format string `json:"format"`
	// Expires holds the expiry period of each role kind.
	Expires map[string]duration `json:"expires"`
	// Online holds the key references of snapshot and timestamp.
	Online map[string][]onlineKey `json:"online_keys"`
	// Signers mirrors, for reading, which key ids sign which role and the
	// threshold (derived from root and targets at every save).
	Signers map[string]roleSigners `json:"signers"`
	// Components holds per-component settings and the sequence index.
	Components map[string]*componentConfig `json:"components"`
	// Edited lists roles changed since the last publish: each has had its
	// version bumped once for this editing session.
	Edited map[string]bool `json:"edited"`
	// Expiries records the expiry of every targets-family role, so that
	// Publish checks them without reading every bin.
	Expiries map[string]time.Time `json:"expiries"`
	// Published is set once the first publish has signed snapshot and
	// timestamp version 1.
	Published bool `json:"published"`
	// Unpublished lists, for a targets-family role edited since the last
	// publish, the targets it added or changed since then, so that Publish
	// knows which payloads are new without reading the role's previous
	// version back from the destination. A role missing here (created
	// since, or with more than maxUnpublished changes) is compared with
	// that previous version instead.
	Unpublished map[string][]string `json:"unpublished,omitempty"`
	// KeySources records, by key id, the file or KMS URI an offline key
	// was given as when it was added or last signed with (RecordKeySources),
	// for status only: the workspace never loads these.
	KeySources map[string]string `json:"key_sources,omitempty"`
	// Hashes lists the hash algorithms of new target entries, sha256
	// first; absent means sha256 alone (see SetHashes).
	Hashes []string `json:"hashes,omitempty"`
}

// maxUnpublished bounds the targets listed per role in Unpublished.
const maxUnpublished = 1000

type onlineKey struct {
	Ref   string `json:"ref"`
	KeyID string `json:"keyid"`
}

type roleSigners struct {
	KeyIDs    []string `json:"keyids"`
	Threshold int      `json:"threshold"`
	Bins      int      `json:"bins,omitempty"`
}

type componentConfig struct {
	Bins int `json:"bins,omitempty"`
	// Sequences maps "platform release" to the highest sequence added.
	Sequences map[string]int `json:"sequences"`
}

type duration time.Duration

func (d duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }
func (d *duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	*d = duration(v)
	return err
}

type (
	rootMeta      = metadata.Metadata[metadata.RootType]
	targetsMeta   = metadata.Metadata[metadata.TargetsType]
	snapshotMeta  = metadata.Metadata[metadata.SnapshotType]
	timestampMeta = metadata.Metadata[metadata.TimestampType]
)

// Workspace is an open, locked publisher workspace. It is not safe for
// concurrent use; the lock keeps other processes out until Close.
type Workspace struct {
	dir  string
	opts Options
	lock *lockFile

	cfg       *config
	root      *rootMeta
	snapshot  *snapshotMeta
	timestamp *timestampMeta
	targets   map[string]*targetsMeta // loaded targets-family roles

	// Changes not yet written by commit.
	dirty       map[string]bool   // role files to write
	removed     map[string]bool   // role files to delete
	prevRoot    []byte            // root to archive under metadata/roots
	prevRootVer int64             //
	newContent  map[string]string // sha256 hex -> source file

	// canon caches the canonical bytes of the signed part of loaded
	// targets-family roles (see signable), and entries the canonical
	// member of each of their target entries (kept across edits: an
	// entry changed is a new *TargetFiles, see entryCache).
	canon   map[string]canonical
	entries map[string]entryCache
	// raw holds the exact bytes of role files as they are on disk (read,
	// or written by commit), for the roles not dirty.
	raw   map[string][]byte
	stats ioStats

	// verified holds payloads checkContent read and checked during this
	// publish, by the target entry they match, for publishPayload to
	// write without reading them again; verifiedSize is their total.
	verified     map[*metadata.TargetFiles][]byte
	verifiedSize int64
}

// canonical is the canonical form of the signed part of the role loaded
// as m. It stays valid until edit, which every change of a role's signed
// part follows (edit also clears the signatures over the old bytes).
type canonical struct {
	m     *targetsMeta
	bytes []byte
}

// ioStats counts the workspace's own file operations (not those of the
// destination), for tests and benchmarks.
type ioStats struct {
	read     int      // files read, parsed or not
	decoded  []string // role files decoded, by base name
	written  int      // role files written
	payloads int      // payloads read from the content store
}

// readFile reads a file of the workspace, counting it.
func (w *Workspace) readFile(path string) ([]byte, error) {
	w.stats.read++
	return os.ReadFile(path)
}

// Dir returns the workspace directory.
func (w *Workspace) Dir() string { return w.dir }

func (w *Workspace) path(parts ...string) string {
	return filepath.Join(append([]string{w.dir}, parts...)...)
}

func (w *Workspace) rolePath(role string) string { return w.path("metadata", role+".json") }

// Open locks and loads the workspace in dir. A workspace locked by another
// holder gives a *LockedError.
func Open(ctx context.Context, dir string, opts Options) (*Workspace, error) {
	opts.fill()
	if _, err := os.Stat(filepath.Join(dir, "workspace.json")); err != nil {
		return nil, fmt.Errorf("%s is not a bsi workspace: %w", dir, err)
	}
	lk, err := acquireLock(filepath.Join(dir, ".lock"), opts.Now())
	if err != nil {
		return nil, err
	}
	w := &Workspace{dir: dir, opts: opts, lock: lk}
	// A commit a crash interrupted is finished (or, before its journal,
	// dropped) before anything is read.
	if err := w.replay(); err != nil {
		lk.release()
		return nil, err
	}
	if err := w.load(); err != nil {
		lk.release()
		return nil, err
	}
	return w, nil
}

// Close releases the lock. Unsaved changes do not exist: every operation
// commits before it returns.
func (w *Workspace) Close() error { return w.lock.release() }

// load (re)reads config, root, snapshot and timestamp and drops caches.
func (w *Workspace) load() error {
	w.reset()
	cfg, err := readConfig(w.dir)
	if err != nil {
		return err
	}
	w.cfg = cfg
	w.stats.read++
	if w.root, err = readRole[metadata.RootType](&w.stats, w.rolePath("root")); err != nil {
		return err
	}
	if w.snapshot, err = readRole[metadata.SnapshotType](&w.stats, w.rolePath("snapshot")); err != nil {
		return err
	}
	w.timestamp, err = readRole[metadata.TimestampType](&w.stats, w.rolePath("timestamp"))
	return err
}

// readConfig reads DIR/workspace.json. It needs no lock: the file is
// replaced atomically.
func readConfig(dir string) (*config, error) {
	data, err := os.ReadFile(filepath.Join(dir, "workspace.json"))
	if err != nil {
		return nil, err
	}
	cfg := &config{}
	if err := json.Unmarshal(data, cfg); err != nil {
		return nil, fmt.Errorf("workspace.json: %w", err)
	}
	if cfg.Format != Format {
		return nil, fmt.Errorf("workspace.json: format %q, want %q", cfg.Format, Format)
	}
	if cfg.Edited == nil {
		cfg.Edited = map[string]bool{}
	}
	if cfg.Components == nil {
		cfg.Components = map[string]*componentConfig{}
	}
	if cfg.Expiries == nil {
		cfg.Expiries = map[string]time.Time{}
	}
	return cfg, nil
}

func (w *Workspace) reset() {
	w.cfg, w.root, w.snapshot, w.timestamp = nil, nil, nil, nil
	w.targets = map[string]*targetsMeta{}
	w.dirty = map[string]bool{}
	w.removed = map[string]bool{}
	w.prevRoot, w.prevRootVer = nil, 0
	w.newContent = map[string]string{}
	w.canon = map[string]canonical{}
	w.entries = map[string]entryCache{}
	w.raw = map[string][]byte{}
	w.verified, w.verifiedSize = nil, 0
}

func readRole[T metadata.Roles](st *ioStats, path string) (*metadata.Metadata[T], error) {
	st.read++
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseRole[T](st, path, data)
}

func parseRole[T metadata.Roles](st *ioStats, path string, data []byte) (*metadata.Metadata[T], error) {
	st.decoded = append(st.decoded, filepath.Base(path))
	var m *metadata.Metadata[T]
	var err error
	if _, ok := any(&m).(**targetsMeta); ok {
		var t *targetsMeta
		t, err = decodeTargets(data)
		m = any(t).(*metadata.Metadata[T])
	} else {
		m, err = new(metadata.Metadata[T]).FromBytes(data)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Base(path), err)
	}
	return m, nil
}

// targetsRole returns a loaded targets-family role (targets, a component
// or a bin), reading it on first use.
func (w *Workspace) targetsRole(name string) (*targetsMeta, error) {
	if m, ok := w.targets[name]; ok {
		return m, nil
	}
	if w.removed[name] {
		return nil, &RoleError{Role: name, Reason: "does not exist"}
	}
	data, ok := w.raw[name]
	if !ok {
		var err error
		data, err = w.readFile(w.rolePath(name))
		if errors.Is(err, os.ErrNotExist) {
			return nil, &RoleError{Role: name, Reason: "does not exist"}
		}
		if err != nil {
			return nil, err
		}
	}
	m, err := parseRole[metadata.TargetsType](&w.stats, w.rolePath(name), data)
	if err != nil {
		return nil, err
	}
	w.targets[name] = m
	w.raw[name] = data
	return m, nil
}

// preload loads the targets-family roles among roles that are not loaded
// yet, as targetsRole does, and makes the canonical bytes of each (see
// signable), on GOMAXPROCS workers: a publish of 256 hash bins checks the
// signatures of every one. A role that cannot be read or decoded is left
// to targetsRole, which reports it.
func (w *Workspace) preload(ctx context.Context, roles []string) error {
	var todo []string
	for _, r := range roles {
		if _, ok := w.targets[r]; !ok && offline(r) && r != metadata.ROOT && !w.removed[r] {
			todo = append(todo, r)
		}
	}
	if len(todo) < 2 {
		return nil
	}
	type loaded struct {
		data, canon []byte
		entries     entryCache
		m           *targetsMeta
		st          ioStats
	}
	out := make([]loaded, len(todo))
	err := parallel(ctx, len(todo), func(i int) error {
		l := &out[i]
		data, err := os.ReadFile(w.rolePath(todo[i]))
		if err != nil {
			return nil
		}
		if l.m, err = parseRole[metadata.TargetsType](&l.st, w.rolePath(todo[i]), data); err != nil {
			l.m = nil
			return nil
		}
		l.data = data
		l.canon, l.entries, _ = canonicalTargetsCached(&l.m.Signed, nil)
		return nil
	})
	if err != nil {
		return err
	}
	for i, l := range out {
		if l.m == nil {
			continue
		}
		role := todo[i]
		w.stats.read++
		w.stats.decoded = append(w.stats.decoded, l.st.decoded...)
		w.targets[role], w.raw[role] = l.m, l.data
		if l.canon != nil {
			w.canon[role] = canonical{m: l.m, bytes: l.canon}
		}
		w.entries[role] = l.entries
	}
	return nil
}

// mutate runs fn and commits its changes; on any error it drops every
// in-memory change, so the workspace on disk and in memory is unchanged.
func (w *Workspace) mutate(fn func() error) error {
	if err := fn(); err != nil {
		w.load()
		return err
	}
	if err := w.commit(); err != nil {
		w.load()
		return err
	}
	return nil
}

func sameSize(a, b string) bool {
	ai, err := os.Stat(a)
	if err != nil {
		return false
	}
	bi, err := os.Stat(b)
	return err == nil && ai.Size() == bi.Size()
}

func (w *Workspace) roleBytes(role string) ([]byte, error) {
	switch role {
	case metadata.ROOT:
		return w.root.ToBytes(false)
	case metadata.SNAPSHOT:
		return w.snapshot.ToBytes(false)
	case metadata.TIMESTAMP:
		return w.timestamp.ToBytes(false)
	}
	m, ok := w.targets[role]
	if !ok {
		return nil, &RoleError{Role: role, Reason: "not loaded"}
	}
	if len(m.UnrecognizedFields) > 0 {
		return m.ToBytes(false)
	}
	// The canonical bytes, made once for both the file and the signature
	// (signable keeps them until the role's next edit), are valid JSON
	// when no string holds a control character (canonical JSON does not
	// escape them): the file is then written around them, without
	// encoding the role a second time through go-tuf's encoder, whose
	// nested MarshalJSON calls compact every entry again at each level
	// (7 of the 26 s of a fresh publish of 100,000 improvements in 256
	// bins). A role canonical JSON cannot encode is written as before.
	// JSON must escape the bytes below 0x20 only (DEL and the C1
	// controls may stand as they are).
	if c, _, _, err := w.signable(role); err == nil && !slices.ContainsFunc(c, func(b byte) bool { return b < 0x20 }) {
		sigs, err := json.Marshal(m.Signatures)
		if err != nil {
			return nil, err
		}
		out := make([]byte, 0, len(c)+len(sigs)+30)
		out = append(append(append(out, `{"signatures":`...), sigs...), `,"signed":`...)
		return append(append(out, c...), '}'), nil
	}
	return m.ToBytes(false)
}

// configBytes returns workspace.json as commit writes it.
func (w *Workspace) configBytes() ([]byte, error) {
	w.cfg.Signers = map[string]roleSigners{}
	for name, r := range w.root.Signed.Roles {
		w.cfg.Signers[name] = roleSigners{KeyIDs: r.KeyIDs, Threshold: r.Threshold}
	}
	if t, err := w.targetsRole(metadata.TARGETS); err == nil && t.Signed.Delegations != nil {
		for _, d := range t.Signed.Delegations.Roles {
			w.cfg.Signers[d.Name] = roleSigners{KeyIDs: d.KeyIDs, Threshold: d.Threshold, Bins: w.cfg.Components[d.Name].binsOrZero()}
		}
	}
	data, err := json.MarshalIndent(w.cfg, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(data, '\n'), nil
}

func (c *componentConfig) binsOrZero() int {
	if c == nil {
		return 0
	}
	return c.Bins
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// now returns the clock's time truncated to seconds, in UTC, as TUF
// metadata carries it.
func (w *Workspace) now() time.Time { return w.opts.Now().UTC().Truncate(time.Second) }

func (w *Workspace) expiry(kind string) time.Duration { return time.Duration(w.cfg.Expires[kind]) }
