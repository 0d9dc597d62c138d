package client

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"
)

// Limits bound what a repository can make the client do. Zero fields take
// the defaults shown.
type Limits struct {
	MaxRootRotations int   // root versions fetched in one refresh: 32
	MaxDelegations   int   // roles visited in one target search: 32
	RootMax          int64 // bytes of one root file: 512 KiB
	TimestampMax     int64 // bytes of the timestamp: 16 KiB
	SnapshotMax      int64 // bytes of the snapshot when the timestamp gives no length: 4 MiB
	TargetsMax       int64 // bytes of a targets role when the snapshot gives no length: 32 MiB
	// TargetMax is the largest target file Download accepts, whatever
	// length the signed metadata gives it: 1 GiB. A longer target is
	// refused before any request (a *TargetSizeError).
	TargetMax int64
}

// DefaultLimits are the limits a zero Limits field takes.
var DefaultLimits = Limits{
	MaxRootRotations: 32,
	MaxDelegations:   32,
	RootMax:          512 << 10,
	TimestampMax:     16 << 10,
	SnapshotMax:      4 << 20,
	TargetsMax:       32 << 20,
	TargetMax:        1 << 30,
}

func (l Limits) withDefaults() Limits {
	pick := func(v, d int64) int64 {
		if v > 0 {
			return v
		}
		return d
	}
	d := DefaultLimits
	return Limits{
		MaxRootRotations: int(pick(int64(l.MaxRootRotations), int64(d.MaxRootRotations))),
		MaxDelegations:   int(pick(int64(l.MaxDelegations), int64(d.MaxDelegations))),
		RootMax:          pick(l.RootMax, d.RootMax),
		TimestampMax:     pick(l.TimestampMax, d.TimestampMax),
		SnapshotMax:      pick(l.SnapshotMax, d.SnapshotMax),
		TargetsMax:       pick(l.TargetsMax, d.TargetsMax),
		TargetMax:        pick(l.TargetMax, d.TargetMax),
	}
}

// Config configures a Client. Whether target and metadata file names carry
// version and hash prefixes (consistent snapshots) is decided by the
// trusted root, as the specification says, not here.
type Config struct {
	// MetadataDir holds the trusted metadata (root.json etc.) as the
	// exact bytes received, and the verified-state record.
	MetadataDir string
	// MetadataURL is an opaque prefix: file names are appended after
	// exactly one "/" ("https://h/m" and "https://h/m/" both give
	// "https://h/m/timestamp.json"); it is never decoded.
	MetadataURL string
	// TargetsURL is the prefix for targets; default MetadataURL + "/targets".
	TargetsURL string
	// HTTPClient is used for every request, with the redirect rules of
	// Network added; nil: a client on NewTransport (never
	// http.DefaultClient). Its own Timeout, if any, applies on top of
	// Network's bounds.
	HTTPClient *http.Client
	// Network bounds the time of every request and retries transient
	// failures; zero fields take DefaultNetwork's values.
	Network Network
	// Now is the clock; nil: time.Now. Each refresh reads it once (5.1).
	Now func() time.Time
	// Logger receives debug and warning messages; nil: discard.
	Logger *slog.Logger
	Limits Limits
}

// Client is a TUF client over one repository. Its methods are safe for
// concurrent use; they run one at a time.
type Client struct {
	cfg    Config
	limits Limits
	net    Network
	hc     *http.Client
	now    func() time.Time
	log    *slog.Logger
	store  store

	mu       sync.Mutex
	trusted  *trustedSet // nil until a refresh succeeds
	rec      *record
	recDirty bool
	// pending are verified role files not yet persisted: an operation
	// writes them, with the record, in one batch before it returns.
	pending []namedData
	// open are the indexed role files an operation keeps open; it
	// closes them when it ends (saveRecord).
	openFiles openFiles
	verified  time.Time
	// used records where each role came from in the last refresh or
	// lookup: tests check that the warm path decodes nothing.
	used map[string]source
	// freeSpace returns the bytes available to an unprivileged writer in
	// the file system holding dir (-1: unknown); tests replace it.
	freeSpace func(dir string) (int64, error)
}

