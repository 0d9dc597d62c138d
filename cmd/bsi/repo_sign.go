package main

import (
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/bsiframework/bsi/keys"
	"github.com/bsiframework/bsi/trust/repo"
)

const repoSignHelp = `Adds the key's signature to every role changed since the last publish
that the key is authorised for (or only to --role). A role is never signed
twice by one key. A root change is signed by the old root keys and by the new
ones: both thresholds must be met before publish.

Before it signs, it shows what the signature approves: for each role, the
change from its last published version (read from --published, default
DIR/public, and verified against the published delegator; a role never
published, or whose published version does not verify, is shown whole):
keys added and removed, thresholds, delegations, improvements added,
changed, withdrawn or removed with their sha256 and manifest fields, version
and expiry. On a terminal it then asks; "n" or end of input signs nothing.
Without a terminal the summary goes to stderr and signing proceeds.

On an air-gapped machine, --file signs an exported role file (bsi repo
export-role) in place, without a workspace; bring it back with bsi repo
import-signature. The officer's own copy of the last trusted root is
required (but for root version 1): a root file must be its version N+1, expire no sooner than
--min-expiry from now, lower no threshold, and the key must be one of the
new or the trusted root's root keys. A targets file must be signed by a
targets key of the trusted root, and --previous (its last version, kept by
the officer) shows the change against it and requires version N+1.

Flags:
  --key KEY                 private key file or KMS URI
  --role ROLE               sign only this role (with --file: the role type
                            the file must be, root or targets)
  --yes                     do not ask for confirmation
  --json                    print one JSON object on stdout: {"summary":
                            the change shown, "result": {"signed": [roles]}
                            (with --file: {"file","role","version","keyids"})}
  --known-key PUB           a public key file that names its key in the
                            summary (repeatable)
  --published DEST          where the last published versions are read
                            (directory or URL as for publish --to; default
                            DIR/public)
  --file FILE               sign an exported role file instead of a workspace
  --trusted-root FILE       with --file: the last trusted root (required)
  --previous FILE           with --file: the previous version of a targets
                            file, to compare with
  --min-expiry D            with --file: expiry floor (default 30d)
  --allow-threshold-down    with --file: accept a root that lowers a threshold
  --unsafe-no-previous-root with --file: sign without --trusted-root
  --keyid ID                with --file: the key id the role lists

Exit codes: 3 when the key is not authorised or the file does not chain
from the trusted root; 1 when nothing is pending or signing is declined.

Examples:
  bsi repo sign ws --key root-1.key
  bsi repo sign ws --key webkit-a.key --role webkit
  bsi repo sign --file /media/usb/root.json --trusted-root my/3.root.json \
      --key /media/usb/root-2.key`

func repoSignCommand() *command {
	return &command{
		Name:    "repo sign",
		Args:    "DIR --key KEY [--role ROLE] [--yes] [--json] | --file FILE --key KEY --trusted-root ROOT",
		Summary: "show pending changes and sign them with a key",
		Help:    repoSignHelp,
		Run:     runRepoSign,
	}
}

