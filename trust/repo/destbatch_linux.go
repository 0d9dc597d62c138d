package repo

import (
	"errors"
	"io/fs"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// openTmpfile opens a new unnamed file in the directory dfd (O_TMPFILE),
// for linkTmpfile to name once complete.
func openTmpfile(dfd int) (int, error) {
	return unix.Openat(dfd, ".", unix.O_WRONLY|unix.O_TMPFILE|unix.O_CLOEXEC, 0o600)
}

// linkTmpfile gives the unnamed file fd the name base in the directory
// dfd: linkat(AT_EMPTY_PATH) needs CAP_DAC_READ_SEARCH (or Linux 6.10 and
// the opener's credentials); /proc/self/fd does not. A name that exists
// gives EEXIST: a link never replaces a file.
func linkTmpfile(fd, dfd int, base string) error {
	err := unix.Linkat(fd, "", dfd, base, unix.AT_EMPTY_PATH)
	if err == nil || errors.Is(err, unix.EEXIST) {
		return err
	}
	return unix.Linkat(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(fd), dfd, base, unix.AT_SYMLINK_FOLLOW)
}

// syncFilesystems makes durable everything written to the file systems
// that hold dirs, opened with open: one syncfs(2) per file system, where
// sync(2) would wait for every file system of the machine (and report no
// error).
func syncFilesystems(dirs []string, open func(string) (*os.File, error)) error {
	done := map[uint64]bool{}
	var errs []error
	for _, dir := range dirs {
		f, err := open(dir)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var st unix.Stat_t
		if err := unix.Fstat(int(f.Fd()), &st); err != nil || !done[st.Dev] {
			done[st.Dev] = true
			if err := unix.Syncfs(int(f.Fd())); err != nil {
				errs = append(errs, &fs.PathError{Op: "syncfs", Path: f.Name(), Err: err})
			}
		}
		f.Close()
	}
	return errors.Join(errs...)
}
