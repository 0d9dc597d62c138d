package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/bsiframework/bsi/internal/atomicfile"
	"github.com/bsiframework/bsi/transparency"
	"github.com/bsiframework/bsi/transparency/monitor"
	"github.com/bsiframework/bsi/transparency/publog"
	"github.com/bsiframework/bsi/trust"
	"github.com/bsiframework/bsi/trust/client"
)

func monitorCommands() []*command {
	return []*command{{
		Name:    "monitor",
		Args:    "URL --root ROOT.json --state DIR [--component C] [--json]",
		Summary: "read a repository's whole transparency log and report what does not match",
		Help: `Verifies the repository at URL from ROOT.json as a device does, reads its
tlog-policy target (the log key, the witnesses and the quorum), fetches the
log's cosigned checkpoint and every entry (C2SP tlog-tiles under URL/tlog/),
checks that the entries hash to the checkpoint's root and that the log
extends the checkpoint seen by the last run (kept in DIR, replaced
atomically), and reports:
  logged-not-listed  an improvement in the log that the repository does not
                     list, or lists with another payload (a release shown to
                     someone else; a release the team never made)
  not-logged         an improvement the repository lists that is not logged
  entry-differs      the latest entry of a listed improvement has another manifest
  wrong-role         an entry signed by a role that is not its component's
  bad-entry          a leaf that is not a bsi log entry
With --component C it also lists every improvement logged under component C,
so a team sees every release signed with its key.

Exit codes as bsi audit: 0 clean, 3 a finding or a log not consistent with
the last run (a fork or a rollback), 1 no check possible.

Example:
  bsi monitor http://127.0.0.1:8080 --root 1.root.json --state mon --component webkit`,
		Run: runMonitor,
	}}
}

type monitorReport struct {
	Format    string            `json:"format"`
	Origin    string            `json:"origin"`
	Size      uint64            `json:"size"`
	Findings  []monitor.Finding `json:"findings"`
	Component string            `json:"component,omitempty"`
	Logged    []monitor.Logged  `json:"logged,omitempty"`
}

// monitorFindingsError is exit 3.
type monitorFindingsError struct{ n int }

func (e *monitorFindingsError) Error() string {
	return fmt.Sprintf("monitor: %d findings", e.n)
}
func (e *monitorFindingsError) Unwrap() error { return trust.ErrSecurity }

func runMonitor(ctx context.Context, e *env, args []string) error {
	flags := newFlags("monitor")
	root := flags.String("root", "", "")
	state := flags.String("state", "", "")
	component := flags.String("component", "", "")
	asJSON := flags.Bool("json", false, "")
	pos, err := parseFlags(flags, args)
	if err != nil {
		return err
	}
	if err := wantArgs(pos, 1, 1, "the repository URL"); err != nil {
		return err
	}
	if *root == "" || *state == "" {
		return usagef("monitor: --root and --state are required")
	}
	rootJSON, err := os.ReadFile(*root)
	if err != nil {
		return err
	}
	meta := filepath.Join(*state, "metadata")
	if _, err := os.Stat(filepath.Join(meta, "root.json")); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(meta, 0o755); err != nil {
			return err
		}
		if err := client.Init(meta, rootJSON, e.Now()); err != nil {
			return err
		}
	}
	c, err := client.New(client.Config{MetadataDir: meta, MetadataURL: pos[0], Now: e.Now, Logger: e.Logger})
	if err != nil {
		return err
	}
	if err := c.Refresh(ctx); err != nil {
		return err
	}
	targets, err := c.Targets(ctx)
	if err != nil {
		return err
	}
	var listed []monitor.Listed
	var policyTarget *client.Target
	for _, t := range targets {
		if t.Path == transparency.PolicyTarget && len(t.Roles) == 1 {
			policyTarget = t
			continue
		}
		if len(t.Roles) < 2 || t.Custom == nil {
			continue
		}
		mh, err := transparency.ManifestHash(t.Custom)
		if err != nil {
			continue
		}
		listed = append(listed, monitor.Listed{Path: t.Path, Length: t.Length, Hashes: t.Hashes, ManifestSHA256: mh})
	}
	if policyTarget == nil {
		return errors.New("monitor: the repository has no tlog-policy target: it publishes no transparency log")
	}
	pf := filepath.Join(*state, "tlog-policy")
	if err := c.Download(ctx, policyTarget, pf); err != nil {
		return err
	}
	polData, err := os.ReadFile(pf)
	if err != nil {
		return err
	}
	pol, err := publog.ParsePolicy(polData)
	if err != nil {
		return err
	}
	statePath := filepath.Join(*state, "checkpoint.json")
	var old *monitor.State
	if data, err := os.ReadFile(statePath); err == nil {
		if old, err = monitor.ParseState(data); err != nil {
			return err
		}
	}
	var oldSize uint64
	if old != nil {
		oldSize = old.Size
	}
	lg, err := monitor.Read(ctx, nil, pos[0], pol, oldSize)
	if err != nil {
		return err // a *monitor.CheckpointError or *InconsistentError is exit 3
	}
	next, err := monitor.Advance(old, &lg.Checkpoint, lg.Consistency)
	if err != nil {
		return err
	}
	findings, mine := monitor.Check(lg.Leaves, listed, *component)
	rep := monitorReport{Format: "bsi.monitor/v1", Origin: lg.Checkpoint.Origin, Size: lg.Checkpoint.Size,
		Findings: findings, Component: *component, Logged: mine}
	if rep.Findings == nil {
		rep.Findings = []monitor.Finding{}
	}
	if data, err := next.Marshal(); err == nil {
		if err := atomicfile.WriteFile(statePath, data, 0o644); err != nil {
			return err
		}
	}
	if *asJSON {
		if err := writeJSONTo(e, rep); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(e.Stdout, "log %s: %d entries, consistent with the last run\n", rep.Origin, rep.Size)
		for _, f := range findings {
			fmt.Fprintf(e.Stdout, "FINDING %s %s (entry %d): %s\n", f.Kind, f.Path, f.Index, f.Detail)
		}
		for _, m := range mine {
			fmt.Fprintf(e.Stdout, "%s entry %d: %s length %d sha256 %s role %s version %d\n", *component, m.Index,
				m.Entry.Path, m.Entry.Length, m.Entry.Hashes["sha256"], m.Entry.Role, m.Entry.RoleVersion)
		}
	}
	if len(findings) > 0 {
		return &monitorFindingsError{n: len(findings)}
	}
	return nil
}
