package devicecli

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bsiframework/bsi/agent"
	"github.com/bsiframework/bsi/internal/progress"
)

// tickingTerminal is progress options for tests: a terminal whose clock
// moves one second at each reading, so that every change is drawn whatever
// the machine's speed.
func tickingTerminal() progress.Options {
	var mu sync.Mutex
	t := time.Unix(1e9, 0)
	return progress.Options{Terminal: true, Interval: time.Second, Now: func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		t = t.Add(time.Second)
		return t
	}}
}

func TestDownloadName(t *testing.T) {
	h64, h128 := strings.Repeat("ab", 32), strings.Repeat("0f", 64)
	for in, want := range map[string]string{
		"/targets/webkit/" + h64 + ".webkit-26.3-a.tar.gz":  "webkit-26.3-a.tar.gz",
		"/targets/webkit/" + h128 + ".webkit-26.3-a.tar.gz": "webkit-26.3-a.tar.gz",
		"/targets/webkit/webkit-26.3-a.tar.gz":              "webkit-26.3-a.tar.gz",
		"/targets/webkit/abc.webkit-26.3-a.tar.gz":          "abc.webkit-26.3-a.tar.gz",
		"/targets/" + strings.Repeat("zz", 32) + ".x":       strings.Repeat("zz", 32) + ".x",
	} {
		if got := downloadName(in); got != want {
			t.Errorf("downloadName(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestProgressTransport: a download over 1 MiB is drawn up to 100%; a
// smaller one and a failed one draw nothing; the bytes read are unchanged.
func TestProgressTransport(t *testing.T) {
	big := make([]byte, 3<<20)
	rand.Read(big)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/big.tar.gz":
			w.Header().Set("Content-Length", fmt.Sprint(len(big)))
			w.Write(big)
		case "/chunked.tar.gz":
			w.Write(big) // no Content-Length: sent chunked
		case "/small.json":
			w.Write([]byte("{}"))
		default:
			http.Error(w, strings.Repeat("x", 2<<20), http.StatusNotFound)
		}
	}))
	defer srv.Close()
	var stderr bytes.Buffer
	e := &Env{Stderr: &stderr, Logger: slog.New(slog.NewTextHandler(&stderr, nil))}
	var opts agent.Options
	opts.Logger = e.Logger
	WithClientProgress(e, &opts, tickingTerminal())
	get := func(p string) []byte {
		resp, err := opts.HTTPClient.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	get("/small.json")
	get("/missing")
	if stderr.Len() != 0 {
		t.Fatalf("small or failed downloads drew %q", stderr.String())
	}
	if !bytes.Equal(get("/big.tar.gz"), big) {
		t.Fatal("the bar changed the bytes read")
	}
	out := stderr.String()
	if !strings.HasPrefix(out, "\rdownloading big.tar.gz [") || !strings.HasSuffix(out, "100%  3.0 MiB / 3.0 MiB\n") {
		t.Errorf("bar = %q", out)
	}
	// Of unknown length: a counter, once 1 MiB has come.
	stderr.Reset()
	get("/chunked.tar.gz")
	out = stderr.String()
	if !strings.HasPrefix(out, "\rdownloading chunked.tar.gz 1.") || !strings.HasSuffix(out, "downloading chunked.tar.gz 3.0 MiB\n") {
		t.Errorf("counter = %q", out)
	}
	// A log line erases the bar first (none is on screen now: it ended).
	stderr.Reset()
	opts.Logger.Warn("careful")
	if !strings.HasPrefix(stderr.String(), "time=") {
		t.Errorf("log line = %q", stderr.String())
	}
}
