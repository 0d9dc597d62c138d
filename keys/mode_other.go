//go:build !unix

package keys

import (
	"io/fs"
	"os"
)

// openKeyFile opens path for reading.
func openKeyFile(path string) (*os.File, error) { return os.Open(path) }

// checkPrivateMode accepts every mode: outside Unix, file modes do not say
// who may read a file (Windows uses access control lists), so there is
// nothing to check.
func checkPrivateMode(string, fs.FileMode) error { return nil }
