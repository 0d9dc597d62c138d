package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/bsiframework/bsi/rollout"
	"github.com/bsiframework/bsi/trust/repo"
)

// rolloutCommands is the "bsi rollout" group: staged rollout of
// improvements, signed by the online rollout role. Every rule lives in
// packages rollout and trust/repo.
func rolloutCommands() []*command {
	return []*command{rolloutEnableCommand(), rolloutStartCommand(), rolloutSetCommand(),
		rolloutHaltCommand(), rolloutResumeCommand(), rolloutStatusCommand(), rolloutRotateKeyCommand(),
		rolloutWatchCommand()}
}

const rolloutPublishFlags = `  --publish               publish right away (as bsi repo publish)
  --to DEST               with --publish: the destination (default DIR/public)
  --json                  print the rollout as JSON`

// rolloutFlags are the flags every changing command shares.
type rolloutFlags struct {
	publish *bool
	to      *string
	json    *bool
}

func addRolloutFlags(fs interface {
	Bool(string, bool, string) *bool
	String(string, string, string) *string
}) rolloutFlags {
	return rolloutFlags{publish: fs.Bool("publish", false, ""), to: fs.String("to", "", ""), json: fs.Bool("json", false, "")}
}

func rolloutEnableCommand() *command {
	return &command{
		Name:    "rollout enable",
		Args:    "DIR --key KEY",
		Summary: "add the online rollout role to a workspace",
		Help: `Delegates the paths rollout/*/* from targets to a new rollout role, signed
by the online key KEY (a private key file or a KMS URI) that the publishing
automation holds, like the snapshot and timestamp keys. Targets is then
pending until its keys sign it (bsi repo sign). The key reference is kept
in DIR/rollout.json. bsi repo init --rollout-key does the same at creation.

Example:
  bsi rollout enable ws --key rollout.key`,
		Run: func(ctx context.Context, e *env, args []string) error {
			fs := newFlags("rollout enable")
			key := fs.String("key", "", "")
			pos, err := parseFlags(fs, args)
			if err != nil {
				return err
			}
			if *key == "" {
				return usagef("missing --key")
			}
			w, err := openRepo(ctx, e, pos)
			if err != nil {
				return err
			}
			defer w.Close()
			if err := w.EnableRollout(ctx, repoAbsRef(*key)); err != nil {
				return err
			}
			fmt.Fprintf(e.Stdout, "delegated rollout/*/* to the rollout role; targets needs signing\n")
			fmt.Fprintf(e.Stderr, "bsi: hint: next: bsi repo sign %s --key TARGETS-KEY, then bsi rollout start %s ID --stages ...\n", pos[0], pos[0])
			return nil
		},
	}
}

func rolloutRotateKeyCommand() *command {
	return &command{
		Name:    "rollout rotate-key",
		Args:    "DIR --key KEY",
		Summary: "replace the online rollout key",
		Help: `Makes KEY (a private key file or a KMS URI) the only key of the rollout
role: the recovery from a lost or compromised online rollout key. Targets
then lists the new key instead of the old one and is pending until its keys
sign it (bsi repo sign); the rollout role is signed again with the new key.
Running it again with the same key finishes an interrupted rotation.

Example:
  bsi rollout rotate-key ws --key awskms:///alias/bsi-rollout-2`,
		Run: func(ctx context.Context, e *env, args []string) error {
			fs := newFlags("rollout rotate-key")
			key := fs.String("key", "", "")
			pos, err := parseFlags(fs, args)
			if err != nil {
				return err
			}
			if *key == "" {
				return usagef("missing --key")
			}
			w, err := openRepo(ctx, e, pos)
			if err != nil {
				return err
			}
			defer w.Close()
			if err := w.RotateRolloutKey(ctx, repoAbsRef(*key)); err != nil {
				return err
			}
			fmt.Fprintf(e.Stdout, "the rollout role is now signed by %s; targets needs signing\n", printable(*key))
			return nil
		},
	}
}

