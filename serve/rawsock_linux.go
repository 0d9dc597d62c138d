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
	fd uintptr // the socket, while serve's step runs

	// Write's call to rc.Write: the bytes to write, and what one write did.
	p []byte
	n int
	e syscall.Errno

	writeFn func(fd uintptr) bool
	readFn  func(p []byte) (int, error) // s.read
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
	s.writeFn = s.write
	s.readFn = s.read
	return s
}

// serve calls step, with a function making one read of the socket, inside
// one RawConn.Read for the connection's whole life: when step returns
// false, it waits until the socket is readable and calls step again; it
// returns when step returns true or the wait fails (a deadline, a closed
// connection). The read returns errWouldBlock when the socket holds no
// bytes, and never blocks.
//
// Why one RawConn.Read: each one forgets the readiness the poller saw
// before it began (a wake-up that came before cannot be told from one
// already consumed), so it must begin with a read, which on a keep-alive
// connection is nearly always one too early (EAGAIN: the client has not
// sent its next request yet), a wasted system call per request. Within
// one Read, the readiness seen since the last read is kept, so step may
// wait at once after a read that emptied the socket (one that did not
// fill its buffer): bytes arriving after it wake it.
func (s *rawSock) serve(step func(read func([]byte) (int, error)) bool) error {
	return s.rc.Read(func(fd uintptr) bool {
		s.fd = fd
		return step(s.readFn)
	})
}

// read makes one read of the socket into p, within serve's step.
func (s *rawSock) read(p []byte) (int, error) {
	for {
		n, _, e := syscall.RawSyscall(syscall.SYS_READ, s.fd, uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)))
		switch e {
		case 0:
			if n == 0 {
				return 0, io.EOF
			}
			return int(n), nil
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return 0, errWouldBlock
		}
		return 0, e
	}
}

// write makes one write of s.p; false: wait until the socket is ready.
func (s *rawSock) write(fd uintptr) bool {
	for {
		n, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(unsafe.SliceData(s.p))), uintptr(len(s.p)))
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

// Write writes all of p, waiting for the socket as needed (within the
// write deadline). It may be called within serve's step.
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
