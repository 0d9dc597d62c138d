package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/bsiframework/bsi/keys"
	"github.com/bsiframework/bsi/trust/repo"
)

const repoInitHelp = `Creates a publisher workspace in DIR (which must not exist or be empty):
root and targets version 1, to be signed by their thresholds (bsi repo
sign), and the online snapshot and timestamp keys that publish uses.

Flags:
  --root-key PUB          a root public key (repeatable; a public key file,
                          a private key file, or a KMS URI)
  --root-threshold K      root signatures needed (default 1)
  --targets-key PUB       a targets public key (repeatable)
  --targets-threshold K   targets signatures needed (default 1)
  --snapshot-key KEY      the online snapshot key: private key file or KMS URI
  --timestamp-key KEY     the online timestamp key: private key file or KMS URI
  --rollout               add the online rollout role (staged rollout, see
                          bsi rollout start); needs --rollout-key
  --rollout-key KEY       the online rollout key: private key file or KMS URI
  --expires ROLE=D        expiry period of a role kind (repeatable): root
                          (default 365d), targets (90d), component (90d),
                          snapshot (7d), timestamp (1d)
  --hashes LIST           hashes each improvement lists (default sha256;
                          sha256,sha512 also lists sha512: one more published
                          name per payload, a hard link in a directory, a
                          second upload to an object store). Change it
                          later with bsi repo hashes.

The workspace holds workspace.json (which keys sign which role),
metadata/ (roles being edited and signed), content/ (payloads) and public/
(the default publish destination).

Examples:
  bsi repo init ws --root-key r1.pub --root-key r2.pub --root-key r3.pub \
      --root-threshold 2 --targets-key t.pub \
      --snapshot-key snapshot.key --timestamp-key awskms:///alias/bsi-ts
  bsi repo init ws --root-key r.pub --targets-key t.pub \
      --snapshot-key s.key --timestamp-key ts.key --expires timestamp=6h
  bsi repo init ws --root-key r.pub --targets-key t.pub \
      --snapshot-key s.key --timestamp-key ts.key --rollout --rollout-key rollout.key`

func repoInitCommand() *command {
	return &command{
		Name:    "repo init",
		Args:    "DIR --root-key PUB... --targets-key PUB... --snapshot-key KEY --timestamp-key KEY",
		Summary: "create a publisher workspace",
		Help:    repoInitHelp,
		Run:     runRepoInit,
	}
}

func runRepoInit(ctx context.Context, e *env, args []string) error {
	fs := newFlags("repo init")
	var rootKeys, targetsKeys, expires stringList
	fs.Var(&rootKeys, "root-key", "")
	fs.Var(&targetsKeys, "targets-key", "")
	fs.Var(&expires, "expires", "")
	rootT := fs.Int("root-threshold", 1, "")
	targetsT := fs.Int("targets-threshold", 1, "")
	snap := fs.String("snapshot-key", "", "")
	ts := fs.String("timestamp-key", "", "")
	withRollout := fs.Bool("rollout", false, "")
	rolloutKey := fs.String("rollout-key", "", "")
	hashes := fs.String("hashes", "sha256", "")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs(pos, 1, 1, "workspace directory DIR"); err != nil {
		return err
	}
	switch {
	case len(rootKeys) == 0:
		return usagef("missing --root-key")
	case len(targetsKeys) == 0:
		return usagef("missing --targets-key")
	case *snap == "" || *ts == "":
		return usagef("missing --snapshot-key or --timestamp-key")
	case *withRollout && *rolloutKey == "":
		return usagef("--rollout needs --rollout-key KEY (the online rollout key)")
	}
	in := repo.InitOptions{RootThreshold: *rootT, TargetsThreshold: *targetsT,
		SnapshotKey: repoAbsRef(*snap), TimestampKey: repoAbsRef(*ts), Expires: map[string]time.Duration{}}
	if *rolloutKey != "" {
		in.RolloutKey = repoAbsRef(*rolloutKey)
	}
	if in.Hashes, err = repo.ParseHashes(*hashes); err != nil {
		return usagef("--hashes: %v", err)
	}
	for _, x := range expires {
		role, d, ok := strings.Cut(x, "=")
		if !ok {
			return usagef("--expires %q: want ROLE=DURATION", x)
		}
		if in.Expires[role], err = repoParseDuration(d); err != nil {
			return err
		}
	}
	if in.RootKeys, err = repoLoadTUFKeys(ctx, e, rootKeys); err != nil {
		return err
	}
	if in.TargetsKeys, err = repoLoadTUFKeys(ctx, e, targetsKeys); err != nil {
		return err
	}
	w, err := repo.Init(ctx, pos[0], repoOptions(e), in)
	if err != nil {
		return err
	}
	defer w.Close()
	repoRecordSources(ctx, e, w, slices.Concat(rootKeys, targetsKeys), slices.Concat(in.RootKeys, in.TargetsKeys))
	fmt.Fprintf(e.Stdout, "initialised %s: root (%d of %d) and targets (%d of %d) wait for signatures\n",
		pos[0], *rootT, len(rootKeys), *targetsT, len(targetsKeys))
	if in.RolloutKey != "" {
		fmt.Fprintf(e.Stdout, "rollout role delegated (rollout/*/*), signed by its online key\n")
	}
	fmt.Fprintf(e.Stderr, "bsi: hint: next: bsi repo delegate %s --component NAME --key PUB, then bsi repo sign %s --key KEY\n", pos[0], pos[0])
	return nil
}

