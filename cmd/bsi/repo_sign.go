package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"strings"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/bsiframework/bsi/trust/repo"
)

const repoSignHelp = `Adds the key's signature to every role changed since the last publish
that the key is authorised for (or only to --role). A role is never signed
twice by one key. A root change is signed by the old root keys and by the new
ones: both thresholds must be met before publish.

On an air-gapped machine, --file signs an exported role file (bsi repo
export-role) in place, without a workspace; bring it back with bsi repo
import-signature.

Flags:
  --key KEY      private key file or KMS URI
  --role ROLE    sign only this role
  --file FILE    sign an exported role file instead of a workspace
  --keyid ID     with --file: the key id the role lists (default: computed)

Examples:
  bsi repo sign ws --key root-1.key
  bsi repo sign ws --key webkit-a.key --role webkit
  bsi repo sign --file root.json --key /media/usb/root-2.key`

func repoSignCommand() *command {
	return &command{
		name:    "repo sign",
		args:    "DIR --key KEY [--role ROLE] | --file FILE --key KEY",
		summary: "sign pending roles with a key",
		help:    repoSignHelp,
		run: func(ctx context.Context, e *env, args []string) error {
			fs := newFlags("repo sign")
			keyRef := fs.String("key", "", "")
			role := fs.String("role", "", "")
			file := fs.String("file", "", "")
			keyID := fs.String("keyid", "", "")
			pos, err := parseFlags(fs, args)
			if err != nil {
				return err
			}
			if *keyRef == "" {
				return usagef("missing --key")
			}
			if *file != "" {
				if err := wantArgs(pos, 0, 0, ""); err != nil {
					return err
				}
				return repoSignFile(ctx, e, *file, *keyRef, *keyID)
			}
			w, err := openRepo(ctx, e, pos)
			if err != nil {
				return err
			}
			defer w.Close()
			signers, err := repoLoadSigners(ctx, e, []string{*keyRef})
			if err != nil {
				return err
			}
			var roles []string
			if *role != "" {
				roles = []string{*role}
			}
			done, err := w.Sign(ctx, signers[0], roles...)
			if err != nil {
				return err
			}
			if len(done) == 0 {
				fmt.Fprintln(e.stdout, "nothing to sign: this key has already signed every role it may sign")
				return nil
			}
			fmt.Fprintf(e.stdout, "signed %s\n", strings.Join(done, ", "))
			return nil
		},
	}
}

func repoSignFile(ctx context.Context, e *env, file, keyRef, keyID string) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	signers, err := repoLoadSigners(ctx, e, []string{keyRef})
	if err != nil {
		return err
	}
	if keyID == "" {
		pub, err := signers[0].PublicKey()
		if err != nil {
			return err
		}
		k, err := repoTufKeyOf(pub)
		if err != nil {
			return err
		}
		keyID, _ = k.ID()
	}
	out, err := repo.SignFile(ctx, signers[0], data, keyID)
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	if err := repo.WriteOutputFile(file, out); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "signed %s with key %s\n", file, repoShort(keyID))
	return nil
}

func repoExportRoleCommand() *command {
	return &command{
		name:    "repo export-role",
		args:    "DIR --role ROLE --out FILE [--canonical FILE]",
		summary: "export a role for signing on an air-gapped machine",
		help: `Writes the role file (with the signatures it has) to --out, for signing
elsewhere with "bsi repo sign --file", and optionally the exact bytes a
signature covers (canonical JSON of "signed") to --canonical, for signing
with other tools. Prints the version and the key ids still missing.

Examples:
  bsi repo export-role ws --role root --out /media/usb/root.json
  bsi repo export-role ws --role targets --out t.json --canonical t.payload`,
		run: func(ctx context.Context, e *env, args []string) error {
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
			fmt.Fprintf(e.stdout, "exported %s v%d to %s; threshold %d; missing signatures from: %s\n",
				exp.Role, exp.Version, *out, exp.Threshold, strings.Join(missing, ", "))
			return nil
		},
	}
}

func repoImportSignatureCommand() *command {
	return &command{
		name:    "repo import-signature",
		args:    "DIR --role ROLE (--file FILE | --keyid ID --sig HEX)",
		summary: "import signatures made on another machine",
		help: `Adds signatures made elsewhere to a pending role: from a role file signed
with "bsi repo sign --file" (its content must be the workspace's), or one
signature given as --keyid and --sig (hex) over the exported canonical
bytes. Every signature is verified against the role's keys first; a bad or
unauthorised one is refused and nothing is added.

Examples:
  bsi repo import-signature ws --role root --file /media/usb/root.json
  bsi repo import-signature ws --role targets --keyid 9ab3e870... --sig 3045...`,
		run: func(ctx context.Context, e *env, args []string) error {
			fs := newFlags("repo import-signature")
			role := fs.String("role", "", "")
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
			w, err := openRepo(ctx, e, pos)
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
			fmt.Fprintf(e.stdout, "imported %d signature(s) into %s\n", n, *role)
			return nil
		},
	}
}
