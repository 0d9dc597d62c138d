package serve

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// The fast path. A fleet's requests are nearly all of one shape: a plain
// HTTP/1.1 GET of a small file, most with the If-None-Match of the last
// answer, on a keep-alive connection. ListenAndServe (without TLS) reads
// those itself and answers them from memory with header bytes built once
// per file; net/http's per-request work (a goroutine watching the
// connection, a context, header maps, sorting, formatting) costs more than
// the answer. The fast path answers only what it fully understands: a
// connection carrying anything else (another method, a body, a range, a
// date condition, an escaped path, a query, HTTP/1.0, a header net/http
// would refuse, a file that is missing, refused, large or not in memory) is
// handed to net/http, unread bytes included, and served by it from then on,
// so that every other case keeps net/http's behaviour. The file is
// resolved in the tree on every request as in ServeHTTP (memEntry).

// wireBufSize is the read buffer of a connection: a request head that
// does not fit goes to net/http (which allows MaxHeaderBytes).
const wireBufSize = 4 << 10

// wireInlineBody is the largest body copied after the head into one
// write; larger ones are sent with the head in one writev.
const wireInlineBody = 16 << 10

// wireServer serves plain HTTP/1.1 connections, handing those it does not
// answer to fallback through handoff.
type wireServer struct {
	h        *Handler
	fallback *http.Server
	handoff  *handoffListener

	readHeaderTimeout, idleTimeout, writeTimeout time.Duration

	mu      sync.Mutex
	conns   map[*wireConn]struct{} // the connections held, under mu
	closing atomic.Bool            // set once, under mu, by shutdown
	wg      sync.WaitGroup
}

// wireConn is one connection the fast path holds.
type wireConn struct {
	c        net.Conn
	rw       io.Writer // c, or its raw socket (rawsock_linux.go)
	buf      []byte    // wireBufSize; the bytes read and not yet answered are buf[r:w]
	r, w     int
	idle     atomic.Bool // waits for a request (setIdle)
	headSet  bool        // the read deadline of the head being read is set
	answered bool        // a request was answered (the first head's deadline is the connection's)
	out      []byte
	dateSec  int64
	date     []byte    // "Date: ...\r\n" of dateSec
	wrSetAt  time.Time // when the write deadline was last moved
	handedOn bool

	// The last target answered and its name in the tree: a device polls
	// the same name, and the string need not be made again.
	lastTarget, lastName string
}

// errWouldBlock is what a raw socket's read returns when the socket holds
// no bytes: the caller waits until the poller says it does.
var errWouldBlock = errors.New("serve: no bytes to read yet")

// verdict is what serveBuffered tells its caller to do.
type verdict int

const (
	waitBytes  verdict = iota // wait until the socket holds bytes, then call it again
	endConn                   // close the connection
	handOnConn                // give the connection to net/http
)

// serve accepts connections on ln until it is closed. Like net/http, it
// waits (5 ms, doubling to 1 s) after an accept error other than a
// closed listener (too many open files) and tries again. The caller adds
// it to s.wg.
func (s *wireServer) serve(ln net.Listener) error {
	defer s.wg.Done()
	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			s.h.log.Warn("accept", "err", err, "retry_in", delay)
			time.Sleep(delay)
			continue
		}
		delay = 0
		s.wg.Add(1)
		go s.serveConn(c)
	}
}

// setIdle records whether wc waits for a request; it reports false when
// the server is shutting down and the connection must end. It takes no
// lock, once per request: wc.idle is stored before s.closing is loaded,
// and shutdown stores s.closing before it loads each wc.idle (atomics are
// sequentially consistent), so either the connection sees the shutdown or
// the shutdown sees the connection busy; a connection shutdown closes as
// idle never begins an answer.
func (s *wireServer) setIdle(wc *wireConn, idle bool) bool {
	wc.idle.Store(idle)
	return !s.closing.Load()
}

// shutdown ends the fast path's connections: idle ones at once, the others
// after their answer, all of them when ctx is done; then net/http's.
func (s *wireServer) shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing.Store(true)
	for wc := range s.conns {
		if wc.idle.Load() {
			wc.c.Close()
		}
	}
	s.mu.Unlock()
	err := s.fallback.Shutdown(ctx)
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		s.mu.Lock()
		for wc := range s.conns {
			wc.c.Close()
		}
		s.mu.Unlock()
		<-done
		if err == nil {
			err = ctx.Err()
		}
	}
	return err
}