const repoDelegateHelp = `Delegates the paths COMPONENT/* from targets to a new component role signed
by the component team's keys. Targets and the new role are then pending
until signed. --bins N (a power of two) puts N succinct hash bins under the
component role for very large components; they are signed by the same keys.

Examples:
  bsi repo delegate ws --component webkit --key webkit-a.pub --key webkit-b.pub --threshold 2
  bsi repo delegate ws --component fonts --key fonts.pub --bins 256`

func repoDelegateCommand() *command {
	return &command{
		Name:    "repo delegate",
		Args:    "DIR --component NAME --key PUB... [--threshold K] [--bins N]",
		Summary: "delegate a component to its team's keys",
		Help:    repoDelegateHelp,
		Run: func(ctx context.Context, e *env, args []string) error {
			fs := newFlags("repo delegate")
			var keyRefs stringList
			fs.Var(&keyRefs, "key", "")
			comp := fs.String("component", "", "")
			threshold := fs.Int("threshold", 1, "")
			bins := fs.Int("bins", 0, "")
			pos, err := parseFlags(fs, args)
			if err != nil {
				return err
			}
			if *comp == "" || len(keyRefs) == 0 {
				return usagef("missing --component or --key")
			}
			w, err := openRepo(ctx, e, pos)
			if err != nil {
				return err
			}
			defer w.Close()
			ks, err := repoLoadTUFKeys(ctx, e, keyRefs)
			if err != nil {
				return err
			}
			if err := w.Delegate(ctx, *comp, repo.DelegateOptions{Keys: ks, Threshold: *threshold, Bins: *bins}); err != nil {
				return err
			}
			repoRecordSources(ctx, e, w, keyRefs, ks)
			fmt.Fprintf(e.Stdout, "delegated %s/* to %s (%d of %d keys", *comp, *comp, *threshold, len(ks))
			if *bins > 0 {
				fmt.Fprintf(e.Stdout, ", %d bins", *bins)
			}
			fmt.Fprintln(e.Stdout, "); targets needs signing")
			return nil
		},
	}
}

func repoUndelegateCommand() *command {
	return &command{
		Name:    "repo undelegate",
		Args:    "DIR --component NAME",
		Summary: "remove a component delegation",
		Help: `Removes the component role (and its bins) from targets. Its improvements
leave the next snapshot; payloads stay in the content store. Targets is then
pending until signed.

Example:
  bsi repo undelegate ws --component webkit`,
		Run: func(ctx context.Context, e *env, args []string) error {
			fs := newFlags("repo undelegate")
			comp := fs.String("component", "", "")
			pos, err := parseFlags(fs, args)
			if err != nil {
				return err
			}
			if *comp == "" {
				return usagef("missing --component")
			}
			w, err := openRepo(ctx, e, pos)
			if err != nil {
				return err
			}
			defer w.Close()
			if err := w.Undelegate(ctx, *comp); err != nil {
				return err
			}
			fmt.Fprintf(e.Stdout, "undelegated %s; targets needs signing\n", *comp)
			return nil
		},
	}
}

