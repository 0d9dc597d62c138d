//go:build !unix

package install

import "os"

// tryLock does nothing where flock is not available: only one process at a
// time may then use an install root.
func tryLock(*os.File) error { return nil }
