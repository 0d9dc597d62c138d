package devicecli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/bsiframework/bsi/agent"
	"github.com/bsiframework/bsi/internal/progress"
	"github.com/bsiframework/bsi/rollout"
	"github.com/bsiframework/bsi/trust/client"
)

// networkHelp ends the help of the commands that reach the repository.
const networkHelp = `

Network: each request must finish within --timeout (default 30s) plus 1 s
per 32 KiB received, and fails after 15 s (or --timeout, if shorter)
without data. A transient failure (connection error, timeout, HTTP 5xx,
408, 429) is retried up to --retries times (default 3; 0: never) with
exponential backoff and jitter; other statuses and every verification
failure are not. Redirects are followed within the same origin only.`

// ClientCommands returns the "client ..." commands: init, set-release,
// set-report-url, set-ring, check, install, rollback, status, run.
func ClientCommands() []*Command {
	return []*Command{
		{
			Name:    "client init",
			Args:    "STATE --root ROOT.json --url URL --platform P --release R [--build B] [--ring NAME] [--install-root DIR] [--targets-url URL] [--report-url URL]",
			Summary: "create a device's state directory, trusting ROOT.json",
			Help: `Creates STATE (absent or empty) for one device: config.json (device and
repository), metadata/ (trusted metadata, starting with ROOT.json), cache/
(verified payloads) and installed.json (the installed-state journal).
ROOT.json must carry a threshold of signatures by its own root keys and
not be expired: it is checked before anything is written. Improvements
are applied under --install-root (default STATE/root). A random 32-byte
rollout seed is kept in STATE/seed (mode 0600, never sent anywhere): it
places the device in each staged rollout. --ring puts the device in a
rollout ring (canary, internal: [a-z][a-z0-9-], up to 32 characters),
whose stages reach it first.

--report-url URL makes the device report what happens to each improvement
to a fleet collector (bsi fleet serve) at URL; see bsi help client
set-report-url.

Example:
  bsi client init /var/lib/bsi --root root.json --url https://updates.example.com/metadata \
      --platform macos --release 26.3 --build 25D125`,
			Run: runClientInit,
		},
		{
			Name:    "client set-release",
			Args:    "STATE RELEASE [--build B]",
			Summary: "record that the device now runs RELEASE (after a full update)",
			Help: `Changes the device's release (and build) in STATE/config.json. The next
check retires improvements of the old release: each component switches to
the best improvement for the new release, or to its baseline.

Example:
  bsi client set-release /var/lib/bsi 26.4 --build 25E100`,
			Run: runClientSetRelease,
		},
		clientSetReportURLCommand(),
		{
			Name:    "client set-ring",
			Args:    "STATE NAME|--none",
			Summary: "put the device in a staged-rollout ring, or in none",
			Help: `Changes the device's rollout ring in STATE/config.json: a rollout stage
that names rings reaches only devices of those rings (e.g. canary first,
then a share of everyone). --none takes the device out of any ring. The
next check decides rollouts with the new ring; nothing installed changes.

Examples:
  bsi client set-ring /var/lib/bsi canary
  bsi client set-ring /var/lib/bsi --none`,
			Run: runClientSetRing,
		},
		{
			Name:    "client check",
			Args:    "STATE [--json] [--release R] [--timeout D] [--retries N]",
			Summary: "verify the repository and report what would change",
			Help: `Runs the TUF client workflow (root chain, timestamp, snapshot, targets,
component roles), lists the improvements, and reports per component: the
installed improvement, the desired one, and the action pending (install;
rollback because withdrawn; retire because the release changed;
keep-and-warn because an installed improvement disappeared without a
withdrawal; blocked because the component's role is expired, missing or
hostile, or signed a rejected target: the other components are reported
as usual). It also reports when metadata was verified and when the
timestamp expires, and, for each improvement a staged rollout gates, its
state for this device: "offered from stage 3 of 4 (50%) since TIME",
"waiting: stage 1 of 4 (canary) until TIME", "halted at TIME: REASON", or
"held" when the rollout role failed (new installs of the components it
last named are held back; withdrawals still roll back). Nothing is
installed. --release first records a new
release, like set-release.

Exit codes: 3 when a signature, hash, rollback or manifest/role check
fails, 4 when metadata expired (a possible freeze), 1 on network errors;
for failures of several components, 3 wins over 4.

Examples:
  bsi client check /var/lib/bsi
  bsi client check /var/lib/bsi --json
  bsi client check /var/lib/bsi --timeout 10s --retries 5` + networkHelp,
			Run: runClientCheck,
		},
		{
			Name:    "client install",
			Args:    "STATE [[COMPONENT/]ID... [--override-halt]|--all] [--health-cmd CMD] [--timeout D] [--retries N]",
			Summary: "download, verify and apply improvements (--all: converge)",
			Help: `Checks, then applies. With --all the device converges to its desired
state: desired improvements installed, withdrawn ones rolled back, those of
an old release retired. With IDs only those improvements are installed
(an ID may be any active improvement for this device whose sequence is not
lower than the installed one's; naming an ID also clears a decline). Ids
are unique per component only: write COMPONENT/ID (webkit/fix-1); a bare
ID that several components hold is refused (exit 2) with the candidates,
and so are two IDs of one component.

Staged rollouts: --all installs an improvement only once its rollout
stage reaches the device (a halted rollout never; one already installed
stays, and withdrawals always roll back). Naming an ID installs it before
its stage; a halted rollout, or one whose rollout role failed, also needs
--override-halt (exit 1 without it).

Decisions are per component: a component whose role is expired, missing
or hostile, or whose role signed a rejected target, is blocked (nothing
of it changes, its installed improvement is kept) while the others are
installed and rolled back; the command then exits 3 or 4 (3 wins).
Every payload is downloaded and its length and hashes verified before the
first change; a payload that fails fails its own component only. After a
failure of root, timestamp, snapshot or targets, nothing is installed.
Each change is journaled: a crash leaves the old or the new state, and
the next command finishes or undoes it. --health-cmd runs after
each switch (through sh -c, with BSI_COMPONENT, BSI_ID and BSI_DIR set);
when it fails the switch is undone and the improvement declined.

Examples:
  bsi client install /var/lib/bsi --all
  bsi client install /var/lib/bsi webkit/webkit-26.3-b --health-cmd 'test -f "$BSI_DIR/lib/WebKit"'` + networkHelp,
			Run: runClientInstall,
		},
		{
			Name:    "client rollback",
			Args:    "STATE [COMPONENT/]ID [--baseline] [--health-cmd CMD] [--timeout D] [--retries N]",
			Summary: "remove an installed improvement by choice",
			Help: `Removes the installed improvement ID: its component switches to the best
lower improvement still offered (checked against the repository) or, with
--baseline or when there is none, to the platform's own copy (no network
needed). ID is then declined: later checks do not offer it again until it
is installed by name. A bare ID installed in several components is
refused (exit 2) with the candidates: write COMPONENT/ID.

Examples:
  bsi client rollback /var/lib/bsi webkit-26.3-b
  bsi client rollback /var/lib/bsi webkit/fix-1
  bsi client rollback /var/lib/bsi webkit-26.3-b --baseline` + networkHelp,
			Run: runClientRollback,
		},
		{
			Name:    "client status",
			Args:    "STATE [--json]",
			Summary: "show installed improvements, last check, freshness, attention items",
			Help: `Prints, without network access and without waiting for a running agent,
the installed improvements with their labels ("webkit 26.3 (a)
webkit-26.3-a"), the last check and its outcome, the freshness of the
trusted metadata, recent steps, and everything that needs attention.

Example:
  bsi client status /var/lib/bsi --json`,
			Run: runClientStatus,
		},
		{
			Name:    "client run",
			Args:    "STATE --interval D [--auto-install] [--jitter D] [--once] [--health-cmd CMD] [--release R] [--json] [--timeout D] [--retries N]",
			Summary: "check on a schedule and, with --auto-install, converge",
			Help: `Checks every --interval (plus a random delay below --jitter) and prints
one report per round. With --auto-install each round also converges the
device, as "install --all" does; without it rounds only report. A failed
round is reported and the loop goes on. SIGINT or SIGTERM stops the loop
between steps. --once runs a single round and exits with its status.

Examples:
  bsi client run /var/lib/bsi --interval 1h --jitter 10m --auto-install
  bsi client run /var/lib/bsi --once --json` + networkHelp,
			Run: runClientRun,
		},
	}
}

