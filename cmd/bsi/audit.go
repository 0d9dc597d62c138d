package main

import (
	"context"
	"os"

	"github.com/bsiframework/bsi/conformance"
)

func auditCommand() *command {
	return &command{
		name:    "audit",
		args:    "URL --root ROOT.json [--targets-url URL] [--skip-payloads] [--json FILE] [--junit FILE]",
		summary: "audit a published repository: signatures, consistency, payloads, expiry budget",
		help: `Walks the repository whose metadata is at URL from ROOT.json (any root
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

Exit codes: 0 clean (warnings allowed), 1 findings (missing files, sequence
clashes) or no audit possible, 3 security findings, 4 expired roles.

Examples:
  bsi audit https://updates.example.com/metadata --root root.json
  bsi audit http://127.0.0.1:8080 --root 1.root.json --skip-payloads --json audit.json`,
		run: runAudit,
	}
}

func runAudit(ctx context.Context, e *env, args []string) error {
	fs := newFlags("audit")
	root := fs.String("root", "", "")
	targetsURL := fs.String("targets-url", "", "")
	skip := fs.Bool("skip-payloads", false, "")
	jsonOut := fs.String("json", "", "")
	junitOut := fs.String("junit", "", "")
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
	rootJSON, err := os.ReadFile(*root)
	if err != nil {
		return err
	}
	rep, err := conformance.Audit(ctx, conformance.AuditOptions{
		URL: pos[0], TargetsURL: *targetsURL, Root: rootJSON, SkipPayloads: *skip, Now: e.now,
	})
	if err != nil {
		return err
	}
	if err := rep.WriteText(e.stdout); err != nil {
		return err
	}
	var errs []error
	if *jsonOut != "" {
		errs = append(errs, writeFile(*jsonOut, func(f *os.File) error { return rep.WriteJSON(f) }))
	}
	if *junitOut != "" {
		errs = append(errs, writeFile(*junitOut, func(f *os.File) error { return rep.WriteJUnit(f) }))
	}
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return rep.Err()
}