func runRepoSign(ctx context.Context, e *env, args []string) error {
	fs := newFlags("repo sign")
	keyRef := fs.String("key", "", "")
	role := fs.String("role", "", "")
	sf := addSignFlags(fs)
	var fo repoFileOptions
	fs.StringVar(&fo.file, "file", "", "")
	fs.StringVar(&fo.keyID, "keyid", "", "")
	fs.StringVar(&fo.trustedRoot, "trusted-root", "", "")
	fs.StringVar(&fo.previous, "previous", "", "")
	fs.Var(repoDurationFlag{&fo.minExpiry}, "min-expiry", "")
	fs.BoolVar(&fo.allowDown, "allow-threshold-down", false, "")
	fs.BoolVar(&fo.unsafe, "unsafe-no-previous-root", false, "")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if *keyRef == "" {
		return usagef("missing --key")
	}
	if fo.file != "" {
		if err := wantArgs(pos, 0, 0, ""); err != nil {
			return err
		}
		fo.keyRef, fo.role, fo.sf = *keyRef, *role, sf
		return repoSignFile(ctx, e, fo)
	}
	if fo.trustedRoot != "" || fo.previous != "" || fo.keyID != "" || fo.unsafe || fo.allowDown || fo.minExpiry != 0 {
		return usagef("--trusted-root, --previous, --keyid, --min-expiry, --allow-threshold-down and --unsafe-no-previous-root go with --file")
	}
	signers, err := repoLoadSigners(ctx, e, []string{*keyRef})
	if err != nil {
		return err
	}
	w, err := openRepoSigning(ctx, e, pos, sf, nil)
	if err != nil {
		return err
	}
	defer w.Close()
	var roles []string
	if *role != "" {
		roles = []string{*role}
	}
	done, err := w.Sign(ctx, signers[0], roles...)
	if err != nil {
		return err
	}
	if len(done) > 0 {
		repoRecordSigner(ctx, e, w, *keyRef, signers[0])
	}
	if done == nil {
		done = []string{}
	}
	res := signResult{Signed: done}
	if len(done) == 0 {
		return sf.done(e, res, "nothing to sign: this key has already signed every role it may sign\n")
	}
	return sf.done(e, res, "signed %s\n", strings.Join(done, ", "))
}

// signResult is the result of "bsi repo sign --json": the roles signed
// (empty when the key had signed every role it may sign).
type signResult struct {
	Signed []string `json:"signed"`
}

// signFileResult is the result of "bsi repo sign --file --json".
type signFileResult struct {
	File    string   `json:"file"`
	Role    string   `json:"role"`
	Version int64    `json:"version"`
	KeyIDs  []string `json:"keyids"`
}

// repoFileOptions are the flags of "repo sign --file".
type repoFileOptions struct {
	file, keyRef, keyID, role string
	trustedRoot, previous     string
	minExpiry                 time.Duration
	allowDown, unsafe         bool
	sf                        signFlags
}

// repoSignFile checks an exported role file against what the officer
// trusts, shows the change, asks, and signs it in place.
func repoSignFile(ctx context.Context, e *env, fo repoFileOptions) error {
	data, err := os.ReadFile(fo.file)
	if err != nil {
		return err
	}
	c := repo.FileCheck{Now: e.Now(), MinExpiry: fo.minExpiry, AllowThresholdDown: fo.allowDown,
		NoTrustedRootUnsafe: fo.unsafe, Role: fo.role, TUFKey: keys.TUFKey}
	if fo.trustedRoot != "" {
		if c.TrustedRoot, err = os.ReadFile(fo.trustedRoot); err != nil {
			return err
		}
	}
	if fo.previous != "" {
		if c.Previous, err = os.ReadFile(fo.previous); err != nil {
			return err
		}
	}
	signers, err := repoLoadSigners(ctx, e, []string{fo.keyRef})
	if err != nil {
		return err
	}
	pub, err := signers[0].PublicKey()
	if err != nil {
		return err
	}
	change, ids, err := repo.CheckFile(data, pub, c)
	if err != nil {
		return fmt.Errorf("%s: %w", fo.file, err)
	}
	if fo.keyID != "" {
		if !fo.unsafe && !slices.Contains(ids, fo.keyID) {
			return fmt.Errorf("%s: %w", fo.file, &repo.NotAuthorisedError{KeyID: fo.keyID, Role: change.Role})
		}
		ids = []string{fo.keyID}
	}
	if fo.unsafe && fo.trustedRoot == "" {
		fmt.Fprintln(e.Stderr, "bsi: warning: --unsafe-no-previous-root: the file is not checked against a trusted root")
	}
	s := &repo.Summary{Roles: []repo.RoleChange{*change}}
	names, err := fo.sf.keyNames(ctx, e, nil)
	if err != nil {
		return err
	}
	if err := repoConfirmer(e, fo.sf, names)(ctx, s); err != nil {
		return &repo.DeclinedError{Roles: []string{change.Role}, Err: err}
	}
	for _, id := range ids {
		if data, err = repo.SignFile(ctx, signers[0], data, id); err != nil {
			return fmt.Errorf("%s: %w", fo.file, err)
		}
	}
	if err := repo.WriteOutputFile(fo.file, data); err != nil {
		return err
	}
	return fo.sf.done(e, signFileResult{File: fo.file, Role: change.Role, Version: change.Version, KeyIDs: ids},
		"signed %s (%s v%d) with key %s\n", fo.file, change.Role, change.Version, repoShort(ids[0]))
}

