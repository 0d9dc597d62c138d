package loadgen

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// The plain-HTTP client. The load generator shares the machine with the
// server it measures (and, in .ci/load, with nginx): every microsecond it
// spends per request is taken from the server and blurs the comparison.
// net/http's Transport costs several goroutine hand-offs, a context and a
// timer per request; a worker's GET of a fixed request on its own
// keep-alive connection needs none of them. So each worker sends the
// mix's GETs over plain HTTP as bytes built once (rawRequest) and reads
// the answer with net/http's own response parser; https and POST requests
// go through net/http's client.

// rawRequest is the request r as bytes on a connection to base, or false
// when it must go through net/http (a body, https, a header value with a
// line break).
func rawRequest(base *url.URL, r Request) ([]byte, bool) {
	if r.Body != nil || base.Scheme != "http" {
		return nil, false
	}
	target := base.JoinPath(r.Path).RequestURI()
	if !strings.HasPrefix(target, "/") {
		target = "/" + target // a base URL without a path
	}
	var b strings.Builder
	b.WriteString("GET " + target + " HTTP/1.1\r\nHost: " + base.Host + "\r\n")
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range r.Header {
			if !yield(k) {
				return
			}
		}
	}) {
		for _, v := range r.Header[k] {
			if strings.ContainsAny(k, "\r\n: ") || strings.ContainsAny(v, "\r\n") {
				return nil, false
			}
			b.WriteString(k + ": " + v + "\r\n")
		}
	}
	b.WriteString("\r\n")
	return []byte(b.String()), true
}

// dialAddr is the host:port to dial for base.
func dialAddr(base *url.URL) string {
	port := base.Port()
	if port == "" {
		port = "80"
	}
	return net.JoinHostPort(base.Hostname(), port)
}

// rawConn is one worker's keep-alive connection.
type rawConn struct {
	addr   string
	dialer *net.Dialer
	dials  *atomic.Int64

	mu        sync.Mutex // c against cancel
	c         net.Conn
	br        *bufio.Reader
	cancelled bool
}

// cancel makes the request in flight fail now and refuses new connections.
func (w *rawConn) cancel() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.cancelled = true
	if w.c != nil {
		w.c.SetDeadline(time.Unix(1, 0))
	}
}

func (w *rawConn) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.c != nil {
		w.c.Close()
		w.c = nil
	}
}

func (w *rawConn) dial(ctx context.Context) error {
	w.dials.Add(1)
	c, err := w.dialer.DialContext(ctx, "tcp", w.addr)
	if err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.cancelled {
		c.Close()
		return context.Canceled
	}
	if w.br == nil {
		w.br = bufio.NewReaderSize(c, 16<<10)
	} else {
		w.br.Reset(c)
	}
	w.c = c
	return nil
}

// get sends req, the bytes of r, and reads the answer. A request on a
// connection the server closed while it was idle (nothing of an answer
// read) is sent once more on a new connection, as net/http's client does.
func (w *rawConn) get(ctx context.Context, r Request, req []byte, timeout time.Duration, errs *errList) sample {
	start := time.Now()
	deadline := start.Add(timeout)
	for attempt := 0; ; attempt++ {
		reused := w.c != nil
		if !reused {
			if err := w.dial(ctx); err != nil {
				errs.add(err)
				return sample{dur: time.Since(start), err: errorKind(err)}
			}
		}
		w.c.SetDeadline(deadline)
		resp, err := w.roundTrip(req)
		if err != nil {
			w.close()
			if reused && attempt == 0 && idleClosed(err) {
				continue
			}
			errs.add(fmt.Errorf("%s: %w", r.Path, err))
			return sample{dur: time.Since(start), err: errorKind(err)}
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || resp.Close {
			w.close()
		}
		return judge(r, sample{dur: time.Since(start), code: resp.StatusCode, bytes: n}, err, errs)
	}
}

func (w *rawConn) roundTrip(req []byte) (*http.Response, error) {
	if _, err := w.c.Write(req); err != nil {
		return nil, err
	}
	return http.ReadResponse(w.br, nil)
}

// idleClosed reports whether err is a connection closed or reset before
// any byte of the answer: the server had closed it while it was idle.
func idleClosed(err error) bool {
	return errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// judge completes s, an answer to r whose body was read with err, with
// the error kind: a body cut short, another status, another length.
func judge(r Request, s sample, err error, errs *errList) sample {
	switch {
	case err != nil:
		errs.add(fmt.Errorf("%s: body after %d bytes: %w", r.Path, s.bytes, err))
		s.err = errorKind(err)
		if s.err == "other" {
			s.err = "read"
		}
	case s.code != r.Status:
		errs.add(fmt.Errorf("%s: status %d, want %d", r.Path, s.code, r.Status))
		s.err = "status " + fmt.Sprint(s.code)
	case r.Length >= 0 && s.bytes != r.Length:
		errs.add(fmt.Errorf("%s: body of %d bytes, want %d", r.Path, s.bytes, r.Length))
		s.err = "length"
	}
	return s
}
