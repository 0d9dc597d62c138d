package loadgen

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestRunCountsEveryRequest: the server's count of requests is the
// result's, kind by kind, and keep-alive means one connection per worker.
func TestRunCountsEveryRequest(t *testing.T) {
	var a, b atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/a.json":
			a.Add(1)
			w.Write([]byte("aaaa"))
		case "/b/c.json":
			b.Add(1)
			if r.Header.Get("If-None-Match") != `"x"` {
				t.Errorf("b: If-None-Match %q", r.Header.Get("If-None-Match"))
			}
			w.WriteHeader(http.StatusNotModified)
		}
	}))
	defer srv.Close()
	res, err := Run(context.Background(), Config{
		URL: srv.URL + "/", Conns: 8, Duration: 200 * time.Millisecond, Label: "test",
		Mix: []Request{
			{Kind: "a", Path: "a.json", Status: 200, Length: 4, Weight: 1},
			{Kind: "b", Path: "b/c.json", Status: 304, Length: 0, Weight: 3, Header: http.Header{"If-None-Match": {`"x"`}}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK() {
		t.Fatalf("errors: %v %v", res.Errors, res.FirstErrors)
	}
	if res.Requests != a.Load()+b.Load() || res.Kinds[0].Requests != a.Load() || res.Kinds[1].Requests != b.Load() {
		t.Errorf("counted %d (a %d, b %d), server saw a %d, b %d",
			res.Requests, res.Kinds[0].Requests, res.Kinds[1].Requests, a.Load(), b.Load())
	}
	if res.Bytes != 4*a.Load() {
		t.Errorf("bytes %d, want %d", res.Bytes, 4*a.Load())
	}
	if res.Kinds[0].Statuses[200] != a.Load() || res.Kinds[1].Statuses[304] != b.Load() {
		t.Errorf("statuses %v %v", res.Kinds[0].Statuses, res.Kinds[1].Statuses)
	}
	if res.Dials < 1 || res.Dials > 8 {
		t.Errorf("%d connections opened by 8 workers", res.Dials)
	}
	if res.Latency.P50 > res.Latency.P90 || res.Latency.P90 > res.Latency.P99 || res.Latency.P99 > res.Latency.Max || res.Latency.P50 <= 0 {
		t.Errorf("latency out of order: %+v", res.Latency)
	}
	if res.Label != "test" || res.Conns != 8 || res.ReqPerS <= 0 {
		t.Errorf("result %+v", res)
	}
}

// TestRunErrorKinds: each way a server can fail is counted under its kind,
// and only there.
func TestRunErrorKinds(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/500", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "x", 500) })
	mux.HandleFunc("/404", func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) })
	mux.HandleFunc("/long", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("12345")) })
	mux.HandleFunc("/short", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "10")
		w.Write([]byte("12345")) // the server closes the connection after 5 of 10 bytes
	})
	mux.HandleFunc("/stall", func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	srv := httptest.NewServer(mux)
	defer srv.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + ln.Addr().String() + "/"
	ln.Close()

	// A request times out after 100 ms only where the server stalls; the
	// others get 5 s, so that a slow moment of a loaded machine (a race
	// build on 2 cores) is not counted as a timeout.
	tests := []struct {
		url, path string
		length    int64
		kind      string
		timeout   time.Duration
	}{
		{srv.URL, "500", -1, "status 500", 5 * time.Second},
		{srv.URL, "404", -1, "status 404", 5 * time.Second},
		{srv.URL, "long", 3, "length", 5 * time.Second},
		{srv.URL, "short", -1, "reset", 5 * time.Second},
		{srv.URL, "stall", -1, "timeout", 100 * time.Millisecond},
		{refused, "x", -1, "connect", 5 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.kind, func(t *testing.T) {
			res, err := Run(context.Background(), Config{
				URL: tt.url, Conns: 2, Duration: 50 * time.Millisecond, Timeout: tt.timeout,
				Mix: []Request{{Kind: "k", Path: tt.path, Status: 200, Length: tt.length, Weight: 1}},
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.Requests == 0 || res.OK() {
				t.Fatalf("requests %d, errors %v", res.Requests, res.Errors)
			}
			if diff := cmp.Diff(map[string]int64{tt.kind: res.Requests}, res.Errors); diff != "" {
				t.Errorf("errors (-want +got):\n%s\nfirst: %q", diff, res.FirstErrors)
			}
			if res.Kinds[0].Errors != res.Requests || len(res.FirstErrors) == 0 {
				t.Errorf("kind errors %d of %d, messages %q", res.Kinds[0].Errors, res.Requests, res.FirstErrors)
			}
		})
	}
}

func TestRunConfigErrors(t *testing.T) {
	ok := []Request{{Kind: "k", Path: "x", Status: 200, Weight: 1}}
	for _, cfg := range []Config{
		{URL: "ftp://host/", Mix: ok},
		{URL: "http:///x", Mix: ok},
		{URL: "http://127.0.0.1:1/"},
		{URL: "http://127.0.0.1:1/", Mix: []Request{{Kind: "k", Path: "x", Status: 200}}},
		{URL: "http://127.0.0.1:1/", Mix: []Request{{Kind: "k", Path: "x", Weight: 1}}},
	} {
		if _, err := Run(context.Background(), cfg); err == nil {
			t.Errorf("Run(%+v): no error", cfg)
		}
	}
}

// TestRunCancelled: cancelling stops the workers before Duration and
// returns the context's error.
func TestRunCancelled(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	done := make(chan error, 1)
	go func() {
		_, err := Run(ctx, Config{URL: srv.URL, Conns: 2, Duration: time.Hour,
			Mix: []Request{{Kind: "k", Path: "x", Status: 200, Length: 0, Weight: 1}}})
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not stop when cancelled")
	}
}

func TestPercentile(t *testing.T) {
	ms := func(ns ...int) []time.Duration {
		var out []time.Duration
		for _, n := range ns {
			out = append(out, time.Duration(n)*time.Millisecond)
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = 100 - i // unsorted on purpose
	}
	tests := []struct {
		in   []time.Duration
		want Latency
	}{
		{nil, Latency{}},
		{ms(7), Latency{7 * time.Millisecond, 7 * time.Millisecond, 7 * time.Millisecond, 7 * time.Millisecond}},
		{ms(4, 1, 3, 2), Latency{2 * time.Millisecond, 4 * time.Millisecond, 4 * time.Millisecond, 4 * time.Millisecond}},
		{ms(hundred...), Latency{50 * time.Millisecond, 90 * time.Millisecond, 99 * time.Millisecond, 100 * time.Millisecond}},
	}
	for _, tt := range tests {
		if got := latency(tt.in); got != tt.want {
			t.Errorf("latency(%v) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func TestWriteTable(t *testing.T) {
	r := func(label string, reqs int64, p99 time.Duration, errs map[string]int64) *Result {
		return &Result{Label: label, Conns: 64, Duration: time.Second, Requests: reqs, ReqPerS: float64(reqs),
			Errors: errs, Latency: Latency{P99: p99},
			Kinds: []KindResult{{Kind: "timestamp-304", Requests: reqs, Statuses: map[int]int64{304: reqs}}}}
	}
	var b strings.Builder
	a := r("bsi", 20000, 4*time.Millisecond, map[string]int64{})
	a.FirstErrors = []string{"x: status 500, want 200"}
	if err := WriteTable(&b, a, r("nginx", 10000, 2*time.Millisecond, map[string]int64{"reset": 2})); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"bsi  nginx  bsi/nginx",
		"req/s  20000  10000  2.00",
		"p99  4.00ms  2.00ms  2.00",
		"errors  0  reset:2",
		"timestamp-304  status  304:20000  304:10000",
	} {
		if !strings.Contains(normalizeSpace(out), want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(out, "\nbsi: x: status 500, want 200\n") {
		t.Errorf("table lacks the first error:\n%s", out)
	}
}

func normalizeSpace(s string) string {
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		lines = append(lines, strings.Join(strings.Fields(l), "  "))
	}
	return strings.Join(lines, "\n")
}
