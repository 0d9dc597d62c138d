//go:build !linux

package serve

import "net"

// rawSock is Linux's alone: newRawSock returns nil elsewhere.
type rawSock struct{ net.Conn }

func newRawSock(net.Conn) *rawSock { return nil }
