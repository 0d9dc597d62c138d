package serve

import (
	"io"
	"net"
	"syscall"
	"unsafe"
)

// rawSock reads and writes a TCP connection's non-blocking socket with
// raw system calls, through the connection's poller (deadlines and
// waiting for readiness stay the runtime's). A read or write of a
// non-blocking socket never blocks, so the goroutine need not tell the
// scheduler that it enters a system call; telling it costs more than the
// call on a small busy machine, chiefly by waking the runtime's monitor
// thread (sysmon) from its sleep.
type rawSock struct {
	rc syscall.RawConn
	p  []byte
	n  int
	e  syscall.Errno

	readFn, writeFn func(fd uintptr) bool
}

// newRawSock returns c's raw socket, or nil when c is not a TCP connection.
func newRawSock(c net.Conn) *rawSock {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return nil
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return nil
	}
	s := &rawSock{rc: rc}
	s.readFn = func(fd uintptr) bool { return s.io(syscall.SYS_READ, fd) }
	s.writeFn = func(fd uintptr) bool { return s.io(syscall.SYS_WRITE, fd) }
	return s
}

// io makes one read or write of s.p; false: wait until the socket is ready.
func (s *rawSock) io(trap, fd uintptr) bool {
	for {
		n, _, e := syscall.RawSyscall(trap, fd, uintptr(unsafe.Pointer(unsafe.SliceData(s.p))), uintptr(len(s.p)))
		switch e {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		}
		s.n, s.e = int(n), e
		return true
	}
}

func (s *rawSock) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	s.p = p
	err := s.rc.Read(s.readFn)
	s.p = nil
	switch {
	case err != nil:
		return 0, err
	case s.e != 0:
		return 0, s.e
	case s.n == 0:
		return 0, io.EOF
	}
	return s.n, nil
}

func (s *rawSock) Write(p []byte) (int, error) {
	written := 0
	for written < len(p) {
		s.p = p[written:]
		err := s.rc.Write(s.writeFn)
		s.p = nil
		switch {
		case err != nil:
			return written, err
		case s.e != 0:
			return written, s.e
		}
		written += s.n
	}
	return written, nil
}
