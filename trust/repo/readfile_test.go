package repo

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// readFileDirect reads what os.ReadFile reads, and fails where it fails,
// with the same kind of error.
func TestReadFileDirect(t *testing.T) {
	dir := t.TempDir()
	big := bytes.Repeat([]byte("0123456789"), 10000)
	for name, data := range map[string][]byte{"empty": {}, "small": []byte("payload"), "big": big} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"empty", "small", "big", "missing", "."} {
		p := filepath.Join(dir, name)
		want, wantErr := os.ReadFile(p)
		got, err := readFileDirect(p)
		if !bytes.Equal(got, want) || (err == nil) != (wantErr == nil) {
			t.Errorf("%s: %d bytes, %v; os.ReadFile: %d bytes, %v", name, len(got), err, len(want), wantErr)
		}
		if errors.Is(wantErr, fs.ErrNotExist) != errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: error %v, os.ReadFile's %v", name, err, wantErr)
		}
		var pe *fs.PathError
		if err != nil && (!errors.As(err, &pe) || pe.Path != p) {
			t.Errorf("%s: error %v does not name the file", name, err)
		}
	}
}
