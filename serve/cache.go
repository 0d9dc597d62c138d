package serve

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"
)

// fileIdentity tells whether a name still leads to the file it led to: a
// cached answer is used only while the identity the name resolves to now
// equals the one of the file read. See identityOf.
type fileIdentity struct {
	dev, ino uint64
	size     int64
	mtime    int64 // nanoseconds since 1970
	ctime    int64 // nanoseconds since 1970; 0 where not at hand
}

// Bounds of the content cache.
const (
	// maxCachedFile is the largest file kept in memory; larger ones (big
	// payloads) are sent from the file (sendfile where the system has it).
	maxCachedFile = 1 << 20
	// maxCacheBytes bounds the content of all files kept in memory.
	maxCacheBytes = 64 << 20
)

// entry is one file kept in memory: its content, read from one open file
// whose identity did not change while it was read, and the header values
// of every answer, computed once. It is never modified.
type entry struct {
	id      fileIdentity
	body    []byte
	modTime time.Time

	etag, cacheControl, contentType, contentLength, lastModified string

	// The header lines (but Date) of the fast path's answers 200 and 304.
	wire200, wire304 []byte
}

// errChangedWhileRead is returned by loadEntry for a file written to while
// it was read: its content is not cached.
var errChangedWhileRead = errors.New("changed while being read")

// loadEntry reads f, whose name is name and whose identity is that of fi,
// into an entry. It returns the content even when the file is a private
// key: the caller checks.
func loadEntry(name string, f *os.File, fi os.FileInfo) (*entry, error) {
	size := fi.Size()
	body := make([]byte, size)
	switch n, err := f.ReadAt(body, 0); {
	case n == len(body):
	case errors.Is(err, io.EOF):
		return nil, errChangedWhileRead // shorter than it was
	default:
		return nil, fmt.Errorf("reading %d bytes: %w", size, err)
	}
	var one [1]byte
	if n, _ := f.ReadAt(one[:], size); n != 0 {
		return nil, errChangedWhileRead // longer than it was
	}
	after, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if identityOf(after) != identityOf(fi) {
		return nil, errChangedWhileRead
	}
	sum := sha256.Sum256(body)
	e := &entry{
		id:            identityOf(fi),
		body:          body,
		modTime:       fi.ModTime(),
		etag:          `"` + hex.EncodeToString(sum[:]) + `"`,
		cacheControl:  CacheControl(name),
		contentType:   ContentType(name),
		contentLength: strconv.FormatInt(size, 10),
		lastModified:  fi.ModTime().UTC().Format(http.TimeFormat),
	}
	e.wire200, e.wire304 = wireHeaders(e)
	return e, nil
}

// contentCache keeps small files in memory by name. An entry answers for
// its name only while the name resolves to a file of the same identity.
type contentCache struct {
	mu      sync.RWMutex
	entries map[string]*entry
	bytes   int64 // content held
}

// get returns the entry of name if it was read from a file of identity
// id, or nil.
func (c *contentCache) get(name string, id fileIdentity) *entry {
	c.mu.RLock()
	e := c.entries[name]
	c.mu.RUnlock()
	if e == nil || e.id != id {
		return nil
	}
	return e
}

// put keeps e as the entry of name, replacing an older one and dropping
// entries (in the map's order, which is no order) until the content held
// fits maxCacheBytes.
func (c *contentCache) put(name string, e *entry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = make(map[string]*entry)
	}
	if old := c.entries[name]; old != nil {
		c.bytes -= int64(len(old.body))
		delete(c.entries, name)
	}
	for k, old := range c.entries {
		if c.bytes+int64(len(e.body)) <= maxCacheBytes {
			break
		}
		c.bytes -= int64(len(old.body))
		delete(c.entries, k)
	}
	c.entries[name] = e
	c.bytes += int64(len(e.body))
}

// serveEntry answers r from e, as http.ServeContent would from the file
// (the tests compare the two): a plain GET or HEAD, or one whose
// If-None-Match is e's ETag, the case of nearly every request of a fleet,
// is answered here without parsing; any other conditional or range
// request goes to http.ServeContent over the content in memory.
func serveEntry(w http.ResponseWriter, r *http.Request, e *entry) {
	// The header values of one answer, in one allocation of their own:
	// a caller wrapping the handler may modify them in place.
	v := &[6]string{e.etag, e.cacheControl, e.contentType, e.lastModified, e.contentLength, "bytes"}
	hdr := w.Header()
	hdr["Etag"] = v[0:1:1]
	hdr["Cache-Control"] = v[1:2:2]
	inm, conditional := r.Header["If-None-Match"]
	if !plainRequest(r.Header) || conditional && (len(inm) != 1 || inm[0] != e.etag) {
		hdr["Content-Type"] = v[2:3:3]
		http.ServeContent(w, r, "", e.modTime, bytes.NewReader(e.body))
		return
	}
	if conditional {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	hdr["Content-Type"] = v[2:3:3]
	hdr["Last-Modified"] = v[3:4:4]
	hdr["Content-Length"] = v[4:5:5]
	hdr["Accept-Ranges"] = v[5:6:6]
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(e.body)
	}
}

// plainRequest reports whether a request has none of the headers that
// http.ServeContent interprets besides If-None-Match.
func plainRequest(h http.Header) bool {
	for _, k := range [...]string{"Range", "If-Range", "If-Match", "If-Unmodified-Since", "If-Modified-Since"} {
		if _, ok := h[k]; ok {
			return false
		}
	}
	return true
}
