package repo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/bsiframework/bsi/internal/atomicfile"
	"github.com/bsiframework/bsi/internal/fault"
)

// Destination is where Publish writes the repository. Names are
// slash-separated paths relative to the repository root ("3.root.json",
// "targets/webkit/<hash>.x.tar.gz").
type Destination interface {
	// ReadFile returns the content of name, or an error wrapping
	// fs.ErrNotExist when it is absent.
	ReadFile(ctx context.Context, name string) ([]byte, error)
	// Exists reports whether name is present.
	Exists(ctx context.Context, name string) (bool, error)
	// WriteFile replaces name with data so that readers see the old or the
	// new content, never a part.
	WriteFile(ctx context.Context, name string, data []byte) error
}

// OpenDestination opens a destination given on the command line: a
// directory path, or a gocloud.dev/blob URL (s3://, gs://, azblob://,
// file://, mem://; see BucketDestination). The returned function releases
// it.
func OpenDestination(ctx context.Context, dest string) (Destination, func() error, error) {
	if strings.Contains(dest, "://") {
		return openBlob(ctx, dest)
	}
	d, err := DirDestination(dest)
	return d, func() error { return nil }, err
}

// DirDestination returns a destination that writes files under dir with
// atomic, durable writes. The directory is created if needed. Temporary
// files live in dir/.bsi-tmp while a publish writes; what a crashed
// publish left there is removed here.
func DirDestination(dir string) (Destination, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, &DestinationError{Dest: dir, Err: err}
	}
	if err := os.RemoveAll(filepath.Join(dir, destTmp)); err != nil {
		return nil, &DestinationError{Dest: dir, Err: err}
	}
	return &dirDest{dir: dir}, nil
}

// destTmp holds a directory destination's temporary files (a dot-name:
// bsi serve never serves it).
const destTmp = ".bsi-tmp"

// tmp returns the directory for temporary files, created on first use.
func (d *dirDest) tmp() (string, error) {
	p := filepath.Join(d.dir, destTmp)
	if !d.tmpMade {
		if err := os.MkdirAll(p, 0o755); err != nil {
			return "", err
		}
		d.tmpMade = true
	}
	return p, nil
}

// dropTmp removes the (empty) directory of temporary files.
func (d *dirDest) dropTmp() {
	if d.tmpMade {
		os.Remove(filepath.Join(d.dir, destTmp))
		d.tmpMade = false
	}
}

// deferredWriter is an optional ability of a Destination: writes whose
// durability waits for one Flush barrier, for the files of a publish that
// nothing points at until timestamp.json does. putFile flushes before it
// writes a mutable name.
type deferredWriter interface {
	WriteFileDeferred(ctx context.Context, name string, data []byte) error
	Flush(ctx context.Context) error
}

// dirDest is a directory destination. It is not safe for concurrent use.
type dirDest struct {
	dir     string
	pending barrier // deferred writes not yet durable
	tmpMade bool    // dir/.bsi-tmp exists
}

var _ deferredWriter = (*dirDest)(nil)

// WriteFileDeferred writes atomically (temporary file and rename) without
// syncing; Flush makes every such write durable at once.
func (d *dirDest) WriteFileDeferred(_ context.Context, name string, data []byte) error {
	p, err := d.path(name)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	tmp, err := d.tmp()
	if err != nil {
		return err
	}
	err = atomicfile.WriteVia(tmp, p, 0o644, false, func(f *os.File) error {
		_, err := f.Write(data)
		return err
	})
	if err == nil {
		d.pending.add(p)
	}
	return err
}

// Flush makes every deferred write durable: an fsync of each file and
// directory, or one sync(2) after very many.
func (d *dirDest) Flush(context.Context) error { return d.pending.sync() }

func (d *dirDest) path(name string) (string, error) {
	if !fs.ValidPath(name) {
		return "", fmt.Errorf("invalid name %q", name)
	}
	return filepath.Join(d.dir, filepath.FromSlash(name)), nil
}

func (d *dirDest) ReadFile(_ context.Context, name string) ([]byte, error) {
	p, err := d.path(name)
	if err != nil {
		return nil, err
	}
	return os.ReadFile(p)
}

func (d *dirDest) Exists(_ context.Context, name string) (bool, error) {
	p, err := d.path(name)
	if err != nil {
		return false, err
	}
	_, err = os.Stat(p)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

func (d *dirDest) WriteFile(_ context.Context, name string, data []byte) error {
	p, err := d.path(name)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	tmp, err := d.tmp()
	if err != nil {
		return err
	}
	defer d.dropTmp()
	return atomicfile.WriteVia(tmp, p, 0o644, true, func(f *os.File) error {
		_, err := f.Write(data)
		return err
	})
}

func (d *dirDest) String() string { return d.dir }

// putKind says how putFile treats a name that already holds other bytes.
type putKind int

const (
	// immutable: a versioned name some published file may point at; other
	// bytes there are a conflict (published from another workspace?).
	immutable putKind = iota
	// unreferenced: a versioned name newer than anything the destination's
	// timestamp.json leads to, so no client was ever sent to it: other
	// bytes there are what an interrupted publish left (a snapshot signed
	// with another expiry, say) and are replaced.
	unreferenced
	// mutable: timestamp.json, root.json.
	mutable
)

// putFile writes data under name unless the same bytes are already there.
// For immutable names (consistent snapshots) a different content is a
// conflict: the destination was published from another workspace. An
// immutable name is written with the destination's deferred durability
// when it has one; a mutable name (timestamp.json, root.json) only after
// every deferred write is durable, so that it never points at a file a
// crash could lose.
func putFile(ctx context.Context, d Destination, name string, data []byte, kind putKind, res *PublishResult) error {
	old, err := d.ReadFile(ctx, name)
	switch {
	case err == nil && bytes.Equal(old, data):
		res.Skipped++
		return nil
	case err == nil && kind == immutable:
		return &DestinationError{Dest: fmt.Sprint(d), Name: name, Err: errors.New("already holds different content (published from another workspace?)")}
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return &DestinationError{Dest: fmt.Sprint(d), Name: name, Err: err}
	}
	write := d.WriteFile
	if dw, ok := d.(deferredWriter); ok {
		if kind == mutable {
			if err := dw.Flush(ctx); err != nil {
				return &DestinationError{Dest: fmt.Sprint(d), Err: err}
			}
		} else {
			write = dw.WriteFileDeferred
		}
	}
	if err := fault.Check("repo.dest.put"); err != nil {
		return &DestinationError{Dest: fmt.Sprint(d), Name: name, Err: err}
	}
	if err := write(ctx, name, data); err != nil {
		return &DestinationError{Dest: fmt.Sprint(d), Name: name, Err: err}
	}
	fault.Point("repo.dest.put.done")
	res.Written = append(res.Written, name)
	return nil
}
