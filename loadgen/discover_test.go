package loadgen_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bsiframework/bsi/demo"
	"github.com/bsiframework/bsi/loadgen"
	"github.com/bsiframework/bsi/serve"
)

// demoTree publishes the demo's repository (three components, several
// versions of each role, a withdrawal) and returns its public directory.
func demoTree(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if _, err := demo.Run(context.Background(), demo.Options{Dir: dir, Keep: true}); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "public")
}

// TestDiscoverPublishedTree: the mix names the current snapshot, the
// current version of every role and every payload of the tree, with the
// lengths of the files on disk; bsi's server gets a conditional timestamp
// poll (it sends ETags), net/http's file server a plain one. Then the mix
// runs against each without an error.
func TestDiscoverPublishedTree(t *testing.T) {
	public := demoTree(t)
	h, err := serve.NewHandler(public, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	tests := []struct {
		name      string
		handler   http.Handler
		timestamp string
		status    int
	}{
		{"bsi serve", h, loadgen.KindTimestamp304, http.StatusNotModified},
		{"file server", http.FileServer(http.Dir(public)), loadgen.KindTimestamp, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.handler)
			defer srv.Close()
			mix, err := loadgen.Discover(context.Background(), srv.Client(), srv.URL, loadgen.FleetWeights)
			if err != nil {
				t.Fatal(err)
			}
			count := map[string]int{}
			weight := map[string]int{}
			for _, r := range mix {
				count[r.Kind]++
				weight[r.Kind] += r.Weight
				if r.Kind == tt.timestamp {
					if r.Path != "timestamp.json" || r.Status != tt.status {
						t.Errorf("timestamp request %+v", r)
					}
					continue
				}
				fi, err := os.Stat(filepath.Join(public, filepath.FromSlash(r.Path)))
				if err != nil {
					t.Errorf("%s %s: %v", r.Kind, r.Path, err)
					continue
				}
				if fi.Size() != r.Length || r.Status != 200 {
					t.Errorf("%s: length %d status %d, file has %d bytes", r.Path, r.Length, r.Status, fi.Size())
				}
			}
			snaps, _ := filepath.Glob(filepath.Join(public, "*.snapshot.json"))
			// Payloads are published under one hash each (sha256). The demo's
			// rollout role is a fifth role, and its current schedule
			// (one: older ones stay in the tree) one more payload.
			targets, _ := filepath.Glob(filepath.Join(public, "targets", "*", "*"))
			targets = slices.DeleteFunc(targets, func(f string) bool {
				fi, err := os.Stat(f)
				// A transparency proof beside a payload is no payload.
				return err != nil || !fi.Mode().IsRegular() || strings.HasSuffix(f, ".tlog-proof")
			})
			rollout := 0
			if rs, _ := filepath.Glob(filepath.Join(public, "*.rollout.json")); len(rs) > 0 {
				rollout = 1
			}
			// The transparency log's policy is a target of top-level
			// targets: one more payload.
			policies, _ := filepath.Glob(filepath.Join(public, "targets", "*.tlog-policy"))
			want := map[string]int{tt.timestamp: 1, loadgen.KindSnapshot: 1, loadgen.KindRole: 4 + rollout,
				loadgen.KindPayload: len(targets) + rollout + len(policies)}
			for k, n := range want {
				if count[k] != n {
					t.Errorf("%d %s requests, want %d (%d snapshots in the tree)", count[k], k, n, len(snaps))
				}
			}
			if weight[tt.timestamp] != 80000 || weight[loadgen.KindRole] < 9996 || weight[loadgen.KindPayload] < 4990 {
				t.Errorf("weights %v", weight)
			}
			res, err := loadgen.Run(context.Background(), loadgen.Config{URL: srv.URL, Mix: mix,
				Conns: 4, Duration: 300 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			if !res.OK() {
				t.Fatalf("errors %v: %q", res.Errors, res.FirstErrors)
			}
			for _, k := range res.Kinds {
				if k.Kind == tt.timestamp && k.Statuses[tt.status] != k.Requests {
					t.Errorf("timestamp statuses %v", k.Statuses)
				}
			}
		})
	}
}

func TestDiscoverErrors(t *testing.T) {
	files := map[string]string{
		"/timestamp.json":  `{"signed":{"meta":{"snapshot.json":{"version":2}}}}`,
		"/2.snapshot.json": `{"signed":{"meta":{"targets.json":{"version":1}}}}`,
	}
	tests := []struct {
		name     string
		override map[string]string
		url      string
	}{
		{"no timestamp", map[string]string{"/timestamp.json": ""}, "/timestamp.json"},
		{"timestamp not JSON", map[string]string{"/timestamp.json": "<html>"}, "/timestamp.json"},
		{"no snapshot version", map[string]string{"/timestamp.json": `{"signed":{"meta":{}}}`}, "/timestamp.json"},
		{"snapshot missing", map[string]string{"/2.snapshot.json": ""}, "/2.snapshot.json"},
		{"role missing", nil, "/1.targets.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, ok := tt.override[r.URL.Path]
				if !ok {
					body = files[r.URL.Path]
				}
				if body == "" {
					http.NotFound(w, r)
					return
				}
				w.Write([]byte(body))
			}))
			defer srv.Close()
			_, err := loadgen.Discover(context.Background(), nil, srv.URL+"/", loadgen.FleetWeights)
			var de *loadgen.DiscoverError
			if !errors.As(err, &de) || de.URL != srv.URL+tt.url {
				t.Fatalf("err = %v, want a DiscoverError on %s", err, tt.url)
			}
			if !strings.HasPrefix(err.Error(), "loadgen: discover ") {
				t.Errorf("message %q", err)
			}
		})
	}
}