func repoExportRoleCommand() *command {
	return &command{
		Name:    "repo export-role",
		Args:    "DIR --role ROLE --out FILE [--canonical FILE]",
		Summary: "export a role for signing on an air-gapped machine",
		Help: `Writes the role file (with the signatures it has) to --out, for signing
elsewhere with "bsi repo sign --file", and optionally the exact bytes a
signature covers (canonical JSON of "signed") to --canonical, for signing
with other tools. Prints the version and the key ids still missing.

Examples:
  bsi repo export-role ws --role root --out /media/usb/root.json
  bsi repo export-role ws --role targets --out t.json --canonical t.payload`,
		Run: func(ctx context.Context, e *env, args []string) error {
			fs := newFlags("repo export-role")
			role := fs.String("role", "", "")
			out := fs.String("out", "", "")
			canon := fs.String("canonical", "", "")
			pos, err := parseFlags(fs, args)
			if err != nil {
				return err
			}
			if *role == "" || *out == "" {
				return usagef("missing --role or --out")
			}
			w, err := openRepo(ctx, e, pos)
			if err != nil {
				return err
			}
			defer w.Close()
			exp, err := w.ExportRole(*role)
			if err != nil {
				return err
			}
			if err := repo.WriteOutputFile(*out, exp.Metadata); err != nil {
				return err
			}
			if *canon != "" {
				if err := repo.WriteOutputFile(*canon, exp.Canonical); err != nil {
					return err
				}
			}
			var missing []string
			for _, id := range exp.Missing {
				missing = append(missing, repoShort(id))
			}
			fmt.Fprintf(e.Stdout, "exported %s v%d to %s; threshold %d; missing signatures from: %s\n",
				exp.Role, exp.Version, *out, exp.Threshold, strings.Join(missing, ", "))
			return nil
		},
	}
}

func repoImportSignatureCommand() *command {
	return &command{
		Name:    "repo import-signature",
		Args:    "DIR --role ROLE (--file FILE | --keyid ID --sig HEX) [--yes] [--json]",
		Summary: "import signatures made on another machine",
		Help: `Adds signatures made elsewhere to a pending role: from a role file signed
with "bsi repo sign --file" (its content must be the workspace's), or one
signature given as --keyid and --sig (hex) over the exported canonical
bytes. Every signature is verified against the role's keys first; a bad or
unauthorised one is refused and nothing is added. The role's change since
its last published version is shown first, as by bsi repo sign (--yes,
--json).

Examples:
  bsi repo import-signature ws --role root --file /media/usb/root.json
  bsi repo import-signature ws --role targets --keyid 9ab3e870... --sig 3045...`,
		Run: func(ctx context.Context, e *env, args []string) error {
			fs := newFlags("repo import-signature")
			role := fs.String("role", "", "")
			sf := addSignFlags(fs)
			file := fs.String("file", "", "")
			keyID := fs.String("keyid", "", "")
			sig := fs.String("sig", "", "")
			pos, err := parseFlags(fs, args)
			if err != nil {
				return err
			}
			if *role == "" || (*file == "") == (*sig == "") || (*sig != "" && *keyID == "") {
				return usagef("need --role and either --file or --keyid with --sig")
			}
			w, err := openRepoSigning(ctx, e, pos, sf, nil)
			if err != nil {
				return err
			}
			defer w.Close()
			var n int
			if *file != "" {
				data, err := os.ReadFile(*file)
				if err != nil {
					return err
				}
				n, err = w.ImportFile(ctx, *role, data)
				if err != nil {
					return err
				}
			} else {
				raw, err := hex.DecodeString(strings.TrimSpace(*sig))
				if err != nil {
					return usagef("--sig: not hex: %v", err)
				}
				if n, err = w.ImportSignatures(ctx, *role, []metadata.Signature{{KeyID: *keyID, Signature: raw}}); err != nil {
					return err
				}
			}
			return sf.done(e, importResult{Role: *role, Imported: n}, "imported %d signature(s) into %s\n", n, *role)
		},
	}
}