const rolloutStartHelp = `Gates an improvement by a staged rollout: devices are offered it stage by
stage, from --start (default now). Stages are separated by commas, each

    [RING+RING...:]PERCENT[:HOLD]

PERCENT has at most two decimals (5%, 0.5%, 100%); HOLD is a duration
(24h, 90m, 2d), required on every stage but the last, which must be 100%.
A stage naming rings reaches only devices of those rings. A device is
offered the improvement once any stage so far reaches it, so the set of
devices only grows; percentages may not go down.

The rollout role is re-signed with its online key; publish with bsi repo
publish, or --publish.

Flags:
  --stages SPEC           the stages (required)
  --start TIME            RFC 3339 start time (default now)
` + rolloutPublishFlags + `

Examples:
  bsi rollout start ws webkit-26.3-b --stages canary:100%:24h,5%:24h,25%:24h,100%
  bsi rollout start ws webkit-26.3-b --stages 1%:12h,10%:1d,100% --start 2026-12-01T08:00:00Z --publish`

func rolloutStartCommand() *command {
	return &command{
		Name:    "rollout start",
		Args:    "DIR ID --stages SPEC [--start TIME] [--publish [--to DEST]] [--json]",
		Summary: "start a staged rollout of an improvement",
		Help:    rolloutStartHelp,
		Run: func(ctx context.Context, e *env, args []string) error {
			fs := newFlags("rollout start")
			spec := fs.String("stages", "", "")
			startFlag := fs.String("start", "", "")
			rf := addRolloutFlags(fs)
			pos, err := parseFlags(fs, args)
			if err != nil {
				return err
			}
			if err := wantArgs(pos, 2, 2, "workspace directory DIR and improvement ID"); err != nil {
				return err
			}
			if *spec == "" {
				return usagef("missing --stages (e.g. --stages 5%%:24h,25%%:24h,100%%)")
			}
			stages, err := rollout.ParseStages(*spec)
			if err != nil {
				return usagef("--stages: %v", err)
			}
			var start time.Time
			if *startFlag != "" {
				if start, err = time.Parse(time.RFC3339, *startFlag); err != nil {
					return usagef("--start %q: want an RFC 3339 time like 2026-12-01T08:00:00Z", *startFlag)
				}
			}
			return rolloutChange(ctx, e, pos, rf, "started", func(w *repo.Workspace) (*repo.RolloutState, error) {
				return w.StartRollout(ctx, pos[1], start, stages)
			})
		},
	}
}

func rolloutSetCommand() *command {
	return &command{
		Name:    "rollout set",
		Args:    "DIR ID --percent N [--publish [--to DEST]] [--json]",
		Summary: "set a rollout's share of devices by hand",
		Help: `Takes manual control of a rollout: from now it reaches N% of devices
(at most two decimals: 5, 0.5%, 100%) and holds there, for up to 365 days,
until the next change. The stages already reached stay, so no device that
was offered the improvement loses the offer; a share below what the
rollout already reaches is refused (halt it instead). --percent 100 sends
it to every device now.

Flags:
  --percent N             the share of devices
` + rolloutPublishFlags + `

Examples:
  bsi rollout set ws webkit-26.3-b --percent 50
  bsi rollout set ws webkit-26.3-b --percent 100% --publish`,
		Run: func(ctx context.Context, e *env, args []string) error {
			fs := newFlags("rollout set")
			pct := fs.String("percent", "", "")
			rf := addRolloutFlags(fs)
			pos, err := parseFlags(fs, args)
			if err != nil {
				return err
			}
			if err := wantArgs(pos, 2, 2, "workspace directory DIR and improvement ID"); err != nil {
				return err
			}
			if *pct == "" {
				return usagef("missing --percent")
			}
			p := *pct
			if !strings.HasSuffix(p, "%") {
				p += "%"
			}
			bp, err := rollout.ParsePercent(p)
			if err != nil {
				return usagef("--percent: %v", err)
			}
			return rolloutChange(ctx, e, pos, rf, "set", func(w *repo.Workspace) (*repo.RolloutState, error) {
				return w.SetRollout(ctx, pos[1], bp)
			})
		},
	}
}

