package devicecli

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/bsiframework/bsi/agent"
)

// healthCmd runs cmd through sh -c after a switch, with BSI_COMPONENT,
// BSI_ID and BSI_DIR in its environment; its output goes to stderr.
func healthCmd(e *Env, cmd string) func(ctx context.Context, component, id, dir string) error {
	return func(ctx context.Context, component, id, dir string) error {
		c := exec.CommandContext(ctx, "sh", "-c", cmd)
		c.Env = append(c.Environ(), "BSI_COMPONENT="+component, "BSI_ID="+id, "BSI_DIR="+dir)
		var out bytes.Buffer
		c.Stdout, c.Stderr = &out, &out
		err := c.Run()
		e.Stderr.Write(out.Bytes())
		if err != nil {
			return fmt.Errorf("health command %q: %w", cmd, err)
		}
		return nil
	}
}

// improvementJSON is one improvement in JSON reports.
type improvementJSON struct {
	ID       string `json:"id"`
	Label    string `json:"label"`
	Sequence int    `json:"sequence"`
	Path     string `json:"path,omitempty"`
	Status   string `json:"status,omitempty"`
}

type componentJSON struct {
	Component string           `json:"component"`
	Installed *improvementJSON `json:"installed"`
	Desired   *improvementJSON `json:"desired"`
	Action    agent.Kind       `json:"action"`
	To        *improvementJSON `json:"to,omitempty"`
	Reason    string           `json:"reason"`
	// Class is set for a blocked component: "security", "freshness" or
	// "operational", the class of why its metadata could not be used.
	Class string `json:"class,omitempty"`
}

type targetNoteJSON struct {
	Path   string `json:"path"`
	Role   string `json:"role"`
	Reason string `json:"reason"`
}

// ReportJSON is the --json output of "client check" (and of each round
// of "client run").
type ReportJSON struct {
	Device     deviceJSON       `json:"device"`
	Checked    time.Time        `json:"checked"`
	Freshness  agent.Freshness  `json:"freshness"`
	Components []componentJSON  `json:"components"`
	Ignored    []targetNoteJSON `json:"ignored"`
	Rejected   []targetNoteJSON `json:"rejected"`
	// Rollouts lists the improvements a staged rollout gates for this
	// device: status offered, waiting, halted, held (the rollout role
	// failed) or installed.
	Rollouts []agent.RolloutState `json:"rollouts"`
	Ring     string               `json:"ring,omitempty"`
}

type deviceJSON struct {
	Platform string `json:"platform"`
	Release  string `json:"release"`
	Build    string `json:"build,omitempty"`
}

func installedJSON(in *agent.Installed) *improvementJSON {
	if in == nil {
		return nil
	}
	return &improvementJSON{ID: in.ID, Label: in.Manifest.Label(in.Release), Sequence: in.Sequence, Path: in.Path}
}

func availableJSON(a *agent.Available, release string) *improvementJSON {
	if a == nil {
		return nil
	}
	return &improvementJSON{ID: a.Manifest.ID, Label: a.Manifest.Label(release), Sequence: a.Manifest.Sequence,
		Path: a.Path, Status: string(a.Manifest.Status)}
}

// desiredOf is the improvement the device should have after the action.
func desiredOf(act agent.Action) *agent.Available {
	if act.Kind == agent.None || act.Kind.Changes() {
		return act.To
	}
	return nil
}

func toReportJSON(rep *agent.Report) ReportJSON {
	d := rep.Device
	out := ReportJSON{Device: deviceJSON{d.Platform, d.Release, d.Build}, Checked: rep.At, Freshness: rep.Freshness,
		Components: []componentJSON{}, Ignored: []targetNoteJSON{}, Rejected: []targetNoteJSON{},
		Rollouts: append([]agent.RolloutState{}, rep.Rollouts...), Ring: rep.Ring}
	for _, act := range rep.Plan {
		switch act.Kind {
		case agent.Ignore:
			out.Ignored = append(out.Ignored, targetNoteJSON{act.Target.Path, act.Target.Role, act.Reason})
		case agent.Reject:
			out.Rejected = append(out.Rejected, targetNoteJSON{act.Target.Path, act.Target.Role, act.Reason})
		default:
			c := componentJSON{Component: act.Component, Installed: installedJSON(act.From),
				Desired: availableJSON(desiredOf(act), d.Release), Action: act.Kind, Reason: act.Reason}
			if act.Kind.Changes() {
				c.To = availableJSON(act.To, d.Release)
			}
			if act.Kind == agent.Blocked {
				c.Class = "security" // blocked by a rejected target of its role
				if act.Err != nil {
					c.Class = classOf(act.Err)
				}
			}
			out.Components = append(out.Components, c)
		}
	}
	return out
}

