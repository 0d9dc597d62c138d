package loadgen

import (
	"bufio"
	"context"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"testing"
	"time"
)

func TestRawRequest(t *testing.T) {
	tests := []struct {
		base string
		r    Request
		want string // "" when the request must go through net/http
	}{
		{"http://127.0.0.1:8080/", Request{Path: "timestamp.json"},
			"GET /timestamp.json HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n"},
		{"http://h", Request{Path: "x"}, "GET /x HTTP/1.1\r\nHost: h\r\n\r\n"},
		{"http://h/repo/", Request{Path: "targets/a b.json", Header: http.Header{"If-None-Match": {`"e"`}, "A": {"1", "2"}}},
			"GET /repo/targets/a%20b.json HTTP/1.1\r\nHost: h\r\nA: 1\r\nA: 2\r\nIf-None-Match: \"e\"\r\n\r\n"},
		{"https://h/", Request{Path: "x"}, ""},
		{"http://h/", Request{Path: "x", Body: func(*rand.Rand) []byte { return nil }}, ""},
		{"http://h/", Request{Path: "x", Header: http.Header{"If-None-Match": {"\"e\"\r\nX: y"}}}, ""},
	}
	for _, tt := range tests {
		base, err := url.Parse(tt.base)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := rawRequest(base, tt.r)
		if string(got) != tt.want || ok != (tt.want != "") {
			t.Errorf("rawRequest(%s, %s) = %q, %v; want %q", tt.base, tt.r.Path, got, ok, tt.want)
		}
	}
}

// TestRunReconnectsAfterIdleClose: a server that closes each connection
// after one answer, without saying so (a keep-alive answer, then the
// close an idle timeout makes), costs new connections, never a failed
// request: the request that finds its connection closed is sent again
// on a new one, as net/http's client does.
func TestRunReconnectsAfterIdleClose(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
					return
				}
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
				time.Sleep(5 * time.Millisecond) // the client sends its next request here
			}()
		}
	}()
	res, err := Run(context.Background(), Config{
		URL: "http://" + ln.Addr().String() + "/", Conns: 2, Duration: 200 * time.Millisecond, Timeout: 5 * time.Second,
		Mix: []Request{{Kind: "k", Path: "x", Status: 200, Length: 2, Weight: 1}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK() || res.Dials < res.Requests {
		t.Fatalf("%d requests, %d connections, errors %v %q", res.Requests, res.Dials, res.Errors, res.FirstErrors)
	}
}