func rolloutHaltCommand() *command {
	return &command{
		Name:    "rollout halt",
		Args:    "DIR ID --reason TEXT [--publish [--to DEST]] [--json]",
		Summary: "stop a rollout: no new device is offered it",
		Help: `Halts a rollout: devices that have not installed the improvement are no
longer offered it; devices that have keep it (a halt never uninstalls; to
take an improvement back, withdraw it with bsi repo withdraw). The owner of
a device can still install it by hand with an explicit override. Resume
with bsi rollout resume.

Flags:
  --reason TEXT           why (required; shown on devices and in status)
` + rolloutPublishFlags + `

Example:
  bsi rollout halt ws webkit-26.3-b --reason "crash reports from the canary ring" --publish`,
		Run: func(ctx context.Context, e *env, args []string) error {
			fs := newFlags("rollout halt")
			reason := fs.String("reason", "", "")
			rf := addRolloutFlags(fs)
			pos, err := parseFlags(fs, args)
			if err != nil {
				return err
			}
			if err := wantArgs(pos, 2, 2, "workspace directory DIR and improvement ID"); err != nil {
				return err
			}
			if strings.TrimSpace(*reason) == "" {
				return usagef("missing --reason")
			}
			return rolloutChange(ctx, e, pos, rf, "halted", func(w *repo.Workspace) (*repo.RolloutState, error) {
				return w.HaltRollout(ctx, pos[1], *reason)
			})
		},
	}
}

func rolloutResumeCommand() *command {
	return &command{
		Name:    "rollout resume",
		Args:    "DIR ID [--publish [--to DEST]] [--json]",
		Summary: "resume a halted rollout where it stopped",
		Help: `Lifts a halt. The schedule moves later by the time the rollout stood
halted, so it resumes at the stage, and with the hold left, where it
stopped.

Flags:
` + rolloutPublishFlags + `

Example:
  bsi rollout resume ws webkit-26.3-b --publish`,
		Run: func(ctx context.Context, e *env, args []string) error {
			fs := newFlags("rollout resume")
			rf := addRolloutFlags(fs)
			pos, err := parseFlags(fs, args)
			if err != nil {
				return err
			}
			if err := wantArgs(pos, 2, 2, "workspace directory DIR and improvement ID"); err != nil {
				return err
			}
			return rolloutChange(ctx, e, pos, rf, "resumed", func(w *repo.Workspace) (*repo.RolloutState, error) {
				return w.ResumeRollout(ctx, pos[1])
			})
		},
	}
}

// rolloutChange opens the workspace, runs change, prints the rollout and,
// with --publish, publishes.
func rolloutChange(ctx context.Context, e *env, pos []string, rf rolloutFlags, what string, change func(*repo.Workspace) (*repo.RolloutState, error)) error {
	w, err := openRepo(ctx, e, pos[:1])
	if err != nil {
		return err
	}
	defer w.Close()
	st, err := change(w)
	var fe *rollout.FieldError
	if errors.As(err, &fe) {
		return usagef("%v", err)
	}
	var ie *repo.ImprovementError
	if errors.As(err, &ie) {
		return withHint(err, "bsi repo list %s shows the improvements", pos[0])
	}
	if err != nil {
		return err
	}
	if *rf.json {
		if err := writeJSONTo(e, st); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(e.Stdout, "%s %s: %s\n", what, pos[1], describeRollout(st))
	}
	if !*rf.publish {
		fmt.Fprintf(e.Stderr, "bsi: hint: devices see it once published: bsi repo publish %s\n", pos[0])
		return nil
	}
	dest, closeDest, err := repoDestination(ctx, pos[0], *rf.to)
	if err != nil {
		return err
	}
	defer closeDest()
	res, err := w.Publish(ctx, dest)
	var pe *repo.PendingError
	if errors.As(err, &pe) {
		return withHint(err, "the rollout change is saved; sign the pending roles (bsi repo sign %s --key KEY), then bsi repo publish %s", pos[0], pos[0])
	}
	if err != nil {
		return err
	}
	if *rf.json {
		return nil
	}
	return printPublish(e, "published", res, false)
}

