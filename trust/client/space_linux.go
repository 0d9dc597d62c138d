package client

import "syscall"

// freeSpace returns the bytes of the file system holding dir that an
// unprivileged process may still write (statfs f_bavail * f_bsize).
func freeSpace(dir string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	avail := uint64(st.Bavail) * uint64(st.Bsize)
	if avail > 1<<62 {
		avail = 1 << 62
	}
	return int64(avail), nil
}
