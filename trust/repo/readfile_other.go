//go:build !linux

package repo

import "os"

// readFileDirect is os.ReadFile (see readfile_linux.go).
func readFileDirect(path string) ([]byte, error) { return os.ReadFile(path) }
