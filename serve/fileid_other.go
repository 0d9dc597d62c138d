//go:build !unix

package serve

import "io/fs"

// fileID is 0 where the file system's identity of a file is not at hand:
// the ETag cache then goes by name, size and modification time alone.
func fileID(fs.FileInfo) uint64 { return 0 }

// openNonBlock: no named pipes to guard against on these systems.
const openNonBlock = 0