func (s *wireServer) serveConn(c net.Conn) {
	defer s.wg.Done()
	wc := &wireConn{c: c, rw: c, buf: make([]byte, wireBufSize), headSet: true}
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		c.Close()
		return
	}
	s.conns[wc] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.conns, wc)
		s.mu.Unlock()
		if !wc.handedOn {
			c.Close()
		}
	}()
	c.SetReadDeadline(time.Now().Add(s.readHeaderTimeout))
	var v verdict
	if rs := newRawSock(c); rs != nil {
		// The connection's whole life in one raw read loop (see
		// rawSock.serve): a wait ends when bytes arrive, and a read
		// that emptied the socket is not followed by one bound to fail.
		wc.rw = rs
		if err := rs.serve(func(read func([]byte) (int, error)) bool {
			v = s.serveBuffered(wc, read)
			return v != waitBytes
		}); err != nil {
			return // a timeout or a closed connection, as net/http
		}
	} else {
		for v = waitBytes; v == waitBytes; {
			v = s.serveBuffered(wc, c.Read) // a blocking read: waits itself
		}
	}
	if v == handOnConn {
		s.handOn(wc)
	}
}

// serveBuffered answers the requests in wc's buffer, reading more with
// read when it needs them, until it must wait for bytes (waitBytes), or
// the connection ends or goes to net/http. read returns errWouldBlock when
// the socket holds no bytes (a raw socket, which never blocks). A read
// that did not fill the space it was given emptied the socket: rather
// than make another read, bound to fail, serveBuffered then reports
// waitBytes, and its caller calls it again once bytes arrive.
//
// It keeps the timeouts: the first request's head has ReadHeaderTimeout
// from the connection's start, the next ones IdleTimeout to begin and,
// when their head needs more than the bytes at hand, ReadHeaderTimeout from
// then; and it tells the server whether the connection waits for a
// request (setIdle), which shutdown needs.
func (s *wireServer) serveBuffered(wc *wireConn, read func([]byte) (int, error)) verdict {
	emptied := false
	for {
		if data := wc.buf[wc.r:wc.w]; len(data) > 0 {
			if wc.idle.Load() { // a request begins
				if !s.setIdle(wc, false) {
					return endConn
				}
				wc.headSet = false
			}
			if bareLF(data) {
				return handOnConn // net/http's to read
			}
			if i := bytes.Index(data, []byte("\r\n\r\n")); i >= 0 {
				head, ok := parseHead(data[:i+4])
				if !ok || !s.answer(wc, &head) {
					return handOnConn
				}
				wc.r += i + 4
				if head.close {
					return endConn
				}
				wc.answered, wc.headSet = true, false
				continue
			}
			if len(data) == len(wc.buf) {
				return handOnConn // larger than the buffer: net/http allows more
			}
			if wc.r > 0 {
				wc.r, wc.w = 0, copy(wc.buf, data)
			}
			if !wc.headSet {
				wc.c.SetReadDeadline(time.Now().Add(s.readHeaderTimeout))
				wc.headSet = true
			}
		} else {
			wc.r, wc.w = 0, 0
			if wc.answered && !wc.idle.Load() {
				if !s.setIdle(wc, true) {
					return endConn
				}
				wc.c.SetReadDeadline(time.Now().Add(s.idleTimeout))
			}
		}
		if emptied {
			return waitBytes
		}
		n, err := read(wc.buf[wc.w:])
		switch {
		case n > 0:
			emptied = wc.w+n < len(wc.buf)
			wc.w += n
		case err == errWouldBlock:
			return waitBytes
		case err != nil:
			return endConn // a timeout or a closed connection, as net/http
		}
	}
}

// bareLF reports whether b has a line feed without a carriage return
// before it (before its first blank line): net/http reads such heads, the
// fast path does not.
func bareLF(b []byte) bool {
	for i := 0; ; {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return false
		}
		if i+j == 0 || b[i+j-1] != '\r' {
			return true
		}
		if i+j >= 3 && b[i+j-3] == '\r' && b[i+j-2] == '\n' {
			return false // the end of the head: what follows is not ours to judge
		}
		i += j + 1
	}
}

// handOn gives wc, with the bytes it read and did not answer, to net/http.
func (s *wireServer) handOn(wc *wireConn) {
	wc.c.SetReadDeadline(time.Time{}) // net/http sets its own
	pc := &prefixConn{Conn: wc.c, prefix: bytes.Clone(wc.buf[wc.r:wc.w])}
	wc.handedOn = s.handoff.give(pc)
}

