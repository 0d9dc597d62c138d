package client

import (
	"bytes"
	"context"
	"io"
	"strings"
)

// joinURL appends name to an opaque URL prefix with exactly one "/"
// between them. The prefix is never decoded: "%2F" in it stays.
func joinURL(prefix, name string) string {
	return strings.TrimSuffix(prefix, "/") + "/" + name
}

// open starts a GET of url and returns the body of a 200 response, within
// the bounds and retries of c's Network (see body). Errors, from open and
// from reading the body, are *FetchError.
func (c *Client) open(ctx context.Context, url string) (io.ReadCloser, error) {
	return c.start(ctx, url)
}

// fetch downloads url, refusing more than max bytes: the limit is enforced
// here with io.LimitReader, whatever the server says its length is, and
// on every attempt. Past the limit the error is a *LengthError, never
// retried.
func (c *Client) fetch(ctx context.Context, name, url string, max int64) ([]byte, error) {
	b, err := c.start(ctx, url)
	if err != nil {
		return nil, err
	}
	defer b.Close()
	var buf bytes.Buffer
	// The announced length only sizes the buffer (one allocation instead
	// of doubling); the limit is max either way.
	if n := b.length; n > 0 && n <= max {
		buf.Grow(int(n) + bytes.MinRead)
	}
	n, err := buf.ReadFrom(io.LimitReader(b, max+1))
	if err != nil {
		return nil, err
	}
	if n > max {
		return nil, &LengthError{Name: name, Want: max, Got: n, Exceeded: true}
	}
	c.log.Debug("fetched", "url", url, "bytes", n, "attempts", b.attempts)
	return buf.Bytes(), nil
}
