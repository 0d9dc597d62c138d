package serve

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// wireAnswer is what a client sees of one response, but its Date.
type wireAnswer struct {
	Status int
	Header http.Header
	Body   string
	Close  bool
}

// exchange sends raw on a new connection to addr and reads n responses
// (for requests whose methods are methods), then whether the server
// closed the connection.
func exchange(t *testing.T, addr, raw string, methods []string) ([]wireAnswer, bool) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	var got []wireAnswer
	for _, m := range methods {
		resp, err := http.ReadResponse(br, &http.Request{Method: m})
		if err != nil {
			t.Fatalf("response %d: %v", len(got)+1, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		resp.Header.Del("Date")
		got = append(got, wireAnswer{resp.StatusCode, resp.Header, string(body), resp.Close})
	}
	// A server keeping the connection waits; one closing it sends EOF.
	c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	_, err = br.ReadByte()
	return got, err == io.EOF
}

// TestWireMatchesNetHTTP: on a real connection, every request is answered
// by ListenAndServe (whose fast path answers plain GET and HEAD of files in
// memory and hands the rest to net/http) exactly as net/http with the
// Handler answers it: status, every header but Date, body, and whether the
// connection stays open, also when requests of both kinds follow each
// other on one connection.
func TestWireMatchesNetHTTP(t *testing.T) {
	dir := tree(t)
	addr := listen(t, Options{Dir: dir, IdleTimeout: 2 * time.Second})
	h, err := NewHandler(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() }) // after the parallel subtests
	ref := httptest.NewUnstartedServer(h)
	ref.Config.IdleTimeout = 2 * time.Second
	ref.Start()
	t.Cleanup(ref.Close)
	refAddr := strings.TrimPrefix(ref.URL, "http://")

	resp, err := http.Get(ref.URL + "/timestamp.json")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	etag := resp.Header.Get("ETag")
	get := func(path string, hdr ...string) string {
		return "GET " + path + " HTTP/1.1\r\nHost: bsi.example\r\n" + strings.Join(hdr, "") + "\r\n"
	}
	payload := "/targets/webkit/" + hash64 + ".a.tar.gz"
	tests := []struct {
		name    string
		raw     string
		methods []string // of the requests in raw; GET for one when nil
	}{
		{"plain GET", get("/timestamp.json"), nil},
		{"HEAD", "HEAD /timestamp.json HTTP/1.1\r\nHost: x\r\n\r\n", []string{"HEAD"}},
		{"If-None-Match, its ETag", get("/timestamp.json", "If-None-Match: "+etag+"\r\n"), nil},
		{"If-None-Match, its ETag, HEAD", "HEAD /timestamp.json HTTP/1.1\r\nHost: x\r\nIf-None-Match: " + etag + "\r\n\r\n", []string{"HEAD"}},
		{"If-None-Match, weak", get("/timestamp.json", "If-None-Match: W/"+etag+"\r\n"), nil},
		{"If-None-Match, another ETag", get("/timestamp.json", "If-None-Match: \"abc\"\r\n"), nil},
		{"If-None-Match, a list", get("/timestamp.json", "If-None-Match: \"abc\", "+etag+"\r\n"), nil},
		{"If-None-Match, star", get("/timestamp.json", "If-None-Match: *\r\n"), nil},
		{"If-None-Match, malformed", get("/timestamp.json", "If-None-Match: abc\r\n"), nil},
		{"If-None-Match twice", get("/timestamp.json", "If-None-Match: \"abc\"\r\nIf-None-Match: "+etag+"\r\n"), nil},
		{"header names in lower case", "GET /timestamp.json HTTP/1.1\r\nhost: x\r\nif-none-match:" + etag + "\r\n\r\n", nil},
		{"Range", get("/timestamp.json", "Range: bytes=2-5\r\n"), nil},
		{"If-Modified-Since", get("/timestamp.json", "If-Modified-Since: Mon, 01 Jan 2046 00:00:00 GMT\r\n"), nil},
		{"Connection: close", get("/timestamp.json", "Connection: close\r\n"), nil},
		{"Connection: keep-alive", get("/timestamp.json", "Connection: keep-alive\r\n"), nil},
		{"Connection: upgrade", get("/timestamp.json", "Connection: upgrade\r\nUpgrade: h2c\r\n"), nil},
		{"versioned metadata", get("/3.snapshot.json"), nil},
		{"payload", get(payload), nil},
		{"link inside the tree", get("/inside.json"), nil},
		{"link out of the tree", get("/escape.json"), nil},
		{"missing", get("/nope.json"), nil},
		{"dot-file", get("/.hidden"), nil},
		{"directory", get("/targets/webkit"), nil},
		{"escaped path", get("/time%73tamp.json"), nil},
		{"query", get("/timestamp.json?x=1"), nil},
		{"dot segment", get("/targets/../timestamp.json"), nil},
		{"healthz", get("/healthz"), nil},
		{"HTTP/1.0", "GET /timestamp.json HTTP/1.0\r\n\r\n", nil},
		{"POST", "POST /timestamp.json HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi", nil},
		{"GET with a body", "GET /timestamp.json HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi", nil},
		{"no Host", "GET /timestamp.json HTTP/1.1\r\n\r\n", nil},
		{"two Hosts", "GET /timestamp.json HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", nil},
		{"bad Host", "GET /timestamp.json HTTP/1.1\r\nHost: a b\r\n\r\n", nil},
		{"control byte in a value", "GET /timestamp.json HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n", nil},
		{"space before the colon", "GET /timestamp.json HTTP/1.1\r\nHost: x\r\nX-A : b\r\n\r\n", nil},
		{"bare LF", "GET /timestamp.json HTTP/1.1\nHost: x\n\n", nil},
		{"folded header", "GET /timestamp.json HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n", nil},
		{"absolute form", "GET http://x/timestamp.json HTTP/1.1\r\nHost: x\r\n\r\n", nil},
		{"pipelined: answered, handed on, answered by net/http",
			get("/timestamp.json", "If-None-Match: "+etag+"\r\n") + get("/timestamp.json", "Range: bytes=0-1\r\n") + get("/root.json"),
			[]string{"GET", "GET", "GET"}},
		{"pipelined: answered twice, then close",
			get("/root.json") + get("/1.root.json", "Connection: close\r\n") + get("/3.snapshot.json"),
			[]string{"GET", "GET"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			methods := cmpOr(tt.methods, []string{"GET"})
			want, wantClosed := exchange(t, refAddr, tt.raw, methods)
			got, gotClosed := exchange(t, addr, tt.raw, methods)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("answers differ from net/http's (-net/http +ListenAndServe):\n%s", diff)
			}
			if gotClosed != wantClosed {
				t.Errorf("connection closed after the answers: %v, net/http: %v", gotClosed, wantClosed)
			}
		})
	}
}

