//go:build unix

package serve

import (
	"io/fs"
	"syscall"
)

// fileID is the inode of fi: a file replaced by a rename (how every bsi
// publisher writes) has a new one even when its size and modification time
// are those of the file it replaced.
func fileID(fi fs.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Ino)
	}
	return 0
}

// openNonBlock makes opening a named pipe return at once instead of
// waiting for a writer; on a regular file it changes nothing.
const openNonBlock = syscall.O_NONBLOCK
