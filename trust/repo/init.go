package repo

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// InitOptions describes a new workspace.
type InitOptions struct {
	RootKeys         []*metadata.Key // offline root keys
	RootThreshold    int             // 0 means 1
	TargetsKeys      []*metadata.Key // keys of the targets role
	TargetsThreshold int             // 0 means 1
	// SnapshotKey and TimestampKey are references (a private key file or
	// a KMS URI) to the online keys, resolved with Options.LoadSigner now
	// and at every publish. They are recorded in workspace.json.
	SnapshotKey  string
	TimestampKey string
	// RolloutKey, when set, is the online key of a rollout role that
	// targets delegates from the start (see EnableRollout).
	RolloutKey string
	// Expires overrides default expiry periods by role kind: "root",
	// "targets", "component", "snapshot", "timestamp".
	Expires map[string]time.Duration
	// Hashes lists the hash algorithms of target entries (see ParseHashes);
	// nil means sha256 alone. Each one is one more published name per
	// payload.
	Hashes []string
}

// Init creates a workspace in dir (which must not exist or be empty) and
// returns it open and locked. Root and targets version 1 are pending until
// signed by their thresholds; snapshot and timestamp are signed by Publish.
//
// Init fails with a *ThresholdError for a threshold the keys cannot reach.
func Init(ctx context.Context, dir string, opts Options, in InitOptions) (*Workspace, error) {
	opts.fill()
	if in.RootThreshold == 0 {
		in.RootThreshold = 1
	}
	if in.TargetsThreshold == 0 {
		in.TargetsThreshold = 1
	}
	if err := checkThreshold(metadata.ROOT, in.RootThreshold, len(in.RootKeys)); err != nil {
		return nil, err
	}
	if err := checkThreshold(metadata.TARGETS, in.TargetsThreshold, len(in.TargetsKeys)); err != nil {
		return nil, err
	}
	expires, err := expiryConfig(in.Expires)
	if err != nil {
		return nil, err
	}
	hashes, err := checkHashes(in.Hashes)
	if err != nil {
		return nil, err
	}
	if slices.Equal(hashes, defaultHashes) {
		hashes = nil
	}
	if opts.LoadSigner == nil {
		return nil, errors.New("init: no signer loader for the online keys")
	}
	online := map[string][]onlineKey{}
	onlineKeys := map[string]*metadata.Key{}
	for role, ref := range map[string]string{metadata.SNAPSHOT: in.SnapshotKey, metadata.TIMESTAMP: in.TimestampKey} {
		if ref == "" {
			return nil, fmt.Errorf("init: missing %s key", role)
		}
		k, err := loadOnlineKey(ctx, opts, ref)
		if err != nil {
			return nil, fmt.Errorf("init: %s key: %w", role, err)
		}
		id, _ := k.ID()
		online[role] = []onlineKey{{Ref: ref, KeyID: id}}
		onlineKeys[role] = k
	}
	if err := prepareDir(dir); err != nil {
		return nil, err
	}
	w, err := create(dir, opts, &config{Format: Format, Expires: expires, Online: online,
		Components: map[string]*componentConfig{}, Edited: map[string]bool{}, Expiries: map[string]time.Time{}, Hashes: hashes}, in, onlineKeys)
	if err == nil && in.RolloutKey != "" {
		if err = w.EnableRollout(ctx, in.RolloutKey); err != nil {
			w.Close()
		}
	}
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return w, nil
}

func create(dir string, opts Options, cfg *config, in InitOptions, online map[string]*metadata.Key) (*Workspace, error) {
	for _, sub := range []string{"metadata/roots", "content", "public"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return nil, err
		}
	}
	lk, err := acquireLock(filepath.Join(dir, ".lock"), opts.Now())
	if err != nil {
		return nil, err
	}
	w := &Workspace{dir: dir, opts: opts, lock: lk}
	w.reset()
	w.cfg = cfg
	now := w.now()
	w.root = metadata.Root(now.Add(w.expiry(kindRoot)))
	add := func(role string, keys ...*metadata.Key) error {
		for _, k := range keys {
			if err := w.root.Signed.AddKey(k, role); err != nil {
				return fmt.Errorf("%s key: %w", role, err)
			}
		}
		return nil
	}
	err = errors.Join(add(metadata.ROOT, in.RootKeys...), add(metadata.TARGETS, in.TargetsKeys...),
		add(metadata.SNAPSHOT, online[metadata.SNAPSHOT]), add(metadata.TIMESTAMP, online[metadata.TIMESTAMP]))
	if err == nil {
		err = distinctKeys(metadata.ROOT, len(in.RootKeys), w.root.Signed.Roles[metadata.ROOT].KeyIDs, in.RootThreshold)
	}
	if err == nil {
		err = distinctKeys(metadata.TARGETS, len(in.TargetsKeys), w.root.Signed.Roles[metadata.TARGETS].KeyIDs, in.TargetsThreshold)
	}
	if err != nil {
		lk.release()
		return nil, err
	}
	w.root.Signed.Roles[metadata.ROOT].Threshold = in.RootThreshold
	w.root.Signed.Roles[metadata.TARGETS].Threshold = in.TargetsThreshold
	w.newTargetsRole(metadata.TARGETS)
	w.snapshot = metadata.Snapshot(now.Add(w.expiry(kindSnapshot)))
	w.timestamp = metadata.Timestamp(now.Add(w.expiry(kindTimestamp)))
	for _, r := range metadata.TOP_LEVEL_ROLE_NAMES {
		w.cfg.Edited[r] = true
		w.dirty[r] = true
	}
	if err := w.commit(); err != nil {
		lk.release()
		return nil, err
	}
	return w, nil
}

// distinctKeys refuses a key list with duplicates that make the threshold
// unreachable.
func distinctKeys(role string, given int, ids []string, threshold int) error {
	if len(ids) < given && threshold > len(ids) {
		return &ThresholdError{Role: role, Threshold: threshold, Keys: len(ids)}
	}
	return nil
}

func expiryConfig(over map[string]time.Duration) (map[string]duration, error) {
	out := map[string]duration{}
	for k, v := range defaultExpiry {
		out[k] = duration(v)
	}
	for k, v := range over {
		if _, ok := defaultExpiry[k]; !ok {
			return nil, fmt.Errorf("expiry: unknown role kind %q (want root, targets, component, snapshot or timestamp)", k)
		}
		if v < time.Minute {
			return nil, fmt.Errorf("expiry: %s: %v is shorter than a minute", k, v)
		}
		out[k] = duration(v.Truncate(time.Second))
	}
	return out, nil
}

func prepareDir(dir string) error {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return os.MkdirAll(dir, 0o755)
	case err != nil:
		return err
	case len(entries) > 0:
		return fmt.Errorf("init: %s is not empty", dir)
	}
	return nil
}

// loadOnlineKey resolves an online key reference to its TUF public key.
func loadOnlineKey(ctx context.Context, opts Options, ref string) (*metadata.Key, error) {
	s, err := opts.LoadSigner(ctx, ref)
	if err != nil {
		return nil, err
	}
	pub, err := s.PublicKey()
	if err != nil {
		return nil, err
	}
	return tufKey(opts, pub)
}

func tufKey(opts Options, pub crypto.PublicKey) (*metadata.Key, error) {
	k, err := opts.TUFKey(pub)
	if err != nil {
		return nil, err
	}
	if _, err := k.ID(); err != nil {
		return nil, err
	}
	return k, nil
}