// printReport prints a check's report.
func printReport(e *Env, a *agent.Agent, state string, rep *agent.Report, asJSON bool) error {
	if asJSON {
		return WriteJSON(e.Stdout, toReportJSON(rep))
	}
	r := toReportJSON(rep)
	fmt.Fprintf(e.Stdout, "device %s\n", deviceLine(r.Device))
	tw := tabwriter.NewWriter(e.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "COMPONENT\tINSTALLED\tDESIRED\tACTION")
	for _, c := range r.Components {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.Component, labelOf(c.Installed), labelOf(c.Desired), c.Action)
	}
	tw.Flush()
	pending := 0
	for _, c := range r.Components {
		switch c.Action {
		case agent.None:
		case agent.Blocked:
			fmt.Fprintf(e.Stdout, "  BLOCKED (%s) %s\n", c.Class, c.Reason)
		default:
			fmt.Fprintf(e.Stdout, "  %s: %s\n", c.Component, c.Reason)
		}
		if c.Action.Changes() {
			pending++
		}
	}
	if len(r.Rollouts) > 0 {
		fmt.Fprintf(e.Stdout, "rollouts (%s):\n", ringText(r.Ring))
		for _, st := range r.Rollouts {
			fmt.Fprintf(e.Stdout, "  %s/%s: %s\n", st.Component, st.ID, st.Text)
		}
	}
	for _, n := range r.Ignored {
		fmt.Fprintf(e.Stdout, "ignored %s: %s\n", n.Path, n.Reason)
	}
	for _, n := range r.Rejected {
		fmt.Fprintf(e.Stdout, "REJECTED %s: %s\n", n.Path, n.Reason)
	}
	fmt.Fprintln(e.Stdout, freshnessLine(rep.Freshness, e.Now()))
	if pending > 0 {
		fmt.Fprintf(e.Stdout, "%d change(s) pending: %s client install %s --all\n", pending, e.prog(), state)
	}
	return nil
}

func ringText(ring string) string {
	if ring == "" {
		return "no ring"
	}
	return "ring " + ring
}

// classOf names the exit class of err as the journal does.
func classOf(err error) string {
	switch ExitCode(err) {
	case ExitSecurity:
		return "security"
	case ExitFreshness:
		return "freshness"
	}
	return "operational"
}

func deviceLine(d deviceJSON) string {
	s := d.Platform + " " + d.Release
	if d.Build != "" {
		s += " (build " + d.Build + ")"
	}
	return s
}

func labelOf(i *improvementJSON) string {
	if i == nil {
		return "-"
	}
	return i.ID + " " + i.Label
}

func freshnessLine(f agent.Freshness, now time.Time) string {
	left := f.TimestampExpires.Sub(now).Round(time.Minute)
	when := "in " + left.String()
	if left <= 0 {
		when = "EXPIRED"
	}
	return fmt.Sprintf("metadata verified %s; timestamp v%d expires %s (%s); snapshot v%d",
		stampUTC(f.Verified), f.TimestampVersion, stampUTC(f.TimestampExpires), when, f.SnapshotVersion)
}

func stampUTC(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format(time.RFC3339)
}

// printResult prints what an install did.
func printResult(e *Env, rep *agent.Report, res *agent.Result) {
	for _, act := range res.Done {
		fmt.Fprintln(e.Stdout, doneLine(act, rep.Device.Release))
	}
	for _, f := range res.Failed {
		msg, what := f.Err.Error(), fmt.Sprintf("%s %s", f.Action.Kind, f.Action.Component)
		if !strings.HasPrefix(msg, what+":") {
			msg = what + ": " + msg
		}
		fmt.Fprintf(e.Stderr, "bsi: failed: %s\n", msg)
	}
	if len(res.Done) == 0 && len(res.Failed) == 0 {
		fmt.Fprintln(e.Stdout, "nothing to do")
	}
}

