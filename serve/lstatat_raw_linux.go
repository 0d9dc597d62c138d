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
	var buf [cPathLen]byte
	p, err := cPath(&buf, name)
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

// statBeneath stats the file name leads to from dirfd, refusing every
// symbolic link on the way (ELOOP) and a final one (it stats the link):
// openat2(O_PATH, RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS), fstat, close,
// raw system calls as lstatAt's. An O_PATH descriptor opens nothing for
// reading: a named pipe does not block it.
func statBeneath(dirfd int, name string, st *unix.Stat_t) error {
	var buf [cPathLen]byte
	p, err := cPath(&buf, name)
	if err != nil {
		return err
	}
	how := unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_NOFOLLOW | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS,
	}
	fd, _, e := unix.RawSyscall6(unix.SYS_OPENAT2, uintptr(dirfd), uintptr(unsafe.Pointer(p)),
		uintptr(unsafe.Pointer(&how)), unsafe.Sizeof(how), 0, 0)
	if e != 0 {
		return e
	}
	_, _, e = unix.RawSyscall(unix.SYS_FSTAT, fd, uintptr(unsafe.Pointer(st)), 0)
	unix.RawSyscall(unix.SYS_CLOSE, fd, 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

// cPathLen is the longest name (with its NUL) cPath copies without
// allocating: the names of a published tree, a payload's included.
const cPathLen = 256

// cPath is name as a NUL-terminated string for a system call, in buf when
// it fits (no allocation per request), EINVAL for a name holding a NUL.
func cPath(buf *[cPathLen]byte, name string) (*byte, error) {
	if len(name) >= len(buf) {
		return unix.BytePtrFromString(name)
	}
	for i := range len(name) {
		if name[i] == 0 {
			return nil, unix.EINVAL
		}
		buf[i] = name[i]
	}
	buf[len(name)] = 0
	return &buf[0], nil
}
