package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/bsiframework/bsi/agent"
	"github.com/bsiframework/bsi/fleet"
	"github.com/bsiframework/bsi/trust/repo"
)

func rolloutWatchCommand() *command {
	return &command{
		Name:    "rollout watch",
		Args:    "DIR --fleet URL --max-failure-rate P% --min-devices N [--interval D] [--once] [--publish [--to DEST]]",
		Summary: "halt rollouts whose fleet reports fail too often",
		Help: `Polls the fleet collector at URL (bsi fleet serve; GET URL/v1/stats) every
--interval (default 1m) until SIGINT or SIGTERM, and halts each rollout
whose failure rate passes the threshold: more than --max-failure-rate of
the distinct devices that attempted the improvement reported a failed
health check or a rollback, with at least --min-devices attempted. The
halt is signed with the online rollout key, like bsi rollout halt, with a
reason that gives the numbers ("auto-halt: 7 of 60 devices failed (11.7%)
> 2%"); with --publish it is published right away (to --to DEST, default
DIR/public). Every decision is printed.

Reports can only ever halt: a rollout widens by its signed schedule alone,
never because reports look good. Resume a halted rollout by hand (bsi
rollout resume). The workspace is locked only during each round. A failed
round (collector unreachable, workspace busy) is reported on stderr and
retried at the next one; with --once the command exits 1 after it.

Examples:
  bsi rollout watch ws --fleet http://127.0.0.1:8090 --max-failure-rate 2% --min-devices 50 --publish
  bsi rollout watch ws --fleet https://fleet.example.com --max-failure-rate 5% --min-devices 200 --once`,
		Run: runRolloutWatch,
	}
}

// watchOptions are the flags of bsi rollout watch.
type watchOptions struct {
	dir, fleetURL string
	policy        fleet.HaltPolicy
	interval      time.Duration
	once, publish bool
	to            string
	hc            *http.Client
}

func runRolloutWatch(ctx context.Context, e *env, args []string) error {
	fs := newFlags("rollout watch")
	var o watchOptions
	fs.StringVar(&o.fleetURL, "fleet", "", "")
	rate := fs.String("max-failure-rate", "", "")
	fs.IntVar(&o.policy.MinDevices, "min-devices", 0, "")
	fs.DurationVar(&o.interval, "interval", time.Minute, "")
	fs.BoolVar(&o.once, "once", false, "")
	fs.BoolVar(&o.publish, "publish", false, "")
	fs.StringVar(&o.to, "to", "", "")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs(pos, 1, 1, "workspace directory DIR"); err != nil {
		return err
	}
	o.dir = pos[0]
	switch {
	case o.fleetURL == "":
		return usagef("missing --fleet")
	case *rate == "":
		return usagef("missing --max-failure-rate")
	case o.policy.MinDevices < 1:
		return usagef("--min-devices must be at least 1")
	case o.interval <= 0:
		return usagef("--interval must be positive")
	case o.to != "" && !o.publish:
		return usagef("--to needs --publish")
	}
	if err := agent.ValidateReportURL(o.fleetURL); err != nil {
		return usagef("--fleet: %v", err)
	}
	if o.policy.MaxFailureRate, err = fleet.ParseRate(*rate); err != nil {
		return usagef("--max-failure-rate: %v", err)
	}
	o.hc = &http.Client{Timeout: 30 * time.Second}
	if !o.once {
		fmt.Fprintf(e.Stderr, "bsi: watching %s for %s: halt above %s failed of at least %d devices, every %v (stop with Ctrl-C)\n",
			o.dir, o.fleetURL, fleet.FormatRate(o.policy.MaxFailureRate), o.policy.MinDevices, o.interval)
	}
	for {
		err := watchRound(ctx, e, &o)
		if o.once {
			return err
		}
		if err != nil {
			fmt.Fprintf(e.Stderr, "bsi: rollout watch: round failed: %s\n", printable(err.Error()))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(o.interval):
		}
	}
}

// watchRound fetches the statistics, halts every rollout that passes the
// threshold, and publishes when asked and something was halted.
func watchRound(ctx context.Context, e *env, o *watchOptions) error {
	stats, err := fleet.FetchStats(ctx, o.hc, o.fleetURL)
	if err != nil {
		return err
	}
	w, err := repo.Open(ctx, o.dir, workspaceOptions(e, o.dir))
	if err != nil {
		return err
	}
	defer w.Close()
	all, err := w.Rollouts(ctx)
	if err != nil {
		return err
	}
	var rollouts []fleet.Rollout
	ids := map[string]int{}
	for _, st := range all {
		rollouts = append(rollouts, fleet.Rollout{Component: st.Schedule.Component, ID: st.Schedule.ID, Halted: st.Schedule.Halted != nil})
		ids[st.Schedule.ID]++
	}
	var halted int
	var errs []error
	for _, d := range o.policy.Decide(stats, rollouts) {
		key := d.Component + "/" + d.ID
		switch {
		case !d.Halt:
			fmt.Fprintf(e.Stderr, "bsi: rollout watch: %s: %s\n", key, d.Reason)
			continue
		case ids[d.ID] > 1:
			// HaltRollout names improvements by id; ids are unique per
			// component only.
			errs = append(errs, fmt.Errorf("%s: %s, but id %s rolls out in several components: halt it by hand", key, d.Reason, d.ID))
			continue
		}
		if _, err := w.HaltRollout(ctx, d.ID, d.Reason); err != nil {
			errs = append(errs, fmt.Errorf("halt %s: %w", key, err))
			continue
		}
		halted++
		fmt.Fprintf(e.Stdout, "halted %s: %s\n", key, d.Reason)
		e.Logger.Warn("rollout halted", "improvement", key, "reason", d.Reason)
	}
	if halted > 0 {
		errs = append(errs, watchPublish(ctx, e, w, o))
	}
	return errors.Join(errs...)
}

func watchPublish(ctx context.Context, e *env, w *repo.Workspace, o *watchOptions) error {
	if !o.publish {
		fmt.Fprintf(e.Stderr, "bsi: hint: devices see the halt once published: bsi repo publish %s\n", o.dir)
		return nil
	}
	dest, closeDest, err := repoDestination(ctx, o.dir, o.to)
	if err != nil {
		return err
	}
	defer closeDest()
	res, err := w.Publish(ctx, dest)
	if err != nil {
		return fmt.Errorf("publish the halt: %w", err)
	}
	return printPublish(e, "published", res, false)
}