func doneLine(act agent.Action, release string) string {
	verb := map[agent.Kind]string{agent.Install: "installed", agent.RollBack: "rolled back", agent.Retire: "retired"}[act.Kind]
	to := "baseline"
	if act.To != nil {
		to = act.To.Label(release)
	}
	from := "baseline"
	if act.From != nil {
		from = act.From.ID
	}
	return fmt.Sprintf("%s %s: %s -> %s", verb, act.Component, from, to)
}

// StatusJSON is the --json output of "client status".
type StatusJSON struct {
	Device      deviceJSON                 `json:"device"`
	InstallRoot string                     `json:"install_root"`
	Installed   []installedStatusJSON      `json:"installed"`
	LastCheck   *agent.CheckRecord         `json:"last_check"`
	Declined    map[string][]agent.Decline `json:"declined,omitempty"`
	History     []agent.Event              `json:"history"`
	Interrupted *agent.Step                `json:"interrupted,omitempty"`
	Attention   []string                   `json:"attention"`
	Reports     *agent.ReportStatus        `json:"reports,omitempty"`

	Transparency *agent.TransparencyState `json:"transparency,omitempty"`
}

type installedStatusJSON struct {
	Component       string    `json:"component"`
	ID              string    `json:"id"`
	Label           string    `json:"label"`
	Sequence        int       `json:"sequence"`
	Release         string    `json:"release"`
	Severity        string    `json:"severity"`
	Advisories      []string  `json:"advisories,omitempty"`
	RequiresRestart bool      `json:"requires_restart"`
	Installed       time.Time `json:"installed"`
}

func printStatus(e *Env, st *agent.Status, asJSON bool) error {
	d := st.Device
	out := StatusJSON{Device: deviceJSON{d.Platform, d.Release, d.Build}, InstallRoot: st.Config.InstallRoot,
		Installed: []installedStatusJSON{}, LastCheck: st.LastCheck, Declined: st.Declined,
		History: st.History, Interrupted: st.Interrupted, Attention: st.Attention, Reports: st.Reports,
		Transparency: st.Transparency}
	if out.History == nil {
		out.History = []agent.Event{}
	}
	if out.Attention == nil {
		out.Attention = []string{}
	}
	for _, in := range st.Installed {
		m := in.Manifest
		out.Installed = append(out.Installed, installedStatusJSON{Component: in.Component, ID: in.ID,
			Label: m.Label(in.Release), Sequence: in.Sequence, Release: in.Release, Severity: string(m.Severity),
			Advisories: m.Advisories, RequiresRestart: m.RequiresRestart, Installed: in.At})
	}
	if asJSON {
		return WriteJSON(e.Stdout, out)
	}
	w := e.Stdout
	fmt.Fprintf(w, "device %s, install root %s\n", deviceLine(out.Device), out.InstallRoot)
	fmt.Fprintln(w, "installed:")
	if len(st.Installed) == 0 {
		fmt.Fprintln(w, "  none (every component at its baseline)")
	}
	for _, in := range st.Installed {
		fmt.Fprintf(w, "  %s  (installed %s)\n", in.Label(), stampUTC(in.At))
	}
	switch lc := st.LastCheck; {
	case lc == nil:
		fmt.Fprintln(w, "last check: never")
	case lc.Error != "" && len(lc.Components) > 0:
		fmt.Fprintf(w, "last check: %s, failed (%s) for component(s):\n", stampUTC(lc.At), lc.Class)
		for _, c := range lc.Components {
			fmt.Fprintf(w, "  %s (%s): %s\n", c.Component, c.Class, c.Error)
		}
	case lc.Error != "":
		fmt.Fprintf(w, "last check: %s, failed (%s)\n", stampUTC(lc.At), lc.Class)
	default:
		fmt.Fprintf(w, "last check: %s, ok\n", stampUTC(lc.At))
	}
	if lc := st.LastCheck; lc != nil && lc.Freshness != nil {
		fmt.Fprintln(w, freshnessLine(*lc.Freshness, e.Now()))
	}
	if lc := st.LastCheck; lc != nil && len(lc.Rollouts) > 0 {
		fmt.Fprintf(w, "rollouts (%s):\n", ringText(st.Config.Ring))
		for _, r := range lc.Rollouts {
			fmt.Fprintf(w, "  %s/%s: %s\n", r.Component, r.ID, r.Text)
		}
	}
	if tl := st.Transparency; tl != nil && tl.Checkpoint != nil {
		fmt.Fprintf(w, "transparency: log %s, checkpoint size %d, witnessed time floor %s\n", tl.Origin, tl.Checkpoint.Size, stampUTC(tl.Floor))
	}
	printReportsLine(w, st.Reports)
	if len(st.Attention) > 0 {
		fmt.Fprintln(w, "attention:")
		for _, s := range st.Attention {
			fmt.Fprintf(w, "  - %s\n", s)
		}
	}
	return nil
}

