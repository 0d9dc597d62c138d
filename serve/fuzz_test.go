package serve

import (
	"bufio"
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Markers of content that must never be served: files outside the root,
// dot-files inside it.
const (
	secretMarker = "SECRET-OUTSIDE-THE-ROOT"
	hiddenMarker = "HIDDEN-DOT-FILE"
)

// fuzzTree writes a published-looking tree at base/public beside a secret
// file and directory, with links that point out of the tree and into it.
func fuzzTree(tb testing.TB) string {
	tb.Helper()
	base := tb.TempDir()
	dir := filepath.Join(base, "public")
	files := map[string]string{
		"public/timestamp.json":                         `{"signed":{"_type":"timestamp"}}`,
		"public/root.json":                              `{"signed":{"_type":"root"}}`,
		"public/2.snapshot.json":                        `{"signed":{"_type":"snapshot"}}`,
		"public/targets/webkit/" + hash64 + ".a.tar.gz": "payload",
		"public/targets/web kit/%41.json":               "odd name",
		"public/.hidden":                                hiddenMarker,
		"public/targets/.git/config":                    hiddenMarker,
		"secret":                                        secretMarker,
		"secrets/key.json":                              secretMarker,
		"public-other/x.json":                           secretMarker, // a sibling sharing the prefix
	}
	for name, body := range files {
		p := filepath.Join(base, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	links := map[string]string{
		"public/escape.json":         "../secret",
		"public/abs.json":            filepath.Join(base, "secret"),
		"public/secrets":             "../secrets",
		"public/targets/up":          "../..",
		"public/inside.json":         "root.json",
		"public/targets/webkit/root": "../../root.json",
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(base, filepath.FromSlash(name))); err != nil {
			tb.Fatal(err)
		}
	}
	return dir
}

// FuzzHandlerPath sends arbitrary request targets and methods to the
// handler over a tree with a secret beside it: no response carries a
// byte of anything outside the root or of a dot-file, and a 200 serves
// exactly the regular file inside the root that the path names.
func FuzzHandlerPath(f *testing.F) {
	for _, s := range []struct{ method, target string }{
		{"GET", "/timestamp.json"}, {"GET", "/targets/webkit/" + hash64 + ".a.tar.gz"}, {"HEAD", "/root.json"},
		{"GET", "/../secret"}, {"GET", "/%2e%2e/secret"}, {"GET", "/escape.json"}, {"GET", "/abs.json"},
		{"GET", "/secrets/key.json"}, {"GET", "/targets/up/secret"}, {"GET", "/targets/up/public/root.json"},
		{"GET", "/inside.json"}, {"GET", "/.hidden"}, {"GET", "/targets/.git/config"}, {"GET", "//secret"},
		{"GET", "/targets/web%20kit/%2541.json"}, {"GET", "/a/..%2f..%2fsecret"}, {"GET", "/..\\secret"},
		{"GET", "/healthz"}, {"POST", "/root.json"}, {"GET", "http://x/../public-other/x.json"}, {"GET", "*"},
		{"GET", "/timestamp.json?x=../secret"}, {"GET", "/targets/webkit/root"}, {"GET", "/%00"},
	} {
		f.Add(s.method, s.target)
	}
	dir := fuzzTree(f)
	h, err := NewHandler(dir, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { h.Close() })
	realDir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, method, target string) {
		raw := method + " " + target + " HTTP/1.1\r\nHost: bsi.test\r\n\r\n"
		req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
		if err != nil {
			return // the server would answer 400 before the handler
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var hdr bytes.Buffer
		rec.Result().Header.Write(&hdr)
		for _, m := range []string{secretMarker, hiddenMarker} {
			if strings.Contains(rec.Body.String(), m) || strings.Contains(hdr.String(), m) {
				t.Fatalf("%s %q served %s", method, target, m)
			}
		}
		if rec.Code != http.StatusOK || req.URL.Path == "/healthz" {
			return
		}
		name, ok := cleanName(req.URL.Path)
		if !ok {
			t.Fatalf("%s %q: 200 for a refused name", method, target)
		}
		p := filepath.Join(dir, filepath.FromSlash(name))
		resolved, err := filepath.EvalSymlinks(p)
		if err != nil || !strings.HasPrefix(resolved, realDir+string(filepath.Separator)) {
			t.Fatalf("%s %q: 200 for %s, which resolves to %q (%v), outside %s", method, target, name, resolved, err, realDir)
		}
		want, err := os.ReadFile(resolved)
		if err != nil {
			t.Fatal(err)
		}
		if method == http.MethodGet && !bytes.Equal(rec.Body.Bytes(), want) {
			t.Fatalf("%s %q: served %q, the file holds %q", method, target, rec.Body.Bytes(), want)
		}
	})
}
