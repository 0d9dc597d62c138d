// Package gzpool keeps gzip readers for reuse across archives. A new
// reader allocates its decompressor's window and tables (about 40 KB),
// which is most of the cost of checking a small payload: a publisher
// checks each of 100,000 payloads twice in a fresh publish (its own
// check and the device's rules), a device each payload it installs.
//
// Get returns a reader over r as gzip.NewReader does (multistream, as
// Reset leaves it: a caller that wants one member sets it again); Put
// takes it back once the caller reads from it no more.
package gzpool

import (
	"compress/gzip"
	"io"
	"sync"
)

var readers sync.Pool

// Get returns a gzip reader over r, reused when one was Put back, after
// reading the gzip header as gzip.NewReader does.
func Get(r io.Reader) (*gzip.Reader, error) {
	if zr, ok := readers.Get().(*gzip.Reader); ok {
		if err := zr.Reset(r); err != nil {
			readers.Put(zr)
			return nil, err
		}
		return zr, nil
	}
	return gzip.NewReader(r)
}

// Put gives zr back for reuse; its caller must not read from it again.
func Put(zr *gzip.Reader) { readers.Put(zr) }

// Drop forgets every reader kept, for tests that compare a check with
// reused readers against one with fresh readers; not while any is in use.
func Drop() { readers = sync.Pool{} }
