package rollout_test

import (
	"fmt"
	"time"

	"github.com/bsiframework/bsi/rollout"
)

func ExampleParseStages() {
	stages, err := rollout.ParseStages("canary:100%:24h,5%:24h,25%:2d,100%")
	if err != nil {
		panic(err)
	}
	for _, st := range stages {
		fmt.Println(st.BasisPoints, st.Hold(), st.Rings)
	}
	_, err = rollout.ParseStages("50%:24h,25%:24h,100%")
	fmt.Println(err)
	// Output:
	// 10000 24h0m0s [canary]
	// 500 24h0m0s []
	// 2500 48h0m0s []
	// 10000 0s []
	// rollout: stage 2: 25% is lower than stage 1's 50%
}

func ExampleSchedule_Encode() {
	stages, _ := rollout.ParseStages("5%:24h,100%")
	s := &rollout.Schedule{Schema: rollout.Schema, Component: "webkit", ID: "webkit-26.3-b",
		Improvement: "webkit/webkit-26.3-b.tar.gz", Start: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), Stages: stages}
	b, err := s.Encode()
	if err != nil {
		panic(err)
	}
	fmt.Println(s.Path())
	fmt.Println(string(b))
	// Output:
	// rollout/webkit/webkit-26.3-b.json
	// {"component":"webkit","id":"webkit-26.3-b","improvement":"webkit/webkit-26.3-b.tar.gz","schema":"bsi.rollout/v1","stages":[{"basis_points":500,"hold_seconds":86400},{"basis_points":10000}],"start":"2026-12-01T00:00:00Z"}
}

func ExampleDecide() {
	stages, _ := rollout.ParseStages("canary:100%:24h,5%:24h,100%")
	start := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	s := &rollout.Schedule{Schema: rollout.Schema, Component: "webkit", ID: "webkit-26.3-b",
		Improvement: "webkit/webkit-26.3-b.tar.gz", Start: start, Stages: stages}
	dev := rollout.Device{Seed: rollout.Seed{}, Ring: "stable"} // bucket 8136
	for _, at := range []time.Duration{time.Hour, 25 * time.Hour, 49 * time.Hour} {
		d := rollout.Decide(s, dev, start.Add(at))
		fmt.Printf("+%v: stage %d (%s), bucket %d, offered %v\n", at, d.Stage+1, rollout.FormatPercent(d.BasisPoints), d.Bucket, d.Offered)
	}
	dev.Ring = "canary"
	fmt.Println("canary:", rollout.Decide(s, dev, start.Add(time.Hour)).Offered)
	// Output:
	// +1h0m0s: stage 1 (100%), bucket 8136, offered false
	// +25h0m0s: stage 2 (5%), bucket 8136, offered false
	// +49h0m0s: stage 3 (100%), bucket 8136, offered true
	// canary: true
}

func ExampleGate() {
	start := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	s := &rollout.Schedule{Schema: rollout.Schema, Component: "webkit", ID: "webkit-26.3-b",
		Improvement: "webkit/webkit-26.3-b.tar.gz", Start: start, Stages: []rollout.Stage{{BasisPoints: rollout.Full}},
		Halted: &rollout.Halt{At: start, Reason: "crash reports from the canaries"}}
	custom, _ := s.Custom()
	cands := []rollout.Candidate{
		{Target: "webkit/webkit-26.3-b.tar.gz", Component: "webkit", ID: "webkit-26.3-b", Active: true, Applicable: true},
		{Target: "safari/safari-26.3-a.tar.gz", Component: "safari", ID: "safari-26.3-a", Active: true, Applicable: true},
	}
	entries := []rollout.Entry{
		{Path: s.Path(), Custom: custom},
		{Path: "rollout/fonts/fonts-1.json", Custom: custom},
	}
	g := rollout.Gate(cands, entries, rollout.Device{}, start.Add(time.Hour))
	fmt.Println("allowed:", g.Allowed)
	for _, h := range g.Held {
		fmt.Println("held:", h.Target, "halted:", h.Decision.Reason)
	}
	for _, i := range g.Ignored {
		fmt.Println("ignored:", i.Path, "-", i.Reason)
	}
	// Output:
	// allowed: [safari/safari-26.3-a.tar.gz]
	// held: webkit/webkit-26.3-b.tar.gz halted: crash reports from the canaries
	// ignored: rollout/fonts/fonts-1.json - the schedule is for webkit/webkit-26.3-b, not for its path rollout/fonts/fonts-1.json
}
