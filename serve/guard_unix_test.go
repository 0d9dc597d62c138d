//go:build unix

package serve

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime/pprof"
	"syscall"
	"testing"
	"time"
)

// TestAttackNamedPipeInTree: a named pipe in the served tree (planted by
// anyone who can write there, or left by a tool) must be answered at once
// with 404: opening it for reading before checking its type waited for a
// writer for ever, one blocked thread per request. After 50 requests the
// process must hold no more goroutines, descriptors or threads than before.
func TestAttackNamedPipeInTree(t *testing.T) {
	dir := tree(t)
	pipes := []string{"pipe.json", "targets/webkit/" + hash64 + ".b.tar.gz"}
	for _, name := range pipes {
		if err := syscall.Mkfifo(filepath.Join(dir, filepath.FromSlash(name)), 0o644); err != nil {
			t.Skipf("mkfifo: %v", err)
		}
	}
	h, err := NewHandler(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	srv := httptest.NewServer(h)
	defer srv.Close()
	// Should a request be stuck opening a pipe, open its other end before
	// srv.Close waits for it, so that the test fails instead of hanging.
	defer func() {
		for _, name := range pipes {
			if f, err := os.OpenFile(filepath.Join(dir, filepath.FromSlash(name)), os.O_RDWR, 0); err == nil {
				f.Close()
			}
		}
	}()
	client := &http.Client{Timeout: 2 * time.Second}
	get := func(name string) int {
		resp, err := client.Get(srv.URL + "/" + name)
		if err != nil {
			t.Fatalf("GET %s: %v (the server is stuck on the pipe)", name, err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	get("root.json") // warm up the connection pool and the server
	base := Baseline()
	threads := pprof.Lookup("threadcreate").Count()
	for i := range 50 {
		name := "pipe.json"
		if i%2 == 1 {
			name = "targets/webkit/" + hash64 + ".b.tar.gz"
		}
		start := time.Now()
		if code := get(name); code != http.StatusNotFound {
			t.Fatalf("GET %s: %d; want 404", name, code)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("GET %s took %v", name, d)
		}
	}
	if code := get("root.json"); code != http.StatusOK {
		t.Fatalf("GET root.json after the pipes: %d", code)
	}
	client.CloseIdleConnections()
	srv.CloseClientConnections()
	WaitNoLeak(t, base)
	if now := pprof.Lookup("threadcreate").Count(); now > threads+4 {
		t.Errorf("threads: %d before 50 requests to a pipe, %d after", threads, now)
	}
}
