package serve

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const hash64 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// tree writes a small published tree and a secret file beside it.
func tree(t *testing.T) string {
	t.Helper()
	base := t.TempDir()
	dir := filepath.Join(base, "public")
	files := map[string]string{
		"timestamp.json":                         `{"signed":{"_type":"timestamp"}}`,
		"root.json":                              `{"signed":{"_type":"root"}}`,
		"1.root.json":                            `{"signed":{"_type":"root"}}`,
		"3.snapshot.json":                        `{"signed":{"_type":"snapshot"}}`,
		"targets/webkit/" + hash64 + ".a.tar.gz": "payload",
		".hidden":                                "no",
	}
	for name, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(base, "secret"), []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../secret", filepath.Join(dir, "escape.json")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("root.json", filepath.Join(dir, "inside.json")); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestHandler(t *testing.T) {
	h, err := NewHandler(tree(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	srv := httptest.NewServer(h)
	defer srv.Close()

	tests := []struct {
		method, path string
		status       int
		cache, ctype string
		body         string
	}{
		{"GET", "/timestamp.json", 200, "no-cache", "application/json", `{"signed":{"_type":"timestamp"}}`},
		{"GET", "/root.json", 200, "no-cache", "application/json", ""},
		{"GET", "/1.root.json", 200, Immutable, "application/json", ""},
		{"GET", "/3.snapshot.json", 200, Immutable, "application/json", ""},
		{"GET", "/targets/webkit/" + hash64 + ".a.tar.gz", 200, Immutable, "application/gzip", "payload"},
		{"HEAD", "/timestamp.json", 200, "no-cache", "application/json", ""},
		{"GET", "/inside.json", 200, "no-cache", "application/json", ""},
		{"GET", "/healthz", 200, "no-store", "text/plain; charset=utf-8", "ok\n"},
		// Refused: listings, traversal, links out, dot-files, other methods.
		{"GET", "/", 404, "", "", ""},
		{"GET", "/targets/", 404, "", "", ""},
		{"GET", "/targets", 404, "", "", ""},
		{"GET", "/../secret", 404, "", "", ""},
		{"GET", "/targets/..%2f..%2fsecret", 404, "", "", ""},
		{"GET", "/%2e%2e/secret", 404, "", "", ""},
		{"GET", "/escape.json", 404, "", "", ""},
		{"GET", "/.hidden", 404, "", "", ""},
		{"GET", "/missing.json", 404, "", "", ""},
		{"GET", "/root.json%00", 404, "", "", ""},
		{"POST", "/timestamp.json", 405, "", "", ""},
		{"DELETE", "/timestamp.json", 405, "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, srv.URL+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d (body %q)", resp.StatusCode, tt.status, body)
			}
			if strings.Contains(string(body), "secret") {
				t.Fatalf("served a file outside the tree: %q", body)
			}
			if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("missing nosniff")
			}
			if tt.status != 200 {
				return
			}
			if got := resp.Header.Get("Cache-Control"); got != tt.cache {
				t.Errorf("Cache-Control %q, want %q", got, tt.cache)
			}
			if got := resp.Header.Get("Content-Type"); got != tt.ctype {
				t.Errorf("Content-Type %q, want %q", got, tt.ctype)
			}
			if tt.body != "" && string(body) != tt.body {
				t.Errorf("body %q, want %q", body, tt.body)
			}
		})
	}
}

func TestETagNotModified(t *testing.T) {
	dir := tree(t)
	h, err := NewHandler(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	srv := httptest.NewServer(h)
	defer srv.Close()

	get := func(etag string) *http.Response {
		req, _ := http.NewRequest("GET", srv.URL+"/timestamp.json", nil)
		if etag != "" {
			req.Header.Set("If-None-Match", etag)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	first := get("")
	etag := first.Header.Get("ETag")
	if len(etag) != 66 {
		t.Fatalf("ETag %q is not a quoted SHA-256", etag)
	}
	if r := get(etag); r.StatusCode != http.StatusNotModified {
		t.Fatalf("If-None-Match with current ETag: status %d, want 304", r.StatusCode)
	}
	// A new timestamp gets a new ETag and a full response.
	later := time.Now().Add(time.Hour)
	p := filepath.Join(dir, "timestamp.json")
	if err := os.WriteFile(p, []byte(`{"signed":{"_type":"timestamp","version":2}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chtimes(p, later, later)
	if r := get(etag); r.StatusCode != http.StatusOK || r.Header.Get("ETag") == etag {
		t.Fatalf("changed file: status %d ETag %q, want 200 and a new ETag", r.StatusCode, r.Header.Get("ETag"))
	}
}

func TestNewHandlerErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	os.WriteFile(file, nil, 0o644)
	for _, d := range []string{filepath.Join(dir, "missing"), file} {
		if _, err := NewHandler(d, nil); err == nil {
			t.Errorf("NewHandler(%q): no error", d)
		}
	}
}

func TestListenAndServeShutdown(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- ListenAndServe(ctx, Options{
			Dir:               tree(t),
			Addr:              "127.0.0.1:0",
			ReadHeaderTimeout: 200 * time.Millisecond,
			Ready:             func(a string) { ready <- a },
		})
	}()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + addr + "/timestamp.json")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}

	// A client that sends no header is cut off by the read-header timeout.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	c.Write([]byte("GET /timestamp.json HTTP/1.1\r\n"))
	if _, err := io.ReadAll(c); err != nil {
		t.Fatalf("slow client not disconnected by the server: %v", err)
	}
	c.Close()

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("shutdown: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("server did not shut down")
	}
}

func TestTLSOptionsGoTogether(t *testing.T) {
	err := ListenAndServe(context.Background(), Options{Dir: t.TempDir(), TLSCert: "c.pem"})
	if err == nil || !strings.Contains(err.Error(), "go together") {
		t.Fatalf("err = %v", err)
	}
}
