//go:build unix

package serve

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestAttackFileSwappedUnderServeCache: a file answered from memory is answered from
// memory only while its name still leads to the same, unchanged file.
// Every change a publisher, a tool or an intruder can make to the tree
// after the file was cached is seen at the next request, including those
// that keep the size and the modification time (only the change time, or
// the inode, tells): a key written over a published file, a link out of
// the tree, a named pipe, a removal, a directory swapped for a link. The
// in-place cases fail when the change time is left out of the identity,
// the rename case when the inode is; the others on a cache consulted
// before the name is resolved again in the tree.
func TestAttackFileSwappedUnderServeCache(t *testing.T) {
	const (
		name    = "timestamp.json"
		payload = "targets/webkit/" + hash64 + ".a.tar.gz"
		body    = `{"signed":{"_type":"timestamp","version":1}}`
	)
	mtime := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	keyLike := (pkcs8KeyPEM + strings.Repeat("A", len(body)))[:len(body)]
	sameSize := strings.Replace(body, `"version":1`, `"version":2`, 1)
	rewrite := func(p, content string) func(*testing.T, string) {
		return func(t *testing.T, dir string) {
			full := filepath.Join(dir, filepath.FromSlash(p))
			if err := os.WriteFile(full, []byte(content), 0o644); err != nil { // same inode
				t.Fatal(err)
			}
			if err := os.Chtimes(full, mtime, mtime); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, tc := range []struct {
		name     string
		path     string
		change   func(t *testing.T, dir string)
		want     int
		wantBody string
	}{
		{"rewritten in place into a key, same size and time", name, rewrite(name, keyLike), 404, ""},
		{"rewritten in place, same size and time", name, rewrite(name, sameSize), 200, sameSize},
		{"payload rewritten in place into a key", payload, rewrite(payload, keyLike), 404, ""},
		{"replaced by a rename, same size and time", name, func(t *testing.T, dir string) {
			tmp := filepath.Join(dir, "new.tmp")
			rewrite("new.tmp", sameSize)(t, dir)
			if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
				t.Fatal(err)
			}
		}, 200, sameSize},
		{"replaced by a link out of the tree", name, func(t *testing.T, dir string) {
			must(t, os.Remove(filepath.Join(dir, name)))
			must(t, os.Symlink("../secret", filepath.Join(dir, name)))
		}, 404, ""},
		{"replaced by a named pipe", name, func(t *testing.T, dir string) {
			must(t, os.Remove(filepath.Join(dir, name)))
			must(t, syscall.Mkfifo(filepath.Join(dir, name), 0o644))
		}, 404, ""},
		{"removed", name, func(t *testing.T, dir string) {
			must(t, os.Remove(filepath.Join(dir, name)))
		}, 404, ""},
		{"directory replaced by a link out of the tree", payload, func(t *testing.T, dir string) {
			out := filepath.Join(filepath.Dir(dir), "elsewhere")
			must(t, os.Rename(filepath.Join(dir, "targets", "webkit"), out))
			must(t, os.Symlink(out, filepath.Join(dir, "targets", "webkit")))
		}, 404, ""},
	} {
		for _, via := range []string{"Handler", "ListenAndServe"} {
			t.Run(tc.name+"/"+via, func(t *testing.T) {
				dir := tree(t)
				rewrite(tc.path, body)(t, dir)
				h, err := NewHandler(dir, nil)
				if err != nil {
					t.Fatal(err)
				}
				defer h.Close()
				get := func() (int, string, string) {
					w := httptest.NewRecorder()
					h.ServeHTTP(w, httptest.NewRequest("GET", "/"+tc.path, nil))
					b, _ := io.ReadAll(w.Body)
					return w.Code, w.Header().Get("ETag"), string(b)
				}
				if via == "ListenAndServe" {
					// The fast path on one keep-alive connection.
					url := "http://" + listen(t, Options{Dir: dir}) + "/" + tc.path
					tr := &http.Transport{MaxConnsPerHost: 1}
					defer tr.CloseIdleConnections()
					client := &http.Client{Transport: tr}
					get = func() (int, string, string) {
						resp, err := client.Get(url)
						if err != nil {
							t.Fatal(err)
						}
						defer resp.Body.Close()
						b, _ := io.ReadAll(resp.Body)
						return resp.StatusCode, resp.Header.Get("ETag"), string(b)
					}
				}
				for range 2 {
					if code, _, got := get(); code != 200 || got != body {
						t.Fatalf("before the change: %d %q", code, got)
					}
				}
				if via == "Handler" {
					fi, err := os.Stat(filepath.Join(dir, filepath.FromSlash(tc.path)))
					if err != nil || h.cache.get(tc.path, identityOf(fi)) == nil {
						t.Fatalf("%s is not answered from memory (%v)", tc.path, err)
					}
				}
				// A change made within the same tick of the file system's
				// clock as the last look at the file can keep its change time
				// (kernels before 6.13, without fine-grained timestamps): see
				// the package doc.
				time.Sleep(20 * time.Millisecond)
				_, oldTag, _ := get()
				tc.change(t, dir)
				code, etag, got := get()
				if code != tc.want || (tc.want == 200 && (got != tc.wantBody || etag == oldTag)) {
					t.Fatalf("after the change: %d, ETag %s (before %s), %.60q; want %d %.60q with a new ETag",
						code, etag, oldTag, got, tc.want, tc.wantBody)
				}
			})
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestCacheKeepsNoKey: a private key is never kept in memory, so no later
// request can be answered with it from there.
func TestCacheKeepsNoKey(t *testing.T) {
	dir := tree(t)
	h, err := NewHandler(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	must(t, os.WriteFile(filepath.Join(dir, "9.targets.json"), []byte(pkcs8KeyPEM), 0o644))
	for range 2 {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "/9.targets.json", nil))
		if w.Code != http.StatusNotFound {
			t.Fatalf("GET a key: %d", w.Code)
		}
	}
	if e := h.cache.entries["9.targets.json"]; e != nil {
		t.Fatalf("the key is in memory: %.40q", e.body)
	}
}