// importResult is the result of "bsi repo import-signature --json".
type importResult struct {
	Role     string `json:"role"`
	Imported int    `json:"imported"`
}

// signFlags are the flags of every signing command: --yes skips the
// confirmation, --json prints the summary as JSON on stdout.
type signFlags struct {
	yes, json *bool
	known     *stringList // --known-key: public key files that name keys in the summary
	published *string     // --published: where the last published versions are read
	// shown collects, with --json, every summary shown, for the one JSON
	// object the command prints when it is done (see signOutput).
	shown *repo.Summary
}

func addSignFlags(fs *flag.FlagSet) signFlags {
	sf := signFlags{yes: fs.Bool("yes", false, ""), json: fs.Bool("json", false, ""), known: &stringList{},
		published: fs.String("published", "", ""), shown: &repo.Summary{Roles: []repo.RoleChange{}}}
	fs.Var(sf.known, "known-key", "")
	return sf
}

// signOutput is the --json output of a signing command: the change each
// signature approved (the summary shown before signing) and what the
// command did.
type signOutput struct {
	Summary *repo.Summary `json:"summary"`
	Result  any           `json:"result"`
}

// done prints the command's outcome: with --json one object holding the
// summary and result, else the text line.
func (sf signFlags) done(e *env, result any, text string, a ...any) error {
	if *sf.json {
		return writeJSONTo(e, signOutput{Summary: sf.shown, Result: result})
	}
	fmt.Fprintf(e.Stdout, text, a...)
	return nil
}

// keyNames maps the key id of every --known-key file to its base name,
// added to names.
func (sf signFlags) keyNames(ctx context.Context, e *env, names map[string]string) (map[string]string, error) {
	out := map[string]string{}
	for id, n := range names {
		out[id] = n
	}
	ks, err := repoLoadTUFKeys(ctx, e, *sf.known)
	if err != nil {
		return nil, err
	}
	for i, k := range ks {
		if id, err := k.ID(); err == nil {
			out[id] = filepath.Base((*sf.known)[i])
		}
	}
	return out, nil
}

// openRepoSigning opens the workspace with a confirmation of every
// signature: the change is shown (names maps key ids to the files they
// came from, when known) and, on a terminal, approved.
func openRepoSigning(ctx context.Context, e *env, pos []string, sf signFlags, names map[string]string) (*repo.Workspace, error) {
	if err := wantArgs(pos, 1, 1, "workspace directory DIR"); err != nil {
		return nil, err
	}
	names, err := sf.keyNames(ctx, e, names)
	if err != nil {
		return nil, err
	}
	o := repoOptions(e)
	o.Confirm = repoConfirmer(e, sf, names)
	switch p := *sf.published; {
	case strings.Contains(p, "://"):
		d, closeDest, err := repo.OpenDestination(ctx, p)
		if err != nil {
			return nil, err
		}
		o.Published = d
		w, err := repo.Open(ctx, pos[0], o)
		if err != nil {
			closeDest()
			return nil, err
		}
		return w, nil // only read; it lives as long as the command
	case p != "":
		o.Published = readOnlyDir(p) // a directory destination would clean it up
	}
	return repo.Open(ctx, pos[0], o)
}

