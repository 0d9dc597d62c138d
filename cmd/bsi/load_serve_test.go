package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bsiframework/bsi/loadgen"
)

// runCLI runs one bsi command line in-process with the real clock.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	e := &env{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" },
		Now: time.Now, Logger: slog.New(slog.DiscardHandler)}
	code := run(context.Background(), args, e)
	return code, stdout.String(), stderr.String()
}

// demoPublic publishes the demo's repository with "bsi demo --keep" (three
// components, several versions of every role, a withdrawal) and returns
// its published tree.
func demoPublic(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "demo")
	if code, out, errOut := runCLI(t, "demo", "--keep", "--dir", dir); code != 0 {
		t.Fatalf("bsi demo: exit %d\n%s%s", code, out, errOut)
	}
	return filepath.Join(dir, "public")
}

// bsiChild is the test binary as the bsi command (see TestMain), or a skip.
func bsiChild(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("runs child processes")
	}
	bin, err := exec.LookPath("bsi")
	if err != nil {
		t.Skip("bsi test binary not on PATH:", err)
	}
	return bin
}

// serveChild starts "bsi serve DIR --quiet" as a child process on a free
// loopback port and returns its URL. It must still run when the test ends;
// it is then stopped with SIGTERM.
func serveChild(t *testing.T, bin, dir string) string {
	t.Helper()
	cmd := exec.Command(bin, "serve", dir, "--quiet", "--addr", "127.0.0.1:0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	t.Cleanup(func() {
		select {
		case err := <-exited:
			t.Errorf("bsi serve exited during the test: %v\n%s", err, stderr.String())
			return
		default:
		}
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			// The test binary's bsi runs main()'s signal handling:
			// SIGTERM shuts the server down gracefully, exit 0.
			if err != nil {
				t.Errorf("bsi serve after SIGTERM: %v\n%s", err, stderr.String())
			}
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			t.Errorf("bsi serve did not stop on SIGTERM")
		}
	})
	line, err := bufio.NewReader(out).ReadString('\n') // "serving DIR at http://ADDR/"
	go func() { exited <- cmd.Wait() }()
	_, url, ok := strings.Cut(strings.TrimSpace(line), " at ")
	if err != nil || !ok {
		t.Fatalf("bsi serve did not start: %q %v\n%s", line, err, stderr.String())
	}
	return url
}

// TestLoadServeChild: "bsi serve" in a process of its own, the load from
// this one: 32 connections for 2 s of the fleet mix on the demo's tree.
// Every answer must be the expected one: 304 for the conditional
// timestamp, 200 with the exact length for the rest.
func TestLoadServeChild(t *testing.T) {
	bin := bsiChild(t)
	url := serveChild(t, bin, demoPublic(t))
	mix, err := loadgen.Discover(context.Background(), nil, url, loadgen.FleetWeights)
	if err != nil {
		t.Fatal(err)
	}
	res, err := loadgen.Run(context.Background(), loadgen.Config{URL: url, Mix: mix, Conns: 32, Duration: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK() {
		t.Fatalf("%d of %d requests failed: %v %q", res.ErrorCount(), res.Requests, res.Errors, res.FirstErrors)
	}
	want := map[string]int{loadgen.KindTimestamp304: 304, loadgen.KindSnapshot: 200, loadgen.KindRole: 200, loadgen.KindPayload: 200}
	for _, k := range res.Kinds {
		if code := want[k.Kind]; k.Requests == 0 || k.Statuses[code] != k.Requests {
			t.Errorf("%s: %d requests, statuses %v; want all %d", k.Kind, k.Requests, k.Statuses, code)
		}
	}
	t.Logf("bsi serve (child process), 32 conns, 2s: %d requests, %.0f req/s, p50 %v, p99 %v, max %v",
		res.Requests, res.ReqPerS, res.Latency.P50, res.Latency.P99, res.Latency.Max)
}

// TestLoadCommand: bsi load against a bsi serve child, its table and
// --json report, and --compare of two reports.
func TestLoadCommand(t *testing.T) {
	bin := bsiChild(t)
	url := serveChild(t, bin, demoPublic(t))
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.json"), filepath.Join(dir, "b.json")
	code, out, errOut := runCLI(t, "load", url, "--duration", "300ms", "--conns", "4", "--label", "bsi", "--json", a)
	if code != 0 {
		t.Fatalf("bsi load: exit %d\n%s%s", code, out, errOut)
	}
	for _, s := range []string{"req/s", "p99", "timestamp-304 status", "payload requests"} {
		if !strings.Contains(out, s) {
			t.Errorf("table lacks %q:\n%s", s, out)
		}
	}
	if !strings.Contains(errOut, "1 timestamp-304, 1 snapshot, 5 role, 10 payload; 4 connections for 300ms") {
		t.Errorf("stderr: %s", errOut)
	}
	var rep loadgen.Result
	data, err := os.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &rep); err != nil || !rep.OK() || rep.Conns != 4 || rep.Label != "bsi" {
		t.Fatalf("report %s: %v %+v", data, err, rep)
	}
	rep.Label, rep.ReqPerS = "other", rep.ReqPerS/2
	data, _ = json.Marshal(rep)
	os.WriteFile(b, data, 0o644)
	code, out, errOut = runCLI(t, "load", "--compare", a, b)
	if code != 0 || !strings.Contains(out, "bsi/other") || !strings.Contains(strings.Join(strings.Fields(out), " "), "2.00 errors 0 0") {
		t.Errorf("compare: exit %d\n%s%s", code, out, errOut)
	}
}

func TestLoadCommandErrors(t *testing.T) {
	dir := t.TempDir()
	notJSON := filepath.Join(dir, "x.json")
	os.WriteFile(notJSON, []byte("<html>"), 0o644)
	tests := []struct {
		args []string
		code int
		text string
	}{
		{[]string{"load"}, 2, "missing the URL of the published tree"},
		{[]string{"load", "http://127.0.0.1:1/", "--mix", "1,2,3"}, 2, "want four weights"},
		{[]string{"load", "http://127.0.0.1:1/", "--mix", "0,0,0,0"}, 2, "every weight is 0"},
		{[]string{"load", "http://127.0.0.1:1/", "--conns", "0"}, 2, "must be positive"},
		{[]string{"load", "--compare"}, 2, "missing the reports to compare"},
		{[]string{"load", "--compare", notJSON, notJSON, notJSON}, 2, "unexpected argument"},
		{[]string{"load", "--compare", notJSON, notJSON}, 1, "not a report of bsi load --json"},
		{[]string{"load", "http://127.0.0.1:1/"}, 1, "bsi: hint: is http://127.0.0.1:1/ the root of a published tree"},
	}
	for _, tt := range tests {
		code, _, errOut := runCLI(t, tt.args...)
		if code != tt.code || !strings.Contains(errOut, tt.text) {
			t.Errorf("bsi %s: exit %d, stderr %q; want %d and %q", strings.Join(tt.args, " "), code, errOut, tt.code, tt.text)
		}
	}
}