func runClientInit(ctx context.Context, e *Env, args []string) error {
	fs := NewFlags("client init")
	root := fs.String("root", "", "trusted root metadata file")
	var cfg agent.Config
	fs.StringVar(&cfg.MetadataURL, "url", "", "repository metadata URL")
	fs.StringVar(&cfg.TargetsURL, "targets-url", "", "payload base URL (default URL/targets)")
	fs.StringVar(&cfg.Platform, "platform", "", "device platform")
	fs.StringVar(&cfg.Release, "release", "", "device release")
	fs.StringVar(&cfg.Build, "build", "", "device build")
	fs.StringVar(&cfg.InstallRoot, "install-root", "", "where improvements are applied (default STATE/root)")
	fs.StringVar(&cfg.Ring, "ring", "", "staged-rollout ring of the device (canary, internal, ...)")
	reportURL := fs.String("report-url", "", "fleet collector URL for device reports")
	e, pos, _, err := parseClient(e, fs, args, nil, 1, 1, "STATE")
	if err != nil {
		return err
	}
	for _, f := range []struct{ name, v string }{{"root", *root}, {"url", cfg.MetadataURL}, {"platform", cfg.Platform}, {"release", cfg.Release}} {
		if f.v == "" {
			return Usagef("missing --%s", f.name)
		}
	}
	if *reportURL != "" {
		if err := agent.ValidateReportURL(*reportURL); err != nil {
			return Usagef("--report-url: %v", err)
		}
	}
	rootJSON, err := os.ReadFile(*root)
	if err != nil {
		return err
	}
	if err := agent.Init(pos[0], rootJSON, cfg, e.Now()); err != nil {
		var ce *agent.ConfigError
		if errors.As(err, &ce) && ce.Field == "ring" {
			return Usagef("--ring: %s", ce.Problem)
		}
		var se *agent.StateExistsError
		if errors.As(err, &se) {
			return WithHint(err, "choose a new directory; an existing state is never overwritten")
		}
		return err
	}
	if *reportURL != "" {
		if err := setReportURL(ctx, e, pos[0], *reportURL); err != nil {
			return err
		}
	}
	if cfg.Ring != "" {
		fmt.Fprintf(e.Stdout, "initialized %s for %s %s, ring %s\n", pos[0], cfg.Platform, cfg.Release, cfg.Ring)
		return nil
	}
	fmt.Fprintf(e.Stdout, "initialized %s for %s %s\n", pos[0], cfg.Platform, cfg.Release)
	return nil
}

