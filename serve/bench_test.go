package serve_test

import (
	"context"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/bsiframework/bsi/demo"
	"github.com/bsiframework/bsi/loadgen"
	"github.com/bsiframework/bsi/serve"
)

// benchDir holds the demo's tree for the benchmarks; TestMain removes it.
var benchDir string

// benchTree is the demo's published tree, built once for all benchmarks.
var benchTree = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "bsi-serve-bench-")
	if err != nil {
		return "", err
	}
	benchDir = dir
	if _, err := demo.Run(context.Background(), demo.Options{Dir: dir, Keep: true}); err != nil {
		return "", err
	}
	return filepath.Join(dir, "public"), nil
})

func TestMain(m *testing.M) {
	code := m.Run()
	if benchDir != "" {
		os.RemoveAll(benchDir)
	}
	os.Exit(code)
}

// fleetMix discovers the fleet's request mix of the tree served at url.
func fleetMix(b *testing.B, url string) ([]loadgen.Request, func(*rand.Rand) int) {
	b.Helper()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	mix, err := loadgen.Discover(context.Background(), &http.Client{Transport: tr}, url, loadgen.FleetWeights)
	if err != nil {
		b.Fatal(err)
	}
	cum := make([]int, len(mix))
	total := 0
	for i, r := range mix {
		total += r.Weight
		cum[i] = total
	}
	return mix, func(rng *rand.Rand) int { return sort.SearchInts(cum, rng.IntN(total)+1) }
}

// BenchmarkServeFleetMix is the server on a real loopback listener under
// the fleet's request mix (80% conditional timestamp polls answered 304,
// 5% snapshot, 10% roles, 5% payloads) from 64 keep-alive connections,
// client included: ns/op is the machine's time per request, req/s what
// "bsi load" reports. Compare it with .ci/load, which runs nginx beside.
func BenchmarkServeFleetMix(b *testing.B) {
	dir, err := benchTree()
	if err != nil {
		b.Fatal(err)
	}
	url, stop := startServe(b, serve.Options{Dir: dir})
	defer stop()
	mix, pick := fleetMix(b, url)
	urls := make([]string, len(mix))
	for i, r := range mix {
		urls[i] = url + r.Path
	}
	tr := &http.Transport{MaxIdleConnsPerHost: 64, MaxConnsPerHost: 64, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	var seed atomic.Uint64
	b.SetParallelism(32) // 64 connections on 2 cores, as .ci/load
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		rng := rand.New(rand.NewPCG(seed.Add(1), 1))
		for pb.Next() {
			i := pick(rng)
			req, _ := http.NewRequest(http.MethodGet, urls[i], nil)
			req.Header = mix[i].Header
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			n, err := io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != mix[i].Status || (mix[i].Length >= 0 && n != mix[i].Length) {
				b.Errorf("%s: status %d, %d bytes, %v; want %d, %d bytes", mix[i].Path, resp.StatusCode, n, err, mix[i].Status, mix[i].Length)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}

// BenchmarkHandlerFleetMix is the handler alone, in process, under the
// same mix: what the server's own work costs per request, without the
// HTTP stack and the client.
func BenchmarkHandlerFleetMix(b *testing.B) {
	dir, err := benchTree()
	if err != nil {
		b.Fatal(err)
	}
	h, err := serve.NewHandler(dir, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	srv := httptest.NewServer(h)
	mix, pick := fleetMix(b, srv.URL+"/")
	srv.Close()
	reqs := make([]*http.Request, len(mix))
	for i, r := range mix {
		reqs[i] = httptest.NewRequest(http.MethodGet, "/"+r.Path, nil)
		reqs[i].Header = r.Header
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		rng := rand.New(rand.NewPCG(rand.Uint64(), 2))
		w := &discardWriter{hdr: http.Header{}}
		for pb.Next() {
			i := pick(rng)
			clear(w.hdr)
			w.code = 0
			h.ServeHTTP(w, reqs[i])
			if w.code != mix[i].Status && !(w.code == 0 && mix[i].Status == http.StatusOK) {
				b.Errorf("%s: status %d, want %d", mix[i].Path, w.code, mix[i].Status)
				return
			}
		}
	})
}

// discardWriter is a ResponseWriter that keeps only the status.
type discardWriter struct {
	hdr  http.Header
	code int
}

func (w *discardWriter) Header() http.Header         { return w.hdr }
func (w *discardWriter) WriteHeader(code int)        { w.code = code }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
