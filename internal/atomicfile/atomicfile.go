package atomicfile

import (
	"os"
	"path/filepath"

	"github.com/bsiframework/bsi/internal/fault"
)

// WriteFile replaces path with data, durably: steps 1 to 5 of the package
// documentation.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	return Write(path, perm, true, func(f *os.File) error {
		_, err := f.Write(data)
		return err
	})
}

// Write replaces path with what fill writes to the temporary file. With
// durable set it syncs the file before the rename and the directory after
// it; without, the caller is responsible for both.
func Write(path string, perm os.FileMode, durable bool, fill func(*os.File) error) (err error) {
	return WriteVia(filepath.Dir(path), path, perm, durable, fill)
}

// WriteVia is Write with the temporary file in tmpDir, which must be on
// the same file system as path: a writer that keeps every temporary file
// in one directory of its own can remove what a crash left there with
// one os.RemoveAll.
func WriteVia(tmpDir, path string, perm os.FileMode, durable bool, fill func(*os.File) error) (err error) {
	dir := filepath.Dir(path)
	if err := fault.CheckPath("atomicfile.create", path); err != nil {
		return err
	}
	f, err := os.CreateTemp(tmpDir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
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
	if err = fault.CheckPath("atomicfile.rename", path); err != nil {
		return err
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return err
	}
	fault.Point("atomicfile.rename.done")
	if !durable {
		return nil
	}
	return SyncDir(dir)
}

// SyncDir makes the entries of dir (creations, renames, removals) durable.
func SyncDir(dir string) error {
	if err := fault.CheckPath("atomicfile.syncdir", dir); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	err = d.Sync()
	fault.Point("atomicfile.syncdir.done")
	return err
}
