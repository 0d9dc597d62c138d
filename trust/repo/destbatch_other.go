//go:build !linux

package repo

import (
	"errors"
	"os"
	"syscall"
)

var errNoTmpfile = errors.New("no O_TMPFILE on this system")

// openTmpfile fails: a batch writes through temporary files renamed over
// their names (see writeAt).
func openTmpfile(int) (int, error) { return -1, errNoTmpfile }

func linkTmpfile(int, int, string) error { return errNoTmpfile }

// syncFilesystems makes durable everything written to every file system
// (sync(2)), those holding dirs among them.
func syncFilesystems([]string, func(string) (*os.File, error)) error {
	syscall.Sync()
	return nil
}
