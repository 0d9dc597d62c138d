package fleet

import (
	"math"
	"sync"
	"time"
)

// limiter is a set of token buckets by key (a device id, an address), in
// bounded memory: past maxKeys, buckets that have refilled are forgotten
// (they hold no state worth keeping); if that is not enough, all are.
type limiter struct {
	rate    float64 // tokens per second
	burst   float64
	maxKeys int

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newLimiter(rate float64, burst, maxKeys int) *limiter {
	return &limiter{rate: rate, burst: float64(burst), maxKeys: maxKeys, buckets: map[string]*bucket{}}
}

// take takes want[key] tokens from each key's bucket, all or none. When one
// bucket is short, nothing is taken and wait says how long until it would
// not be (at least one second, for Retry-After).
func (l *limiter) take(want map[string]int, now time.Time) (ok bool, wait time.Duration) {
	if l == nil || l.rate <= 0 {
		return true, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buckets)+len(want) > l.maxKeys {
		l.sweep(now)
	}
	for key, n := range want {
		b := l.refill(key, now)
		if b.tokens < float64(n) {
			need := (float64(n) - b.tokens) / l.rate
			if float64(n) > l.burst {
				need = l.burst / l.rate // more than a burst: never in one request
			}
			return false, max(time.Second, time.Duration(math.Ceil(need))*time.Second)
		}
	}
	for key, n := range want {
		l.buckets[key].tokens -= float64(n)
	}
	return true, 0
}

func (l *limiter) refill(key string, now time.Time) *bucket {
	b := l.buckets[key]
	if b == nil {
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[key] = b
		return b
	}
	if dt := now.Sub(b.last).Seconds(); dt > 0 {
		b.tokens = math.Min(l.burst, b.tokens+dt*l.rate)
		b.last = now
	}
	return b
}

func (l *limiter) sweep(now time.Time) {
	full := time.Duration(l.burst / l.rate * float64(time.Second))
	for k, b := range l.buckets {
		if now.Sub(b.last) >= full {
			delete(l.buckets, k)
		}
	}
	if len(l.buckets) > l.maxKeys/2 {
		clear(l.buckets)
	}
}