func runClientSetRing(ctx context.Context, e *Env, args []string) error {
	fs := NewFlags("client set-ring")
	none := fs.Bool("none", false, "take the device out of any ring")
	pos, err := ParseFlags(fs, args)
	if err != nil {
		return err
	}
	e = clientEnv(e, false)
	if *none {
		err = WantArgs(pos, 1, 1, "STATE")
	} else {
		err = WantArgs(pos, 2, 2, "STATE and NAME (or --none)")
	}
	if err != nil {
		return err
	}
	ring := ""
	if !*none {
		if ring = pos[1]; ring == "" {
			return Usagef("empty ring name: use --none to take the device out of any ring")
		}
		if err := rollout.ValidRing(ring); err != nil {
			return Usagef("%v", err)
		}
	}
	a, err := openAgent(ctx, e, pos[0], "", client.Network{})
	if err != nil {
		return err
	}
	defer a.Close()
	old := a.Config().Ring
	if err := a.SetRing(ring); err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "ring %s -> %s\n", orNoRing(old), orNoRing(ring))
	return nil
}

func orNoRing(r string) string {
	if r == "" {
		return "none"
	}
	return r
}

func runClientSetRelease(ctx context.Context, e *Env, args []string) error {
	fs := NewFlags("client set-release")
	build := fs.String("build", "", "device build")
	e, pos, _, err := parseClient(e, fs, args, nil, 2, 2, "STATE and RELEASE")
	if err != nil {
		return err
	}
	a, err := openAgent(ctx, e, pos[0], "", client.Network{})
	if err != nil {
		return err
	}
	defer a.Close()
	old := a.Config().Release
	if err := a.SetRelease(pos[1], *build); err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "release %s -> %s\n", old, pos[1])
	return nil
}

