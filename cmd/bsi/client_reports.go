package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/bsiframework/bsi/agent"
	"github.com/bsiframework/bsi/trust/client"
)

// reportFlushTimeout bounds the one attempt that check, install and
// rollback make to send queued reports after their work; bsi client run
// sends in every round with agent.DefaultFlushTimeout.
const reportFlushTimeout = 2 * time.Second

func clientSetReportURLCommand() *command {
	return &command{
		name:    "client set-report-url",
		args:    "STATE URL|--none",
		summary: "send device reports to a fleet collector, or stop",
		help: `Makes the device report to the fleet collector at URL (bsi fleet serve;
reports are POSTed to URL/v1/reports) what happens to each improvement:
installed, rolled back, retired, failed its health check, refused for
security or freshness. URL follows the rules of --url: http or https, no
user name, password, query or fragment. --none stops reporting and
deletes the reports not yet sent.

A report names the device by a random id made once (STATE/report.json),
never by a host name or an address, and carries the platform, release,
build, component, improvement id and sequence, outcome, error class and
time. Reports wait in STATE/outbox.jsonl (at most 1000 reports, 1 MiB and
30 days; the oldest go first, and bsi client status counts them) and are
sent after the work of check, install and rollback (one attempt of at
most 2 s) and in every round of bsi client run, retried with backoff. A
collector that is down or slow never delays or blocks an install.

Examples:
  bsi client set-report-url /var/lib/bsi https://fleet.example.com
  bsi client set-report-url /var/lib/bsi --none`,
		run: runClientSetReportURL,
	}
}

func runClientSetReportURL(ctx context.Context, e *env, args []string) error {
	fs := newFlags("client set-report-url")
	none := fs.Bool("none", false, "stop reporting")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	e = clientEnv(e, false)
	if err := wantArgs(pos, 1, 2, "STATE and URL (or --none)"); err != nil {
		return err
	}
	if *none == (len(pos) == 2) {
		return usagef("give either URL or --none")
	}
	u := ""
	if !*none {
		u = pos[1]
		if err := agent.ValidateReportURL(u); err != nil {
			return usagef("%v", err)
		}
	}
	return setReportURL(ctx, e, pos[0], u)
}

// setReportURL records u (empty: off) in STATE and says so.
func setReportURL(ctx context.Context, e *env, state, u string) error {
	a, err := openAgent(ctx, e, state, "", client.Network{})
	if err != nil {
		return err
	}
	defer a.Close()
	if err := a.SetReportURL(u); err != nil {
		return err
	}
	if u == "" {
		fmt.Fprintf(e.stdout, "reports off for %s\n", state)
		return nil
	}
	rc, err := a.ReportConfig()
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "reports to %s as device %s\n", u, rc.Device)
	return nil
}

// flushReports makes the one short attempt to send queued reports that
// check, install and rollback make after their work. A failure is a
// warning: the reports stay queued for a later command or round.
func flushReports(ctx context.Context, e *env, a *agent.Agent) {
	fr, err := a.FlushReports(ctx, reportFlushTimeout)
	if err != nil {
		fmt.Fprintf(e.stderr, "bsi: warning: %v (%d report(s) stay queued)\n", err, fr.Queued)
	}
}

// printReportsLine is the reports line of bsi client status.
func printReportsLine(w io.Writer, st *agent.ReportStatus) {
	if st == nil || st.URL == "" {
		return
	}
	fmt.Fprintf(w, "reports: to %s as device %s: %d queued, %d sent, %d dropped, %d refused",
		st.URL, st.Device, st.Queued, st.Sent, st.Dropped, st.Rejected)
	if !st.LastSent.IsZero() {
		fmt.Fprintf(w, ", last sent %s", stampUTC(st.LastSent))
	}
	fmt.Fprintln(w)
}
