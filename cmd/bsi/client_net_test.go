package main

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// counter counts the requests for paths with a prefix.
type counter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *counter) add(p string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[p]++
	return c.n[p]
}

func (c *counter) get(p string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[p]
}

// TestClientNetworkFlags runs the client commands with --timeout and
// --retries against a repository that stalls, fails and recovers.
func TestClientNetworkFlags(t *testing.T) {
	f := newClientFixture(t, clientStart)
	f.publish(improvement("webkit", "26.3", 1))
	f.init()
	const ts = "/timestamp.json"

	// Usage errors.
	f.want(2, "--timeout must be positive", "client", "check", f.state, "--timeout", "0s")
	f.want(2, "--retries must not be negative", "client", "install", f.state, "--all", "--retries", "-1")
	f.want(2, "invalid value", "client", "run", f.state, "--once", "--timeout", "soon")
	for _, cmd := range []string{"check", "install", "rollback", "run"} {
		if out := f.must("client", cmd, "-h"); !strings.Contains(out, "--timeout D] [--retries N]") || !strings.Contains(out, "Network: each request") {
			t.Errorf("bsi client %s -h does not document the network flags:\n%s", cmd, out)
		}
	}

	// A timestamp that never comes: one request with --retries 0, cut by
	// --timeout, exit 1 naming the file.
	var c counter
	f.repo.Intercept(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != ts {
			return false
		}
		c.add("stall")
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second): // hang guard
		}
		return true
	})
	start := time.Now()
	f.want(1, "timestamp.json: stalled", "client", "check", f.state, "--timeout", "300ms", "--retries", "0")
	if n := c.get("stall"); n != 1 {
		t.Errorf("%d requests with --retries 0, want 1", n)
	}
	if d := time.Since(start); d > 8*time.Second {
		t.Errorf("check took %v with --timeout 300ms", d)
	}

	// Always 503: --retries 2 makes exactly 3 requests, and the error says so.
	f.repo.Intercept(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != ts {
			return false
		}
		c.add("503")
		http.Error(w, "busy", http.StatusServiceUnavailable)
		return true
	})
	f.want(1, "timestamp.json: 3 attempts, last: HTTP status 503 Service Unavailable", "client", "check", f.state, "--retries", "2")
	if n := c.get("503"); n != 3 {
		t.Errorf("%d requests with --retries 2, want 3", n)
	}

	// A payload cut short once: install retries it and succeeds.
	f.repo.Intercept(func(w http.ResponseWriter, r *http.Request) bool {
		if !strings.HasPrefix(r.URL.Path, "/targets/") || c.add("payload") > 1 {
			return false
		}
		w.Header().Set("Content-Length", "100000")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush() // then the connection closes
		return true
	})
	f.must("client", "install", f.state, "--all", "--retries", "1", "--timeout", "5s")
	f.wantCurrent("webkit", "webkit-26.3-a")
	if n := c.get("payload"); n != 2 {
		t.Errorf("%d payload requests, want 2", n)
	}
	f.repo.Intercept(nil)
}
