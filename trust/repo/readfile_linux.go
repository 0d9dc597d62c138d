package repo

import (
	"io"
	"os"
)

// readFileDirect is os.ReadFile without registering the file with the
// runtime's poller: os.Open tries epoll on every file and, for a regular
// file, undoes it (four fcntl calls and an epoll_ctl that fails), which
// was half of the system calls of reading a payload. A fresh publish
// reads each of its payloads twice (checked on add, read again to
// publish). The errors are os.ReadFile's.
func readFileDirect(path string) ([]byte, error) {
	fd, err := openRead(path)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	size := 0
	if info, err := f.Stat(); err == nil && info.Mode().IsRegular() {
		size = int(info.Size())
	}
	data := make([]byte, 0, size+1) // one byte more, for the read at EOF
	for {
		n, err := f.Read(data[len(data):cap(data)])
		data = data[:len(data)+n]
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			return data, err
		}
		if len(data) == cap(data) {
			data = append(data, 0)[:len(data)]
		}
	}
}
