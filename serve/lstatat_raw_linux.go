//go:build linux && (amd64 || arm64)

package serve

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// lstatAt is fstatat(dirfd, name, st, AT_SYMLINK_NOFOLLOW) made as a raw
// system call, without telling the scheduler, like the fast path's socket
// I/O (rawsock_linux.go): the fast path makes one per request, and telling
// the scheduler wakes the runtime's monitor thread each time. A stat of a
// name in a directory it just resolved is served from the kernel's caches
// in the case bsi serve is for (a local published tree); on a tree on a
// slow network file system it holds its processor until it returns.
func lstatAt(dirfd int, name string, st *unix.Stat_t) error {
	p, err := unix.BytePtrFromString(name)
	if err != nil {
		return err
	}
	_, _, e := unix.RawSyscall6(unix.SYS_NEWFSTATAT, uintptr(dirfd), uintptr(unsafe.Pointer(p)),
		uintptr(unsafe.Pointer(st)), unix.AT_SYMLINK_NOFOLLOW, 0, 0)
	if e != 0 {
		return e
	}
	return nil
}
