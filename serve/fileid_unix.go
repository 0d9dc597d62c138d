//go:build unix

package serve

import (
	"io/fs"
	"syscall"
)

// identityOf is the identity of the file fi describes. A file replaced by a
// rename (how every bsi publisher writes) has a new inode even when its
// size and modification time are those of the file it replaced; a file
// rewritten in place has a new change time, which, unlike the modification
// time, no program can set back.
func identityOf(fi fs.FileInfo) fileIdentity {
	id := fileIdentity{size: fi.Size(), mtime: fi.ModTime().UnixNano()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		id.dev, id.ino, id.ctime = uint64(st.Dev), uint64(st.Ino), ctimeOf(st)
	}
	return id
}

// openNonBlock makes opening a named pipe return at once instead of
// waiting for a writer; on a regular file it changes nothing.
const openNonBlock = syscall.O_NONBLOCK
