package serve

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bsiframework/bsi/loadgen"
)

// listen runs ListenAndServe with opts on a free loopback port until the
// test ends, and returns the address.
func listen(t *testing.T, opts Options) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	opts.Addr = "127.0.0.1:0"
	opts.Ready = func(a string) { ready <- a }
	go func() { done <- ListenAndServe(ctx, opts) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("server did not stop")
		}
	})
	select {
	case a := <-ready:
		return a
	case err := <-done:
		t.Fatal(err)
		return ""
	}
}

// smallMix is a fleet's requests on the tree of tree(): the conditional
// timestamp poll, a versioned role and a payload.
func smallMix(t *testing.T, addr string) []loadgen.Request {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/timestamp.json")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return []loadgen.Request{
		{Kind: "timestamp-304", Path: "timestamp.json", Status: 304, Weight: 8,
			Header: http.Header{"If-None-Match": {resp.Header.Get("ETag")}}},
		{Kind: "snapshot", Path: "3.snapshot.json", Status: 200, Length: int64(len(`{"signed":{"_type":"snapshot"}}`)), Weight: 1},
		{Kind: "payload", Path: "targets/webkit/" + hash64 + ".a.tar.gz", Status: 200, Length: 7, Weight: 1},
	}
}

// TestSlowlorisDoesNotStarveOthers: 200 connections send a request header
// one byte per second. While they are open, other clients are served
// without an error; and the server cuts every slow connection off once its
// ReadHeaderTimeout (here 2 s) has passed, instead of holding it as long
// as the client keeps dripping.
func TestSlowlorisDoesNotStarveOthers(t *testing.T) {
	if testing.Short() {
		t.Skip("200 connections for a few seconds")
	}
	const slow = 200
	timeout := 2 * time.Second
	addr := listen(t, Options{Dir: tree(t), ReadHeaderTimeout: timeout})
	mix := smallMix(t, addr)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	cut := make(chan time.Duration, slow)
	opened := make(chan struct{}, slow)
	for range slow {
		wg.Go(func() {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Error(err)
				opened <- struct{}{}
				return
			}
			defer c.Close()
			opened <- struct{}{}
			start := time.Now()
			cut <- drip(ctx, c, "GET /timestamp.json HTTP/1.1\r\nHost: x\r\nX-Slow: "+strings.Repeat("a", 100), time.Second, start)
		})
	}
	for range slow {
		<-opened
	}
	res, err := loadgen.Run(context.Background(), loadgen.Config{
		URL: "http://" + addr + "/", Mix: mix, Conns: 4, Duration: 500 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK() {
		t.Fatalf("with %d slow clients: %v %q", slow, res.Errors, res.FirstErrors)
	}
	t.Logf("beside %d slow clients: %d requests, p99 %v", slow, res.Requests, res.Latency.P99)
	wg.Wait()
	close(cut)
	var longest time.Duration
	for d := range cut {
		if d < 0 {
			t.Fatal("a slow client was never disconnected")
		}
		longest = max(longest, d)
	}
	t.Logf("slowest of %d slow clients cut off after %v (ReadHeaderTimeout %v)", slow, longest.Round(time.Millisecond), timeout)
}

// drip writes msg one byte per interval until the server closes the
// connection, and returns how long that took; -1 when the server was still
// reading after the whole message or 60 s (a hang guard).
func drip(ctx context.Context, c net.Conn, msg string, interval time.Duration, start time.Time) time.Duration {
	closed := make(chan struct{})
	go func() {
		io.Copy(io.Discard, c) // returns when the server closes
		close(closed)
	}()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	guard := time.After(60 * time.Second)
	for i := 0; i < len(msg); i++ {
		select {
		case <-closed:
			return time.Since(start)
		case <-ctx.Done():
			return -1
		case <-guard:
			return -1
		case <-tick.C:
			if _, err := c.Write([]byte{msg[i]}); err != nil {
				return time.Since(start)
			}
		}
	}
	return -1
}

// TestHeaderLimits: a request whose header exceeds MaxHeaderBytes (16 KiB,
// plus the 4 KiB net/http allows on top) is refused with 431 and the
// connection closed (or reset, when the client is still sending); one
// under it is served.
func TestHeaderLimits(t *testing.T) {
	addr := listen(t, Options{Dir: tree(t)})
	tests := []struct {
		size   int
		status int
	}{
		{1 << 10, 200},
		{12 << 10, 200},
		{24 << 10, 431},
		{1 << 20, 431},
	}
	for _, tt := range tests {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(30 * time.Second))
		go io.WriteString(c, "GET /timestamp.json HTTP/1.1\r\nHost: x\r\nX-Big: "+strings.Repeat("b", tt.size)+"\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		c.Close()
		if err != nil && tt.status != 200 && !errors.Is(err, os.ErrDeadlineExceeded) {
			// The server answers 431 and hangs up while the client is still
			// sending; the reset can overtake the answer. Refused either way.
			t.Logf("header of %d bytes: connection closed before the 431 could be read: %v", tt.size, err)
			continue
		}
		if err != nil {
			t.Fatalf("header of %d bytes: %v", tt.size, err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.status {
			t.Errorf("header of %d bytes: status %d, want %d", tt.size, resp.StatusCode, tt.status)
		}
	}
}

// TestIdleConnectionsClosed: a keep-alive connection left idle is closed by
// the server after IdleTimeout.
func TestIdleConnectionsClosed(t *testing.T) {
	addr := listen(t, Options{Dir: tree(t), IdleTimeout: 300 * time.Millisecond})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second)) // hang guard
	io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	r := bufio.NewReader(c)
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	start := time.Now()
	if _, err := r.ReadByte(); err != io.EOF {
		t.Fatalf("idle connection: read %v, want EOF from the server closing it", err)
	}
	t.Logf("idle connection closed after %v", time.Since(start).Round(time.Millisecond))
}