// networkFlags are --timeout and --retries, for the commands that reach
// the repository.
type networkFlags struct {
	timeout time.Duration
	retries int
}

func addNetworkFlags(fs *flag.FlagSet) *networkFlags {
	n := &networkFlags{}
	fs.DurationVar(&n.timeout, "timeout", client.DefaultNetwork.RequestTimeout, "base deadline of each request")
	fs.IntVar(&n.retries, "retries", client.DefaultNetwork.Retries, "retries of a transient network failure")
	return n
}

// network returns the client's network bounds for the flags: the stall
// bound is the default one or the timeout, if shorter.
func (n *networkFlags) network() (client.Network, error) {
	if n.timeout <= 0 {
		return client.Network{}, Usagef("--timeout must be positive")
	}
	if n.retries < 0 {
		return client.Network{}, Usagef("--retries must not be negative")
	}
	nw := client.Network{RequestTimeout: n.timeout, StallTimeout: min(n.timeout, client.DefaultNetwork.StallTimeout), Retries: n.retries}
	if n.retries == 0 {
		nw.Retries = -1 // none; zero would take the default
	}
	return nw, nil
}

// parseClient parses the command line of a client command: the flags of fs
// and the positional arguments in any order (ParseFlags), min to max of
// them, STATE first, named by what (WantArgs), then --timeout and --retries
// into the network bounds when netf is not nil. It returns e as the
// command prints through it: escaped, for JSON when fs has a --json flag
// that is set (clientEnv).
func parseClient(e *Env, fs *flag.FlagSet, args []string, netf *networkFlags, min, max int, what string) (*Env, []string, client.Network, error) {
	pos, err := ParseFlags(fs, args)
	if err == nil {
		err = WantArgs(pos, min, max, what)
	}
	var nw client.Network
	if err == nil && netf != nil {
		nw, err = netf.network()
	}
	if err != nil {
		return nil, nil, client.Network{}, err
	}
	j := fs.Lookup("json")
	return clientEnv(e, j != nil && j.Value.String() == "true"), pos, nw, nil
}

// agentOptions are the options of the agent of STATE for a client
// command: e's clock and logger, progress bars when stderr is a terminal,
// and the health command, if one is given.
func agentOptions(e *Env, state string, nw client.Network, health ...string) agent.Options {
	opts := agent.Options{State: state, Now: e.Now, Logger: e.Logger, Network: nw}
	WithClientProgress(e, &opts, progress.Options{Terminal: StderrTerminal(e.Stderr)})
	if len(health) > 0 && health[0] != "" {
		opts.Health = healthCmd(e, health[0])
	}
	return opts
}

