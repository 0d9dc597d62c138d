package repo

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"sync/atomic"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// payloadName is one destination name of a payload that a publish writes.
type payloadName struct {
	name   string // targets/<dir>/<hash>.<base>
	target string // the target path
	tf     *metadata.TargetFiles
	// first, when set, is an earlier name of the same payload in this
	// publish (another hash): name gets its bytes by a link when dest can.
	first string
}

// planPayload appends to plan the names of target (one per hash tf lists)
// that dest does not hold yet, counting those it holds as skipped.
//
// A name dest holds is skipped only when it has the payload's length, where
// dest can tell (a sizer: a stat, an object's attributes). Payload names
// are written with deferred durability: a power loss before the publish's
// barrier (Flush, before root.json and timestamp.json) can leave a name
// that exists but is empty or truncated, and the next publish, skipping
// it, would send every device to a file that fails its hash. A name of
// another length is written again (logged at Warn): its name is its hash,
// so no other bytes can ever belong there. Bytes of the right length are
// not read: wrong bytes of the right length are what "bsi audit" reports
// (every target's length and hashes under every published name).
func planPayload(ctx context.Context, log *slog.Logger, dest Destination, target string, tf *metadata.TargetFiles, plan []payloadName, res *PublishResult) ([]payloadName, error) {
	dir, base := path.Split(target)
	first := "" // a name of this payload written by this publish
	for _, alg := range sortedKeys(tf.Hashes) {
		name := fmt.Sprintf("targets/%s%x.%s", dir, []byte(tf.Hashes[alg]), base)
		ok, err := holdsPayload(ctx, log, dest, name, tf.Length)
		if err != nil {
			return nil, &DestinationError{Dest: fmt.Sprint(dest), Name: name, Err: err}
		}
		if ok {
			res.Skipped++
			continue
		}
		plan = append(plan, payloadName{name: name, target: target, tf: tf, first: first})
		if first == "" {
			first = name
		}
	}
	return plan, nil
}

// holdsPayload reports whether dest holds name with length bytes (only
// that it holds name when dest is no sizer), logging a name of another
// length.
func holdsPayload(ctx context.Context, log *slog.Logger, dest Destination, name string, length int64) (bool, error) {
	sz, ok := dest.(sizer)
	if !ok {
		return dest.Exists(ctx, name)
	}
	n, err := sz.Size(ctx, name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	case err != nil:
		return false, err
	case n == length:
		return true, nil
	}
	log.Warn("payload name holds another length (a publish cut short by a power loss?): writing it again",
		"dest", fmt.Sprint(dest), "name", name, "expected", length, "found", n)
	return false, nil
}

// writePayloads writes the names planned, in a batch (concurrently) when
// dest is a directory and they are many, else one after the other. Each
// payload's bytes are those verifyPayloads checked and kept, or are read
// from the content store and checked again.
func (w *Workspace) writePayloads(ctx context.Context, dest Destination, plan []payloadName, res *PublishResult) error {
	bw, ok := dest.(batchWriter)
	if !ok || len(plan) < batchMin {
		for _, p := range plan {
			if err := w.writePayload(ctx, dest, p); err != nil {
				return err
			}
			res.Written = append(res.Written, p.name)
		}
		return nil
	}
	var loaded atomic.Int64
	files := make([]*batchFile, len(plan))
	for i, p := range plan {
		data := w.verified[p.tf]
		files[i] = &batchFile{name: p.name, link: p.first, load: func() ([]byte, error) {
			if data != nil {
				return data, nil
			}
			loaded.Add(1)
			d, err := readContent(w.dir, p.tf)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", p.target, err)
			}
			return d, nil
		}}
	}
	err := bw.writeBatch(ctx, files)
	w.stats.read += int(loaded.Load())
	w.stats.payloads += int(loaded.Load())
	if err != nil {
		return &DestinationError{Dest: fmt.Sprint(dest), Err: err}
	}
	for _, f := range files {
		if f.copied {
			w.opts.Logger.Info("payload copied, not linked", "dest", fmt.Sprint(dest), "name", f.name)
		}
		res.Written = append(res.Written, f.name)
	}
	return nil
}

// writePayload writes one planned name: a link to the payload's first name
// when dest can make one, else the bytes.
func (w *Workspace) writePayload(ctx context.Context, dest Destination, p payloadName) error {
	if p.first != "" && w.linkPayload(ctx, dest, p.first, p.name) {
		return nil
	}
	data := w.verified[p.tf] // nil when verification streamed it
	if data == nil {
		var err error
		if data, err = w.content(p.tf); err != nil {
			return fmt.Errorf("%s: %w", p.target, err)
		}
	}
	write := dest.WriteFile
	if dw, ok := dest.(deferredWriter); ok {
		write = dw.WriteFileDeferred
	}
	if err := write(ctx, p.name, data); err != nil {
		return &DestinationError{Dest: fmt.Sprint(dest), Name: p.name, Err: err}
	}
	return nil
}

// linkPayload gives name the bytes of first, a name of the same payload
// this publish wrote, when dest can (a directory: a hard link), and
// reports whether it did. When it cannot (an object store, a file system
// without hard links, another file system below the destination), the
// caller writes a copy.
func (w *Workspace) linkPayload(ctx context.Context, dest Destination, first, name string) bool {
	l, ok := dest.(linker)
	if !ok {
		return false
	}
	if err := l.Link(ctx, first, name); err != nil {
		w.opts.Logger.Info("payload copied, not linked", "dest", fmt.Sprint(dest), "name", name, "err", err)
		return false
	}
	return true
}
