package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/bsiframework/bsi/demo"
)

func demoCommands() []*command {
	return []*command{{
		Name:    "demo",
		Args:    "[--dir DIR] [--keep] [--json]",
		Summary: "run the whole system on loopback: publish, install, attacks stopped, withdraw, staged rollout, upgrade",
		Help: `Runs a publisher, a repository served on 127.0.0.1, a device and an
attacker, with nothing to configure, and prints one line per step: keys
(a 2-of-3 root), publishing safari, webkit and libsystem improvements for
macos 26.3, the device installing them, then each attack stopped with the
client's real error (a replayed older timestamp, a frozen repository, a
tampered payload, a webkit key signing for safari, an improvement for
release 26.2), a withdrawal rolled back, then the staged rollout of the
replacement webkit (b) to a fleet of 100 real agents: the canary ring
first, then 10%, health checks failing on some devices, the publisher
halting it (those that have it keep it, the rest never get it) and
withdrawing it (the whole fleet rolls back); then the device moves to
26.4 and retires the 26.3 improvements. Last, the transparency log: three
witnesses on loopback cosign every publish, an attacker with the webkit,
online and log keys shows the device alone a release from a fork of the
log (refused: no witness quorum), and the webkit team's monitor (bsi
monitor --component webkit) reports a release the team never made.

Exit status 0 only when every step behaved as expected. Nothing touches the
network beyond 127.0.0.1, and nothing is left behind unless --keep.

Flags:
  --dir DIR   work in DIR (keys, workspace, public tree, devices); default a
              temporary directory
  --keep      keep the directory afterwards, to look at with bsi repo status,
              bsi client status, ls -l DIR/device/root/*/current
  --json      print each step as a JSON object, one per line

Examples:
  bsi demo
  bsi demo --keep --dir /tmp/bsi-demo && bsi client status /tmp/bsi-demo/device`,
		Run: runDemo,
	}}
}

func runDemo(ctx context.Context, e *env, args []string) error {
	fs := newFlags("demo")
	dir := fs.String("dir", "", "")
	keep := fs.Bool("keep", false, "")
	asJSON := fs.Bool("json", false, "")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs(pos, 0, 0, ""); err != nil {
		return err
	}
	colour := e.Terminal && !*asJSON && e.Getenv("NO_COLOR") == ""
	enc := json.NewEncoder(e.Stdout)
	start := time.Now()
	res, err := demo.Run(ctx, demo.Options{
		Dir:  *dir,
		Keep: *keep,
		Event: func(ev demo.Event) {
			if *asJSON {
				enc.Encode(ev)
				return
			}
			printDemoEvent(e, ev, colour)
		},
	})
	var se *demo.StepError
	if err != nil && !errors.As(err, &se) {
		return fmt.Errorf("demo stopped: %w", err)
	}
	if !*asJSON {
		verdict := fmt.Sprintf("all %d steps behaved as expected", len(res.Events))
		if se != nil {
			verdict = fmt.Sprintf("%d of %d steps did NOT behave as expected", res.Failed, len(res.Events))
		}
		fmt.Fprintf(e.Stdout, "\n%s in %.1fs", verdict, time.Since(start).Seconds())
		if res.Kept {
			fmt.Fprintf(e.Stdout, "; everything is in %s", res.Dir)
		}
		fmt.Fprintln(e.Stdout)
	}
	return err
}

func printDemoEvent(e *env, ev demo.Event, colour bool) {
	mark, on, off := "ok  ", "", ""
	if !ev.OK {
		mark = "FAIL"
	}
	if colour {
		on, off = "\x1b[32m", "\x1b[0m"
		if !ev.OK {
			on = "\x1b[31m"
		}
	}
	fmt.Fprintf(e.Stdout, "%s%s%s %2d %-9s %s\n", on, mark, off, ev.Step, ev.Actor, ev.Line)
	if ev.Error != "" {
		fmt.Fprintf(e.Stdout, "            device said (%s, exit %d): %s\n", ev.Class, classExit(ev.Class), ev.Error)
	}
}

func classExit(class string) int {
	switch class {
	case "security":
		return exitSecurity
	case "freshness":
		return exitFreshness
	default:
		return exitFailure
	}
}