// Init creates dir (if needed) and stores rootJSON as dir/root.json, the
// trust anchor of every later refresh. The root must be signed by a
// threshold of its own root keys; nothing is written otherwise. Its
// expiry does not matter (spec 5.2: the first refresh updates the root
// and checks the final one). Metadata cached in dir under another root
// stays but is verified in full again: Init starts a new verified-state
// record, which notes now as the time of initialisation.
func Init(dir string, rootJSON []byte, now time.Time) error {
	if _, err := newTrustedSet(rootJSON, now); err != nil {
		return fmt.Errorf("initial root: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	s := store{dir: dir}
	if err := s.writeRecord(&record{Initialized: now.UTC(), Files: map[string]*recordEntry{}}); err != nil {
		return err
	}
	return s.write(roleRoot, rootJSON)
}

// New returns a client for cfg. It reads nothing yet: Refresh does.
func New(cfg Config) (*Client, error) {
	if cfg.MetadataDir == "" {
		return nil, errors.New("client: no metadata directory")
	}
	if cfg.MetadataURL == "" {
		return nil, errors.New("client: no metadata URL")
	}
	if cfg.TargetsURL == "" {
		cfg.TargetsURL = joinURL(cfg.MetadataURL, "targets")
	}
	c := &Client{cfg: cfg, limits: cfg.Limits.withDefaults(), net: cfg.Network.withDefaults(),
		hc: httpClient(cfg.HTTPClient, cfg.Network), now: cfg.Now, log: cfg.Logger, store: store{dir: cfg.MetadataDir}, freeSpace: freeSpace}
	if c.now == nil {
		c.now = time.Now
	}
	if c.log == nil {
		c.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return c, nil
}

// Refresh runs the client workflow for the top-level roles: the root chain
// (5.3), the timestamp (5.4), the snapshot (5.5) and the top-level targets
// (5.6.1 to 5.6.6). Every file that verifies is persisted before Refresh
// returns, failing or not, in one atomic batch with the verified-state record.
// Delegated roles are loaded by Lookup and Targets. Refresh may be called
// again; each call starts from the trusted metadata on disk.
//
// Errors: *FetchError (network), *ExpiredError (freeze), and for attacks
// *SignatureError, *RollbackError, *VersionError, *HashError,
// *LengthError, *FormatError, *DelegationError.
func (c *Client) Refresh(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.refresh(ctx)
}

func (c *Client) refresh(ctx context.Context) (err error) {
	now := c.now() // 5.1: one reference time for the whole refresh
	rootRaw, err := c.store.read(roleRoot)
	if err != nil {
		return fmt.Errorf("client: trusted root: %w (run init first)", err)
	}
	c.rec = c.store.readRecord()
	c.used = map[string]source{}
	// 5.2: the trusted root, signed by a threshold of its own keys;
	// checked again unless its bytes are those the record says verified.
	rootSum := sha256.Sum256(rootRaw)
	recorded := c.verifiedBytes(roleRoot, rootSum, rootSum) != nil
	ts, err := loadRoot(rootRaw, now, !recorded)
	if err != nil {
		return fmt.Errorf("trusted root in %s: %w", c.cfg.MetadataDir, err)
	}
	c.used[roleRoot] = fromCache
	if recorded {
		c.used[roleRoot] = fromRecord
	}
	c.pending = c.pending[:0]
	defer func() {
		if serr := c.saveRecord(); err == nil {
			err = serr
		}
	}()
	if err := c.updateRoot(ctx, ts); err != nil {
		return err
	}
	if err := c.updateTimestamp(ctx, ts); err != nil {
		return err
	}
	if err := c.updateSnapshot(ctx, ts); err != nil {
		return err
	}
	if _, err := c.loadRole(ctx, ts, roleTargets, roleRoot); err != nil {
		return err
	}
	c.trusted, c.verified = ts, now
	return nil
}

// updateRoot is 5.3: fetch N+1.root.json until there is none (or the
// rotation limit), verify and persist each, then check the final root.
func (c *Client) updateRoot(ctx context.Context, ts *trustedSet) error {
	oldTS, oldSnap := ts.root.keys[roleTimestamp], ts.root.keys[roleSnapshot]
	for range c.limits.MaxRootRotations {
		next := ts.root.signed.Version + 1 // 5.3.1
		url := joinURL(c.cfg.MetadataURL, strconv.FormatInt(next, 10)+".root.json")
		raw, err := c.fetch(ctx, "root", url, c.limits.RootMax) // 5.3.2
		var fe *FetchError
		if errors.As(err, &fe) && (fe.StatusCode == http.StatusNotFound || fe.StatusCode == http.StatusForbidden) {
			break
		}
		if err != nil {
			return err
		}
		if err := ts.updateRoot(raw); err != nil { // 5.3.3 to 5.3.6
			return err
		}
		if err := c.store.write(roleRoot, raw); err != nil { // 5.3.7
			return err
		}
		c.log.Info("root updated", "version", next)
	}
	if err := ts.checkRoot(); err != nil { // 5.3.10
		return err
	}
	// The root in force verified (by its own keys): recorded as such.
	if e := c.rec.Files[roleRoot]; e == nil || e.SHA256 != hex.EncodeToString(ts.root.sum[:]) || e.SignerSHA256 != e.SHA256 {
		c.remember(roleRoot, roleRoot, ts.root.sum, ts.root.sum, ts.root.signed.Version, ts.root.signed.Expires)
	}
	// 5.3.11: after a rotation of timestamp or snapshot keys, forget the
	// trusted timestamp and snapshot: their versions may have been pushed
	// up by the compromised keys (fast-forward attack recovery).
	if !sameKeys(oldTS, ts.root.keys[roleTimestamp]) || !sameKeys(oldSnap, ts.root.keys[roleSnapshot]) {
		c.log.Info("timestamp or snapshot keys rotated: dropping trusted timestamp and snapshot")
		for _, role := range []string{roleTimestamp, roleSnapshot} {
			if err := c.store.remove(role); err != nil {
				return err
			}
			c.forget(role)
		}
	}
	return nil
}

// updateTimestamp is 5.4. The stored timestamp, the reference for the
// rollback checks, is trusted through the record when its bytes are those
// the current root's timestamp keys verified (no signature checked again);
// a downloaded timestamp byte for byte equal to it is not verified again
// either (trustedSet.updateTimestamp), so a refresh when nothing changed
// checks no timestamp signature.
func (c *Client) updateTimestamp(ctx context.Context, ts *trustedSet) error {
	stored := fromRemote // none
	if local, err := c.store.read(roleTimestamp); err == nil {
		sum := sha256.Sum256(local)
		src := fromCache
		if c.verifiedBytes(roleTimestamp, ts.root.sum, sum) != nil {
			src = fromRecord
		}
		if _, err := ts.updateTimestamp(local, sum, src); err != nil {
			c.log.Warn("ignoring stored timestamp", "err", err)
		} else {
			stored = src
			if src == fromCache {
				c.rememberTimestamp(ts)
			}
		}
	}
	raw, err := c.fetch(ctx, "timestamp", joinURL(c.cfg.MetadataURL, "timestamp.json"), c.limits.TimestampMax) // 5.4.1
	if err != nil {
		return err
	}
	sum := sha256.Sum256(raw)
	// The source of the timestamp in force: the stored one when the
	// download is the same bytes, which then verify no signature.
	c.used[roleTimestamp] = fromRemote
	if ts.timestamp != nil && ts.timestamp.sum == sum {
		c.used[roleTimestamp] = stored
	}
	kept, err := ts.updateTimestamp(raw, sum, fromRemote) // 5.4.2 to 5.4.4
	if err != nil || kept {
		return err
	}
	c.persist(roleTimestamp, raw) // 5.4.5
	c.rememberTimestamp(ts)
	return nil
}

// rememberTimestamp records the trusted timestamp as verified by the
// root's timestamp keys.
func (c *Client) rememberTimestamp(ts *trustedSet) {
	t := ts.timestamp
	c.remember(roleTimestamp, roleRoot, ts.root.sum, t.sum, t.signed.Version, t.signed.Expires)
}

// updateSnapshot is 5.5: the stored snapshot serves when the timestamp
// lists its version; otherwise the listed one is fetched.
func (c *Client) updateSnapshot(ctx context.Context, ts *trustedSet) error {
	meta := ts.timestamp.snapshot
	if local, err := c.store.read(roleSnapshot); err == nil {
		sum := sha256.Sum256(local)
		src := fromCache
		var err error
		if e := c.recorded(roleSnapshot, roleRoot, ts.root.sum, meta.Version, sum); e != nil {
			src = fromRecord
			err = ts.updateSnapshotRecorded(local, sum, &cachedFile{version: e.Version, expires: e.Expires})
		} else {
			err = ts.updateSnapshot(local, sum, src)
		}
		if err == nil {
			c.used[roleSnapshot] = src
			if src == fromCache {
				c.remember(roleSnapshot, roleRoot, ts.root.sum, sum, ts.snapshot.signed.Version, ts.snapshot.signed.Expires)
			}
			return nil
		}
		// A stored snapshot that verified but is not final (expired, or
		// not the version the timestamp lists) stays in the set as the
		// reference for the rollback checks of the new one (5.5.5).
		c.log.Debug("stored snapshot does not serve", "err", err)
	}
	name := "snapshot.json"
	if ts.root.signed.ConsistentSnapshot { // 5.3.12
		name = strconv.FormatInt(meta.Version, 10) + ".snapshot.json"
	}
	max := meta.Length
	if max == 0 {
		max = c.limits.SnapshotMax
	}
	raw, err := c.fetch(ctx, "snapshot", joinURL(c.cfg.MetadataURL, name), max) // 5.5.1
	if err != nil {
		return err
	}
	sum := sha256.Sum256(raw)
	if err := ts.updateSnapshot(raw, sum, fromRemote); err != nil { // 5.5.2 to 5.5.6
		return err
	}
	c.persist(roleSnapshot, raw) // 5.5.7
	c.used[roleSnapshot] = fromRemote
	c.remember(roleSnapshot, roleRoot, ts.root.sum, sum, ts.snapshot.signed.Version, ts.snapshot.signed.Expires)
	return nil
}

// Freshness describes the trusted metadata of the last successful
// refresh: when it verified, and when each top-level role expires.
type Freshness struct {
	Verified                                                       time.Time
	TimestampExpires, SnapshotExpires, TargetsExpires, RootExpires time.Time
	TimestampVersion, SnapshotVersion                              int64
}

// Freshness returns the freshness of the last successful refresh; the
// zero value before one.
func (c *Client) Freshness() Freshness {
	c.mu.Lock()
	defer c.mu.Unlock()
	ts := c.trusted
	if ts == nil {
		return Freshness{}
	}
	f := Freshness{
		Verified:         c.verified,
		RootExpires:      ts.root.signed.Expires,
		TimestampExpires: ts.timestamp.signed.Expires,
		TimestampVersion: ts.timestamp.signed.Version,
		SnapshotExpires:  ts.snapshot.signed.Expires,
		SnapshotVersion:  ts.snapshot.signed.Version,
	}
	if t := ts.roles[roleTargets]; t != nil {
		f.TargetsExpires = t.expires
	}
	return f
}

// recorded returns the record entry for role when it vouches for bytes
// with SHA-256 sum at version, verified by signer whose file hashes to
// signerSum; nil otherwise.
func (c *Client) recorded(role, signer string, signerSum [32]byte, version int64, sum [32]byte) *recordEntry {
	e := c.rec.Files[role]
	if e == nil || e.Version != version || e.Signer != signer ||
		e.SignerSHA256 != hex.EncodeToString(signerSum[:]) || e.SHA256 != hex.EncodeToString(sum[:]) {
		return nil
	}
	return e
}

// verifiedBytes returns the record's entry for role (root or timestamp,
// which the root's keys verify) when it says the bytes with SHA-256 sum
// verified under the root with SHA-256 rootSum, whatever their version.
func (c *Client) verifiedBytes(role string, rootSum, sum [32]byte) *recordEntry {
	e := c.rec.Files[role]
	if e == nil || e.Signer != roleRoot || e.SignerSHA256 != hex.EncodeToString(rootSum[:]) ||
		e.SHA256 != hex.EncodeToString(sum[:]) {
		return nil
	}
	return e
}

func (c *Client) remember(role, signer string, signerSum, sum [32]byte, version int64, expires time.Time) {
	c.rec.Files[role] = &recordEntry{SHA256: hex.EncodeToString(sum[:]), Version: version, Expires: expires,
		Signer: signer, SignerSHA256: hex.EncodeToString(signerSum[:])}
	c.recDirty = true
}

func (c *Client) forget(role string) {
	if _, ok := c.rec.Files[role]; ok {
		delete(c.rec.Files, role)
		c.recDirty = true
	}
}

// persist queues a verified role file for the batch saveRecord writes.
// Files are not read back within an operation (the trusted set keeps
// them), so queueing changes only when they reach the disk: all at once,
// before the operation returns.
func (c *Client) persist(role string, raw []byte) {
	c.pending = append(c.pending, namedData{name: fileName(role), data: raw})
}

// persistRole is persist for a targets-family role just fetched and
// verified (5.6.6). A role not decoded whole (checkedMin bytes or more)
// is written at once to its temporary file, which the batch syncs and
// renames with the others, and f reads it from there through an index
// built in memory: a cold check enumerating a role of 10,000 targets, or
// 256 hash bins, does not hold them whole (as a warm one does not; see
// readLazily). When the temporary file cannot be written, f keeps its
// bytes and the batch writes them as usual.
func (c *Client) persistRole(f *targetsFile, raw []byte) {
	nd := namedData{name: fileName(f.role), data: raw}
	if f.signed == nil && f.lazy == nil && len(raw) >= lazyMin {
		if tmp, err := writeTemp(c.store.dir, nd.name, raw, 0o644, false); err == nil {
			if lz := readFrom(f, raw, tmp, &c.openFiles); lz != nil {
				nd.data, nd.temp, nd.sum, nd.moved = nil, tmp, f.sum, func(path string) { lz.path = path }
			} else {
				os.Remove(tmp)
			}
		}
	}
	c.pending = append(c.pending, nd)
}

// saveRecord writes the queued role files and the verified-state record
// (when it changed) in one atomic batch: each file is replaced whole, and
// all are synced together.
func (c *Client) saveRecord() error {
	c.openFiles.closeAll()
	batch := c.pending
	c.pending = nil
	if c.recDirty {
		data, err := encodeRecord(c.rec)
		if err != nil {
			return err
		}
		batch = append(batch, namedData{name: recordFile, data: data})
	}
	if len(batch) == 0 {
		return nil
	}
	if err := writeBatch(c.store.dir, batch, 0o644); err != nil {
		return err
	}
	c.recDirty = false
	return nil
}
