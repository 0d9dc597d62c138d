//go:build !linux

package client

// freeSpace reports the space as unknown (-1) where statfs is not wired
// in: Download then relies on Limits.TargetMax alone.
func freeSpace(dir string) (int64, error) { return -1, nil }