// readOnlyDir reads a published tree in a directory, and writes nothing.
type readOnlyDir string

func (d readOnlyDir) path(name string) (string, error) {
	if !fs.ValidPath(name) {
		return "", fmt.Errorf("%s: not a file name of the published tree", name)
	}
	return filepath.Join(string(d), filepath.FromSlash(name)), nil
}

func (d readOnlyDir) ReadFile(_ context.Context, name string) ([]byte, error) {
	p, err := d.path(name)
	if err != nil {
		return nil, err
	}
	return os.ReadFile(p)
}

func (d readOnlyDir) Exists(_ context.Context, name string) (bool, error) {
	p, err := d.path(name)
	if err != nil {
		return false, err
	}
	_, err = os.Stat(p)
	return err == nil, nil
}

func (d readOnlyDir) WriteFile(context.Context, string, []byte) error {
	return errors.New("--published is read only")
}

// errNotConfirmed is a confirmation answered with anything but yes.
var errNotConfirmed = errors.New("not confirmed")

// repoConfirmer shows a summary once per role version: with --json it is
// kept for the command's one JSON object on stdout, else printed as text
// on stderr; then, when stdin is a terminal and
// --yes is not given, asks on stderr and takes only "y" or "yes".
func repoConfirmer(e *env, sf signFlags, names map[string]string) func(context.Context, *repo.Summary) error {
	shown := map[string]bool{}
	return func(_ context.Context, s *repo.Summary) error {
		fresh := &repo.Summary{Roles: []repo.RoleChange{}}
		for _, c := range s.Roles {
			if k := fmt.Sprintf("%s@%d", c.Role, c.Version); !shown[k] {
				shown[k] = true
				fresh.Roles = append(fresh.Roles, c)
			}
		}
		if len(fresh.Roles) == 0 {
			return nil
		}
		fresh.NameKeys(names)
		if *sf.json {
			// Printed with the result, as one object, when the command
			// is done (signFlags.done).
			sf.shown.Roles = append(sf.shown.Roles, fresh.Roles...)
		} else {
			writeSummary(e.Stderr, fresh)
		}
		if *sf.yes || !e.StdinTerminal {
			return nil
		}
		fmt.Fprint(e.Stderr, "Sign this? [y/N] ")
		answer, err := readLine(e.Stdin)
		if err != nil && answer == "" {
			fmt.Fprintln(e.Stderr)
			return errNotConfirmed
		}
		if a := strings.ToLower(strings.TrimSpace(answer)); a != "y" && a != "yes" {
			return errNotConfirmed
		}
		return nil
	}
}

// readLine reads one line a byte at a time, so that nothing after it is
// consumed (a later prompt reads the rest).
func readLine(r io.Reader) (string, error) {
	var b strings.Builder
	buf := make([]byte, 1)
	for b.Len() < 256 {
		n, err := r.Read(buf)
		if n == 1 {
			if buf[0] == '\n' {
				return b.String(), nil
			}
			b.WriteByte(buf[0])
		}
		if err != nil {
			return b.String(), err
		}
	}
	return b.String(), nil
}

