//go:build !unix

package serve

import "io/fs"

// identityOf is the size and modification time of fi where the file
// system's identity of a file (device, inode) is not at hand.
func identityOf(fi fs.FileInfo) fileIdentity {
	return fileIdentity{size: fi.Size(), mtime: fi.ModTime().UnixNano()}
}

// openNonBlock: no named pipes to guard against on these systems.
const openNonBlock = 0
