package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/bsiframework/bsi/manifest"
	"github.com/bsiframework/bsi/trust/repo"
)

const repoAddHelp = `Adds an improvement: validates the manifest (its component must be
delegated, its id new, its sequence one above the highest of the same
platform, release and component), checks that the payload is a non-empty
tar or tar.gz with safe entry names, copies it into the content store and
lists it as the target COMPONENT/ID.tar.gz (or .tar) of the component role
(or its hash bin), with sha256 and sha512 and the manifest in custom.bsi.
With --key the changed role is signed at once, after its change since the
last published version is shown (and, on a terminal, confirmed), as by
bsi repo sign: every improvement the signature approves is listed, including
any someone else queued.

Flags:
  --manifest FILE         the improvement manifest (bsi manifest new)
  --payload FILE          the payload archive
  --key KEY               sign the changed role (repeatable)
  --yes                   with --key: do not ask for confirmation
  --json                  print one JSON object on stdout: {"summary": the
                          change shown (with --key), "result": the
                          improvement added (id, component, target, role,
                          length, manifest)}
  --allow-sequence-gap    accept a sequence that skips numbers

Examples:
  bsi repo add ws --manifest webkit-26.3-a.json --payload webkit-26.3-a.tar.gz
  bsi repo add ws --manifest m.json --payload p.tar.gz --key webkit-a.key`

func repoAddCommand() *command {
	return &command{
		Name:    "repo add",
		Args:    "DIR --manifest M.json --payload FILE [--key KEY]... [--yes] [--json]",
		Summary: "add an improvement to its component role",
		Help:    repoAddHelp,
		Run: func(ctx context.Context, e *env, args []string) error {
			fs := newFlags("repo add")
			var keyRefs stringList
			fs.Var(&keyRefs, "key", "")
			man := fs.String("manifest", "", "")
			payload := fs.String("payload", "", "")
			gap := fs.Bool("allow-sequence-gap", false, "")
			sf := addSignFlags(fs)
			pos, err := parseFlags(fs, args)
			if err != nil {
				return err
			}
			if *man == "" || *payload == "" {
				return usagef("missing --manifest or --payload")
			}
			data, err := os.ReadFile(*man)
			if err != nil {
				return err
			}
			signers, err := repoLoadSigners(ctx, e, keyRefs)
			if err != nil {
				return err
			}
			w, err := openRepoSigning(ctx, e, pos, sf, nil)
			if err != nil {
				return err
			}
			defer w.Close()
			imp, err := w.Add(ctx, repo.AddRequest{Manifest: data, Payload: *payload, AllowSequenceGap: *gap, Signers: signers})
			var invalid *manifest.ValidationError
			if errors.As(err, &invalid) {
				return fmt.Errorf("%s: %w", *man, err) // name the file, as "bsi manifest validate" does
			}
			if err != nil {
				return err
			}
			return sf.done(e, imp, "added %s as %s in role %s\n", imp.ID, imp.Target, imp.Role)
		},
	}
}

func repoWithdrawCommand() *command {
	return &command{
		Name:    "repo withdraw",
		Args:    "DIR ID --reason TEXT [--key KEY]... [--yes] [--json]",
		Summary: "withdraw an improvement (devices roll back)",
		Help: `Marks an improvement withdrawn, with the reason, in a new version of its
role. The target entry stays listed: devices need it to roll back. With --key
the changed role is signed at once, after its change since the last
published version is shown (and, on a terminal, confirmed; --yes skips the
question), as by bsi repo sign. --json prints one object: {"summary": the
change shown, "result": {"withdrawn","reason","signed"}}.

Example:
  bsi repo withdraw ws webkit-26.3-a --reason "breaks video playback" --key webkit-a.key`,
		Run: func(ctx context.Context, e *env, args []string) error {
			fs := newFlags("repo withdraw")
			var keyRefs stringList
			fs.Var(&keyRefs, "key", "")
			reason := fs.String("reason", "", "")
			sf := addSignFlags(fs)
			pos, err := parseFlags(fs, args)
			if err != nil {
				return err
			}
			if err := wantArgs(pos, 2, 2, "DIR and ID"); err != nil {
				return err
			}
			if *reason == "" {
				return usagef("missing --reason")
			}
			signers, err := repoLoadSigners(ctx, e, keyRefs)
			if err != nil {
				return err
			}
			w, err := openRepoSigning(ctx, e, pos[:1], sf, nil)
			if err != nil {
				return err
			}
			defer w.Close()
			if err := w.Withdraw(ctx, pos[1], *reason, signers...); err != nil {
				return err
			}
			return sf.done(e, withdrawResult{Withdrawn: pos[1], Reason: *reason, Signed: len(signers) > 0},
				"withdrew %s\n", pos[1])
		},
	}
}

// withdrawResult is the result of "bsi repo withdraw --json".
type withdrawResult struct {
	Withdrawn string `json:"withdrawn"`
	Reason    string `json:"reason"`
	Signed    bool   `json:"signed"` // signed at once with --key
}

func repoListCommand() *command {
	return &command{
		Name:    "repo list",
		Args:    "DIR [--json]",
		Summary: "list improvements with their status",
		Help: `Lists every improvement of the workspace: component, id, platform,
releases, sequence, status, and whether its role has unpublished changes.

Examples:
  bsi repo list ws
  bsi repo list ws --json | jq '.[] | select(.manifest.status == "withdrawn")'`,
		Run: func(ctx context.Context, e *env, args []string) error {
			fs := newFlags("repo list")
			asJSON := fs.Bool("json", false, "")
			pos, err := parseFlags(fs, args)
			if err != nil {
				return err
			}
			w, err := openRepo(ctx, e, pos)
			if err != nil {
				return err
			}
			defer w.Close()
			list, err := w.List(ctx)
			if err != nil {
				return err
			}
			if *asJSON {
				if list == nil {
					list = []repo.Improvement{}
				}
				return writeJSONTo(e, list)
			}
			tw := tabwriter.NewWriter(e.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "COMPONENT\tID\tPLATFORM\tRELEASES\tSEQ\tSTATUS\tPENDING")
			for _, imp := range list {
				m := imp.Manifest
				status := string(m.Status)
				if m.WithdrawnReason != "" {
					status += ": " + m.WithdrawnReason
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", imp.Component, imp.ID, m.Platform,
					strings.Join(m.AppliesTo.Releases, ","), m.Sequence, status, repoYesNo(imp.Pending))
			}
			return tw.Flush()
		},
	}
}

func repoYesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
