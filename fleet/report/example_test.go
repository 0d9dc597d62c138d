package report_test

import (
	"bytes"
	"fmt"
	"time"

	"github.com/bsiframework/bsi/fleet/report"
)

// A device builds a batch, the collector decodes it strictly.
func Example() {
	now := time.Date(2026, 12, 3, 14, 0, 0, 0, time.UTC)
	body, err := report.Batch{Reports: []report.Report{{
		ID: "5b0e3f9c2d6a4e18a7c1f0d29e8b3a41", Device: "9f86d081884c7d659a2feaa0c55ad015",
		Platform: "examplephone", Release: "26.3", Component: "webkit", Improvement: "wk-2026-001",
		Sequence: 1, Stage: 2, Outcome: report.HealthFailed, ErrorClass: "health.timeout",
		Time: now.Add(-time.Minute),
	}}}.Encode()
	if err != nil {
		panic(err)
	}
	b, err := report.Decode(bytes.NewReader(body), report.Options{Now: now})
	fmt.Println(len(b.Reports), b.Reports[0].Outcome, err)

	_, err = report.Decode(bytes.NewReader([]byte(`{"reports":[{"hostname":"laptop"}]}`)), report.Options{Now: now})
	fmt.Println(err)
	// Output:
	// 1 health-failed <nil>
	// report: report 0: unknown-field: "hostname"
}