func cmpOr(a, b []string) []string {
	if len(a) > 0 {
		return a
	}
	return b
}

// TestWireHandsOnLargeHead: a head larger than the fast path's buffer,
// within MaxHeaderBytes, is answered (by net/http) after the fast path
// read its first part.
func TestWireHandsOnLargeHead(t *testing.T) {
	addr := listen(t, Options{Dir: tree(t)})
	raw := "GET /timestamp.json HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("b", 3*wireBufSize) + "\r\n\r\n" +
		"GET /root.json HTTP/1.1\r\nHost: x\r\n\r\n"
	got, closed := exchange(t, addr, raw, []string{"GET", "GET"})
	if got[0].Status != 200 || got[1].Body != `{"signed":{"_type":"root"}}` || closed {
		t.Fatalf("got %+v, closed %v", got, closed)
	}
}

// TestWireAccessLog: the fast path logs each request as ServeHTTP does.
func TestWireAccessLog(t *testing.T) {
	var buf syncBuffer
	addr := listen(t, Options{Dir: tree(t), Logger: slog.New(slog.NewTextHandler(&buf, nil))})
	exchange(t, addr, "GET /timestamp.json HTTP/1.1\r\nHost: x\r\n\r\n", []string{"GET"})
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(buf.String(), "path=/timestamp.json") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	line := buf.String()
	for _, want := range []string{"msg=request", "method=GET", "path=/timestamp.json", "status=200", "bytes=32", "remote=127.0.0.1:"} {
		if !strings.Contains(line, want) {
			t.Errorf("access log %q lacks %q", line, want)
		}
	}
}