// openAgent opens STATE, reports recovered steps on stderr, and records a
// new release when one is given.
func openAgent(ctx context.Context, e *Env, state, release string, nw client.Network, health ...string) (*agent.Agent, error) {
	a, err := agent.Open(ctx, agentOptions(e, state, nw, health...))
	if err != nil {
		var ns *agent.NotStateError
		if errors.As(err, &ns) {
			return nil, WithHint(err, "create it with: %s client init %s --root ROOT.json --url URL --platform P --release R", e.prog(), state)
		}
		return nil, err
	}
	for _, r := range a.Recovered() {
		fmt.Fprintf(e.Stderr, "bsi: recovered: %s\n", r)
	}
	if release != "" && release != a.Config().Release {
		if err := a.SetRelease(release, ""); err != nil {
			a.Close()
			return nil, err
		}
	}
	return a, nil
}

// openReporting is openAgent for the commands that may queue device
// reports (check, install, rollback). The caller defers done, which makes
// the one short attempt to send the queued reports (flushReports) and then
// closes the agent.
func openReporting(ctx context.Context, e *Env, state, release string, nw client.Network, health ...string) (a *agent.Agent, done func(), err error) {
	a, err = openAgent(ctx, e, state, release, nw, health...)
	if err != nil {
		return nil, nil, err
	}
	return a, func() {
		flushReports(ctx, e, a)
		a.Close()
	}, nil
}

func runClientCheck(ctx context.Context, e *Env, args []string) error {
	fs := NewFlags("client check")
	asJSON := fs.Bool("json", false, "machine-readable report")
	release := fs.String("release", "", "record a new device release first")
	netf := addNetworkFlags(fs)
	e, pos, nw, err := parseClient(e, fs, args, netf, 1, 1, "STATE")
	if err != nil {
		return err
	}
	a, done, err := openReporting(ctx, e, pos[0], *release, nw)
	if err != nil {
		return err
	}
	defer done()
	rep, err := a.Check(ctx)
	if rep != nil {
		if perr := printReport(e, a, pos[0], rep, *asJSON); perr != nil {
			return perr
		}
	}
	return err
}

func runClientInstall(ctx context.Context, e *Env, args []string) error {
	fs := NewFlags("client install")
	all := fs.Bool("all", false, "converge: install, roll back and retire as planned")
	overrideHalt := fs.Bool("override-halt", false, "install named improvements even when their rollout is halted")
	health := fs.String("health-cmd", "", "command run after each switch; failure undoes it")
	netf := addNetworkFlags(fs)
	// --timeout and --retries are checked after the IDs and --all.
	e, pos, _, err := parseClient(e, fs, args, nil, 1, -1, "STATE")
	if err != nil {
		return err
	}
	if *all == (len(pos) > 1) {
		return Usagef("give either IDs or --all")
	}
	if *all && *overrideHalt {
		return Usagef("--override-halt needs the IDs to install: it never applies to --all")
	}
	nw, err := netf.network()
	if err != nil {
		return err
	}
	a, done, err := openReporting(ctx, e, pos[0], "", nw, *health)
	if err != nil {
		return err
	}
	defer done()
	rep, err := a.Check(ctx)
	if rep == nil {
		return fmt.Errorf("nothing installed: %w", err)
	}
	// A failure confined to components (err with a report) blocks those
	// only; Apply's error includes it, so the exit code is the worst.
	var want func(agent.Action) bool
	if !*all {
		request := a.InstallRequest
		if *overrideHalt {
			request = a.InstallRequestOverridingHalt
		}
		if want, err = request(ctx, rep, pos[1:]); err != nil {
			var he *rollout.HaltedError
			if errors.As(err, &he) || errors.As(err, new(*agent.HeldError)) {
				return WithHint(fmt.Errorf("nothing installed: %w", err), "--override-halt installs it anyway")
			}
			return fmt.Errorf("nothing installed: %w", requestUsage(err))
		}
	}
	res, err := a.Apply(ctx, rep, want)
	if res != nil {
		printResult(e, rep, res)
	}
	return shown(rep, res, err)
}

