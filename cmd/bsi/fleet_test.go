package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bsiframework/bsi/fleet"
	"github.com/bsiframework/bsi/fleet/report"
)

// TestFleetServe runs "bsi fleet serve" in-process on SQLite: a batch is
// acknowledged and counted, a hostile one refused with 400, and
// cancelling the context (SIGINT/SIGTERM in the binary) stops it with exit 0.
func TestFleetServe(t *testing.T) {
	now := time.Date(2026, 12, 3, 14, 0, 0, 0, time.UTC)
	db := filepath.Join(t.TempDir(), "fleet.db")
	pr, pw := io.Pipe()
	var stderr bytes.Buffer
	e := &env{Stdin: strings.NewReader(""), Stdout: pw, Stderr: &stderr, Getenv: func(string) string { return "" },
		Now: func() time.Time { return now }, Logger: slog.New(slog.DiscardHandler)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	exit := make(chan int, 1)
	go func() {
		exit <- run(ctx, []string{"fleet", "serve", "--db", "sqlite:" + db, "--addr", "127.0.0.1:0", "--quiet"}, e)
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	go io.Copy(io.Discard, pr)
	_, rest, ok := strings.Cut(line, " at ")
	url, _, _ := strings.Cut(rest, " ")
	if err != nil || !ok {
		t.Fatalf("bsi fleet serve did not start: %q %v\n%s", line, err, stderr.String())
	}
	url = strings.TrimSuffix(url, "/")

	dev, _ := report.NewID(nil)
	id, _ := report.NewID(nil)
	body, err := report.Batch{Reports: []report.Report{{
		ID: id, Device: dev, Platform: "examplephone", Release: "26.3", Component: "webkit",
		Improvement: "wk-2026-001", Sequence: 1, Stage: 1, Outcome: report.HealthFailed, Time: now.Add(-time.Minute),
	}}}.Encode()
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(url+"/v1/reports", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("POST /v1/reports: %s", resp.Status)
	}
	resp, err = http.Post(url+"/v1/reports", "application/json", strings.NewReader(`{"reports":[{"hostname":"x"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Fatalf("hostile batch: %s, want 400", resp.Status)
	}
	resp, err = http.Get(url + "/v1/stats/webkit/wk-2026-001")
	if err != nil {
		t.Fatal(err)
	}
	var st fleet.ImprovementStats
	json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	if st.Devices != 1 || st.FailedDevices != 1 || st.FailureRate != 1 {
		t.Fatalf("stats %+v, want 1 device, 1 failed, rate 1", st.Counts)
	}
	cancel()
	select {
	case code := <-exit:
		if code != exitOK {
			t.Fatalf("exit %d after cancel, want 0\n%s", code, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("bsi fleet serve did not stop")
	}
}

func TestFleetServeUsage(t *testing.T) {
	for _, args := range [][]string{
		{"fleet", "serve", "--db", "mysql://x"},
		{"fleet", "serve", "--db", "fleet.db"},
		{"fleet", "serve", "--max-body", "1"},
		{"fleet", "serve", "extra"},
		{"fleet", "serve", "--nope"},
		{"fleet", "serve", "--device-rate", "0"},
		{"fleet", "serve", "--addr-burst", "-1"},
	} {
		var stdout, stderr bytes.Buffer
		e := &env{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" },
			Now: time.Now, Logger: slog.New(slog.DiscardHandler)}
		if code := run(context.Background(), args, e); code != exitUsage {
			t.Errorf("bsi %s: exit %d, want %d\n%s", strings.Join(args, " "), code, exitUsage, stderr.String())
		}
	}
}

// TestFleetServeDatabaseFailure: a database that cannot be opened is an
// operational failure (exit 1), never a security one.
func TestFleetServeDatabaseFailure(t *testing.T) {
	var stdout, stderr bytes.Buffer
	e := &env{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" },
		Now: time.Now, Logger: slog.New(slog.DiscardHandler)}
	dir := filepath.Join(t.TempDir(), "missing", "fleet.db")
	if code := run(context.Background(), []string{"fleet", "serve", "--db", "sqlite:" + dir}, e); code != exitFailure {
		t.Fatalf("exit %d, want %d\n%s", code, exitFailure, stderr.String())
	}
}
