package client

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// body is the body of a GET that survives transient failures (see
// Network): when an attempt fails, before or during the body, it waits
// and makes a new request from the first byte, reads again the bytes it
// already returned, checks that they hash as before (a file that changed
// between attempts is an error, not a splice), and goes on. Attempts are
// counted over the whole body, so Retries bounds them all.
type body struct {
	c      *Client
	ctx    context.Context // the caller's
	url    string
	length int64 // Content-Length of the first 200 response; -1 unknown

	attempts int
	n        int64         // bytes returned by Read
	seed     maphash.Seed  // of sum
	sum      *maphash.Hash // of the bytes returned by Read

	cur    io.ReadCloser // the body of the current attempt; nil between attempts
	cancel context.CancelCauseFunc
	actx   context.Context // of the current attempt
	wd     *watchdog
	err    error // final: every later Read returns it
}

// start makes the first successful attempt of a GET of url; the error is
// a *FetchError.
func (c *Client) start(ctx context.Context, url string) (*body, error) {
	seed := maphash.MakeSeed()
	h := &maphash.Hash{}
	h.SetSeed(seed)
	b := &body{c: c, ctx: ctx, url: url, length: -1, seed: seed, sum: h}
	if err := b.next(nil); err != nil {
		return nil, err
	}
	return b, nil
}

// next makes attempts until one gives a body to read, after failure
// (nil at the start), or returns the *FetchError that ends the body.
func (b *body) next(failure error) error {
	for {
		if failure != nil {
			if !transient(failure) || b.attempts > b.c.net.Retries || b.ctx.Err() != nil {
				return b.fail(failure)
			}
			d := b.c.net.wait(b.attempts-1, failure)
			b.c.log.Debug("retrying", "url", b.url, "attempt", b.attempts+1, "wait", d, "after", failure)
			if err := b.c.net.Sleep(b.ctx, d); err != nil {
				return b.fail(err)
			}
		}
		if failure = b.attempt(); failure == nil {
			return nil
		}
	}
}

// fail ends the body with the *FetchError for the last failure.
func (b *body) fail(err error) error {
	fe := &FetchError{URL: b.url, Attempts: b.attempts, Err: err}
	var se *statusError
	if errors.As(err, &se) {
		fe.StatusCode, fe.Err = se.code, nil
	}
	var fin finalError
	if errors.As(err, &fin) {
		fe.Err = fin.error
	}
	b.err = fe
	return fe
}

// attempt makes one request and, after a failure mid-body, reads again
// the bytes already returned.
func (b *body) attempt() error {
	b.attempts++
	ctx, cancel := context.WithCancelCause(b.ctx)
	wd := startWatchdog(b.c.net, cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.url, nil)
	if err == nil && req.URL.Scheme != "http" && req.URL.Scheme != "https" {
		err = fmt.Errorf("unsupported protocol scheme %q (http or https)", req.URL.Scheme)
	}
	if err != nil {
		wd.stop()
		cancel(nil)
		return finalError{err}
	}
	resp, err := b.c.hc.Do(req)
	if err != nil {
		wd.stop()
		err = b.cause(ctx, err)
		cancel(nil)
		return err
	}
	wd.alive() // headers came
	if resp.StatusCode != http.StatusOK {
		drainShort(resp, wd)
		wd.stop()
		resp.Body.Close()
		cancel(nil)
		return newStatusError(resp)
	}
	if b.attempts == 1 {
		b.length = resp.ContentLength
	}
	b.cur, b.cancel, b.actx, b.wd = &countingReader{resp.Body, wd}, cancel, ctx, wd
	if b.n > 0 {
		return b.reread()
	}
	return nil
}

// drainMax is the longest answer body drainShort reads.
const drainMax = 4 << 10

// drainShort reads to its end the body of an answer other than 200 whose
// declared length is at most drainMax (a 404's "not found" page), so that
// the connection is kept for the next request: every refresh asks for the
// next root version and gets a 404 before the timestamp, which would
// otherwise pay a new connection (a new TLS handshake on a real mirror).
// The watchdog still runs, bounding a body that stalls; a body declared
// longer than drainMax, or of unknown length, is not read and its
// connection closes. What the body holds is never used.
func drainShort(resp *http.Response, wd *watchdog) {
	if resp.ContentLength < 0 || resp.ContentLength > drainMax {
		return
	}
	// The transport ends the body at the declared length.
	_, _ = io.Copy(io.Discard, &countingReader{resp.Body, wd})
}