// requestUsage makes a request that names improvements ambiguously (a
// bare id of several components, two ids of one component, a malformed
// COMPONENT/ID) a usage error: exit 2, with the candidates in the message.
func requestUsage(err error) error {
	var (
		ae *agent.AmbiguousError
		ce *agent.ConflictError
		re *agent.RequestError
	)
	switch {
	case errors.As(err, &ae):
		return Usagef("%s", ae)
	case errors.As(err, &ce):
		return Usagef("%s", ce)
	case errors.As(err, &re) && strings.HasSuffix(re.Problem, "neither ID nor COMPONENT/ID"):
		return Usagef("%s", re)
	}
	return err
}

func runClientRollback(ctx context.Context, e *Env, args []string) error {
	fs := NewFlags("client rollback")
	baseline := fs.Bool("baseline", false, "switch to the baseline without network access")
	health := fs.String("health-cmd", "", "command run after a switch to a lower improvement")
	netf := addNetworkFlags(fs)
	e, pos, nw, err := parseClient(e, fs, args, netf, 2, 2, "STATE and ID")
	if err != nil {
		return err
	}
	a, done, err := openReporting(ctx, e, pos[0], "", nw, *health)
	if err != nil {
		return err
	}
	defer done()
	act, err := a.Rollback(ctx, pos[1], *baseline)
	if err = requestUsage(err); err != nil {
		if !*baseline && !errors.As(err, new(*agent.RequestError)) && !errors.As(err, new(*UsageError)) {
			return WithHint(err, "--baseline removes it without network access")
		}
		return err
	}
	fmt.Fprintf(e.Stdout, "rolled back %s: %s -> %s\n", act.Component, act.From.ID, target(act.To))
	return nil
}

func runClientStatus(ctx context.Context, e *Env, args []string) error {
	fs := NewFlags("client status")
	asJSON := fs.Bool("json", false, "machine-readable status")
	e, pos, _, err := parseClient(e, fs, args, nil, 1, 1, "STATE")
	if err != nil {
		return err
	}
	st, err := agent.ReadStatus(pos[0], e.Now())
	if err != nil {
		return err
	}
	return printStatus(e, st, *asJSON)
}

func runClientRun(ctx context.Context, e *Env, args []string) error {
	fs := NewFlags("client run")
	var ro agent.RunOptions
	fs.DurationVar(&ro.Interval, "interval", 0, "time between checks")
	fs.DurationVar(&ro.Jitter, "jitter", 0, "random extra delay below this")
	fs.BoolVar(&ro.AutoInstall, "auto-install", false, "converge after each check")
	fs.BoolVar(&ro.Once, "once", false, "run one round and exit")
	health := fs.String("health-cmd", "", "command run after each switch; failure undoes it")
	release := fs.String("release", "", "record a new device release first")
	asJSON := fs.Bool("json", false, "one JSON report per round")
	netf := addNetworkFlags(fs)
	e, pos, nw, err := parseClient(e, fs, args, netf, 1, 1, "STATE")
	if err != nil {
		return err
	}
	if !ro.Once && ro.Interval <= 0 {
		return Usagef("--interval must be positive (or use --once)")
	}
	if ro.Jitter < 0 {
		return Usagef("--jitter must not be negative")
	}
	if *release != "" {
		a, err := openAgent(ctx, e, pos[0], *release, nw)
		if err != nil {
			return err
		}
		a.Close()
	}
	opts := agentOptions(e, pos[0], nw, *health)
	ro.Round = func(rep *agent.Report, res *agent.Result, recovered []string, err error) {
		printRound(e, rep, res, recovered, err, *asJSON, ro.Once)
	}
	return runLoop(ctx, opts, ro)
}

// runLoop runs the agent loop; it exists so that a clean stop on a signal
// is not reported as an error.
func runLoop(ctx context.Context, opts agent.Options, ro agent.RunOptions) error {
	err := agent.Run(ctx, opts, ro)
	if ro.Once && err != nil {
		return err
	}
	return nil
}

func target(a *agent.Available) string {
	if a == nil {
		return "baseline"
	}
	return a.Manifest.ID
}
