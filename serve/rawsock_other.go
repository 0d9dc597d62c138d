//go:build !linux

package serve

import "net"

// rawSock is Linux's alone: newRawSock returns nil elsewhere.
type rawSock struct{ net.Conn }

func newRawSock(net.Conn) *rawSock { return nil }

// serve is never called: there is no rawSock.
func (s *rawSock) serve(func(read func([]byte) (int, error)) bool) error {
	panic("serve: no raw sockets on this system")
}
