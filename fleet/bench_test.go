package fleet

import (
	"bytes"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bsiframework/bsi/fleet/report"
)

// fleetMix draws the next batch of a fleet's reports: most devices send one
// or two reports per POST (offered then installed), some flush an outbox
// of several, a few relays send 50; outcomes are mostly successes.
func fleetMix(rng *rand.Rand, next *atomic.Int64, now time.Time) []report.Report {
	var k int
	switch p := rng.IntN(100); {
	case p < 60:
		k = 1
	case p < 85:
		k = 2
	case p < 97:
		k = 8
	default:
		k = 50
	}
	rs := make([]report.Report, k)
	dev := rng.IntN(1_000_000)
	for i := range rs {
		n := int(next.Add(1))
		o := report.Installed
		switch p := rng.IntN(1000); {
		case p < 250:
			o = report.Offered
		case p < 270:
			o = report.HealthFailed
		case p < 280:
			o = report.RolledBack
		case p < 283:
			o = report.SecurityFailure
		case p < 290:
			o = report.Declined
		}
		if k == 50 {
			dev = rng.IntN(1_000_000) // a relay: many devices
		}
		rs[i] = rep(n, dev, outcome(o), stage(1+rng.IntN(4)), func(r *report.Report) {
			r.Time = now.Add(-time.Duration(rng.IntN(3600)) * time.Second)
			r.Improvement = []string{"wk-2026-001", "wk-2026-002", "wk-2026-003"}[rng.IntN(3)]
		})
	}
	return rs
}

// BenchmarkCollect posts a fleet's report mix over HTTP to a collector on
// each store, from 32 concurrent clients, and reports reports/s and the
// p99 latency of a POST. Every report must be acknowledged and stored.
func BenchmarkCollect(b *testing.B) {
	for _, kind := range storeKinds {
		b.Run(kind, func(b *testing.B) {
			s, dsn := openStore(b, kind)
			c := newCollector(b, s, func(o *Options) { o.NoRateLimitUnsafe = true; o.Now = time.Now })
			srv := httptest.NewServer(c)
			defer srv.Close()
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
			var (
				next, reports atomic.Int64
				mu            sync.Mutex
				lat           []time.Duration
				seed          atomic.Uint64
			)
			now := time.Now()
			b.SetParallelism(16)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				rng := rand.New(rand.NewPCG(seed.Add(1), 7))
				var my []time.Duration
				for pb.Next() {
					rs := fleetMix(rng, &next, now)
					body, err := report.Batch{Reports: rs}.Encode()
					if err != nil {
						b.Error(err)
						return
					}
					start := time.Now()
					resp, err := client.Post(srv.URL+"/v1/reports", "application/json", bytes.NewReader(body))
					if err != nil {
						b.Error(err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					my = append(my, time.Since(start))
					if resp.StatusCode != 200 {
						b.Errorf("POST: %s", resp.Status)
						return
					}
					reports.Add(int64(len(rs)))
				}
				mu.Lock()
				lat = append(lat, my...)
				mu.Unlock()
			})
			elapsed := b.Elapsed()
			b.StopTimer()
			slices.Sort(lat)
			if len(lat) > 0 {
				b.ReportMetric(float64(reports.Load())/elapsed.Seconds(), "reports/s")
				b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
			}
			if got, sent := len(storedIDs(b, dsn)), int(next.Load()); got != sent {
				b.Fatalf("%d reports stored, %d sent and acknowledged", got, sent)
			}
		})
	}
}
