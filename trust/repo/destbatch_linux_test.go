package repo

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSyncFilesystems: the barrier of many files syncs the file system of
// each directory, and names a directory it cannot open.
func TestSyncFilesystems(t *testing.T) {
	dir := t.TempDir()
	must(t, os.Mkdir(filepath.Join(dir, "a"), 0o755))
	open := func(name string) (*os.File, error) { return os.Open(filepath.Join(dir, name)) }
	must(t, syncFilesystems([]string{".", "a"}, open))
	if err := syncFilesystems([]string{"a", "gone"}, open); err == nil || !strings.Contains(err.Error(), "gone") {
		t.Errorf("syncFilesystems with a missing directory = %v, want an error naming it", err)
	}
}
