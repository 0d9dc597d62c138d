package client

import (
	"context"
	"crypto/tls"
	"errors"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Network bounds the time of every request and retries transient
// failures. Zero fields take the values of DefaultNetwork.
//
// # Time
//
// Each attempt has one deadline covering connect, TLS, headers and the
// whole body: RequestTimeout, extended by one second per MinRate bytes
// received. A file of length L therefore gets at most RequestTimeout +
// L/MinRate (30 s for metadata, 30 s + 32 s per MiB for a payload at the
// defaults), so a big payload on a slow link still arrives while a server
// that drips one byte per second fails after about RequestTimeout. An
// attempt also fails as soon as no byte arrived for StallTimeout.
//
// # Retries
//
// Transient failures are retried, each time with a new request from the
// first byte (no Range requests): connection errors, the bounds above, a
// body cut short, HTTP 5xx, 408 and 429. Retry i (from 0) waits a random
// time in [0, min(RetryMaxWait, RetryBackoff·2^i)] (full jitter), or what
// a 429 or 503 asks for with Retry-After, capped at RetryMaxWait. Never
// retried: other statuses (a 404 ends the root walk of spec 5.3.2 and is
// a final error for every other file), refused redirects, TLS certificate
// errors, the end of the caller's context, and every verification failure
// (length, hash, signature: security errors are never hidden behind a
// retry). When a body broke after some bytes were read, the next attempt
// reads the same bytes again and checks that they did not change before
// going on.
//
// # Redirects
//
// At most 5 redirects, to the same origin (scheme, host and port) as the
// request; a loop, a redirect to another host or a downgrade from https to
// http is refused with a *RedirectError naming both URLs. Mirrors that
// redirect to another host are a known deployment pattern: set
// OtherHostRedirects to follow them (downgrades stay refused). Everything
// fetched is verified against the trusted metadata wherever it came from,
// so the rule limits where the client connects, not what it trusts.
type Network struct {
	// RequestTimeout is the base deadline of one attempt: 30 s.
	RequestTimeout time.Duration
	// StallTimeout fails an attempt when no byte arrived for this long,
	// before or during the body: 15 s.
	StallTimeout time.Duration
	// MinRate is the slowest transfer, in bytes per second, that the
	// deadline allows for beyond RequestTimeout: 32 KiB/s.
	MinRate int64
	// Retries is the number of further attempts after a transient
	// failure: 3 (4 attempts in all); a negative value means none.
	Retries int
	// RetryBackoff is the cap of the first wait; it doubles with each
	// retry: 500 ms.
	RetryBackoff time.Duration
	// RetryMaxWait caps every wait, including a Retry-After: 30 s.
	RetryMaxWait time.Duration
	// OtherHostRedirects follows redirects to other hosts (never from
	// https to http).
	OtherHostRedirects bool
	// Sleep waits d or until ctx is done, returning ctx's error then;
	// nil: a timer. Tests record the waits instead of sleeping.
	Sleep func(ctx context.Context, d time.Duration) error
	// Rand returns a uniform random number in [0, n), for the jitter; nil:
	// math/rand/v2.Int64N. Sleep and Rand must be safe for concurrent use
	// (downloads may run concurrently).
	Rand func(n int64) int64
}

// DefaultNetwork holds the values a zero Network field takes.
var DefaultNetwork = Network{
	RequestTimeout: 30 * time.Second,
	StallTimeout:   15 * time.Second,
	MinRate:        32 << 10,
	Retries:        3,
	RetryBackoff:   500 * time.Millisecond,
	RetryMaxWait:   30 * time.Second,
}

// maxRedirects is the number of redirects followed for one request.
const maxRedirects = 5

func (n Network) withDefaults() Network {
	d := DefaultNetwork
	if n.RequestTimeout <= 0 {
		n.RequestTimeout = d.RequestTimeout
	}
	if n.StallTimeout <= 0 {
		n.StallTimeout = d.StallTimeout
	}
	if n.MinRate <= 0 {
		n.MinRate = d.MinRate
	}
	switch {
	case n.Retries == 0:
		n.Retries = d.Retries
	case n.Retries < 0:
		n.Retries = 0
	}
	if n.RetryBackoff <= 0 {
		n.RetryBackoff = d.RetryBackoff
	}
	if n.RetryMaxWait <= 0 {
		n.RetryMaxWait = d.RetryMaxWait
	}
	if n.Sleep == nil {
		n.Sleep = sleep
	}
	if n.Rand == nil {
		n.Rand = rand.Int64N
	}
	return n
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// wait returns how long to wait before retry i (from 0) after err.
func (n Network) wait(i int, err error) time.Duration {
	var se *statusError
	if errors.As(err, &se) && se.retryAfter > 0 {
		return min(se.retryAfter, n.RetryMaxWait)
	}
	limit := n.RetryBackoff
	for range i {
		if limit >= n.RetryMaxWait {
			break
		}
		limit *= 2
	}
	limit = min(limit, n.RetryMaxWait)
	return time.Duration(n.Rand(int64(limit) + 1))
}

// NewTransport returns the transport of the client's default
// http.Client: proxies from the environment, bounded connect and TLS
// handshake, a few idle connections per host. Request deadlines are not
// the transport's: the Client sets its own per attempt (see Network), on
// whatever transport it is given, so a transport that wraps this one (a
// progress bar) keeps the same bounds.
func NewTransport() *http.Transport {
	return &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         (&net.Dialer{Timeout: 15 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout: 15 * time.Second,
		IdleConnTimeout:     90 * time.Second,
		MaxIdleConnsPerHost: 4,
	}
}

// httpClient returns the http.Client the Client uses: a copy of hc (nil:
// one on NewTransport, never http.DefaultClient) that applies the
// redirect rules of n before hc's own CheckRedirect.
func httpClient(hc *http.Client, n Network) *http.Client {
	var c http.Client
	if hc != nil {
		c = *hc
	} else {
		c.Transport = NewTransport()
	}
	next := c.CheckRedirect
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if err := checkRedirect(req, via, n.OtherHostRedirects); err != nil {
			return err
		}
		if next != nil {
			return next(req, via)
		}
		return nil
	}
	return &c
}

// checkRedirect refuses a redirect to req after the requests via that
// breaks the rules of Network.
func checkRedirect(req *http.Request, via []*http.Request, otherHosts bool) error {
	prev := via[len(via)-1].URL
	refuse := func(reason string) error {
		return &RedirectError{From: prev.String(), To: req.URL.String(), Reason: reason}
	}
	for _, r := range via {
		if r.URL.String() == req.URL.String() {
			return refuse("redirect loop")
		}
		if r.URL.Scheme == "https" && req.URL.Scheme != "https" {
			return refuse("downgrade from https to " + req.URL.Scheme)
		}
	}
	if len(via) > maxRedirects {
		return refuse("more than " + strconv.Itoa(maxRedirects) + " redirects")
	}
	if first := via[0].URL; !otherHosts && !sameOrigin(first, req.URL) {
		return refuse("another origin than " + first.Scheme + "://" + first.Host)
	}
	return nil
}

func sameOrigin(a, b *url.URL) bool {
	return a.Scheme == b.Scheme && a.Host == b.Host
}

// statusError is an HTTP status other than 200.
type statusError struct {
	code       int
	retryAfter time.Duration // what a 429 or 503 asked for; 0 if nothing
}

func (e *statusError) Error() string { return "HTTP status " + statusText(e.code) }

// statusText is "503 Service Unavailable", or "599" for a code without
// a name.
func statusText(code int) string {
	if t := http.StatusText(code); t != "" {
		return strconv.Itoa(code) + " " + t
	}
	return strconv.Itoa(code)
}

func newStatusError(resp *http.Response) *statusError {
	e := &statusError{code: resp.StatusCode}
	if e.code == http.StatusTooManyRequests || e.code == http.StatusServiceUnavailable {
		e.retryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	}
	return e
}

// parseRetryAfter reads delay-seconds or an HTTP date; 0 when absent,
// malformed or in the past.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s <= 0 {
			return 0
		}
		return time.Duration(min(s, int64(24*time.Hour/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// finalError marks a failure that no retry can cure.
type finalError struct{ error }

func (e finalError) Unwrap() error { return e.error }

// transient reports whether err, the failure of one attempt, may pass
// with another.
func transient(err error) bool {
	var se *statusError
	if errors.As(err, &se) {
		return se.code >= 500 || se.code == http.StatusTooManyRequests || se.code == http.StatusRequestTimeout
	}
	var fe finalError
	var re *RedirectError
	var ce *tls.CertificateVerificationError
	switch {
	case errors.As(err, &fe), errors.As(err, &re), errors.As(err, &ce),
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		// Context errors here are the caller's: the client's own bounds
		// come as *TimeoutError.
		return false
	}
	return true
}
