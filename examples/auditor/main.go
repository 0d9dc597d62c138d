// Command auditor is the auditor side of bsi through its library API
// (package conformance): it runs the conformance suite, attack scenarios
// against a simulated repository, against a TUF client, and audits a
// published repository from its root.
//
//	go run ./examples/auditor                        # the suite against its own adapter, audit of a repository it publishes
//	go run ./examples/auditor --client 'bsi tuf-client' --bsi bsi --junit suite.xml
//	go run ./examples/auditor --url https://updates.example.com --root 1.root.json
//
// The client under test is any command speaking the conformance client
// protocol. Without --client, the program puts bsi's verifying client
// library (trust/client) under the suite through adapter.go, a protocol
// adapter of a few dozen lines: the model for an adapter of another client
// library. The same with the command line: "bsi conformance run" and
// "bsi audit".
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"github.com/bsiframework/bsi/conformance"
	"github.com/bsiframework/bsi/examples/internal/quickrepo"
	"github.com/bsiframework/bsi/trust"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if len(os.Args) > 1 && os.Args[1] == adapterCommand {
		os.Exit(adapterMain(ctx, os.Args[2:], os.Stderr))
	}
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "auditor: error:", err)
		switch {
		case errors.Is(err, trust.ErrSecurity):
			os.Exit(3)
		case errors.Is(err, trust.ErrFreshness):
			os.Exit(4)
		}
		os.Exit(1)
	}
}

type config struct {
	client, bsi, match, xfails, junit string
	groups                            []string
	url, root                         string
	skipSuite, skipAudit              bool
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	var c config
	fs := flag.NewFlagSet("auditor", flag.ContinueOnError)
	fs.StringVar(&c.client, "client", "", "the client under test, a command line (default: this program's adapter over trust/client)")
	fs.StringVar(&c.bsi, "bsi", "", "a bsi binary, to run the bsi group (bsi client) too")
	fs.Func("group", "run only this group of scenarios (repeatable)", func(s string) error { c.groups = append(c.groups, s); return nil })
	fs.StringVar(&c.match, "match", "", "run only scenarios whose name matches this regular expression")
	fs.StringVar(&c.xfails, "xfail", "", "a file of scenarios expected to fail, one a line")
	fs.StringVar(&c.junit, "junit", "", "write the suite's report as JUnit XML to this file")
	fs.StringVar(&c.url, "url", "", "the repository to audit (default: publish and serve one on 127.0.0.1)")
	fs.StringVar(&c.root, "root", "", "the root the audit starts from; required with --url")
	fs.BoolVar(&c.skipSuite, "no-suite", false, "only audit")
	fs.BoolVar(&c.skipAudit, "no-audit", false, "only run the suite")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if (c.url == "") != (c.root == "") {
		return errors.New("--url and --root go together")
	}
	var errs []error
	if !c.skipSuite {
		errs = append(errs, suite(ctx, c, stdout))
	}
	if !c.skipAudit {
		errs = append(errs, audit(ctx, c, stdout))
	}
	return errors.Join(errs...)
}

// suite runs the conformance scenarios against the client.
func suite(ctx context.Context, c config, stdout io.Writer) error {
	o := conformance.Options{Groups: c.groups, Match: c.match, Parallel: 4}
	if c.client == "" {
		self, err := os.Executable()
		if err != nil {
			return err
		}
		o.Client = []string{self, adapterCommand}
	} else {
		var err error
		if o.Client, err = conformance.SplitCommand(c.client); err != nil {
			return err
		}
	}
	if c.bsi != "" {
		var err error
		if o.BSI, err = conformance.SplitCommand(c.bsi); err != nil {
			return err
		}
	}
	if c.xfails != "" {
		f, err := os.Open(c.xfails)
		if err != nil {
			return err
		}
		o.XFails, err = conformance.ParseXFails(f, conformance.Scenarios())
		f.Close()
		if err != nil {
			return err
		}
	}
	rep, err := conformance.Run(ctx, o)
	if err != nil {
		return err
	}
	if err := rep.WriteText(stdout); err != nil {
		return err
	}
	if c.junit != "" {
		if err := writeFile(c.junit, rep.WriteJUnit); err != nil {
			return err
		}
	}
	if !rep.OK() {
		var names []string
		for _, r := range rep.Failed() {
			names = append(names, r.Name)
		}
		return fmt.Errorf("the client failed %d scenario(s): %s", len(names), strings.Join(names, ", "))
	}
	return nil
}

// audit walks a published repository from its root and reports every
// finding.
func audit(ctx context.Context, c config, stdout io.Writer) error {
	if c.url == "" {
		tmp, err := os.MkdirTemp("", "bsi-auditor-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		public, err := quickrepo.Publish(ctx, tmp, time.Now())
		if err != nil {
			return fmt.Errorf("publishing the example repository: %w", err)
		}
		url, stop, err := quickrepo.Serve(ctx, public)
		if err != nil {
			return err
		}
		defer stop()
		c.url, c.root = url, filepath.Join(public, "1.root.json")
		fmt.Fprintf(stdout, "no --url: auditing an example repository served at %s\n", c.url)
	}
	root, err := os.ReadFile(c.root)
	if err != nil {
		return err
	}
	rep, err := conformance.Audit(ctx, conformance.AuditOptions{URL: c.url, Root: root})
	if err != nil {
		return err
	}
	if err := rep.WriteText(stdout); err != nil {
		return err
	}
	// Security findings wrap trust.ErrSecurity, expired roles
	// trust.ErrFreshness; warnings (a role near expiry) are no error.
	return rep.Err()
}

func writeFile(name string, write func(io.Writer) error) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
