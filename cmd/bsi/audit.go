package main

import (
	"context"
	"errors"
	"os"
	"time"

	"github.com/bsiframework/bsi/conformance"
)

func auditCommand() *command {
	return &command{
		Name:    "audit",
		Args:    "URL --root ROOT.json [--targets-url URL] [--at TIME] [--skip-payloads] [--skip-client] [--json FILE] [--junit FILE] [--html FILE]",
		Summary: "audit a published repository: signatures, consistency, payloads, expiry budget",
		Help: `Walks the repository whose metadata is at URL from ROOT.json (any root
version you trust) and reports every finding, not just the first: root chain
signatures and thresholds, timestamp and snapshot consistency, every role
and delegation (signatures, path restrictions, roles missing from the
snapshot), consistent-snapshot file presence, every target's length and
hashes under every published name (--skip-payloads skips downloads), every
manifest (schema, component equal to its signing role, path, id and
sequence rules), key hygiene (keys shared between roles, threshold 1 on
the offline roles), and each role's expiry budget: time left against its
refresh interval (a warning under twice the interval, a failure when
expired).

The repository is verified twice: by go-tuf, and by the verifying core bsi
devices run (a full refresh from ROOT.json in a temporary directory). Any
place where the two disagree is a finding (verifier-disagreement), and so
is every key devices cannot use (key-unusable: an unsupported scheme, an
ECDSA key in hex rather than PEM). --skip-client skips the second run.

--at TIME (RFC 3339) audits as of that time: every expiry is judged then,
so an archived repository can be audited as it stood. --json writes the
report in the stable schema "bsi.audit/v1" (conformance/schema/); --html
writes a self-contained page for people: every role with its version,
keys, threshold and signatures, an expiry timeline against each role's
refresh interval, the findings by severity.

Exit codes: 0 clean (warnings allowed), 1 findings (missing files, sequence
clashes) or no audit possible, 3 security findings, 4 expired roles.

Examples:
  bsi audit https://updates.example.com/metadata --root root.json
  bsi audit http://127.0.0.1:8080 --root 1.root.json --skip-payloads --json audit.json
  bsi audit https://archive.example.com/2025/metadata --root 1.root.json --at 2025-06-01T00:00:00Z --html audit.html`,
		Run: runAudit,
	}
}

func runAudit(ctx context.Context, e *env, args []string) error {
	fs := newFlags("audit")
	root := fs.String("root", "", "")
	targetsURL := fs.String("targets-url", "", "")
	skip := fs.Bool("skip-payloads", false, "")
	jsonOut := fs.String("json", "", "")
	junitOut := fs.String("junit", "", "")
	htmlOut := fs.String("html", "", "")
	at := fs.String("at", "", "")
	skipClient := fs.Bool("skip-client", false, "")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs(pos, 1, 1, "the repository URL"); err != nil {
		return err
	}
	if *root == "" {
		return usagef("audit: --root is required")
	}
	now := e.Now
	if *at != "" {
		t, err := time.Parse(time.RFC3339, *at)
		if err != nil {
			return usagef("audit: --at %q: want an RFC 3339 time such as 2026-06-01T00:00:00Z", *at)
		}
		now = func() time.Time { return t }
	}
	rootJSON, err := os.ReadFile(*root)
	if err != nil {
		return err
	}
	rep, err := conformance.Audit(ctx, conformance.AuditOptions{
		URL: pos[0], TargetsURL: *targetsURL, Root: rootJSON, SkipPayloads: *skip, Now: now,
		SkipClient: *skipClient, Logger: e.Logger,
	})
	if errors.Is(err, context.Canceled) {
		return errors.New("audit: interrupted")
	}
	if err != nil {
		return err
	}
	if err := rep.WriteText(e.Stdout); err != nil {
		return err
	}
	var errs []error
	if *jsonOut != "" {
		errs = append(errs, writeFile(*jsonOut, func(f *os.File) error { return rep.WriteJSON(f) }))
	}
	if *junitOut != "" {
		errs = append(errs, writeFile(*junitOut, func(f *os.File) error { return rep.WriteJUnit(f) }))
	}
	if *htmlOut != "" {
		errs = append(errs, writeFile(*htmlOut, func(f *os.File) error { return rep.WriteHTML(f) }))
	}
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return rep.Err()
}
