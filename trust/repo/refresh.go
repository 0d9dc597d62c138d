package repo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// RefreshOptions tunes Refresh.
type RefreshOptions struct {
	// SnapshotWithin re-signs the snapshot too when it expires within this
	// long; 0 means twice the timestamp period.
	SnapshotWithin time.Duration
}

// Refresh re-signs the timestamp with a new version and expiry (and the
// snapshot when it expires within opts.SnapshotWithin), with the online
// keys of the published root, and writes them to dest, which must hold the
// last publish. Unpublished changes stay pending and are not published.
func (w *Workspace) Refresh(ctx context.Context, dest Destination, opts RefreshOptions) (*PublishResult, error) {
	if !w.cfg.Published {
		return nil, errors.New("refresh: nothing is published yet (run publish first)")
	}
	within := opts.SnapshotWithin
	if within == 0 {
		within = 2 * w.expiry(kindTimestamp)
	}
	res := &PublishResult{}
	err := w.mutate(func() error {
		root := w.root
		if w.cfg.Edited[metadata.ROOT] {
			prev, err := w.previousRoot()
			if err != nil {
				return err
			}
			root = prev
		}
		if now := w.opts.Now(); now.After(root.Signed.Expires) {
			return &ExpiredError{Role: metadata.ROOT, Version: root.Signed.Version, Expires: root.Signed.Expires}
		}
		// Nothing is signed over a snapshot that is not the one dest
		// serves, signed by the snapshot keys.
		if err := w.checkServed(ctx, dest, root); err != nil {
			return err
		}
		snapWasV := w.snapshot.Signed.Version
		req := onlineRequest{meta: w.snapshot.Signed.Meta, root: root, timestamp: true,
			snapshot: w.snapshot.Signed.Expires.Before(w.opts.Now().Add(within))}
		req.minSnapshot, req.minTimestamp = w.destAhead(ctx, dest)
		if err := w.resignOnline(ctx, req); err != nil {
			return err
		}
		if w.snapshot.Signed.Version != snapWasV {
			snap, err := w.snapshot.ToBytes(false)
			if err != nil {
				return err
			}
			if err := putSnapshot(ctx, w.opts.Logger, dest, w.snapshot.Signed.Version, snap, res); err != nil {
				return err
			}
		}
		ts, err := w.timestamp.ToBytes(false)
		if err != nil {
			return err
		}
		return putFile(ctx, w.opts.Logger, dest, "timestamp.json", ts, mutable, res)
	})
	if err != nil {
		return nil, err
	}
	res.SnapshotVersion, res.TimestampVersion = w.snapshot.Signed.Version, w.timestamp.Signed.Version
	res.TimestampExpires = w.timestamp.Signed.Expires
	if slices.Contains(res.Written, fmt.Sprintf("%d.snapshot.json", res.SnapshotVersion)) {
		res.SnapshotExpires = w.snapshot.Signed.Expires
	}
	return res, nil
}

