package install

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"

	"github.com/bsiframework/bsi/internal/fault"
)

// extract writes the archive read from r, which ValidateArchive accepted as
// want, into dir, a fresh empty directory. Every header is compared with
// want, so an archive that changed since validation is refused. All writes
// go through an os.Root, which never follows a link out of dir; files are
// created exclusively. Every file and directory is synced. step is called
// before each durable write (see Options.stepHook).
func extract(ctx context.Context, r io.Reader, dir string, want []Entry, lim Limits, step func(string)) (err error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := root.Close(); err == nil {
			err = cerr
		}
	}()
	tr, drain, release, err := openArchive(r, lim.withDefaults())
	if err != nil {
		return err
	}
	defer release()
	c := newChecker(lim.withDefaults())
	dirs := []string{"."}
	for i := 0; ; {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			if i != len(want) {
				return &ArchiveError{Problem: ProblemChanged}
			}
			break
		}
		if err != nil {
			return readError("", err)
		}
		e, skip, err := c.add(hdr)
		if err != nil {
			return err
		}
		if skip {
			continue
		}
		if i >= len(want) || e != want[i] {
			return &ArchiveError{Entry: hdr.Name, Problem: ProblemChanged}
		}
		i++
		step("write " + e.Name)
		if err := writeEntry(root, e, tr, &dirs); err != nil {
			return fmt.Errorf("extract %s: %w", e.Name, err)
		}
	}
	if err := drain(); err != nil {
		return err
	}
	// Children first, so that each directory is synced after its entries.
	slices.Reverse(dirs)
	for _, d := range dirs {
		step("sync dir " + d)
		if err := syncIn(root, d); err != nil {
			return err
		}
	}
	return nil
}

// writeEntry creates one entry below root. Missing parents are created as
// 0755 directories and appended to dirs, as are directory entries.
func writeEntry(root *os.Root, e Entry, content io.Reader, dirs *[]string) error {
	if parent := path.Dir(e.Name); parent != "." {
		if err := mkdirs(root, parent, dirs); err != nil {
			return err
		}
	}
	switch e.Type {
	case Dir:
		return mkdirs(root, e.Name, dirs)
	case Symlink:
		return root.Symlink(e.Linkname, e.Name)
	case Hardlink:
		return root.Link(e.Linkname, e.Name)
	}
	if err := fault.CheckPath("install.extract.create", filepath.Join(root.Name(), e.Name)); err != nil {
		return err
	}
	f, err := root.OpenFile(e.Name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = io.CopyN(f, content, e.Size)
	if err == nil {
		err = fault.CheckPath("install.extract.write", filepath.Join(root.Name(), e.Name))
	}
	if err == nil {
		err = f.Chmod(e.Mode) // exact mode, whatever the umask
	}
	if err == nil {
		err = f.Sync()
	}
	fault.Point("install.extract.sync.done")
	return errors.Join(err, f.Close())
}

// mkdirs creates name and its missing parents with mode 0755.
func mkdirs(root *os.Root, name string, dirs *[]string) error {
	if name == "." {
		return nil
	}
	if fi, err := root.Lstat(name); err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("%s exists and is not a directory", name)
		}
		return nil
	}
	if err := mkdirs(root, path.Dir(name), dirs); err != nil {
		return err
	}
	if err := root.Mkdir(name, 0o755); err != nil {
		return err
	}
	*dirs = append(*dirs, name)
	return root.Chmod(name, 0o755)
}

// syncIn fsyncs the directory name below root. A failure names the
// directory's full path.
func syncIn(root *os.Root, name string) error {
	full := filepath.Join(root.Name(), name)
	if err := fault.CheckPath("install.extract.syncdir", full); err != nil {
		return err
	}
	d, err := root.Open(name)
	if err != nil {
		return err
	}
	if err := errors.Join(d.Sync(), d.Close()); err != nil {
		return fmt.Errorf("sync %s: %w", full, err)
	}
	return nil
}
