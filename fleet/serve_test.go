package fleet

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/bsiframework/bsi/fleet/report"
)

// TestGracefulShutdownKeepsAcknowledged cancels a running collector while
// clients post: ListenAndServe returns nil, and every acknowledged report
// is stored.
func TestGracefulShutdownKeepsAcknowledged(t *testing.T) {
	s, dsn := openStore(t, "sqlite")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- ListenAndServe(ctx, ServeOptions{
			Addr:      "127.0.0.1:0",
			Ready:     func(a string) { ready <- a },
			Collector: Options{Store: s, NoRateLimitUnsafe: true, Now: func() time.Time { return t0 }},
		})
	}()
	url := "http://" + <-ready + "/v1/reports"
	var (
		mu    sync.Mutex
		acked []string
		wg    sync.WaitGroup
	)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := 0; ; b++ {
				var rs []report.Report
				for i := range 20 {
					n := g*1_000_000 + b*20 + i
					rs = append(rs, rep(n, n))
				}
				body, _ := report.Batch{Reports: rs}.Encode()
				resp, err := http.Post(url, "application/json", bytes.NewReader(body))
				if err != nil {
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					return
				}
				mu.Lock()
				for _, r := range rs {
					acked = append(acked, r.ID)
				}
				mu.Unlock()
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("ListenAndServe after cancel: %v", err)
	}
	wg.Wait()
	stored := storedIDs(t, dsn)
	if len(acked) == 0 {
		t.Fatal("nothing acknowledged before the shutdown")
	}
	for _, id := range acked {
		if !stored[id] {
			t.Fatalf("acknowledged report %s lost by the shutdown", id)
		}
	}
	t.Logf("%d acknowledged, %d stored", len(acked), len(stored))
}

// TestStorageFailureIs503 closes the database under the collector: a POST
// gets 503 (retry later), never a 2xx, and /healthz says so.
func TestStorageFailureIs503(t *testing.T) {
	s, _ := openStore(t, "sqlite")
	c := newCollector(t, s)
	s.Close()
	if code, e, _ := post(t, c, bytes.NewReader(encode(t, rep(1, 1))), nil); code != 503 || e.Reason != "storage" {
		t.Fatalf("POST with the database closed: %d %+v, want 503 storage", code, e)
	}
	if code := getJSON(t, c, "/healthz", nil); code != 503 {
		t.Fatalf("healthz with the database closed: %d, want 503", code)
	}
	if code := getJSON(t, c, "/v1/stats", nil); code != 503 {
		t.Fatalf("stats with the database closed: %d, want 503", code)
	}
}

// countingStore counts Stats calls.
type countingStore struct {
	Store
	mu    sync.Mutex
	stats int
}

func (s *countingStore) Stats(ctx context.Context, f Filter) ([]ImprovementStats, error) {
	s.mu.Lock()
	s.stats++
	s.mu.Unlock()
	return s.Store.Stats(ctx, f)
}

// TestAttackStatsPolling polls the statistics in a loop: one computation
// serves them all within StatsTTL, and the address limit answers 429 past
// its burst.
func TestAttackStatsPolling(t *testing.T) {
	base, _ := openStore(t, "sqlite")
	s := &countingStore{Store: base}
	c := newCollector(t, s, func(o *Options) { o.AddrRate, o.AddrBurst, o.StatsTTL = 1, 20, time.Hour })
	for i := range 25 {
		path := "/v1/stats"
		if i%2 == 1 {
			path = "/"
		}
		code := getJSON(t, c, path, nil)
		want := 200
		if i >= 20 {
			want = 429
		}
		if code != want {
			t.Fatalf("GET %s #%d: %d, want %d", path, i, code, want)
		}
	}
	if s.stats != 1 {
		t.Fatalf("statistics computed %d times for 20 requests, want 1", s.stats)
	}
}
