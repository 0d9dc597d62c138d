package loadgen

import (
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/bsiframework/bsi/fleet/report"
)

// Reports is the mix of a fleet reporting to a collector (bsi fleet serve):
// POST /v1/reports of a batch from one device, drawn for every request as
// devices send them: 60% one report, 25% two, 12% eight (an outbox
// flushed after an outage), 3% fifty (report.DeviceBatch). Devices are
// random pseudonymous ids, report ids are unique, times are within the
// last hour before now, outcomes mostly successes (2% health-failed, 1%
// rolled-back). The collector must answer 200; run it with rate limits
// that let one address through (--addr-rate, --device-rate) or it answers
// 429, counted as errors.
func Reports(now time.Time) []Request {
	return []Request{{
		Kind: "reports", Path: "v1/reports", Status: http.StatusOK, Length: -1, Weight: 1,
		Header: http.Header{"Content-Type": {"application/json"}},
		Body:   func(rng *rand.Rand) []byte { return reportBatch(rng, now) },
	}}
}

func randomID(rng *rand.Rand) string {
	var b [16]byte
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return hex.EncodeToString(b[:])
}

// reportBatch is one device's batch.
func reportBatch(rng *rand.Rand, now time.Time) []byte {
	var n int
	switch p := rng.IntN(100); {
	case p < 60:
		n = 1
	case p < 85:
		n = 2
	case p < 97:
		n = 8
	default:
		n = report.DeviceBatch
	}
	dev := randomID(rng)
	rs := make([]report.Report, n)
	for i := range rs {
		o := report.Installed
		switch p := rng.IntN(100); {
		case p < 2:
			o = report.HealthFailed
		case p < 3:
			o = report.RolledBack
		case p < 30:
			o = report.Offered
		}
		rs[i] = report.Report{ID: randomID(rng), Device: dev, Platform: "macos", Release: "26.3", Build: "25D125",
			Component: "webkit", Improvement: fmt.Sprintf("webkit-26.3-%c", 'a'+rng.IntN(3)), Sequence: 1 + rng.IntN(3),
			Stage: 1 + rng.IntN(4), Outcome: o, Time: now.Add(-time.Duration(rng.IntN(3600)) * time.Second).UTC()}
	}
	b, err := report.Batch{Reports: rs}.Encode()
	if err != nil {
		panic(fmt.Sprintf("loadgen: a generated batch does not encode: %v", err)) // a bug here, not input
	}
	return b
}