// answer writes the answer to head when the fast path can give it: a
// file kept in memory, or /healthz. It reports false, having written
// nothing, otherwise.
func (s *wireServer) answer(wc *wireConn, head *requestHead) bool {
	start := time.Now()
	var (
		status int
		block  []byte
		body   []byte
	)
	if string(head.target) == "/healthz" {
		status, block, body = http.StatusOK, healthzHeaders, healthzBody
	} else {
		name, ok := wc.name(head.target)
		if !ok {
			return false
		}
		e := s.h.memEntry(name)
		if e == nil {
			return false
		}
		switch notModified, ok := e.matchINM(head); {
		case !ok:
			return false
		case notModified:
			status, block = http.StatusNotModified, e.wire304
		default:
			status, block, body = http.StatusOK, e.wire200, e.body
		}
	}
	if head.method == http.MethodHead {
		body = nil
	}
	out := wc.out[:0]
	if status == http.StatusOK {
		out = append(out, "HTTP/1.1 200 OK\r\n"...)
	} else {
		out = append(out, "HTTP/1.1 304 Not Modified\r\n"...)
	}
	out = append(out, block...)
	out = append(out, wc.dateHeader(start)...)
	if head.close {
		out = append(out, "Connection: close\r\n"...)
	}
	out = append(out, "\r\n"...)
	if start.Sub(wc.wrSetAt) > s.writeTimeout/8 {
		// Moved at most every eighth of WriteTimeout: an answer has
		// between 7/8 of it and all of it to be written.
		wc.c.SetWriteDeadline(start.Add(s.writeTimeout))
		wc.wrSetAt = start
	}
	var err error
	if len(body) <= wireInlineBody {
		out = append(out, body...)
		_, err = wc.rw.Write(out)
	} else if _, err = wc.rw.Write(out); err == nil {
		_, err = wc.rw.Write(body)
	}
	if cap(out) <= 2*wireInlineBody {
		wc.out = out
	}
	if err != nil {
		head.close = true
	}
	if s.h.log.Enabled(context.Background(), slog.LevelInfo) {
		s.h.log.LogAttrs(context.Background(), slog.LevelInfo, "request",
			slog.String("method", head.method),
			slog.String("path", string(head.target)),
			slog.Int("status", status),
			slog.Int64("bytes", int64(len(body))),
			slog.Duration("duration", time.Since(start)),
			slog.String("remote", wc.c.RemoteAddr().String()),
		)
	}
	return true
}

// name is cleanName of a request's target, without allocating when the
// target is the connection's last one.
func (wc *wireConn) name(target []byte) (string, bool) {
	if wc.lastTarget != "" && string(target) == wc.lastTarget {
		return wc.lastName, true
	}
	t := string(target)
	name, ok := cleanName(t)
	if ok {
		wc.lastTarget, wc.lastName = t, name
	}
	return name, ok
}

// dateHeader is the Date header line of now, formatted once a second.
func (wc *wireConn) dateHeader(now time.Time) []byte {
	if sec := now.Unix(); sec != wc.dateSec || wc.date == nil {
		wc.dateSec = sec
		wc.date = append(wc.date[:0], "Date: "...)
		wc.date = now.UTC().AppendFormat(wc.date, http.TimeFormat)
		wc.date = append(wc.date, "\r\n"...)
	}
	return wc.date
}

var (
	healthzHeaders = []byte("Cache-Control: no-store\r\nContent-Length: 3\r\nContent-Type: text/plain; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\n")
	healthzBody    = []byte("ok\n")
)

// matchINM decides head's If-None-Match as http.ServeContent would for
// e: notModified for e's ETag (weakly compared), a full answer for a
// single other ETag or none; ok is false for the rest (lists, "*",
// malformed values), which go to net/http.
func (e *entry) matchINM(head *requestHead) (notModified, ok bool) {
	if !head.hasINM {
		return false, true
	}
	v := bytes.TrimPrefix(head.inm, []byte("W/"))
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return false, false
	}
	for _, c := range v[1 : len(v)-1] {
		if !(c == 0x21 || c >= 0x23 && c <= 0x7e || c >= 0x80) {
			return false, false
		}
	}
	return string(v) == e.etag, true
}

// wireHeaders are the header lines (but Date) of e's answers.
func wireHeaders(e *entry) (ok200, notModified []byte) {
	ok200 = []byte("Accept-Ranges: bytes\r\nCache-Control: " + e.cacheControl +
		"\r\nContent-Length: " + e.contentLength + "\r\nContent-Type: " + e.contentType +
		"\r\nEtag: " + e.etag + "\r\nLast-Modified: " + e.lastModified +
		"\r\nX-Content-Type-Options: nosniff\r\n")
	notModified = []byte("Cache-Control: " + e.cacheControl + "\r\nEtag: " + e.etag +
		"\r\nX-Content-Type-Options: nosniff\r\n")
	return ok200, notModified
}

// handoffListener is the listener net/http serves: the connections the
// fast path hands on.
type handoffListener struct {
	addr  net.Addr
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newHandoffListener(addr net.Addr) *handoffListener {
	return &handoffListener{addr: addr, conns: make(chan net.Conn), done: make(chan struct{})}
}

// give hands c to net/http; false once the listener is closed.
func (l *handoffListener) give(c net.Conn) bool {
	select {
	case l.conns <- c:
		return true
	case <-l.done:
		return false
	}
}

func (l *handoffListener) Accept() (net.Conn, error) {
	select {
	case <-l.done:
		return nil, net.ErrClosed
	default:
	}
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *handoffListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *handoffListener) Addr() net.Addr { return l.addr }

// prefixConn is a connection whose first bytes were already read: Read
// returns them first. It keeps the abilities net/http looks for on a TCP
// connection (sendfile through ReadFrom, CloseWrite).
type prefixConn struct {
	net.Conn
	prefix []byte
}

func (c *prefixConn) Read(p []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

func (c *prefixConn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{c.Conn}, r)
}

func (c *prefixConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
