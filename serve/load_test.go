package serve_test

import (
	"context"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/bsiframework/bsi/demo"
	"github.com/bsiframework/bsi/loadgen"
	"github.com/bsiframework/bsi/serve"
)

// startServe runs ListenAndServe on a free loopback port and returns its
// base URL and a function that stops it and returns ListenAndServe's error.
func startServe(t testing.TB, opts serve.Options) (string, func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	opts.Addr = "127.0.0.1:0"
	opts.Ready = func(a string) { ready <- a }
	go func() { done <- serve.ListenAndServe(ctx, opts) }()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		cancel()
		t.Fatal(err)
	}
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(30 * time.Second):
			t.Fatal("server did not stop")
			return nil
		}
	}
	t.Cleanup(func() { stop() })
	return "http://" + addr + "/", stop
}

// TestLoadFleetMix puts the real server, on a real listener, under the load
// of a fleet: 32 connections for 2 s (8 for 0.5 s with -short) sending the
// mix loadgen discovers in the demo's published tree (three components,
// several versions of each role, payloads). Every request must get the
// expected answer (304 for the conditional timestamp, 200 for the rest, the
// exact length), and once the server has shut down gracefully the process
// must hold no more goroutines or file descriptors than before it started.
func TestLoadFleetMix(t *testing.T) {
	conns, dur := 32, 2*time.Second
	if testing.Short() {
		conns, dur = 8, 500*time.Millisecond
	}
	dir := t.TempDir()
	if _, err := demo.Run(context.Background(), demo.Options{Dir: dir, Keep: true}); err != nil {
		t.Fatal(err)
	}
	base := serve.Baseline() // once the demo's own servers and clients are gone
	url, stop := startServe(t, serve.Options{Dir: filepath.Join(dir, "public")})

	tr := &http.Transport{}
	mix, err := loadgen.Discover(context.Background(), &http.Client{Transport: tr}, url, loadgen.FleetWeights)
	tr.CloseIdleConnections()
	if err != nil {
		t.Fatal(err)
	}
	res, err := loadgen.Run(context.Background(), loadgen.Config{URL: url, Mix: mix, Conns: conns, Duration: dur})
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK() {
		t.Fatalf("%d of %d requests failed: %v %q", res.ErrorCount(), res.Requests, res.Errors, res.FirstErrors)
	}
	want := map[string]int{loadgen.KindTimestamp304: 304, loadgen.KindSnapshot: 200, loadgen.KindRole: 200, loadgen.KindPayload: 200}
	for _, k := range res.Kinds {
		code, ok := want[k.Kind]
		if !ok || k.Requests == 0 || k.Statuses[code] != k.Requests {
			t.Errorf("%s: %d requests, statuses %v; want all %d", k.Kind, k.Requests, k.Statuses, code)
		}
	}
	if len(res.Kinds) != len(want) {
		t.Errorf("kinds %+v", res.Kinds)
	}
	t.Logf("%d conns, %v: %d requests, %.0f req/s, p50 %v, p99 %v, max %v, %d connections opened",
		conns, dur, res.Requests, res.ReqPerS, res.Latency.P50, res.Latency.P99, res.Latency.Max, res.Dials)

	if err := stop(); err != nil {
		t.Fatalf("graceful shutdown: %v", err)
	}
	after := serve.WaitNoLeak(t, base)
	t.Logf("before: %v; after the load and shutdown: %v (slack %v)", base, after, serve.LeakSlack)
}
