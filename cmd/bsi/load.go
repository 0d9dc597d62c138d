package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/bsiframework/bsi/loadgen"
)

// loadCommands returns the "bsi load" command (load generator for bsi serve
// and other HTTP servers of a repository tree).
func loadCommands() []*command {
	return []*command{{
		Name:    "load",
		Args:    "URL [--duration D] [--conns N] [--timeout D] [--mix W,W,W,W | --reports] [--label NAME] [--json FILE] | --compare A.json [B.json]",
		Summary: "put a server of a published repository under a fleet's load; req/s and latency",
		Help: `Reads the published tree at URL (timestamp.json, the snapshot it names, the
current version of every role, the payloads they list), then sends it what
a fleet of devices sends, from --conns concurrent keep-alive connections for
--duration:

  80%  GET /timestamp.json with If-None-Match (the server must answer 304;
       a server without ETags gets plain GETs and must answer 200)
   5%  GET /N.snapshot.json
  10%  GET /N.ROLE.json, targets and every delegated role
   5%  GET /targets/COMPONENT/SHA256.NAME, every payload

Any other status, a body of the wrong length, a reset or a timeout is an
error. Prints requests, errors by kind, requests per second, latency
percentiles (p50, p90, p99, max) and the same per kind of request. Exit 1
when a request failed; speed never fails.

--reports sends what a fleet sends to a collector instead (URL is bsi
fleet serve's): POST /v1/reports of one device's batch, 1 to 50 reports of
a random device with unique report ids. Start the collector with rate
limits one address can pass, e.g. bsi fleet serve --addr-rate 1000000
--addr-burst 1000000, or its 429 answers count as errors. The figures are
requests (batches) per second and latency; the collector's own log says
reports stored.

--compare prints saved --json reports (one, or two side by side with the
ratio of the first to the second: req/s above 1 and latencies below 1
favour the first).

Flags:
  --duration D   how long to send (default 5s)
  --conns N      concurrent connections (default 64)
  --timeout D    per request, to the end of the body (default 10s)
  --mix W,W,W,W  weights of timestamp, snapshot, roles, payloads
                 (default 80,5,10,5)
  --reports      load a fleet collector with device reports instead
  --label NAME   name of the server in the report (default the URL's host)
  --json FILE    also write the report as JSON to FILE ("-": stdout only)
  --compare      print the reports A.json and B.json (side by side)

Examples:
  bsi serve repo/public --quiet --addr 127.0.0.1:8080 &
  bsi load http://127.0.0.1:8080/ --duration 10s --conns 64 --label bsi --json bsi.json
  bsi load http://127.0.0.1:8081/ --label nginx --json nginx.json
  bsi load --compare bsi.json nginx.json
  bsi load http://127.0.0.1:8090/ --reports --duration 10s --conns 16`,
		Run: runLoad,
	}}
}

func runLoad(ctx context.Context, e *env, args []string) error {
	fs := newFlags("load")
	duration := fs.Duration("duration", loadgen.DefaultDuration, "")
	conns := fs.Int("conns", 64, "")
	timeout := fs.Duration("timeout", loadgen.DefaultTimeout, "")
	mixFlag := fs.String("mix", "80,5,10,5", "")
	label := fs.String("label", "", "")
	jsonFile := fs.String("json", "", "")
	compare := fs.Bool("compare", false, "")
	reports := fs.Bool("reports", false, "")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if *compare {
		if err := wantArgs(pos, 1, 2, "the reports to compare"); err != nil {
			return err
		}
		return compareLoad(e, pos)
	}
	if err := wantArgs(pos, 1, 1, "the URL of the published tree"); err != nil {
		return err
	}
	if *duration <= 0 || *conns <= 0 || *timeout <= 0 {
		return usagef("--duration, --conns and --timeout must be positive")
	}
	weights, err := parseMix(*mixFlag)
	if err != nil {
		return err
	}
	url := pos[0]
	var mix []loadgen.Request
	if *reports {
		mix = loadgen.Reports(e.Now())
	} else if mix, err = loadgen.Discover(ctx, nil, url, weights); err != nil {
		return withHint(err, "is %s the root of a published tree (it must serve timestamp.json)?", url)
	}
	fmt.Fprintf(e.Stderr, "bsi: load: %s: %s; %d connections for %s\n", url, describeMix(mix), *conns, *duration)
	res, err := loadgen.Run(ctx, loadgen.Config{
		URL: url, Mix: mix, Conns: *conns, Duration: *duration, Timeout: *timeout, Label: *label,
	})
	if err != nil {
		return err
	}
	if err := writeLoadReport(e, res, *jsonFile); err != nil {
		return err
	}
	if n := res.ErrorCount(); n > 0 {
		return fmt.Errorf("load: %d of %d requests to %s failed", n, res.Requests, url)
	}
	return nil
}

func writeLoadReport(e *env, res *loadgen.Result, jsonFile string) error {
	if jsonFile != "" && jsonFile != "-" {
		data, err := json.MarshalIndent(res, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(jsonFile, append(data, '\n'), 0o644); err != nil {
			return err
		}
	}
	if jsonFile == "-" {
		return writeJSONTo(e, res)
	}
	return loadgen.WriteTable(e.Stdout, res)
}

func compareLoad(e *env, files []string) error {
	var rs []*loadgen.Result
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		r := new(loadgen.Result)
		if err := json.Unmarshal(data, r); err != nil {
			return fmt.Errorf("load: %s is not a report of bsi load --json: %w", file, err)
		}
		rs = append(rs, r)
	}
	return loadgen.WriteTable(e.Stdout, rs...)
}

// parseMix reads --mix: four non-negative weights, the first positive.
func parseMix(s string) (loadgen.Weights, error) {
	parts := strings.Split(s, ",")
	if len(parts) != 4 {
		return loadgen.Weights{}, usagef("--mix %q: want four weights: timestamp,snapshot,roles,payloads", s)
	}
	var w [4]int
	for i, p := range parts {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || n < 0 || n > 1000 {
			return loadgen.Weights{}, usagef("--mix %q: %q is not a weight from 0 to 1000", s, p)
		}
		w[i] = n
	}
	if w[0]+w[1]+w[2]+w[3] == 0 {
		return loadgen.Weights{}, usagef("--mix %q: every weight is 0", s)
	}
	return loadgen.Weights{Timestamp: w[0], Snapshot: w[1], Roles: w[2], Payloads: w[3]}, nil
}

// describeMix says how many files of each kind the mix has.
func describeMix(mix []loadgen.Request) string {
	var kinds []string
	n := map[string]int{}
	for _, r := range mix {
		if n[r.Kind] == 0 {
			kinds = append(kinds, r.Kind)
		}
		n[r.Kind]++
	}
	var parts []string
	for _, k := range kinds {
		parts = append(parts, fmt.Sprintf("%d %s", n[k], k))
	}
	return strings.Join(parts, ", ")
}
