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

// statTop resolves a name at the top of the tree (no '/'), as the fast
// path does for every metadata file, with one fstatat on the tree's
// directory that does not follow a link: it costs less than Root.Stat,
// which it gives the same answer as. known is false when the caller must
// ask Root.Stat: no directory handle, a name with a '/', a link (which
// Root.Stat follows inside the tree) or an error other than a missing
// name. regular is false for a missing name and for anything but a
// regular file.
func (h *Handler) statTop(name string) (id fileIdentity, regular, known bool) {
	if h.top == nil || len(name) == 0 || containsSlash(name) {
		return id, false, false
	}
	var st unix.Stat_t
	switch err := lstatAt(h.topFD, name, &st); {
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
