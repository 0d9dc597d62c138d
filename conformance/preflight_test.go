package conformance

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRunChecksClient: a client that does not exist or does not answer
// "init" stops the run with one *ClientError before any scenario, instead
// of failing every scenario with the same "exec: not found".
func TestRunChecksClient(t *testing.T) {
	plain := filepath.Join(t.TempDir(), "client")
	if err := os.WriteFile(plain, []byte("#!/bin/sh\nexit 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		client []string
		step   string
	}{
		{"missing", []string{"/nonexistent/bsi-conformance-client", "tuf-client"}, "find"},
		{"not on PATH", []string{"bsi-conformance-no-such-client"}, "find"},
		{"fails init", []string{"false"}, "init"},
		{"not executable", []string{plain}, "find"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep, err := Run(context.Background(), Options{Client: tc.client, Groups: []string{"basic"}})
			ce, ok := errors.AsType[*ClientError](err)
			if !ok || ce.Step != tc.step {
				t.Fatalf("Run = %v, %v; want a *ClientError at step %q", rep, err, tc.step)
			}
			if !strings.Contains(err.Error(), tc.client[0]) {
				t.Errorf("error %q does not name the client", err)
			}
		})
	}
}

// TestBSIGroupSkippedWithoutBSI: with no bsi command the bsi group is
// skipped, and says why, instead of passing without the client.
func TestBSIGroupSkippedWithoutBSI(t *testing.T) {
	rep, err := Run(context.Background(), Options{Client: []string{"true"}, Groups: []string{"bsi"}, Parallel: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Results) < 20 {
		t.Fatalf("%d bsi scenarios in the report", len(rep.Results))
	}
	for _, r := range rep.Results {
		if r.Status != Skipped || len(r.Failures) != 1 || !strings.Contains(r.Failures[0], "bsi client") {
			t.Errorf("%s: %s %v; want skipped, saying why", r.Name, r.Status, r.Failures)
		}
	}
}
