package serve

import (
	"os"

	"golang.org/x/sys/unix"
)

// openTop opens the tree's directory itself, for statTop.
func openTop(root *os.Root) *os.File {
	f, err := root.Open(".")
	if err != nil {
		return nil
	}
	return f
}

// statTop resolves name in the tree, as the fast path does on every
// request, with raw system calls that follow no symbolic link: a name at
// the top of the tree (every metadata file) with one fstatat on the
// tree's directory, a deeper one (a payload) with statBeneath (openat2,
// fstat, close). Either costs less than Root.Stat, which it gives the
// same answer as, and tells the scheduler nothing (see lstatAt). known is
// false when the caller must ask Root.Stat: no directory handle, a link
// anywhere on the way (which Root.Stat follows inside the tree), a kernel
// without openat2 (before Linux 5.6) or an error other than a missing
// name. regular is false for a missing name and for anything but a
// regular file.
func (h *Handler) statTop(name string) (id fileIdentity, regular, known bool) {
	if h.top == nil || len(name) == 0 {
		return id, false, false
	}
	var st unix.Stat_t
	var err error
	switch {
	case !containsSlash(name):
		err = lstatAt(h.topFD, name, &st)
	case h.noOpenat2.Load():
		return id, false, false
	default:
		if err = statBeneath(h.topFD, name, &st); err == unix.ENOSYS {
			h.noOpenat2.Store(true)
		}
	}
	switch {
	case err == unix.ENOENT:
		return id, false, true
	case err != nil:
		return id, false, false
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
	case unix.S_IFLNK:
		return id, false, false
	default:
		return id, false, true
	}
	return fileIdentity{
		dev: st.Dev, ino: st.Ino, size: st.Size,
		mtime: st.Mtim.Nano(), ctime: st.Ctim.Nano(),
	}, true, true
}

func containsSlash(s string) bool {
	for i := range len(s) {
		if s[i] == '/' {
			return true
		}
	}
	return false
}
