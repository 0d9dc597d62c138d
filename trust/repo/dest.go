package repo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync/atomic"

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
	if err != nil {
		return nil, nil, err
	}
	return d, d.(*dirDest).Close, nil
}

// DirDestination returns a destination that writes files under dir with
// atomic, durable writes. The directory is created if needed. Temporary
// files live in dir/.bsi-tmp while a publish writes; what a crashed
// publish left there is removed here.
//
// Every read and write goes through an os.Root opened on dir: a symbolic
// link planted inside the destination (a "targets" link to another
// directory) cannot take a write, a read or a removal outside it, and a
// write replaces the name (temporary file and rename), never opens an
// existing file for writing.
func DirDestination(dir string) (Destination, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, &DestinationError{Dest: dir, Err: err}
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, &DestinationError{Dest: dir, Err: err}
	}
	if err := root.RemoveAll(destTmp); err != nil {
		root.Close()
		return nil, &DestinationError{Dest: dir, Err: err}
	}
	return &dirDest{dir: dir, root: root}, nil
}

// destTmp holds a directory destination's temporary files (a dot-name:
// bsi serve never serves it).
const destTmp = ".bsi-tmp"

// tmp creates the directory for temporary files on first use.
func (d *dirDest) tmp() error {
	if !d.tmpMade {
		if err := d.root.Mkdir(destTmp, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
		if fi, err := d.root.Lstat(destTmp); err != nil || !fi.IsDir() {
			return &UnsafeFileError{Path: filepath.Join(d.dir, destTmp), Reason: "is not a directory"}
		}
		d.tmpMade = true
	}
	return nil
}

// dropTmp removes the (empty) directory of temporary files.
func (d *dirDest) dropTmp() {
	if d.tmpMade {
		d.root.Remove(destTmp)
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

// sizer is an optional ability of a Destination: the length of a name
// without reading it (a stat, an object's attributes). Publish uses it to
// tell a payload name that holds its payload from one that a power loss
// left empty or truncated (see planPayload); without it, a payload name
// that exists is taken to hold its payload, as Exists reports.
type sizer interface {
	// Size returns the length of name: an error wrapping fs.ErrNotExist
	// when it is absent, -1 when it is not a regular file.
	Size(ctx context.Context, name string) (int64, error)
}

// linker is an optional ability of a Destination: giving name the bytes
// of existing, a name written earlier in the same publish, without a
// second copy (a hard link). Publish uses it for the second and later
// hash-prefixed names of one payload. An error (a file system without
// hard links, existing on another file system) makes Publish write the
// bytes instead.
type linker interface {
	Link(ctx context.Context, existing, name string) error
}

// dirDest is a directory destination. It is not safe for concurrent use.
type dirDest struct {
	dir     string
	name    string      // as given (a file:// URL), when not dir
	root    *os.Root    // dir; every file operation goes through it
	pending rootBarrier // deferred writes not yet durable
	tmpMade bool        // dir/.bsi-tmp exists

	// Until the next Flush (the end of a publish's deferred writes):
	made   map[string]bool            // directories known to exist
	looks  map[string]int             // Exists calls per directory
	listed map[string]map[string]bool // names in a directory, once listed
	dirs   map[string]*os.File        // directories a batch opened (openDir)

	noTmpfile atomic.Bool // O_TMPFILE and linking it failed once: batches rename
}

// listAfter is the number of Exists calls in one directory after which
// the directory is listed once and later calls look in the list, instead
// of a stat each: a fresh publish of many payloads checks every name of
// targets/<component>/, adding one improvement only one or two.
const listAfter = 64

var (
	_ deferredWriter = (*dirDest)(nil)
	_ linker         = (*dirDest)(nil)
	_ sizer          = (*dirDest)(nil)
)

// Link makes name a hard link to existing, both inside the destination
// (through its os.Root: neither can lead outside it), with the deferred
// durability of WriteFileDeferred. name must not exist: a link never
// replaces a file. The bytes are shared, which is safe because no name of
// a directory destination is ever written in place (every write is a new
// file renamed over the name).
func (d *dirDest) Link(_ context.Context, existing, name string) error {
	if err := d.check(existing); err != nil {
		return err
	}
	if err := d.check(name); err != nil {
		return err
	}
	if err := d.mkdirAll(path.Dir(name)); err != nil {
		return err
	}
	if err := d.root.Link(existing, name); err != nil {
		return err
	}
	d.present(name)
	d.pending.add(name)
	return nil
}

// WriteFileDeferred writes atomically (temporary file and rename) without
// syncing; Flush makes every such write durable at once.
func (d *dirDest) WriteFileDeferred(_ context.Context, name string, data []byte) error {
	if err := d.write(name, data, false); err != nil {
		return err
	}
	d.pending.add(name)
	return nil
}

// write writes name through the root: its directories are created (never
// through a link leaving the destination), then a temporary file in
// .bsi-tmp is renamed over it.
func (d *dirDest) write(name string, data []byte, durable bool) error {
	if err := d.check(name); err != nil {
		return err
	}
	if err := d.mkdirAll(path.Dir(name)); err != nil {
		return err
	}
	if err := d.tmp(); err != nil {
		return err
	}
	err := atomicfile.WriteIn(d.root, destTmp, name, 0o644, durable, func(f *os.File) error {
		_, err := f.Write(data)
		return err
	})
	if err == nil {
		d.present(name)
	}
	return err
}

// mkdirAll creates dir (through the root) unless this publish did.
func (d *dirDest) mkdirAll(dir string) error {
	if dir == "." || d.made[dir] {
		return nil
	}
	if err := d.root.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if d.made == nil {
		d.made = map[string]bool{}
	}
	d.made[dir] = true
	return nil
}

// present records that name exists, in its directory's list if it has one.
func (d *dirDest) present(name string) {
	if set, ok := d.listed[path.Dir(name)]; ok {
		set[path.Base(name)] = true
	}
}

// forget drops what the destination remembers of its directories.
func (d *dirDest) forget() {
	d.made, d.looks, d.listed = nil, nil, nil
	d.closeDirs()
}

// Flush makes every deferred write durable: an fsync of each file and
// directory, or one sync(2) after very many.
func (d *dirDest) Flush(context.Context) error {
	if d.root == nil {
		return nil
	}
	d.forget()
	return d.pending.sync(d.root)
}

// check refuses a name that is not a plain relative path, and opens the
// root if it is not open yet.
func (d *dirDest) check(name string) error {
	if !fs.ValidPath(name) || name == "." {
		return fmt.Errorf("invalid name %q", name)
	}
	if d.root == nil {
		r, err := os.OpenRoot(d.dir)
		if err != nil {
			return err
		}
		d.root = r
	}
	return nil
}

func (d *dirDest) ReadFile(_ context.Context, name string) ([]byte, error) {
	if err := d.check(name); err != nil {
		return nil, err
	}
	return d.root.ReadFile(name)
}

func (d *dirDest) Exists(_ context.Context, name string) (bool, error) {
	if err := d.check(name); err != nil {
		return false, err
	}
	if present, known, err := d.lookup(name); known || err != nil {
		return present, err
	}
	_, err := d.root.Stat(name)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// Size returns the length of name (an lstat through the root), or an
// error wrapping fs.ErrNotExist. A name the directory's list (see
// listAfter) does not hold is absent without a stat, so that a fresh
// publish of many payloads stats none of them; a name that is present is
// one lstat.
func (d *dirDest) Size(_ context.Context, name string) (int64, error) {
	if err := d.check(name); err != nil {
		return 0, err
	}
	if present, known, err := d.lookup(name); err != nil {
		return 0, err
	} else if known && !present {
		return 0, &fs.PathError{Op: "lstat", Path: name, Err: fs.ErrNotExist}
	}
	fi, err := d.root.Lstat(name)
	if err != nil {
		return 0, err
	}
	if !fi.Mode().IsRegular() {
		return -1, nil
	}
	return fi.Size(), nil
}

// lookup answers whether name is present from its directory's list, once
// the directory has seen listAfter lookups (it is then listed once):
// known is false when there is no list yet and the caller must stat.
func (d *dirDest) lookup(name string) (present, known bool, err error) {
	dir := path.Dir(name)
	if set, ok := d.listed[dir]; ok {
		return set[path.Base(name)], true, nil
	}
	if d.looks == nil {
		d.looks = map[string]int{}
	}
	if d.looks[dir]++; d.looks[dir] > listAfter {
		set, err := d.list(dir)
		if err != nil {
			return false, false, err
		}
		return set[path.Base(name)], true, nil
	}
	return false, false, nil
}

// list reads the names in dir once (none when it does not exist yet).
func (d *dirDest) list(dir string) (map[string]bool, error) {
	set := map[string]bool{}
	f, err := d.root.Open(dir)
	if err == nil {
		var names []string
		names, err = f.Readdirnames(-1)
		f.Close()
		for _, n := range names {
			set[n] = true
		}
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if d.listed == nil {
		d.listed = map[string]map[string]bool{}
	}
	d.listed[dir] = set
	return set, nil
}

func (d *dirDest) WriteFile(_ context.Context, name string, data []byte) error {
	if err := d.check(name); err != nil {
		return err
	}
	defer d.dropTmp()
	return d.write(name, data, true)
}

// Close releases the destination's directory.
func (d *dirDest) Close() error {
	d.closeDirs()
	if d.root == nil {
		return nil
	}
	return d.root.Close()
}

// rootBarrier is barrier for files named relative to an os.Root.
type rootBarrier struct {
	names []string
	dirs  map[string]bool
}

func (b *rootBarrier) add(name string) {
	if b.dirs == nil {
		b.dirs = map[string]bool{}
	}
	b.names = append(b.names, name)
	b.dirs[path.Dir(name)] = true
}

func (b *rootBarrier) sync(root *os.Root) error {
	names, dirs := b.names, sortedKeys(b.dirs)
	b.names, b.dirs = nil, nil
	if len(names) > manyFiles {
		fault.Point("repo.sync")
		return syncFilesystems(dirs, func(dir string) (*os.File, error) { return root.Open(dir) })
	}
	var errs []error
	for _, n := range append(names, dirs...) {
		errs = append(errs, syncIn(root, n))
	}
	return errors.Join(errs...)
}

func syncIn(root *os.Root, name string) error {
	if err := fault.CheckPath("repo.fsync", filepath.Join(root.Name(), filepath.FromSlash(name))); err != nil {
		return err
	}
	defer fault.Point("repo.fsync.done")
	f, err := root.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", name, err)
	}
	return nil
}

func (d *dirDest) String() string {
	if d.name != "" {
		return d.name
	}
	return d.dir
}

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
//
// An immutable name whose bytes are not JSON at all is what a power loss
// before that barrier leaves (an empty or truncated file, or a length of
// zeros), never a file some workspace published: it is written again,
// logged at Warn. By the barrier order this can only be a name that
// nothing the destination serves leads to: N.snapshot.json and
// N.<role>.json are immutable here only when the destination's durable
// timestamp.json leads to them, and it was written after they were made
// durable. The N.root.json files are immutable whatever leads to them (a
// client walks them by version), and a publish that adds a root version
// writes them before the barrier root.json waits for: those are the names
// this case is for.
func putFile(ctx context.Context, log *slog.Logger, d Destination, name string, data []byte, kind putKind, res *PublishResult) error {
	old, err := d.ReadFile(ctx, name)
	switch {
	case err == nil && bytes.Equal(old, data):
		res.Skipped++
		return nil
	case err == nil && kind == immutable && json.Valid(old):
		return &DestinationError{Dest: fmt.Sprint(d), Name: name, Err: errors.New("already holds different content (published from another workspace?)")}
	case err == nil && kind == immutable:
		log.Warn("metadata name holds bytes that are not JSON (a publish cut short by a power loss?): writing it again",
			"dest", fmt.Sprint(d), "name", name, "expected", len(data), "found", len(old))
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

// PublicDestination opens the default destination of the workspace in
// dir, dir/public, as a directory destination. A "public" that is a
// symbolic link is refused with an *UnsafeFileError: someone with write
// access to the workspace could otherwise send the published tree (and
// its writes) anywhere.
func PublicDestination(dir string) (Destination, func() error, error) {
	p := filepath.Join(dir, "public")
	if fi, err := os.Lstat(p); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		return nil, nil, &UnsafeFileError{Path: p, Reason: "the workspace's default destination is a symbolic link (give the real directory with --to)"}
	}
	return OpenDestination(context.Background(), p)
}
