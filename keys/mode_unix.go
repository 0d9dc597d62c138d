//go:build unix

package keys

import (
	"io/fs"
	"os"
	"syscall"
)

// openKeyFile opens path for reading without blocking on a named pipe
// (whose open would otherwise wait for a writer), so that a FIFO is
// refused by its mode like any other file that is not a regular one.
func openKeyFile(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
}

// checkPrivateMode refuses a private key file that its group or others may
// read, write or execute: any of the bits 0o077.
func checkPrivateMode(path string, mode fs.FileMode) error {
	if mode.Perm()&0o077 != 0 {
		return &PermissionError{Path: path, Mode: mode.Perm()}
	}
	return nil
}