const repoRotateHelp = `Changes the keys or threshold of a role: root, targets, snapshot,
timestamp, or a component (its bins follow). The delegator gets a new
version: a root change becomes root N+1, which must be signed by a threshold
of the old root keys and of the new ones; clients reach it through the TUF
root chain. For snapshot and timestamp, --add-key is the new private key
(file or KMS URI): publish signs with it. With no change at all, the role is
re-issued with a new version and expiry. A threshold that the remaining keys
cannot reach is refused. The change is shown first (keys added and removed
with their ids, types and files, thresholds, version and expiry) and, on a
terminal, confirmed; --yes skips the question. --json prints one object:
{"summary": the change shown, "result": {"role","version","threshold",
"keyids"}} (the role's keys after the change). --remove-key takes a key id
or a prefix of one, or the key's file (public or private) or KMS URI:
bsi repo status DIR --keys lists each role's keys, and an unknown id is
refused with the role's key ids.

Examples:
  bsi repo rotate ws --role timestamp --add-key ts2.key --remove-key 3f2a9c01
  bsi repo rotate ws --role timestamp --add-key ts2.key --remove-key ts.key.pub
  bsi repo rotate ws --role root --add-key r4.pub --remove-key 9ab3e870
  bsi repo rotate ws --role webkit --add-key webkit-c.pub --threshold 2
  bsi repo rotate ws --role root      (re-issue root with a fresh expiry)`

func repoRotateCommand() *command {
	return &command{
		Name:    "repo rotate",
		Args:    "DIR --role ROLE [--add-key PUB]... [--remove-key KEYID|PUB]... [--threshold K] [--yes] [--json]",
		Summary: "change a role's keys or threshold",
		Help:    repoRotateHelp,
		Run: func(ctx context.Context, e *env, args []string) error {
			fs := newFlags("repo rotate")
			var add, remove stringList
			fs.Var(&add, "add-key", "")
			fs.Var(&remove, "remove-key", "")
			role := fs.String("role", "", "")
			threshold := fs.Int("threshold", 0, "")
			sf := addSignFlags(fs)
			pos, err := parseFlags(fs, args)
			if err != nil {
				return err
			}
			if *role == "" {
				return usagef("missing --role")
			}
			// The summary names each added key by its file.
			online := *role == "snapshot" || *role == "timestamp"
			names := map[string]string{}
			var added []*metadata.Key
			if !online {
				if added, err = repoLoadTUFKeys(ctx, e, add); err != nil {
					return err
				}
			}
			for i, k := range added {
				if id, err := k.ID(); err == nil {
					names[id] = filepath.Base(add[i])
				}
			}
			w, err := openRepoSigning(ctx, e, pos, sf, names)
			if err != nil {
				return err
			}
			defer w.Close()
			removeIDs, err := repoRemoveIDs(ctx, e, remove)
			if err != nil {
				return err
			}
			o := repo.RotateOptions{Remove: removeIDs, Threshold: *threshold}
			if online {
				for _, a := range add {
					o.AddRefs = append(o.AddRefs, repoAbsRef(a))
				}
			} else {
				o.Add = added
			}
			if err := w.Rotate(ctx, *role, o); err != nil {
				return repoRotateHint(ctx, w, *role, err)
			}
			repoRecordSources(ctx, e, w, add, added)
			res, err := repoRotateResult(ctx, w, *role)
			if err != nil {
				return err
			}
			return sf.done(e, res, "rotated %s: +%d key(s), -%d key(s); run bsi repo status %s --keys for its keys and what needs signing\n",
				*role, len(add), len(remove), pos[0])
		},
	}
}