// describeRollout is one line: "stage 2 of 4 (5%), next stage at ...".
func describeRollout(st *repo.RolloutState) string {
	var b strings.Builder
	switch {
	case !st.Started:
		fmt.Fprintf(&b, "starts at %s", st.Schedule.Start.Format(time.RFC3339))
	case st.Complete:
		fmt.Fprintf(&b, "at 100%% of devices (stage %d of %d)", st.Stage, len(st.Schedule.Stages))
	default:
		pct := st.Percent
		if len(st.Rings) > 0 {
			pct = strings.Join(st.Rings, "+") + " " + pct
		}
		fmt.Fprintf(&b, "stage %d of %d (%s)", st.Stage, len(st.Schedule.Stages), pct)
	}
	if st.NextAt != nil && st.Started {
		fmt.Fprintf(&b, ", next stage at %s", st.NextAt.Format(time.RFC3339))
	}
	if h := st.Schedule.Halted; h != nil {
		fmt.Fprintf(&b, "; HALTED since %s: %s", h.At.Format(time.RFC3339), printable(h.Reason))
	}
	fmt.Fprintf(&b, "; stages %s", st.Stages)
	return b.String()
}

func rolloutStatusCommand() *command {
	return &command{
		Name:    "rollout status",
		Args:    "DIR [ID] [--json]",
		Summary: "show the rollouts of a workspace",
		Help: `Shows every rollout of the workspace (or the one of improvement ID): its
current stage and share at this time, when the next stage begins, whether
it is halted, and whether the change is published yet.

Examples:
  bsi rollout status ws
  bsi rollout status ws webkit-26.3-b --json`,
		Run: func(ctx context.Context, e *env, args []string) error {
			fs := newFlags("rollout status")
			asJSON := fs.Bool("json", false, "")
			pos, err := parseFlags(fs, args)
			if err != nil {
				return err
			}
			if err := wantArgs(pos, 1, 2, "workspace directory DIR"); err != nil {
				return err
			}
			w, err := openRepo(ctx, e, pos[:1])
			if err != nil {
				return err
			}
			defer w.Close()
			if on, err := w.RolloutEnabled(); err != nil {
				return err
			} else if !on {
				return withHint(&repo.RolloutError{Reason: "the workspace has no rollout role"}, "bsi rollout enable %s --key KEY", pos[0])
			}
			all, err := w.Rollouts(ctx)
			if err != nil {
				return err
			}
			if len(pos) == 2 {
				all = filterRollouts(all, pos[1])
				if len(all) == 0 {
					return &repo.RolloutError{ID: pos[1], Reason: "is not rolling out"}
				}
			}
			if *asJSON {
				if all == nil {
					all = []repo.RolloutState{}
				}
				return writeJSONTo(e, all)
			}
			if len(all) == 0 {
				fmt.Fprintln(e.Stdout, "no rollouts")
				return nil
			}
			tw := tabwriter.NewWriter(e.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "IMPROVEMENT\tSTATE\tPUBLISHED")
			for i := range all {
				pub := "yes"
				if all[i].Pending {
					pub = "no"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\n", all[i].Schedule.Component+"/"+all[i].Schedule.ID, describeRollout(&all[i]), pub)
			}
			return tw.Flush()
		},
	}
}

func filterRollouts(all []repo.RolloutState, id string) []repo.RolloutState {
	var out []repo.RolloutState
	for _, st := range all {
		if st.Schedule.ID == id {
			out = append(out, st)
		}
	}
	return out
}
