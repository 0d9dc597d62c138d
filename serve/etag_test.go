package serve

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestETagReplacedFileSameSizeAndTime: a new timestamp.json of the same
// size and with the same modification time as the one it replaces (a
// mirror tool that keeps mtimes to the second, two signings within one
// second, a coarse file system clock) must get a new ETag. A stale ETag
// would answer 304 to devices holding the old timestamp, hiding the new one.
func TestETagReplacedFileSameSizeAndTime(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "timestamp.json")
	mtime := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	write := func(body string) {
		tmp := p + ".tmp"
		if err := os.WriteFile(tmp, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(tmp, mtime, mtime); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, p); err != nil { // as every publisher here does
			t.Fatal(err)
		}
	}
	write(`{"signed":{"version":1}}`)
	h, err := NewHandler(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	srv := httptest.NewServer(h)
	defer srv.Close()
	get := func(etag string) (int, string, string) {
		req, _ := http.NewRequest("GET", srv.URL+"/timestamp.json", nil)
		if etag != "" {
			req.Header.Set("If-None-Match", etag)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("ETag"), string(body)
	}
	_, old, _ := get("")
	write(`{"signed":{"version":2}}`)
	code, etag, body := get(old)
	if code != http.StatusOK || etag == old || body != `{"signed":{"version":2}}` {
		t.Fatalf("after the replacement: status %d, ETag %s (old %s), body %q; want 200, a new ETag, version 2", code, etag, old, body)
	}
}