// FuzzParseHead: a head the fast path accepts is one net/http reads as the
// same request: method, path, no query, HTTP/1.1, one Host, no body, the
// same If-None-Match and Connection: close.
func FuzzParseHead(f *testing.F) {
	for _, s := range []string{
		"GET /timestamp.json HTTP/1.1\r\nHost: x\r\n\r\n",
		"HEAD /a/b.json HTTP/1.1\r\nhost: 127.0.0.1:8080\r\nIf-None-Match: \"abc\"\r\nConnection: close\r\n\r\n",
		"GET /targets/webkit/" + hash64 + ".a.tar.gz HTTP/1.1\r\nHost: [::1]:80\r\nUser-Agent: bsi\r\nAccept: */*\r\n\r\n",
		"GET /x HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, close\r\nIf-None-Match: W/\"a\"\r\n\r\n",
		"GET /x HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
		"GET /x?y HTTP/1.1\r\nHost: x\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		i := bytes.Index(b, []byte("\r\n\r\n"))
		if i < 0 {
			return
		}
		b = b[:i+4]
		h, ok := parseHead(b)
		if !ok {
			return
		}
		r, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(b)))
		if err != nil {
			t.Fatalf("parseHead accepts %q, net/http refuses it: %v", b, err)
		}
		inm, hasINM := r.Header["If-None-Match"]
		got := fmt.Sprint(h.method, string(h.target), h.hasINM, string(h.inm), h.close)
		want := fmt.Sprint(r.Method, r.URL.Path, hasINM, strings.Join(inm, ","), r.Close)
		// RawPath is set whenever the target holds a byte url.PathEscape
		// would escape ('*', '!'); it matters only when it differs from Path.
		if got != want || r.URL.RawQuery != "" || r.URL.RawPath != "" && r.URL.RawPath != r.URL.Path || r.ProtoMinor != 1 ||
			r.ContentLength != 0 || len(r.TransferEncoding) != 0 || len(r.Header["Host"]) != 0 && r.Host == "" ||
			len(inm) > 1 || slices.ContainsFunc(wireHandOn[:], func(k string) bool { return r.Header[k] != nil }) {
			t.Fatalf("%q: parseHead %s, net/http %s (query %q, raw path %q, HTTP/1.%d, length %d, %v)",
				b, got, want, r.URL.RawQuery, r.URL.RawPath, r.ProtoMinor, r.ContentLength, r.TransferEncoding)
		}
	})
}

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestWireRequestsInPieces: the fast path waits for bytes after a read
// that emptied the socket instead of trying another read (rawSock.serve),
// so a wake-up lost between the two would leave a request unanswered
// until a timeout. Requests on one keep-alive connection arriving every
// way a client can send them (whole, in pieces with pauses, the next one
// sent before the answer to the last is read, a pause between requests)
// are all answered at once.
func TestWireRequestsInPieces(t *testing.T) {
	addr := listen(t, Options{Dir: tree(t), IdleTimeout: 10 * time.Second, ReadHeaderTimeout: 10 * time.Second})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.(*net.TCPConn).SetNoDelay(true)
	br := bufio.NewReader(c)
	req := "GET /timestamp.json HTTP/1.1\r\nHost: x\r\n\r\n"
	send := func(parts ...string) {
		for i, p := range parts {
			if i > 0 {
				time.Sleep(2 * time.Millisecond)
			}
			if _, err := io.WriteString(c, p); err != nil {
				t.Fatal(err)
			}
		}
	}
	read := func(n int) {
		for range n {
			c.SetReadDeadline(time.Now().Add(2 * time.Second)) // far below the server's timeouts
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("answer: %v", err)
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != 200 || string(b) != `{"signed":{"_type":"timestamp"}}` {
				t.Fatalf("answer: %d %q %v", resp.StatusCode, b, err)
			}
		}
	}
	for i := range 50 {
		switch i % 5 {
		case 0:
			send(req)
			read(1)
		case 1:
			send(req[:5], req[5:20], req[20:])
			read(1)
		case 2:
			send(req + req[:10])
			time.Sleep(2 * time.Millisecond)
			send(req[10:])
			read(2)
		case 3:
			send(req)
			time.Sleep(2 * time.Millisecond) // answered and waiting before the next one
			send(req)
			read(2)
		case 4:
			send(req + req + req)
			read(3)
		}
	}
}