// writeSummary prints a summary as text. Every string from metadata is
// escaped (printable): a role file cannot drive the terminal.
func writeSummary(w io.Writer, s *repo.Summary) {
	for _, c := range s.Roles {
		p := printable
		fmt.Fprintf(w, "%s v%d", p(c.Role), c.Version)
		switch {
		case c.Unverified != "":
			fmt.Fprintf(w, " (last published version unverified: %s; shown whole)", p(c.Unverified))
		case c.New:
			fmt.Fprint(w, " (new: never published; shown whole)")
		default:
			fmt.Fprintf(w, " (was v%d)", c.PreviousVersion)
		}
		fmt.Fprintf(w, ", expires %s", c.Expires.UTC().Format(time.RFC3339))
		if c.PreviousExpires != nil {
			fmt.Fprintf(w, " (was %s)", c.PreviousExpires.UTC().Format(time.RFC3339))
		}
		fmt.Fprintln(w)
		for _, k := range c.Keys {
			fmt.Fprintf(w, "  key %-7s %s %s/%s", k.Change, p(k.KeyID), p(k.Type), p(k.Scheme))
			if k.Source != "" {
				fmt.Fprintf(w, " (%s)", p(k.Source))
			}
			if len(k.Roles) > 0 {
				fmt.Fprintf(w, " for %s", p(strings.Join(k.Roles, ", ")))
			}
			fmt.Fprintln(w)
		}
		for _, sc := range c.Signers {
			writeSigners(w, c.Type, sc)
		}
		for _, ic := range c.Improvements {
			writeImprovement(w, ic)
		}
		if len(c.Keys)+len(c.Improvements) == 0 && c.Type == "targets" && len(c.Signers) == 0 && !c.New {
			fmt.Fprintln(w, "  no change but version and expiry")
		}
	}
}

func writeSigners(w io.Writer, typ string, sc repo.SignersChange) {
	p := printable
	what := "role"
	if typ == "targets" {
		what = "delegation"
	}
	fmt.Fprintf(w, "  %s %s %s:", what, p(sc.Role), sc.Change)
	switch sc.Change {
	case repo.ChangeRemoved:
		fmt.Fprintf(w, " was %d of %s", sc.PreviousThreshold, repoIDList(sc.RemovedKeyIDs))
	default:
		fmt.Fprintf(w, " threshold %d", sc.Threshold)
		if sc.Change == repo.ChangeChanged && sc.PreviousThreshold != sc.Threshold {
			fmt.Fprintf(w, " (was %d", sc.PreviousThreshold)
			if sc.Threshold < sc.PreviousThreshold {
				fmt.Fprint(w, ", LOWERED")
			}
			fmt.Fprint(w, ")")
		}
		fmt.Fprintf(w, " of %d key(s) %s", len(sc.KeyIDs), repoIDList(sc.KeyIDs))
		if len(sc.AddedKeyIDs) > 0 && sc.Change != repo.ChangeAdded {
			fmt.Fprintf(w, ", added %s", repoIDList(sc.AddedKeyIDs))
		}
		if len(sc.RemovedKeyIDs) > 0 {
			fmt.Fprintf(w, ", removed %s", repoIDList(sc.RemovedKeyIDs))
		}
	}
	if len(sc.Paths) > 0 {
		fmt.Fprintf(w, ", paths %s", p(strings.Join(sc.Paths, " ")))
	}
	if sc.PreviousPaths != nil {
		fmt.Fprintf(w, " (was %s)", p(strings.Join(sc.PreviousPaths, " ")))
	}
	fmt.Fprintln(w)
}

func writeImprovement(w io.Writer, ic repo.ImprovementChange) {
	p := printable
	fmt.Fprintf(w, "  improvement %s %s sha256:%s %d bytes", ic.Change, p(ic.Target), p(ic.SHA256), ic.Length)
	if ic.PreviousSHA256 != "" {
		fmt.Fprintf(w, " (was sha256:%s)", p(ic.PreviousSHA256))
	}
	fmt.Fprintln(w)
	if ic.ManifestError != "" {
		fmt.Fprintf(w, "    manifest: %s\n", p(ic.ManifestError))
		return
	}
	fmt.Fprintf(w, "    id %s, component %s, platform %s, releases %s, sequence %d, status %s",
		p(ic.ID), p(ic.Component), p(ic.Platform), p(strings.Join(ic.Releases, ",")), ic.Sequence, p(ic.Status))
	if ic.Reason != "" {
		fmt.Fprintf(w, " (%s)", p(ic.Reason))
	}
	fmt.Fprintln(w)
}

func repoIDList(ids []string) string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = printable(repoShort(id))
	}
	return "[" + strings.Join(out, " ") + "]"
}
