package repo

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/bsiframework/bsi/internal/atomicfile"
	"github.com/bsiframework/bsi/internal/fault"
)

// writeFileAtomic writes data to path so that a crash leaves either the old
// file or the new one: a temporary file in the same directory, fsync,
// rename, fsync of the directory.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	return atomicfile.Write(path, perm, true, func(f *os.File) error {
		_, err := f.Write(data)
		return err
	})
}

// writeFileBarrier writes data to path atomically and leaves its
// durability to b.
func writeFileBarrier(path string, data []byte, perm os.FileMode, b *barrier) error {
	err := atomicfile.Write(path, perm, false, func(f *os.File) error {
		_, err := f.Write(data)
		return err
	})
	if err == nil {
		b.add(path)
	}
	return err
}

// copyFileBarrier copies src to dst atomically and leaves its durability
// to b.
func copyFileBarrier(dst, src string, perm os.FileMode, b *barrier) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	err = atomicfile.Write(dst, perm, false, func(f *os.File) error {
		_, err := io.Copy(f, in)
		return err
	})
	if err == nil {
		b.add(dst)
	}
	return err
}

// barrier makes many files written without fsync durable at once: each
// file, then each of their directories, is synced several at a time, so
// that the file system commits them together instead of one journal
// transaction per file. Past manyFiles files one sync(2) is cheaper.
type barrier struct {
	files []string
	dirs  map[string]bool
}

const manyFiles = 256

// add records a file written (and renamed into place) without fsync.
func (b *barrier) add(path string) {
	if b.dirs == nil {
		b.dirs = map[string]bool{}
	}
	b.files = append(b.files, path)
	b.dirs[filepath.Dir(path)] = true
}

// sync makes every added file and its directory entry durable, and
// empties the barrier.
func (b *barrier) sync() error {
	files, dirs := b.files, sortedKeys(b.dirs)
	b.files, b.dirs = nil, nil
	if len(files) > manyFiles {
		fault.Point("repo.sync")
		return syncFilesystems(dirs, os.Open)
	}
	if err := syncAll(files); err != nil {
		return err
	}
	return syncAll(dirs)
}

// syncAll fsyncs paths (files or directories), up to 8 at a time.
func syncAll(paths []string) error {
	if len(paths) == 1 {
		return syncPath(paths[0])
	}
	errs := make([]error, len(paths))
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i, p := range paths {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			errs[i] = syncPath(p)
			<-sem
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func syncPath(path string) error {
	if err := fault.CheckPath("repo.fsync", path); err != nil {
		return err
	}
	defer fault.Point("repo.fsync.done")
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", path, err)
	}
	return nil
}

// removeFileDurable removes path (absent is fine) and syncs its directory.
func removeFileDurable(path string) error {
	if err := fault.CheckPath("repo.remove", path); err != nil {
		return err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	fault.Point("repo.remove.done")
	return atomicfile.SyncDir(filepath.Dir(path))
}

// lockFile is an exclusive flock(2) on DIR/.lock held while a Workspace is
// open. The holder writes its pid and start time into the file so that a
// second process can say who holds it.
//
// The lock file is opened with O_NOFOLLOW and must be a regular file with
// one link: a .lock planted as a symbolic link or a hard link to another
// file (a private key) is refused, never written through. It is never
// truncated: the holder record is a fixed-width line written over the
// first bytes of the file.
type lockFile struct{ f *os.File }

// lockRecord is the width of the holder record, newline included.
const lockRecord = 64

func acquireLock(path string, now time.Time) (*lockFile, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0o644)
	if errors.Is(err, syscall.ELOOP) {
		return nil, &UnsafeFileError{Path: path, Reason: "the workspace lock is a symbolic link (refusing to write through it; remove it)"}
	}
	if err != nil {
		return nil, fmt.Errorf("opening lock file: %w", err)
	}
	if err := checkLockFile(path, f); err != nil {
		f.Close()
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := io.ReadAll(io.LimitReader(f, 256))
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, parseLockHolder(path, string(holder))
		}
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	// The holder's pid is advice for error messages, not state: no fsync.
	info := fmt.Sprintf("%d %s", os.Getpid(), now.UTC().Format(time.RFC3339))
	f.WriteAt([]byte(fmt.Sprintf("%-*s\n", lockRecord-1, info)), 0)
	return &lockFile{f: f}, nil
}

// checkLockFile refuses a lock file that is not a regular file of one link.
func checkLockFile(path string, f *os.File) error {
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("lock file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return &UnsafeFileError{Path: path, Reason: fmt.Sprintf("the workspace lock is not a regular file (%v)", fi.Mode().Type())}
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Nlink > 1 {
		return &UnsafeFileError{Path: path, Reason: fmt.Sprintf("the workspace lock has %d hard links (refusing to write to another file through it; remove it)", st.Nlink)}
	}
	return nil
}

func parseLockHolder(path, s string) error {
	e := &LockedError{Path: path}
	fields := strings.Fields(s)
	if len(fields) >= 2 {
		e.PID, _ = strconv.Atoi(fields[0])
		e.Since, _ = time.Parse(time.RFC3339, fields[1])
	}
	return e
}

func (l *lockFile) release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	l.f = nil
	return err
}

// WriteOutputFile writes data to path for the user (an exported role, a
// signed role file, canonical bytes): a new temporary file in the same
// directory (O_EXCL), synced, renamed over path. A symbolic link or a hard
// link at path is replaced, never written through, and no existing file
// is opened for writing: a link planted on a USB stick towards a key file
// leaves that file as it was.
func WriteOutputFile(path string, data []byte) error {
	if err := atomicfile.WriteFile(path, data, 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
