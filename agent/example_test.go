package agent_test

import (
	"fmt"

	"github.com/bsiframework/bsi/agent"
	"github.com/bsiframework/bsi/manifest"
)

func ExamplePlan() {
	improvement := func(seq int, status manifest.Status, reason string) *manifest.Manifest {
		return &manifest.Manifest{
			Schema: manifest.Schema, ID: fmt.Sprintf("webkit-26.3-%c", 'a'+seq-1), Title: "WebKit fix",
			Platform: "macos", Component: "webkit", AppliesTo: manifest.AppliesTo{Releases: []string{"26.3"}},
			Sequence: seq, Severity: manifest.SeverityHigh, Released: "2026-11-27T10:00:00Z",
			Status: status, WithdrawnReason: reason,
		}
	}
	a := improvement(1, manifest.StatusActive, "")
	b := improvement(2, manifest.StatusWithdrawn, "breaks video")
	device := manifest.Device{Platform: "macos", Release: "26.3"}
	installed := []agent.Installed{{Component: "webkit", ID: b.ID, Sequence: 2, Release: "26.3", Manifest: b}}
	available := []agent.Available{
		{Path: "webkit/webkit-26.3-a.tar.gz", Role: "webkit", Manifest: a},
		{Path: "webkit/webkit-26.3-b.tar.gz", Role: "webkit", Manifest: b},
	}
	for _, act := range agent.Plan(device, installed, available, nil) {
		fmt.Printf("%s %s: %s\n", act.Kind, act.Component, act.Reason)
	}
	// Output:
	// rollback webkit: webkit-26.3-b is withdrawn: breaks video; back to webkit-26.3-a
}
