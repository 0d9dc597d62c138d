package client

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestUnsupportedSchemeNotRetried: a URL the client can never fetch fails
// at the first attempt, naming the scheme.
func TestUnsupportedSchemeNotRetried(t *testing.T) {
	s := newSim(t)
	s.publish()
	dir := t.TempDir()
	if err := Init(dir, s.get("1.root.json"), s.now); err != nil {
		t.Fatal(err)
	}
	var slept []time.Duration
	c, err := New(Config{MetadataDir: dir, MetadataURL: "ftp://127.0.0.1/metadata", Now: func() time.Time { return s.now },
		Network: Network{Sleep: func(_ context.Context, d time.Duration) error { slept = append(slept, d); return nil }}})
	if err != nil {
		t.Fatal(err)
	}
	err = c.Refresh(t.Context())
	var fe *FetchError
	if !errors.As(err, &fe) {
		t.Fatalf("Refresh: %v, want a *FetchError", err)
	}
	if fe.Attempts > 1 || !strings.Contains(err.Error(), `"ftp"`) || len(slept) != 0 {
		t.Fatalf("Refresh: %v (attempts %d, waits %v); want one attempt naming the scheme", err, fe.Attempts, slept)
	}
}