// printRound prints one round of "client run".
func printRound(e *Env, rep *agent.Report, res *agent.Result, recovered []string, err error, asJSON, once bool) {
	for _, r := range recovered {
		fmt.Fprintf(e.Stderr, "bsi: recovered: %s\n", r)
	}
	if asJSON {
		type roundJSON struct {
			At     time.Time   `json:"at"`
			Report *ReportJSON `json:"report,omitempty"`
			Done   []string    `json:"done,omitempty"`
			Failed []string    `json:"failed,omitempty"`
			Error  string      `json:"error,omitempty"`
		}
		r := roundJSON{At: e.Now()}
		if rep != nil {
			rj := toReportJSON(rep)
			r.Report = &rj
		}
		if res != nil {
			for _, act := range res.Done {
				r.Done = append(r.Done, doneLine(act, rep.Device.Release))
			}
			for _, f := range res.Failed {
				r.Failed = append(r.Failed, f.Err.Error())
			}
		}
		if err != nil {
			r.Error = err.Error()
		}
		WriteJSON(e.Stdout, r, true)
	} else {
		printBlocked(e, rep)
		printRoundText(e, rep, res)
	}
	if err != nil && !once {
		fmt.Fprintf(e.Stderr, "bsi: round failed (exit class %d): %v\n", ExitCode(err), err)
	}
}

func printRoundText(e *Env, rep *agent.Report, res *agent.Result) {
	now := stampUTC(e.Now())
	if rep == nil {
		fmt.Fprintf(e.Stdout, "%s check failed\n", now)
		return
	}
	var pending []string
	for _, act := range rep.Pending() {
		pending = append(pending, act.Component+" "+act.Kind.String()+" to "+target(act.To))
	}
	if res == nil {
		if len(pending) == 0 {
			fmt.Fprintf(e.Stdout, "%s up to date\n", now)
		} else {
			fmt.Fprintf(e.Stdout, "%s pending: %s\n", now, strings.Join(pending, ", "))
		}
		return
	}
	for _, act := range res.Done {
		fmt.Fprintf(e.Stdout, "%s %s\n", now, doneLine(act, rep.Device.Release))
	}
	for _, f := range res.Failed {
		fmt.Fprintf(e.Stdout, "%s failed %s %s: %v\n", now, f.Action.Kind, f.Action.Component, f.Err)
	}
}

// printBlocked prints, for a round, the components its check blocked.
func printBlocked(e *Env, rep *agent.Report) {
	if rep == nil {
		return
	}
	for _, c := range toReportJSON(rep).Components {
		if c.Action == agent.Blocked {
			fmt.Fprintf(e.Stdout, "%s blocked (%s) %s\n", stampUTC(e.Now()), c.Class, c.Reason)
		}
	}
}

// shownError is the error of an install whose failures were printed one
// by one already: the final "bsi: error:" line names them instead of
// repeating each cause, and the class (exit code) is the wrapped error's.
type shownError struct {
	err error
	msg string
}

func (e *shownError) Error() string { return e.msg }
func (e *shownError) Unwrap() error { return e.err }

// shown turns the error of an install that printed its failures into a
// one-line summary of them, keeping its class.
func shown(rep *agent.Report, res *agent.Result, err error) error {
	if err == nil || res == nil || len(res.Failed) == 0 {
		return err
	}
	var names []string
	for _, f := range res.Failed {
		names = append(names, f.Action.Component)
	}
	msg := fmt.Sprintf("%d change(s) failed (%s): the causes are printed above", len(res.Failed), strings.Join(names, ", "))
	if rerr := rep.Err(); rerr != nil {
		msg = rerr.Error() + "; " + msg
	}
	return &shownError{err: err, msg: msg}
}
