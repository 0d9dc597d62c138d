// Command client is the device side of bsi through its library API
// (package agent): it creates a device's state directory trusting a root,
// checks the repository (the whole TUF workflow: root chain, timestamp,
// snapshot, targets, component roles), prints what it would do, and
// installs the improvements that apply to the device.
//
//	go run ./examples/client                       # against a repository it publishes itself
//	go run ./examples/client --url http://127.0.0.1:8080 --root 1.root.json
//
// The same steps with the command line are "bsi client init", "bsi client
// check" and "bsi client install --all".
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"time"

	"github.com/bsiframework/bsi/agent"
	"github.com/bsiframework/bsi/examples/internal/quickrepo"
	"github.com/bsiframework/bsi/trust"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "client: error:", err)
		switch {
		case errors.Is(err, trust.ErrSecurity):
			os.Exit(3) // an attack, or a broken repository: nothing installed
		case errors.Is(err, trust.ErrFreshness):
			os.Exit(4) // expired metadata: a possible freeze
		}
		os.Exit(1)
	}
}

type config struct {
	url, root, state   string
	platform, release  string
	build, installRoot string
	verbose            bool
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	var c config
	fs := flag.NewFlagSet("client", flag.ContinueOnError)
	fs.StringVar(&c.url, "url", "", "the repository's metadata URL (default: publish and serve one on 127.0.0.1)")
	fs.StringVar(&c.root, "root", "", "the root the device trusts (N.root.json of the repository); required with --url")
	fs.StringVar(&c.state, "state", "", "the device's state directory, absent or empty (default: a temporary one, removed)")
	fs.StringVar(&c.platform, "platform", quickrepo.Platform, "the device's platform")
	fs.StringVar(&c.release, "release", quickrepo.Release, "the device's release")
	fs.StringVar(&c.build, "build", "", "the device's build")
	fs.StringVar(&c.installRoot, "install-root", "", "where improvements are applied (default STATE/root)")
	fs.BoolVar(&c.verbose, "v", false, "log the agent's steps on stderr")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if (c.url == "") != (c.root == "") {
		return errors.New("--url and --root go together")
	}
	if c.url == "" || c.state == "" {
		tmp, err := os.MkdirTemp("", "bsi-client-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		if c.state == "" {
			c.state = filepath.Join(tmp, "device")
		}
		if c.url == "" {
			stop, err := fallback(ctx, &c, tmp, stdout)
			if err != nil {
				return err
			}
			defer stop()
		}
	}
	return device(ctx, c, stdout)
}

// fallback publishes a small repository in dir and serves it on loopback.
func fallback(ctx context.Context, c *config, dir string, stdout io.Writer) (stop func(), err error) {
	public, err := quickrepo.Publish(ctx, filepath.Join(dir, "publisher"), time.Now())
	if err != nil {
		return nil, fmt.Errorf("publishing the example repository: %w", err)
	}
	if c.url, stop, err = quickrepo.Serve(ctx, public); err != nil {
		return nil, err
	}
	c.root = filepath.Join(public, "1.root.json")
	fmt.Fprintf(stdout, "no --url: published an example repository and serving it at %s\n", c.url)
	return stop, nil
}

// device is the client's work: init, check, install.
func device(ctx context.Context, c config, stdout io.Writer) error {
	// 1. Init: the root is checked (a threshold of its own keys, not
	// expired) before anything is written.
	rootJSON, err := os.ReadFile(c.root)
	if err != nil {
		return err
	}
	cfg := agent.Config{
		Platform: c.platform, Release: c.release, Build: c.build,
		MetadataURL: c.url, InstallRoot: c.installRoot,
	}
	if err := agent.Init(c.state, rootJSON, cfg, time.Now()); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "device %s %s: state in %s, trusting %s\n", c.platform, c.release, c.state, c.root)

	logger := slog.New(slog.DiscardHandler)
	if c.verbose {
		logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	a, err := agent.Open(ctx, agent.Options{State: c.state, Logger: logger})
	if err != nil {
		return err
	}
	defer a.Close()

	// 2. Check: errors.Is(err, trust.ErrSecurity) is an attack,
	// trust.ErrFreshness expired metadata; either way nothing is trusted.
	rep, err := a.Check(ctx)
	if err != nil {
		return fmt.Errorf("check: %w", err)
	}
	fmt.Fprintf(stdout, "verified timestamp v%d, snapshot v%d; timestamp expires %s\n",
		rep.Freshness.TimestampVersion, rep.Freshness.SnapshotVersion, rep.Freshness.TimestampExpires.Format(time.RFC3339))
	for _, act := range rep.Plan {
		fmt.Fprintf(stdout, "  %s\n", describe(act, c.release))
	}

	// 3. Install: every payload is downloaded and its length and hashes
	// verified before the first switch; nil means "converge".
	res, err := a.Apply(ctx, rep, nil)
	if err != nil {
		return fmt.Errorf("install: %w", err)
	}
	for _, f := range res.Failed {
		fmt.Fprintf(stdout, "failed: %s: %v\n", describe(f.Action, c.release), f.Err)
	}
	for _, in := range a.Installed() {
		link := filepath.Join(a.Config().InstallRoot, in.Component, "current")
		target, _ := os.Readlink(link)
		fmt.Fprintf(stdout, "installed %s: %s -> %s\n", in.Label(), link, target)
	}
	if len(res.Failed) > 0 {
		return res.Failed[0].Err
	}
	return nil
}

// describe is one line for an action of the plan.
func describe(act agent.Action, release string) string {
	s := fmt.Sprintf("%-8s %s", act.Kind, act.Component)
	if act.From != nil {
		s += ": " + act.From.Label()
	}
	if act.To != nil {
		s += " -> " + act.To.Label(release)
	}
	if act.Target != nil {
		s += " " + act.Target.Path
	}
	if act.Reason != "" {
		s += " (" + act.Reason + ")"
	}
	return s
}
