package install

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/bsiframework/bsi/internal/fault"
)

// Names of temporary entries. None of them is a valid component name or
// version id (those never start with '.' or contain "current."), so they
// can never be mistaken for state, and Recover removes any it finds.
const (
	tempVersionPrefix  = ".tmp-"        // versions/.tmp-<id>-<rand>: an extraction in progress
	trashVersionPrefix = ".trash-"      // versions/.trash-<id>-<rand>: a version being removed
	tempLinkPrefix     = "current.tmp-" // <component>/current.tmp-<rand>: a link about to replace current
	tempFileInfix      = ".tmp-"        // .bsi/journal.json.tmp-<rand>: a journal being written
)

func randSuffix() string {
	var b [6]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand panics instead)
	return hex.EncodeToString(b[:])
}

// syncDir fsyncs a directory, making renames and removals in it durable.
func syncDir(dir string) error {
	if err := fault.CheckPath("install.syncdir", dir); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer fault.Point("install.syncdir.done")
	return errors.Join(d.Sync(), d.Close())
}

// exists reports whether name exists (without following a final link).
func exists(name string) (bool, error) {
	_, err := os.Lstat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// writeAtomic replaces name with data: temp file in the same directory,
// fsync, rename, fsync of the directory.
func (in *Installer) writeAtomic(name string, data []byte) error {
	dir := filepath.Dir(name)
	tmp := name + tempFileInfix + randSuffix()
	in.step("create " + filepath.Base(tmp))
	if err := fault.CheckPath("install.journal.create", tmp); err != nil {
		return err
	}
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	fault.Point("install.journal.create.done")
	_, err = f.Write(data)
	if err == nil {
		err = fault.CheckPath("install.journal.write", tmp)
	}
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = fault.CheckPath("install.journal.sync", tmp)
	}
	if err = errors.Join(err, f.Close()); err != nil {
		return errors.Join(err, os.Remove(tmp))
	}
	in.step("rename " + filepath.Base(tmp))
	if err := os.Rename(tmp, name); err != nil {
		return errors.Join(err, os.Remove(tmp))
	}
	fault.Point("install.journal.rename.done")
	in.step("sync " + dir)
	return syncDir(dir)
}

// mkdirSynced creates dir (mode 0755) if it is missing and syncs its parent.
func (in *Installer) mkdirSynced(dir string) error {
	if ok, err := exists(dir); ok || err != nil {
		return err
	}
	in.step("mkdir " + dir)
	if err := fault.CheckPath("install.mkdir", dir); err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		return err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}
	in.step("sync " + filepath.Dir(dir))
	return syncDir(filepath.Dir(dir))
}

// removeIfEmpty removes dir when it exists and is empty, syncing its parent.
func (in *Installer) removeIfEmpty(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && len(entries) > 0) {
		return nil
	}
	if err != nil {
		return err
	}
	in.step("remove " + dir)
	if err := os.Remove(dir); err != nil {
		return err
	}
	fault.Point("install.rmdir.done")
	in.step("sync " + filepath.Dir(dir))
	return syncDir(filepath.Dir(dir))
}

// switchCurrent points <component>/current at versions/<id>, or removes it
// when id is "". The new link is made under a temporary name and renamed
// over the old one, so current is at every instant either the old or the
// new link. It does nothing when current already is what is asked.
func (in *Installer) switchCurrent(component, id string) error {
	dir := in.componentDir(component)
	link := filepath.Join(dir, "current")
	target, err := os.Readlink(link)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if id == "" {
			return nil
		}
	case err != nil:
		return err
	case id != "" && target == versionLink(id):
		return nil
	case id == "":
		in.step("unlink current")
		if err := os.Remove(link); err != nil {
			return err
		}
		fault.Point("install.current.unlink.done")
		in.step("sync " + dir)
		return syncDir(dir)
	}
	tmp := filepath.Join(dir, tempLinkPrefix+randSuffix())
	in.step("symlink " + filepath.Base(tmp))
	if err := fault.CheckPath("install.current.symlink", tmp); err != nil {
		return err
	}
	if err := os.Symlink(versionLink(id), tmp); err != nil {
		return err
	}
	fault.Point("install.current.symlink.done")
	in.step("sync " + dir)
	if err := syncDir(dir); err != nil {
		return errors.Join(err, os.Remove(tmp))
	}
	in.step("rename " + filepath.Base(tmp) + " current")
	if err := os.Rename(tmp, link); err != nil {
		return errors.Join(err, os.Remove(tmp))
	}
	fault.Point("install.current.rename.done")
	in.step("sync " + dir)
	return syncDir(dir)
}

func versionLink(id string) string { return "versions/" + id }

// removeVersion removes versions/<id> if present: it is first renamed to a
// trash name (atomic, synced), so that a crash never leaves a partly
// removed directory under a version's name, then deleted.
func (in *Installer) removeVersion(component, id string) error {
	vdir := in.versionsDir(component)
	src := filepath.Join(vdir, id)
	if ok, err := exists(src); !ok || err != nil {
		return err
	}
	trash := filepath.Join(vdir, trashVersionPrefix+id+"-"+randSuffix())
	in.step("rename " + id + " to trash")
	if err := os.Rename(src, trash); err != nil {
		return err
	}
	fault.Point("install.version.trash.done")
	in.step("sync " + vdir)
	if err := syncDir(vdir); err != nil {
		return err
	}
	in.step("remove trash " + id)
	defer fault.Point("install.version.remove.done")
	return os.RemoveAll(trash)
}

// isTempName reports whether a directory entry is one of bsi's temporary
// names (see the constants above) in the given kind of directory.
func isTempName(kind, name string) bool {
	switch kind {
	case "versions":
		return strings.HasPrefix(name, tempVersionPrefix) || strings.HasPrefix(name, trashVersionPrefix)
	case "component":
		return strings.HasPrefix(name, tempLinkPrefix)
	case "state":
		return strings.Contains(name, tempFileInfix)
	}
	return false
}