// checkServed verifies, before Refresh signs, that the workspace's
// snapshot is sound and that dest serves the workspace's last publish:
//
//   - a threshold of root's snapshot keys signed the workspace's snapshot,
//     else a *VerifyError (someone edited it: a security failure);
//   - dest's timestamp.json is not older than the workspace's and lists
//     that snapshot (version, length, hashes), and dest serves the
//     snapshot byte for byte, else a *DestinationError saying what dest
//     serves (the wrong destination, or an interrupted publish that the
//     next publish finishes: an operational failure).
func (w *Workspace) checkServed(ctx context.Context, dest Destination, root *rootMeta) error {
	snap, err := w.readFile(w.rolePath(metadata.SNAPSHOT))
	if err != nil {
		return err
	}
	sv := w.snapshot.Signed.Version
	if err := root.VerifyDelegate(metadata.SNAPSHOT, w.snapshot); err != nil {
		return &VerifyError{Role: fmt.Sprintf("snapshot v%d", sv), KeyIDs: root.Signed.Roles[metadata.SNAPSHOT].KeyIDs,
			Reason: fmt.Sprintf("the workspace's snapshot is not signed by a threshold of root v%d's snapshot keys: %v", root.Signed.Version, err)}
	}
	notServed := func(name, format string, args ...any) error {
		return &DestinationError{Dest: fmt.Sprint(dest), Name: name, Err: fmt.Errorf(format, args...)}
	}
	_, t := servedTimestamp(ctx, dest)
	if t == nil {
		return notServed("timestamp.json", "serves no timestamp.json that lists a snapshot: it does not hold the workspace's last publish (snapshot v%d); publish to it first, or give the destination of the last publish with --to", sv)
	}
	mf := t.Signed.Meta["snapshot.json"]
	if t.Signed.Version < w.timestamp.Signed.Version {
		return notServed("timestamp.json", "serves timestamp v%d (snapshot v%d), older than the workspace's last publish (timestamp v%d, snapshot v%d): another repository or an old copy? give the destination of the last publish with --to", t.Signed.Version, mf.Version, w.timestamp.Signed.Version, sv)
	}
	if mf.Version != sv || mf.VerifyLengthHashes(snap) != nil {
		return notServed("timestamp.json", "lists snapshot v%d, not the workspace's last published snapshot v%d (length %d): refusing to sign a timestamp over a snapshot the destination does not serve (bsi repo publish finishes an interrupted publish)", mf.Version, sv, len(snap))
	}
	name := fmt.Sprintf("%d.snapshot.json", sv)
	served, err := dest.ReadFile(ctx, name)
	if err != nil {
		return notServed(name, "the snapshot its timestamp lists is missing: %v", err)
	}
	if !bytes.Equal(served, snap) {
		return notServed(name, "holds other bytes than the workspace's snapshot v%d", sv)
	}
	return nil
}

// KeepFresh refreshes the workspace in dir every interval until ctx is
// cancelled, and returns nil then. Each round opens (locks) the workspace
// only for the time of the refresh, so publishers can work in between; a
// round that fails (a locked workspace, an unreachable destination) is
// logged and retried at the next one. The interval must be shorter than
// the timestamp period: a longer one, or a dir that is not a workspace,
// is an error before the first round.
func KeepFresh(ctx context.Context, dir string, dest Destination, interval time.Duration, opts Options, ro RefreshOptions) error {
	opts.fill()
	if interval <= 0 {
		return fmt.Errorf("keep-fresh: interval %v must be positive", interval)
	}
	// Checked before the first round too: a round that fails for another
	// reason (a locked workspace) would otherwise wait a whole interval
	// before the check is reached.
	cfg, err := readConfig(dir)
	if err != nil {
		return fmt.Errorf("keep-fresh: %s: %w", dir, err)
	}
	if p := time.Duration(cfg.Expires[kindTimestamp]); interval >= p {
		return &intervalError{interval, p}
	}
	for {
		if err := refreshOnce(ctx, dir, dest, interval, opts, ro); err != nil {
			var ie *intervalError
			if errors.As(err, &ie) {
				return err
			}
			opts.Logger.Error("refresh failed", "dir", dir, "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-opts.After(interval):
		}
	}
}

type intervalError struct{ interval, period time.Duration }

func (e *intervalError) Error() string {
	return fmt.Sprintf("keep-fresh: interval %v is not shorter than the timestamp period %v", e.interval, e.period)
}

func refreshOnce(ctx context.Context, dir string, dest Destination, interval time.Duration, opts Options, ro RefreshOptions) error {
	w, err := Open(ctx, dir, opts)
	if err != nil {
		return err
	}
	defer w.Close()
	if p := w.expiry(kindTimestamp); interval >= p {
		return &intervalError{interval, p}
	}
	res, err := w.Refresh(ctx, dest, ro)
	if err != nil {
		return err
	}
	args := []any{"dir", dir, "timestamp", res.TimestampVersion, "timestamp_expires", res.TimestampExpires.Format(time.RFC3339)}
	if !res.SnapshotExpires.IsZero() {
		args = append(args, "snapshot_resigned", res.SnapshotVersion, "snapshot_expires", res.SnapshotExpires.Format(time.RFC3339))
	} else {
		args = append(args, "snapshot", res.SnapshotVersion)
	}
	opts.Logger.Info("refreshed", args...)
	return nil
}