// repoRemoveIDs turns each --remove-key into a key id: a key file (public
// or private; any path that exists) or a KMS URI gives its key's id, any
// other argument is a key id or a prefix of one.
func repoRemoveIDs(ctx context.Context, e *env, refs []string) ([]string, error) {
	var out []string
	for _, ref := range refs {
		if _, err := os.Stat(ref); err != nil && !keys.IsKMS(ref) {
			out = append(out, ref)
			continue
		}
		ks, err := repoLoadTUFKeys(ctx, e, []string{ref})
		if err != nil {
			return nil, fmt.Errorf("--remove-key %s: %w", ref, err)
		}
		id, err := ks[0].ID()
		if err != nil {
			return nil, fmt.Errorf("--remove-key %s: %w", ref, err)
		}
		out = append(out, id)
	}
	return out, nil
}

// rotateResult is the result of "bsi repo rotate --json": the role's keys
// after the change.
type rotateResult struct {
	Role      string   `json:"role"`
	Version   int64    `json:"version"`
	Threshold int      `json:"threshold"`
	KeyIDs    []string `json:"keyids"`
}

// repoRoleStatus returns the status of one role, or nil when the
// workspace has no such role.
func repoRoleStatus(ctx context.Context, w *repo.Workspace, role string) (*repo.RoleStatus, error) {
	st, err := w.Status(ctx)
	if err != nil {
		return nil, err
	}
	for i := range st {
		if st[i].Role == role {
			return &st[i], nil
		}
	}
	return nil, nil
}

func repoRotateResult(ctx context.Context, w *repo.Workspace, role string) (rotateResult, error) {
	r, err := repoRoleStatus(ctx, w, role)
	if err != nil || r == nil {
		return rotateResult{Role: role, KeyIDs: []string{}}, err
	}
	return rotateResult{Role: role, Version: r.Version, Threshold: r.Threshold, KeyIDs: r.KeyIDs}, nil
}

// repoRotateHint adds to a refused rotation the role's current keys, so
// that --remove-key can be given one of them.
func repoRotateHint(ctx context.Context, w *repo.Workspace, role string, err error) error {
	var re *repo.RoleError
	if !errors.As(err, &re) {
		return err
	}
	r, serr := repoRoleStatus(ctx, w, role)
	if serr != nil || r == nil {
		return err
	}
	var ks []string
	for _, k := range r.Keys {
		ks = append(ks, fmt.Sprintf("%s (%s/%s)", k.KeyID, k.Type, k.Scheme))
	}
	return withHint(err, "role %s has threshold %d of %d key(s): %s; --remove-key takes one of these ids or a prefix of it",
		role, r.Threshold, len(ks), strings.Join(ks, ", "))
}

const repoHashesHelp = `Shows, or with --set changes, the hashes that improvements added from now
on list (and under which each payload is published: one name per hash).
sha256 is always listed; sha512 may be added for clients that ask for it.
Improvements already listed keep their hashes: they are part of what was
signed.

Examples:
  bsi repo hashes ws
  bsi repo hashes ws --set sha256,sha512
  bsi repo hashes ws --set sha256`

func repoHashesCommand() *command {
	return &command{
		Name:    "repo hashes",
		Args:    "DIR [--set LIST]",
		Summary: "show or change the hashes new improvements list",
		Help:    repoHashesHelp,
		Run: func(ctx context.Context, e *env, args []string) error {
			fs := newFlags("repo hashes")
			set := fs.String("set", "", "")
			pos, err := parseFlags(fs, args)
			if err != nil {
				return err
			}
			var hs []string
			if *set != "" {
				if hs, err = repo.ParseHashes(*set); err != nil {
					return usagef("--set: %v", err)
				}
			}
			w, err := openRepo(ctx, e, pos)
			if err != nil {
				return err
			}
			defer w.Close()
			if hs != nil {
				if err := w.SetHashes(ctx, hs); err != nil {
					return err
				}
			}
			fmt.Fprintln(e.Stdout, strings.Join(w.Hashes(), ","))
			return nil
		},
	}
}
