package rollout

import (
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

// valid returns a valid schedule: canary 100% for 24h, 5% for 24h, 25%
// for 24h, then 100%, from t0.
func valid(t testing.TB) *Schedule {
	t.Helper()
	stages, err := ParseStages("canary:100%:24h,5%:24h,25%:24h,100%")
	if err != nil {
		t.Fatal(err)
	}
	return &Schedule{Schema: Schema, Component: "webkit", ID: "webkit-26.3-b",
		Improvement: "webkit/webkit-26.3-b.tar.gz", Start: t0, Stages: stages}
}

func seed(n int) Seed {
	var s Seed
	s[0], s[1], s[2], s[3] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
	return s
}
