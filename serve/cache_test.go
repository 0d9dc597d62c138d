package serve

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// sameAsServeContent sends the request described by hdr (header name to
// value; an empty value is left out) for timestamp.json of dir to h and to
// what h did before files were kept in memory: http.ServeContent from the
// open file with the same ETag, Cache-Control and Content-Type. Status,
// headers (but Date) and body must be the same.
func sameAsServeContent(t *testing.T, h *Handler, dir, method string, hdr map[string]string) {
	t.Helper()
	const name = "timestamp.json"
	ref := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		fi, _ := f.Stat()
		body, _ := os.ReadFile(filepath.Join(dir, name))
		sum := sha256.Sum256(body)
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("ETag", `"`+hex.EncodeToString(sum[:])+`"`)
		w.Header().Set("Cache-Control", CacheControl(name))
		w.Header().Set("Content-Type", ContentType(name))
		http.ServeContent(w, r, "", fi.ModTime(), f)
	})
	do := func(h http.Handler) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, "/"+name, nil)
		for k, v := range hdr {
			if v != "" {
				r.Header.Set(k, v)
			}
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	type answer struct {
		Code   int
		Header http.Header
		Body   string
	}
	// Multipart boundaries are random: compared as "B".
	boundary := regexp.MustCompile(`[0-9a-f]{60}`)
	norm := func(w *httptest.ResponseRecorder) answer {
		a := answer{Code: w.Code, Header: w.Header().Clone(), Body: boundary.ReplaceAllString(w.Body.String(), "B")}
		a.Header.Del("Date")
		for k, vs := range a.Header {
			for i := range vs {
				vs[i] = boundary.ReplaceAllString(vs[i], "B")
			}
			a.Header[k] = vs
		}
		return a
	}
	want := norm(do(ref))
	for i := range 2 { // read into memory, then from memory
		if d := cmp.Diff(want, norm(do(h))); d != "" {
			t.Fatalf("%s %v, answer %d differs from http.ServeContent's (-ServeContent +h):\n%s", method, hdr, i+1, d)
		}
	}
}

// conditionalTree is a tree with timestamp.json, its ETag and a handler.
func conditionalTree(t testing.TB) (string, string, *Handler) {
	dir := t.TempDir()
	body := []byte(`{"signed":{"_type":"timestamp","version":7}}`)
	p := filepath.Join(dir, "timestamp.json")
	if err := os.WriteFile(p, body, 0o644); err != nil {
		t.Fatal(err)
	}
	mtime := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	if err := os.Chtimes(p, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	h, err := NewHandler(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	sum := sha256.Sum256(body)
	return dir, `"` + hex.EncodeToString(sum[:]) + `"`, h
}

// TestServeEntryMatchesServeContent: a file answered from memory gets the
// answer http.ServeContent gave from the file, for plain, conditional and
// range requests, GET and HEAD.
func TestServeEntryMatchesServeContent(t *testing.T) {
	dir, etag, h := conditionalTree(t)
	before, after := "Thu, 26 Nov 2026 12:00:00 GMT", "Sat, 28 Nov 2026 12:00:00 GMT"
	for _, hdr := range []map[string]string{
		{},
		{"If-None-Match": etag},
		{"If-None-Match": "W/" + etag},
		{"If-None-Match": `"other", ` + etag},
		{"If-None-Match": `"other"`},
		{"If-None-Match": "*"},
		{"If-None-Match": `garbage`},
		{"If-Modified-Since": before},
		{"If-Modified-Since": after},
		{"If-Modified-Since": after, "If-None-Match": `"other"`},
		{"If-Modified-Since": before, "If-None-Match": etag},
		{"If-Unmodified-Since": before},
		{"If-Unmodified-Since": after},
		{"If-Match": etag},
		{"If-Match": `"other"`},
		{"Range": "bytes=0-9"},
		{"Range": "bytes=-5"},
		{"Range": "bytes=0-3,8-12"},
		{"Range": "bytes=999-"},
		{"Range": "bytes=0-3", "If-Range": etag},
		{"Range": "bytes=0-3", "If-Range": `"other"`},
		{"Range": "bytes=0-3", "If-Range": after},
		{"Range": "bytes=0-3", "If-None-Match": etag},
	} {
		for _, method := range []string{"GET", "HEAD"} {
			sameAsServeContent(t, h, dir, method, hdr)
		}
	}
}

// FuzzServeEntry: whatever the conditional and range headers, a file
// answered from memory gets http.ServeContent's answer from the file.
func FuzzServeEntry(f *testing.F) {
	f.Add(false, "", "", "", "", "", "")
	f.Add(true, `"x"`, "", "", "", "", "")
	f.Add(false, "*", "Thu, 26 Nov 2026 12:00:00 GMT", "", "", "", "")
	f.Add(false, "", "", "bytes=0-3,5-", `"x"`, `"x"`, "Sat, 28 Nov 2026 12:00:00 GMT")
	f.Fuzz(func(t *testing.T, head bool, inm, ims, rng, ifRange, ifMatch, ius string) {
		for _, v := range []string{inm, ims, rng, ifRange, ifMatch, ius} {
			if strings.ContainsAny(v, "\r\n\x00") {
				return
			}
		}
		dir, etag, h := conditionalTree(t)
		inm = strings.ReplaceAll(inm, "ETAG", etag) // let the fuzzer reach a match
		method := "GET"
		if head {
			method = "HEAD"
		}
		sameAsServeContent(t, h, dir, method, map[string]string{
			"If-None-Match": inm, "If-Modified-Since": ims, "Range": rng,
			"If-Range": ifRange, "If-Match": ifMatch, "If-Unmodified-Since": ius,
		})
	})
}

// TestContentCacheBound: the content held never passes maxCacheBytes,
// and replacing an entry counts its content once.
func TestContentCacheBound(t *testing.T) {
	var c contentCache
	big := make([]byte, maxCachedFile)
	for i := range 3 * maxCacheBytes / maxCachedFile {
		c.put(strings.Repeat("x", i%100+1)+".json", &entry{id: fileIdentity{ino: uint64(i)}, body: big})
		if c.bytes > maxCacheBytes {
			t.Fatalf("after %d puts: %d bytes held, more than %d", i+1, c.bytes, maxCacheBytes)
		}
	}
	var sum int64
	for _, e := range c.entries {
		sum += int64(len(e.body))
	}
	if sum != c.bytes || len(c.entries) != 64 {
		t.Fatalf("%d entries of %d bytes, counted %d; want 64 entries, counted exactly", len(c.entries), sum, c.bytes)
	}
	if e := c.get("x.json", fileIdentity{ino: 12345}); e != nil {
		t.Fatalf("an entry answered for another identity")
	}
}
