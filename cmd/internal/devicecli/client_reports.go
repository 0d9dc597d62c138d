package devicecli

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/bsiframework/bsi/agent"
	"github.com/bsiframework/bsi/trust/client"
)

// ReportFlushTimeout bounds the one attempt that check, install and
// rollback make to send queued reports after their work; bsi client run
// sends in every round with agent.DefaultFlushTimeout.
const ReportFlushTimeout = 2 * time.Second

func clientSetReportURLCommand() *Command {
	return &Command{
		Name:    "client set-report-url",
		Args:    "STATE URL|--none",
		Summary: "send device reports to a fleet collector, or stop",
		Help: `Makes the device report to the fleet collector at URL (bsi fleet serve;
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
		Run: runClientSetReportURL,
	}
}

func runClientSetReportURL(ctx context.Context, e *Env, args []string) error {
	fs := NewFlags("client set-report-url")
	none := fs.Bool("none", false, "stop reporting")
	e, pos, _, err := parseClient(e, fs, args, nil, 1, 2, "STATE and URL (or --none)")
	if err != nil {
		return err
	}
	if *none == (len(pos) == 2) {
		return Usagef("give either URL or --none")
	}
	u := ""
	if !*none {
		u = pos[1]
		if err := agent.ValidateReportURL(u); err != nil {
			return Usagef("%v", err)
		}
	}
	return setReportURL(ctx, e, pos[0], u)
}

// setReportURL records u (empty: off) in STATE and says so.
func setReportURL(ctx context.Context, e *Env, state, u string) error {
	a, err := openAgent(ctx, e, state, "", client.Network{})
	if err != nil {
		return err
	}
	defer a.Close()
	if err := a.SetReportURL(u); err != nil {
		return err
	}
	if u == "" {
		fmt.Fprintf(e.Stdout, "reports off for %s\n", state)
		return nil
	}
	rc, err := a.ReportConfig()
	if err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "reports to %s as device %s\n", u, rc.Device)
	return nil
}

// flushReports makes the one short attempt to send queued reports that
// check, install and rollback make after their work. A failure is a
// warning: the reports stay queued for a later command or round.
func flushReports(ctx context.Context, e *Env, a *agent.Agent) {
	fr, err := a.FlushReports(ctx, ReportFlushTimeout)
	if err != nil {
		fmt.Fprintf(e.Stderr, "bsi: warning: %v (%d report(s) stay queued)\n", err, fr.Queued)
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
