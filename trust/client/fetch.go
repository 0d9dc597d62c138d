package client

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// newHTTPClient returns the client used when Config.HTTPClient is nil:
// bounded connect, TLS, header and whole-request times, proxies from the
// environment, and never http.DefaultClient.
func newHTTPClient() *http.Client {
	return &http.Client{
		Timeout: 5 * time.Minute,
		Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 15 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSHandshakeTimeout:   15 * time.Second,
			ResponseHeaderTimeout: 30 * time.Second,
			IdleConnTimeout:       90 * time.Second,
			MaxIdleConnsPerHost:   4,
		},
	}
}

// joinURL appends name to an opaque URL prefix with exactly one "/"
// between them. The prefix is never decoded: "%2F" in it stays.
func joinURL(prefix, name string) string {
	return strings.TrimSuffix(prefix, "/") + "/" + name
}

// open starts a GET of url and returns the body of a 200 response.
func (c *Client) open(ctx context.Context, url string) (io.ReadCloser, error) {
	resp, err := c.get(ctx, url)
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// get starts a GET of url and returns a 200 response.
func (c *Client) get(ctx context.Context, url string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, &FetchError{URL: url, Err: err}
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, &FetchError{URL: url, Err: err}
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, &FetchError{URL: url, StatusCode: resp.StatusCode}
	}
	return resp, nil
}

// fetch downloads url, refusing more than max bytes: the limit is enforced
// here with io.LimitReader, whatever the server says its length is.
func (c *Client) fetch(ctx context.Context, name, url string, max int64) ([]byte, error) {
	resp, err := c.get(ctx, url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	// The announced length only sizes the buffer (one allocation instead
	// of doubling); the limit is max either way.
	if n := resp.ContentLength; n > 0 && n <= max {
		buf.Grow(int(n) + bytes.MinRead)
	}
	n, err := buf.ReadFrom(io.LimitReader(resp.Body, max+1))
	if err != nil {
		return nil, &FetchError{URL: url, Err: err}
	}
	if n > max {
		return nil, &LengthError{Name: name, Want: max, Got: n, Exceeded: true}
	}
	c.log.Debug("fetched", "url", url, "bytes", n)
	return buf.Bytes(), nil
}