// reread reads the first b.n bytes of a new attempt and checks that they
// are the ones returned before.
func (b *body) reread() error {
	h := &maphash.Hash{}
	h.SetSeed(b.seed)
	got, err := io.CopyN(h, b.cur, b.n)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		err = b.cause(b.actx, err)
		b.drop()
		return err
	}
	if h.Sum64() != b.sum.Sum64() {
		b.drop()
		return finalError{fmt.Errorf("content changed between attempts (the first %d bytes differ)", got)}
	}
	return nil
}

// cause returns the failure behind err, an error of an attempt with
// context ctx: the watchdog's *TimeoutError when it cut the attempt, the
// caller's context error, or err without the URL the FetchError repeats.
func (b *body) cause(ctx context.Context, err error) error {
	if b.ctx.Err() != nil {
		return b.ctx.Err()
	}
	var te *TimeoutError
	if errors.As(context.Cause(ctx), &te) {
		return te
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// drop ends the current attempt.
func (b *body) drop() {
	if b.cur == nil {
		return
	}
	b.wd.stop()
	b.cur.Close()
	b.cancel(nil)
	b.cur, b.cancel, b.actx, b.wd = nil, nil, nil, nil
}

func (b *body) Read(p []byte) (int, error) {
	for {
		if b.err != nil {
			return 0, b.err
		}
		if b.cur == nil {
			return 0, io.EOF // closed
		}
		n, err := b.cur.Read(p)
		b.n += int64(n)
		b.sum.Write(p[:n])
		if err == nil || err == io.EOF {
			return n, err
		}
		failure := b.cause(b.actx, err)
		b.drop()
		if nerr := b.next(failure); nerr != nil && n == 0 {
			return 0, nerr
		}
		if n > 0 {
			return n, nil
		}
	}
}

// Close ends the current attempt.
func (b *body) Close() error {
	b.drop()
	return nil
}

// countingReader reports each read to a watchdog.
type countingReader struct {
	io.ReadCloser
	wd *watchdog
}

func (r *countingReader) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	r.wd.progress(n)
	return n, err
}

// watchdog cancels an attempt with a *TimeoutError when no byte came for
// the stall timeout, or when the request timeout plus one second per
// MinRate bytes received has passed. It checks lazily: its timer fires at
// the earliest moment either could be true and re-arms when neither is.
type watchdog struct {
	stall, base time.Duration
	rate        int64
	cancel      context.CancelCauseFunc

	mu      sync.Mutex
	start   time.Time
	last    time.Time // of the last byte (or of the start)
	n       int64
	timer   *time.Timer
	stopped bool
}

func startWatchdog(n Network, cancel context.CancelCauseFunc) *watchdog {
	now := time.Now()
	w := &watchdog{stall: n.StallTimeout, base: n.RequestTimeout, rate: n.MinRate, cancel: cancel, start: now, last: now}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.timer = time.AfterFunc(w.nextCheck(now), w.fire)
	return w
}

// deadline is the start plus the base time plus n/rate seconds.
func (w *watchdog) deadline() time.Time {
	extra := time.Duration(min(float64(w.n)/float64(w.rate)*float64(time.Second), float64(1<<62)))
	return w.start.Add(w.base + extra)
}

func (w *watchdog) nextCheck(now time.Time) time.Duration {
	at := w.last.Add(w.stall)
	if d := w.deadline(); d.Before(at) {
		at = d
	}
	return at.Sub(now)
}

func (w *watchdog) progress(n int) {
	if n > 0 {
		w.mu.Lock()
		w.n += int64(n)
		w.last = time.Now()
		w.mu.Unlock()
	}
}

// alive notes a sign of life other than body bytes: the headers.
func (w *watchdog) alive() {
	w.mu.Lock()
	w.last = time.Now()
	w.mu.Unlock()
}

func (w *watchdog) fire() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped {
		return
	}
	now := time.Now()
	switch {
	case now.Sub(w.last) >= w.stall:
		w.stopped = true
		w.cancel(&TimeoutError{Stalled: true, After: now.Sub(w.last), Bytes: w.n, Limit: w.stall})
	case !now.Before(w.deadline()):
		w.stopped = true
		w.cancel(&TimeoutError{After: now.Sub(w.start), Bytes: w.n, Limit: w.base, MinRate: w.rate})
	default:
		w.timer.Reset(w.nextCheck(now))
	}
}

func (w *watchdog) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stopped = true
	w.timer.Stop()
}
