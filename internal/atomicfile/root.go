package atomicfile

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"path"
	"path/filepath"

	"github.com/bsiframework/bsi/internal/fault"
)

// WriteIn is WriteVia inside root: name and tmpDir are slash-separated
// paths relative to root, and every step (create, rename, directory sync)
// goes through root, so that no symbolic link can take the write outside
// it. The temporary file is created with O_EXCL and the rename replaces
// whatever was at name (a symbolic link there is replaced, not followed):
// no existing file is ever opened for writing, let alone truncated.
func WriteIn(root *os.Root, tmpDir, name string, perm os.FileMode, durable bool, fill func(*os.File) error) (err error) {
	full := filepath.Join(root.Name(), filepath.FromSlash(name))
	if err := fault.CheckPath("atomicfile.create", full); err != nil {
		return err
	}
	f, tmp, err := createTemp(root, tmpDir, path.Base(name))
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			root.Remove(tmp)
		}
	}()
	fault.Point("atomicfile.create.done")
	if err = fill(f); err != nil {
		return err
	}
	if err = fault.CheckPath("atomicfile.write", f.Name()); err != nil {
		return err
	}
	if err = f.Chmod(perm); err != nil {
		return err
	}
	if durable {
		if err = f.Sync(); err != nil {
			return err
		}
		if err = fault.CheckPath("atomicfile.fsync", f.Name()); err != nil {
			return err
		}
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = fault.CheckPath("atomicfile.rename", full); err != nil {
		return err
	}
	if err = root.Rename(tmp, name); err != nil {
		return err
	}
	fault.Point("atomicfile.rename.done")
	if !durable {
		return nil
	}
	return SyncDirIn(root, path.Dir(name))
}

// createTemp creates a new file in dir (relative to root) with O_EXCL.
func createTemp(root *os.Root, dir, base string) (*os.File, string, error) {
	var b [8]byte
	for {
		rand.Read(b[:])
		name := path.Join(dir, "."+base+".tmp-"+hex.EncodeToString(b[:]))
		f, err := root.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if os.IsExist(err) {
			continue
		}
		return f, name, err
	}
}

// SyncDirIn is SyncDir for dir relative to root.
func SyncDirIn(root *os.Root, dir string) error {
	if err := fault.CheckPath("atomicfile.syncdir", filepath.Join(root.Name(), filepath.FromSlash(dir))); err != nil {
		return err
	}
	d, err := root.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	err = d.Sync()
	fault.Point("atomicfile.syncdir.done")
	return err
}
