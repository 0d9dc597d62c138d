package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/bsiframework/bsi/internal/progress"
	"github.com/bsiframework/bsi/trust/repo"
)

const repoPublishHelp = `Signs snapshot and timestamp with the online keys when anything changed and
writes the consistent-snapshot tree to DIR/public or --to DEST: payloads
under targets/COMPONENT/HASH.ID.tar.gz (every listed hash), then delegated
roles, targets, every N.root.json, N.snapshot.json, and timestamp.json last,
so a crash mid-publish leaves what clients see valid. Files already there
are not written again; an unchanged workspace writes nothing.

Roles waiting for signatures block publishing: the error lists each role,
how many signatures it lacks, and from which key ids.

DEST is a directory, or an object-store URL: s3://BUCKET?region=R,
gs://BUCKET, azblob://CONTAINER, file:///PATH, mem:// (credentials come
from each cloud's usual environment). An s3:// URL needs a region
(?region=R, AWS_REGION, or the AWS profile's; ?endpoint=URL for an
S3-compatible server) and an azblob:// URL a storage account
(?storage_account=NAME or AZURE_STORAGE_ACCOUNT): without one, publish
stops before it signs anything, exit 1. Objects get the Cache-Control and
Content-Type that bsi serve sends: no-cache for timestamp.json, immutable
for versioned metadata and hashed payloads.

Examples:
  bsi repo publish ws
  bsi repo publish ws --to /srv/bsi/repo
  bsi repo publish ws --to 's3://bsi-repo?region=eu-west-1'
  bsi repo publish ws --json`

func repoPublishCommand() *command {
	return &command{
		Name:    "repo publish",
		Args:    "DIR [--to DEST] [--json]",
		Summary: "sign snapshot and timestamp, write the repository",
		Help:    repoPublishHelp,
		Run: func(ctx context.Context, e *env, args []string) error {
			fs := newFlags("repo publish")
			to := fs.String("to", "", "")
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
			dest, closeDest, err := repoDestination(ctx, pos[0], *to)
			if err != nil {
				return err
			}
			defer closeDest()
			dest, endBar := progressDestination(e, dest, progress.Options{Terminal: stderrTerminal(e)})
			res, err := w.Publish(ctx, dest)
			endBar()
			var pe *repo.PendingError
			if errors.As(err, &pe) {
				return withHint(err, "sign with: bsi repo sign %s --key KEY (or export-role / import-signature for offline keys)", pos[0])
			}
			if err != nil {
				return err
			}
			return printPublish(e, "published", res, *asJSON)
		},
	}
}

func printPublish(e *env, what string, res *repo.PublishResult, asJSON bool) error {
	if asJSON {
		out := *res
		if out.Written == nil {
			out.Written = []string{} // "written": [] when nothing was written, not null
		}
		return writeJSONTo(e, out)
	}
	fmt.Fprintf(e.Stdout, "%s: snapshot v%d, timestamp v%d; %d file(s) written, %d already there\n",
		what, res.SnapshotVersion, res.TimestampVersion, len(res.Written), res.Skipped)
	return nil
}

func repoRefreshCommand() *command {
	return &command{
		Name:    "repo refresh",
		Args:    "DIR [--to DEST] [--snapshot-within D] [--json]",
		Summary: "re-sign the timestamp (and snapshot) with new expiry",
		Help: `Re-signs the timestamp with a new version and expiry, and the snapshot too
when it expires within --snapshot-within (default: twice the timestamp
period), with the online keys, and writes them to DIR/public or --to DEST,
which must hold the last publish. Unpublished changes stay pending. Run it
more often than the timestamp period (1 day by default), from cron or with
bsi repo keep-fresh. --json prints {"written", "skipped",
"snapshot_version", "timestamp_version", "timestamp_expires",
"snapshot_expires" (when the snapshot was re-signed)}.

Examples:
  bsi repo refresh ws
  bsi repo refresh ws --to /srv/bsi/repo --snapshot-within 3d
  bsi repo refresh ws --json`,
		Run: func(ctx context.Context, e *env, args []string) error {
			fs := newFlags("repo refresh")
			to := fs.String("to", "", "")
			asJSON := fs.Bool("json", false, "")
			var within time.Duration
			fs.Var(repoDurationFlag{&within}, "snapshot-within", "")
			pos, err := parseFlags(fs, args)
			if err != nil {
				return err
			}
			w, err := openRepo(ctx, e, pos)
			if err != nil {
				return err
			}
			defer w.Close()
			dest, closeDest, err := repoDestination(ctx, pos[0], *to)
			if err != nil {
				return err
			}
			defer closeDest()
			res, err := w.Refresh(ctx, dest, repo.RefreshOptions{SnapshotWithin: within})
			if err != nil {
				return err
			}
			return printPublish(e, "refreshed", res, *asJSON)
		},
	}
}

