package repo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/bsiframework/bsi/internal/fault"
)

// A fresh publish of a big repository writes one file per payload name:
// 100,000 of them. Through os.Root each write walks its path (an openat per
// directory), registers the new file with the poller, and renames from
// .bsi-tmp into another directory (which ext4 makes several times dearer
// than creating the file): about fifteen system calls and 90 µs of kernel
// time per file on the 2-core test machine. A directory destination
// therefore writes a batch of deferred files another way:
//
//   - every directory the batch writes in (and .bsi-tmp) is created and
//     opened once, through the os.Root, before anything is written;
//   - each file is then an unnamed file in its directory (O_TMPFILE),
//     written, given mode 0644, and linked under its name once complete
//     (linkat): a crash leaves no temporary file at all. Where O_TMPFILE
//     or the link is refused (another system, another file system, a name
//     that exists), a temporary file of .bsi-tmp is renamed over the name,
//     as atomicfile.WriteIn does. A second name of the same bytes is one
//     linkat. Every name is one component relative to an open directory:
//     nothing is resolved, nothing followed;
//   - the files are written by GOMAXPROCS workers;
//   - their durability is Flush's, as for WriteFileDeferred.
//
// Each file passes the fault points of atomicfile.WriteIn, in its order
// (the link stands for the rename). A directory opened once stays the
// directory it was when the batch started: someone who can rename
// directories of the destination during a publish could move where new
// files land, which a write through os.Root in the middle of that rename
// could not prevent either.

// batchFile is one name a batch gives bytes to.
type batchFile struct {
	name string
	// link, when set, names a file written earlier in the same batch with
	// the same bytes: name becomes a hard link to it, or a copy (load)
	// when the file system refuses the link.
	link string
	// load returns the bytes; called once, by the worker writing them.
	load func() ([]byte, error)
	// copied is set when a link was refused and the bytes written instead.
	copied bool
}

// batchWriter is an optional ability of a Destination: writing many files
// with the deferred durability of WriteFileDeferred, concurrently.
type batchWriter interface {
	writeBatch(ctx context.Context, files []*batchFile) error
}

var _ batchWriter = (*dirDest)(nil)

// batchMin is the batch size from which a publish writes through
// writeBatch: a small publish (the usual one, and the crash tests') keeps
// one write at a time and the order of its fault points.
const batchMin = 64

// writeBatch writes files (links after every plain write), each atomically
// and without fsync; Flush makes them durable. On error some files may be
// written, as with a sequence of WriteFileDeferred.
func (d *dirDest) writeBatch(ctx context.Context, files []*batchFile) error {
	for _, f := range files {
		if err := d.check(f.name); err != nil { // opens the root
			return err
		}
		if err := d.mkdirAll(path.Dir(f.name)); err != nil {
			return err
		}
		if _, err := d.openDir(path.Dir(f.name)); err != nil {
			return err
		}
	}
	if err := d.tmp(); err != nil {
		return err
	}
	tmp, err := d.openDir(destTmp)
	if err != nil {
		return err
	}
	var writes, links []*batchFile
	for _, f := range files {
		if f.link != "" {
			links = append(links, f)
		} else {
			writes = append(writes, f)
		}
	}
	for _, group := range [][]*batchFile{writes, links} {
		err := parallel(ctx, len(group), func(i int) error {
			f := group[i]
			if f.link != "" {
				if err := d.linkAt(f.link, f.name); err == nil {
					return nil
				}
				f.copied = true
			}
			data, err := f.load()
			if err != nil {
				return err
			}
			return d.writeAt(tmp, f.name, data)
		})
		if err != nil {
			return err
		}
	}
	for _, f := range files {
		d.present(f.name)
		d.pending.add(f.name)
	}
	return nil
}

// openDir returns the descriptor of dir (relative to the destination),
// opened through the root once until the next Flush.
func (d *dirDest) openDir(dir string) (int, error) {
	if f, ok := d.dirs[dir]; ok {
		return int(f.Fd()), nil
	}
	f, err := d.root.Open(dir)
	if err != nil {
		return -1, err
	}
	if fi, err := f.Stat(); err != nil || !fi.IsDir() {
		f.Close()
		return -1, &UnsafeFileError{Path: filepath.Join(d.dir, filepath.FromSlash(dir)), Reason: "is not a directory"}
	}
	if d.dirs == nil {
		d.dirs = map[string]*os.File{}
	}
	d.dirs[dir] = f
	return int(f.Fd()), nil
}

// closeDirs closes the directories openDir opened.
func (d *dirDest) closeDirs() {
	for _, f := range d.dirs {
		f.Close()
	}
	d.dirs = nil
}

