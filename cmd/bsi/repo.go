package main

import (
	"context"
	"crypto"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/bsiframework/bsi/conformance"
	"github.com/bsiframework/bsi/keys"
	"github.com/bsiframework/bsi/trust/repo"
)

// repoCommands is the "bsi repo" group: the publisher's workspace. The
// commands are thin: every rule lives in package trust/repo.
func repoCommands() []*command {
	return []*command{
		repoInitCommand(), repoDelegateCommand(), repoUndelegateCommand(),
		repoAddCommand(), repoWithdrawCommand(), repoListCommand(),
		repoSignCommand(), repoExportRoleCommand(), repoImportSignatureCommand(),
		repoPublishCommand(), repoRefreshCommand(), repoKeepFreshCommand(),
		repoStatusCommand(), repoRotateCommand(), repoTlogCommand(), repoHashesCommand(),
	}
}

// repoOptions wires the workspace to the environment: clock, logger, and
// keys loaded through the keys package with the password from the
// environment or a prompt.
func repoOptions(e *env) repo.Options {
	return repo.Options{
		Now:    e.Now,
		Logger: e.Logger,
		LoadSigner: func(ctx context.Context, ref string) (signature.Signer, error) {
			s, err := keys.LoadSigner(ctx, ref, passwordFunc(e, ref))
			return s, keysHint(err)
		},
		TUFKey: keys.TUFKey,
	}
}

func passwordFunc(e *env, ref string) keys.PasswordFunc {
	if keys.IsPKCS11(ref) {
		return pkcs11PIN(e, ref)
	}
	return func(confirm bool) ([]byte, error) { return keyPassword(e, ref, confirm) }
}

// openRepo opens the workspace named by the first positional argument.
func openRepo(ctx context.Context, e *env, pos []string) (*repo.Workspace, error) {
	if err := wantArgs(pos, 1, 1, "workspace directory DIR"); err != nil {
		return nil, err
	}
	return repo.Open(ctx, pos[0], workspaceOptions(e, pos[0]))
}

// repoLoadSigners loads every --key reference.
func repoLoadSigners(ctx context.Context, e *env, refs []string) ([]signature.Signer, error) {
	var out []signature.Signer
	for _, ref := range refs {
		s, err := keys.LoadSigner(ctx, ref, passwordFunc(e, ref))
		if err != nil {
			return nil, keysHint(err)
		}
		out = append(out, s)
	}
	return out, nil
}

// repoLoadTUFKeys loads public keys (a public or private key file, or a KMS
// URI) in their TUF form.
func repoLoadTUFKeys(ctx context.Context, e *env, refs []string) ([]*metadata.Key, error) {
	var out []*metadata.Key
	for _, ref := range refs {
		pub, err := keys.LoadPublicKeyRef(ctx, ref, passwordFunc(e, ref))
		if err != nil {
			return nil, keysHint(err)
		}
		k, err := repoTufKeyOf(pub)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", ref, err)
		}
		out = append(out, k)
	}
	return out, nil
}

func repoTufKeyOf(pub crypto.PublicKey) (*metadata.Key, error) { return keys.TUFKey(pub) }

// repoRecordSources records in the workspace which file or KMS URI each
// key was given as (refs[i] for ks[i]), for repo status --keys. The
// command's own work is done by then: a failure is a warning, not an error.
func repoRecordSources(ctx context.Context, e *env, w *repo.Workspace, refs []string, ks []*metadata.Key) {
	sources := map[string]string{}
	for i, k := range ks {
		if id, err := k.ID(); err == nil && i < len(refs) {
			sources[id] = repoAbsRef(refs[i])
		}
	}
	if err := w.RecordKeySources(ctx, sources); err != nil {
		fmt.Fprintf(e.Stderr, "bsi: warning: recording where the keys came from (for repo status --keys): %v\n", err)
	}
}

// repoRecordSigner records the file or KMS URI a signer was loaded from.
func repoRecordSigner(ctx context.Context, e *env, w *repo.Workspace, ref string, s signature.Signer) {
	pub, err := s.PublicKey()
	if err != nil {
		return
	}
	if k, err := repoTufKeyOf(pub); err == nil {
		repoRecordSources(ctx, e, w, []string{ref}, []*metadata.Key{k})
	}
}

// repoAbsRef makes a key file reference absolute, so that the workspace finds
// it from any directory; KMS URIs are kept.
func repoAbsRef(ref string) string {
	if keys.IsKMS(ref) {
		return ref
	}
	if a, err := filepath.Abs(ref); err == nil {
		return a
	}
	return ref
}

// repoDestination returns --to, or DIR/public.
func repoDestination(ctx context.Context, dir, to string) (repo.Destination, func() error, error) {
	if to == "" {
		return repo.PublicDestination(dir)
	}
	return repo.OpenDestination(ctx, to)
}

// repoParseDuration accepts Go durations and a number of days ("90d").
func repoParseDuration(s string) (time.Duration, error) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(d)
		if err != nil || n <= 0 {
			return 0, usagef("bad duration %q (want e.g. 90d, 12h, 30m)", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	v, err := time.ParseDuration(s)
	if err != nil || v <= 0 {
		return 0, usagef("bad duration %q (want e.g. 90d, 12h, 30m)", s)
	}
	return v, nil
}

// repoDurationFlag is a flag holding a duration with day support.
type repoDurationFlag struct{ d *time.Duration }

func (f repoDurationFlag) String() string {
	if f.d == nil {
		return ""
	}
	return f.d.String()
}

func (f repoDurationFlag) Set(s string) error {
	v, err := repoParseDuration(s)
	if err != nil {
		return err
	}
	*f.d = v
	return nil
}

// repoFormatLeft prints a time left as days and hours, as the audit does.
func repoFormatLeft(d time.Duration) string { return conformance.FormatLeft(d) }

func repoShort(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