func repoKeepFreshCommand() *command {
	return &command{
		Name:    "repo keep-fresh",
		Args:    "DIR --interval D [--to DEST] [--snapshot-within D]",
		Summary: "refresh in a loop until interrupted",
		Help: `Runs bsi repo refresh every --interval (shorter than the timestamp
period) until SIGINT or SIGTERM, for deployments without cron. The workspace
is locked only during each refresh, so publishing goes on in between. A
failed round is reported on stderr and retried at the next one.

Examples:
  bsi repo keep-fresh ws --interval 6h
  bsi repo keep-fresh ws --interval 30m --to /srv/bsi/repo`,
		Run: func(ctx context.Context, e *env, args []string) error {
			fs := newFlags("repo keep-fresh")
			to := fs.String("to", "", "")
			var interval, within time.Duration
			fs.Var(repoDurationFlag{&interval}, "interval", "")
			fs.Var(repoDurationFlag{&within}, "snapshot-within", "")
			pos, err := parseFlags(fs, args)
			if err != nil {
				return err
			}
			if err := wantArgs(pos, 1, 1, "workspace directory DIR"); err != nil {
				return err
			}
			if interval == 0 {
				return usagef("missing --interval")
			}
			dest, closeDest, err := repoDestination(ctx, pos[0], *to)
			if err != nil {
				return err
			}
			defer closeDest()
			fmt.Fprintf(e.Stderr, "bsi: keeping %s fresh every %v (stop with Ctrl-C)\n", pos[0], interval)
			opts := repoOptions(e)
			if !opts.Logger.Enabled(ctx, slog.LevelInfo) {
				// A daemon's log: each round says what it re-signed and
				// the new expiry.
				opts.Logger = slog.New(slog.NewTextHandler(e.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
			}
			return repo.KeepFresh(ctx, pos[0], dest, interval, opts, repo.RefreshOptions{SnapshotWithin: within})
		},
	}
}

func repoStatusCommand() *command {
	return &command{
		Name:    "repo status",
		Args:    "DIR [--keys] [--json]",
		Summary: "show every role: version, expiry, signatures, pending",
		Help: `Shows every role: version, expiry and time left (EXPIRING when within twice
its refresh interval, EXPIRED after), signatures present against the
threshold, the key ids still missing, and whether it has changes not yet
published. For a changed root, the signatures of the previous root's keys
are shown too.

--keys lists each role's keys instead: the threshold, and for each key its
id (the full id is what bsi repo rotate --remove-key takes, a prefix will
do), type and signature scheme, and where it comes from: the file or KMS
URI the workspace signs with for an online key; for an offline key the file
it was given as when added (repo init, delegate, rotate --add-key) or last
signed with (repo sign --key), and "offline ROLE key, file not recorded"
when the workspace never saw it (a signature imported from an officer).
With --json every role carries "keys": [{"keyid", "short", "type",
"scheme", "source", "offline"}].

Examples:
  bsi repo status ws
  bsi repo status ws --keys
  bsi repo status ws --json | jq '.[] | select(.unsigned)'
  bsi repo status ws --keys --json | jq -r '.[] | select(.role == "timestamp") | .keys[].keyid'`,
		Run: func(ctx context.Context, e *env, args []string) error {
			fs := newFlags("repo status")
			asJSON := fs.Bool("json", false, "")
			withKeys := fs.Bool("keys", false, "")
			pos, err := parseFlags(fs, args)
			if err != nil {
				return err
			}
			w, err := openRepo(ctx, e, pos)
			if err != nil {
				return err
			}
			defer w.Close()
			st, err := w.Status(ctx)
			if err != nil {
				return err
			}
			if *asJSON {
				if !*withKeys {
					for i := range st {
						st[i].Keys = nil
					}
				}
				return writeJSONTo(e, st)
			}
			if *withKeys {
				return printRepoKeys(e, st)
			}
			return printRepoStatus(e, st)
		},
	}
}

func printRepoStatus(e *env, st []repo.RoleStatus) error {
	tw := tabwriter.NewWriter(e.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ROLE\tVERSION\tEXPIRES\tLEFT\tSIGNATURES\tPENDING\tNOTES")
	for _, r := range st {
		var notes []string
		switch {
		case r.Expired:
			notes = append(notes, "EXPIRED")
		case r.Expiring:
			notes = append(notes, "EXPIRING")
		}
		if r.Unsigned && len(r.Missing) > 0 && r.Signatures < r.Threshold {
			notes = append(notes, "needs "+fmt.Sprint(r.Threshold-r.Signatures)+" of: "+repoShortList(r.Missing))
		}
		if p := r.Previous; p != nil {
			notes = append(notes, fmt.Sprintf("previous root keys %d/%d", p.Have, p.Threshold))
			if p.Have < p.Threshold {
				notes = append(notes, "needs "+fmt.Sprint(p.Threshold-p.Have)+" of: "+repoShortList(p.Missing))
			}
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%d/%d\t%s\t%s\n", r.Role, r.Version, r.Expires.UTC().Format(time.RFC3339),
			repoFormatLeft(r.Left), r.Signatures, r.Threshold, repoYesNo(r.Pending), strings.Join(notes, "; "))
	}
	return tw.Flush()
}

// printRepoKeys prints each role's keys, one line per key.
func printRepoKeys(e *env, st []repo.RoleStatus) error {
	tw := tabwriter.NewWriter(e.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ROLE\tTHRESHOLD\tKEYID\tTYPE/SCHEME\tSOURCE\tFULL KEYID")
	for _, r := range st {
		for i, k := range r.Keys {
			threshold := ""
			if i == 0 {
				threshold = fmt.Sprintf("%d of %d", r.Threshold, len(r.Keys))
			}
			source := printable(k.Source)
			if k.Source == "" {
				// An offline key given only as a signature, or added
				// before bsi recorded where keys came from.
				source = "offline " + printable(r.Role) + " key, file not recorded"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s/%s\t%s\t%s\n", r.Role, threshold, k.Short,
				printable(k.Type), printable(k.Scheme), source, k.KeyID)
		}
	}
	return tw.Flush()
}

func repoShortList(ids []string) string {
	var out []string
	for _, id := range ids {
		out = append(out, repoShort(id))
	}
	return strings.Join(out, ",")
}
