//go:build linux && !amd64 && !arm64

package serve

import "golang.org/x/sys/unix"

// lstatAt is fstatat(dirfd, name, st, AT_SYMLINK_NOFOLLOW).
func lstatAt(dirfd int, name string, st *unix.Stat_t) error {
	return unix.Fstatat(dirfd, name, st, unix.AT_SYMLINK_NOFOLLOW)
}

// statBeneath stats the file name leads to from dirfd, refusing every
// symbolic link on the way (ELOOP) and a final one (it stats the link):
// openat2(O_PATH, RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS), fstat, close.
func statBeneath(dirfd int, name string, st *unix.Stat_t) error {
	fd, err := unix.Openat2(dirfd, name, &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_NOFOLLOW | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS,
	})
	if err != nil {
		return err
	}
	err = unix.Fstat(fd, st)
	unix.Close(fd)
	return err
}