// writeAt writes name atomically without fsync, relative to directories
// already open: as an unnamed file (O_TMPFILE) in name's directory, linked
// under name once complete, so that a crash leaves no temporary file at
// all; where the file system or the kernel cannot (or name exists, which
// a link does not replace), as atomicfile.WriteIn does, through a
// temporary file in .bsi-tmp (tmp) renamed over name.
func (d *dirDest) writeAt(tmp int, name string, data []byte) (err error) {
	if d.noTmpfile.Load() {
		return d.renameAt(tmp, name, data)
	}
	dir, base := path.Split(name)
	dfd := int(d.dirs[path.Clean(dir+".")].Fd())
	full := filepath.Join(d.dir, filepath.FromSlash(name))
	if err := fault.CheckPath("atomicfile.create", full); err != nil {
		return err
	}
	fd, err := openTmpfile(dfd)
	if err != nil {
		d.noTmpfile.Store(true) // EOPNOTSUPP, EISDIR (before Linux 3.11), ...
		return d.renameAt(tmp, name, data)
	}
	defer func() {
		if fd >= 0 {
			unix.Close(fd)
		}
	}()
	fault.Point("atomicfile.create.done")
	if err := writeAll(fd, data, full); err != nil {
		return err
	}
	if err := fault.CheckPath("atomicfile.write", full); err != nil {
		return err
	}
	if err := unix.Fchmod(fd, 0o644); err != nil {
		return &fs.PathError{Op: "chmod", Path: full, Err: err}
	}
	if err := fault.CheckPath("atomicfile.rename", full); err != nil {
		return err
	}
	switch err := linkTmpfile(fd, dfd, base); {
	case errors.Is(err, unix.EEXIST):
		return d.renameAt(tmp, name, data)
	case err != nil:
		d.noTmpfile.Store(true) // no /proc, and no CAP_DAC_READ_SEARCH
		return d.renameAt(tmp, name, data)
	}
	fault.Point("atomicfile.rename.done")
	err, fd = unix.Close(fd), -1
	return err
}

// writeAll writes data to fd, which is the file path names (for errors).
func writeAll(fd int, data []byte, path string) error {
	for len(data) > 0 {
		n, err := unix.Write(fd, data)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return &fs.PathError{Op: "write", Path: path, Err: err}
		}
		data = data[n:]
	}
	return nil
}

// renameAt is atomicfile.WriteIn without the fsyncs, relative to
// directories already open: a new temporary file in .bsi-tmp (tmp),
// renamed over name.
func (d *dirDest) renameAt(tmp int, name string, data []byte) (err error) {
	dir, base := path.Split(name)
	dfd := int(d.dirs[path.Clean(dir+".")].Fd())
	full := filepath.Join(d.dir, filepath.FromSlash(name))
	if err := fault.CheckPath("atomicfile.create", full); err != nil {
		return err
	}
	fd, tmpName, err := createTempAt(tmp, base)
	if err != nil {
		return &fs.PathError{Op: "create", Path: filepath.Join(d.dir, destTmp, tmpName), Err: err}
	}
	tmpFull := filepath.Join(d.dir, destTmp, tmpName)
	defer func() {
		if fd >= 0 {
			unix.Close(fd)
		}
		if err != nil {
			unix.Unlinkat(tmp, tmpName, 0)
		}
	}()
	fault.Point("atomicfile.create.done")
	if err := writeAll(fd, data, tmpFull); err != nil {
		return err
	}
	if err := fault.CheckPath("atomicfile.write", tmpFull); err != nil {
		return err
	}
	if err := unix.Fchmod(fd, 0o644); err != nil {
		return &fs.PathError{Op: "chmod", Path: tmpFull, Err: err}
	}
	err, fd = unix.Close(fd), -1
	if err != nil {
		return &fs.PathError{Op: "close", Path: tmpFull, Err: err}
	}
	if err := fault.CheckPath("atomicfile.rename", full); err != nil {
		return err
	}
	if err := unix.Renameat(tmp, tmpName, dfd, base); err != nil {
		return &os.LinkError{Op: "rename", Old: tmpFull, New: full, Err: err}
	}
	fault.Point("atomicfile.rename.done")
	return nil
}

// createTempAt creates a new file in the directory dirfd, as
// atomicfile.WriteIn names its temporary files.
func createTempAt(dirfd int, base string) (int, string, error) {
	var b [8]byte
	for {
		rand.Read(b[:])
		name := "." + base + ".tmp-" + hex.EncodeToString(b[:])
		fd, err := unix.Openat(dirfd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if errors.Is(err, unix.EEXIST) {
			continue
		}
		if errors.Is(err, unix.EINTR) {
			continue
		}
		return fd, name, err
	}
}

// linkAt makes name a hard link to existing (never replacing a file),
// relative to directories already open.
func (d *dirDest) linkAt(existing, name string) error {
	odir, obase := path.Split(existing)
	ndir, nbase := path.Split(name)
	of, ok1 := d.dirs[path.Clean(odir+".")]
	nf, ok2 := d.dirs[path.Clean(ndir+".")]
	if !ok1 || !ok2 {
		return fmt.Errorf("link %s: directory not open", name)
	}
	if err := unix.Linkat(int(of.Fd()), obase, int(nf.Fd()), nbase, 0); err != nil {
		return &os.LinkError{Op: "link", Old: existing, New: name, Err: err}
	}
	return nil
}

// parallel runs fn(0) to fn(n-1) on GOMAXPROCS workers and returns the
// first error (by index) after every started call has returned; after an
// error or a cancelled ctx no new call starts.
func parallel(ctx context.Context, n int, fn func(i int) error) error {
	workers := min(runtime.GOMAXPROCS(0), n)
	if workers <= 1 {
		for i := range n {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := fn(i); err != nil {
				return err
			}
		}
		return nil
	}
	errs := make([]error, n)
	var next atomic.Int64
	var failed atomic.Bool
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || failed.Load() || ctx.Err() != nil {
					return
				}
				if errs[i] = fn(i); errs[i] != nil {
					failed.Store(true)
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return ctx.Err()
}
