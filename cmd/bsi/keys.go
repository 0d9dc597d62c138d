package main

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/bsiframework/bsi/keys"
	"github.com/bsiframework/bsi/transparency/witness"
)

// keysCommands is the "bsi keys" group: publishers' signing keys.
func keysCommands() []*command {
	return []*command{keysGenerateCommand(), keysShowCommand()}
}

const keysGenerateHelp = `Generates a signing key and writes two files: PATH, the private key (mode
0600, which bsi requires of private key files when it loads them), and
PATH.pub, the public key (PEM). Neither file may exist: keys are never
overwritten, and nothing is left behind when generation fails. A missing
directory of PATH is created, with mode 0700.

The private key is encrypted (scrypt + secretbox, sigstore's format) with a
password taken from BSI_KEY_PASSWORD_<NAME> (NAME: the base name of PATH,
upper-cased, other characters than A-Z and 0-9 as "_"), the file named by
BSI_KEY_PASSWORD_FILE, or BSI_KEY_PASSWORD, else asked twice on the
terminal (see bsi help). Writing it unencrypted needs
--insecure-no-password (tests, throwaway keys); none of those may then be
set.

Key types and their TUF signature schemes:
  ed25519  ed25519              (default; small, fast)
  ecdsa    ecdsa-sha2-nistp256  (NIST P-256, SHA-256)
  rsa      rsassa-pss-sha256    (RSA-3072, PSS; takes about a second)

Prints the type, TUF scheme, TUF key id and both file names on stdout.

With --pkcs11 URI the key pair is made on a hardware token (an HSM, a
YubiKey, SoftHSM) through its PKCS#11 module, and never leaves it. The URI
(RFC 7512) names the module, the token and the new key's label:
  pkcs11:token=LABEL;object=KEY-LABEL?module-path=/usr/lib/softhsm/libsofthsm2.so
(or module-name=softhsm2; id=%01%02 sets the key id, else a random one).
bsi refuses a label or id the token already holds. The token's PIN comes
from the URI's pin-source=file:/path (mode 0600), else BSI_PKCS11_PIN, else
the terminal; a PIN in the URI (pin-value) is refused. --out PATH, optional,
then names the public key file to write. It prints the key's full URI (with
its id): give that URI wherever bsi takes a key (repo init, sign, add...).
ed25519 needs a token with CKM_EDDSA (SoftHSM 2.6 has it; Debian 12's
ykcs11 2.2 does not); ecdsa (P-256) and rsa (3072 bits, signed with
RSA-PSS) work on every token. A YubiKey's keys live in fixed PIV slots:
make them with ykman and name them by id (docs/hardware-keys.md).

Flags:
  --type T                  ed25519, ecdsa or rsa (default ed25519)
  --out PATH                the private key file to create (required); with
                            --pkcs11, the public key file (optional)
  --pkcs11 URI              make the key on the PKCS#11 token URI names
  --insecure-no-password    write the private key unencrypted
  --vkey NAME               also print the key's note verifier keys
                            (ed25519 only): as the transparency log NAME
                            (its origin) and as the witness NAME
  --json                    print {"type","scheme","keyid","private",
                            "public","encrypted"} instead ("pkcs11": true
                            and private: the key's URI with --pkcs11;
                            "log_vkey" and "witness_vkey" with --vkey)

Examples:
  bsi keys generate --out root-1.key
  BSI_KEY_PASSWORD=... bsi keys generate --type ecdsa --out webkit-team.key
  bsi keys generate --type rsa --out targets.key --json
  bsi keys generate --out test.key --insecure-no-password
  bsi keys generate --out log.key --vkey example.org/bsi-log
  BSI_PKCS11_PIN=... bsi keys generate --type ecdsa --out root-1.pub \
      --pkcs11 'pkcs11:token=bsi-root-1;object=root-1?module-name=softhsm2'`

const keysShowHelp = `Describes a key without revealing it: whether it is a public key file, a
private key file (encrypted or not) or a KMS key, its type, its TUF
signature scheme and its TUF key id (the id that root and delegations list).

REF is a file path, a KMS key URI (awskms://, azurekms://, hashivault://,
and fakekms:// for tests) or a PKCS#11 URI of a key on a hardware token
(pkcs11:token=...;object=...?module-path=...: see bsi keys generate -h; its
PIN comes from pin-source, else BSI_PKCS11_PIN, else the terminal). For an encrypted private key file the password
comes from BSI_KEY_PASSWORD_<NAME>, BSI_KEY_PASSWORD_FILE or
BSI_KEY_PASSWORD, else the terminal (see bsi help); an unencrypted or
public key file never asks for one.

A private key file, encrypted or not, must be readable by its owner only
(mode 0600 or 0400): bsi refuses one that group or others may access, here
and wherever it loads a signing key (repo init, sign, publish...), with
exit code 1 and the hint "chmod 600 FILE". A key file must be a regular
file (not a directory, pipe or device). Public key files may have any mode.

With --vkey NAME, for an ed25519 key, it also prints the key's C2SP
signed-note verifier keys: "log vkey" as the transparency log NAME (NAME
is the log's origin; give it to "bsi witness serve --log") and "witness
vkey" as the witness NAME (cosignature/v1; give it to "bsi repo
tlog-enable --witness NAME=VKEY@URL"). Any other key type is refused.

Flags:
  --vkey NAME  also print the note verifier keys of the key named NAME
  --json   print {"ref","kind","encrypted","type","scheme","keyid",
           "tuf_key"} instead; tuf_key is the key as TUF metadata lists it;
           "log_vkey" and "witness_vkey" with --vkey

Examples:
  bsi keys show root-1.key.pub
  bsi keys show root-1.key
  bsi keys show --vkey witness-1.example.org w1.key.pub
  bsi keys show --json awskms:///arn:aws:kms:eu-west-1:111122223333:key/1234abcd
  bsi keys show 'pkcs11:token=bsi-root-1;object=root-1?module-name=softhsm2'`

func keysGenerateCommand() *command {
	return &command{
		Name:    "keys generate",
		Args:    "[--type ed25519|ecdsa|rsa] (--out PATH [--insecure-no-password] | --pkcs11 URI [--out PUB]) [--json]",
		Summary: "create a key pair: PATH (private, encrypted) and PATH.pub",
		Help:    keysGenerateHelp,
		Run:     runKeysGenerate,
	}
}

// generatedKey is the --json output of "bsi keys generate".
type generatedKey struct {
	Type      keys.Type `json:"type"`
	Scheme    string    `json:"scheme"`
	KeyID     string    `json:"keyid"`
	Private   string    `json:"private"`
	Public    string    `json:"public"`
	Encrypted bool      `json:"encrypted"`
	PKCS11    bool      `json:"pkcs11,omitempty"` // private is a PKCS#11 URI
	noteVKeys
}

// noteVKeys are the C2SP signed-note verifier keys of an ed25519 key
// (--vkey NAME): as a transparency log's key and as a witness's key.
type noteVKeys struct {
	LogVKey     string `json:"log_vkey,omitempty"`
	WitnessVKey string `json:"witness_vkey,omitempty"`
}

// Signature algorithm bytes of C2SP signed-note verifier keys.
const (
	noteAlgEd25519       = 0x01 // signed-note Ed25519: a log's checkpoints
	noteAlgCosignatureV1 = 0x04 // tlog-cosignature v1: a witness's cosignatures
)

// keysNoteVKeys returns the verifier keys of pub named name; pub must be
// an ed25519 key.
func keysNoteVKeys(name string, pub crypto.PublicKey) (noteVKeys, error) {
	if !witness.ValidName(name) {
		return noteVKeys{}, usagef("--vkey %q: not a valid key name (non-empty, no spaces or \"+\")", name)
	}
	p, ok := pub.(ed25519.PublicKey)
	if !ok {
		return noteVKeys{}, fmt.Errorf("--vkey %s: the key is %T, not ed25519: log and witness keys are ed25519 (bsi keys generate --type ed25519)", name, pub)
	}
	return noteVKeys{LogVKey: witness.VerifierKey(name, noteAlgEd25519, p),
		WitnessVKey: witness.VerifierKey(name, noteAlgCosignatureV1, p)}, nil
}

func (v noteVKeys) print(w io.Writer) {
	if v.LogVKey != "" {
		fmt.Fprintf(w, "log vkey:     %s\nwitness vkey: %s\n", v.LogVKey, v.WitnessVKey)
	}
}

func runKeysGenerate(ctx context.Context, e *env, args []string) error {
	fl := newFlags("keys generate")
	typeName := fl.String("type", string(keys.Ed25519), "key type")
	out := fl.String("out", "", "private key file")
	noPassword := fl.Bool("insecure-no-password", false, "write the private key unencrypted")
	asJSON := fl.Bool("json", false, "print JSON")
	p11URI := fl.String("pkcs11", "", "PKCS#11 URI of the key to make on a token")
	vkeyName := fl.String("vkey", "", "print the note verifier keys named NAME")
	pos, err := parseFlags(fl, args)
	if err != nil {
		return err
	}
	if err := wantArgs(pos, 0, 0, ""); err != nil {
		return err
	}
	if *vkeyName != "" {
		switch {
		case !witness.ValidName(*vkeyName):
			return usagef("--vkey %q: not a valid key name (non-empty, no spaces or \"+\")", *vkeyName)
		case *p11URI != "":
			return usagef("--vkey does not apply to --pkcs11: run bsi keys show --vkey NAME URI once the key is made")
		case *typeName != string(keys.Ed25519):
			return usagef("--vkey: log and witness keys are ed25519, not %s", *typeName)
		}
	}
	if *p11URI != "" {
		typ, err := keys.ParseType(*typeName)
		if err != nil {
			return usagef("--type: %v", err)
		}
		if *noPassword {
			return usagef("--insecure-no-password does not apply to --pkcs11: the key never leaves the token")
		}
		if !keys.IsPKCS11(*p11URI) {
			return usagef("--pkcs11 %s: not a PKCS#11 URI (pkcs11:token=...;object=...?module-path=...)", *p11URI)
		}
		return runKeysGeneratePKCS11(ctx, e, *p11URI, typ, *out, *asJSON)
	}
	if *out == "" {
		return usagef("missing --out PATH")
	}
	typ, err := keys.ParseType(*typeName)
	if err != nil {
		return usagef("--type: %v", err)
	}
	if v, set := passwordSet(e, *out); *noPassword && set {
		return usagef("--insecure-no-password conflicts with %s, which is set", v)
	}
	// Refuse existing files before asking for a password.
	for _, p := range []string{*out, *out + keys.PublicSuffix} {
		if _, err := os.Lstat(p); err == nil {
			return withHint(&keys.FileError{Path: p, Err: fs.ErrExist},
				"keys are never overwritten: choose another --out, or move the old key away")
		}
	}
	var password []byte
	if !*noPassword {
		if password, err = keyPassword(e, *out, true); err != nil {
			return err
		}
	}
	priv, err := keys.Generate(typ)
	if err != nil {
		return err
	}
	made, err := keysMakeParent(*out)
	if err != nil {
		return err
	}
	if err := keys.WriteKeyPair(*out, priv, password); err != nil {
		if made != "" {
			os.RemoveAll(made) // nothing is left behind: only what was created here
		}
		return err
	}
	if made != "" {
		fmt.Fprintf(e.Stderr, "bsi: created directory %s (mode 0700)\n", made)
	}
	id, err := keys.KeyID(priv.Public())
	if err != nil {
		return err
	}
	scheme, _ := keys.Scheme(priv.Public())
	g := generatedKey{Type: typ, Scheme: scheme, KeyID: id, Private: *out,
		Public: *out + keys.PublicSuffix, Encrypted: password != nil}
	if *vkeyName != "" {
		if g.noteVKeys, err = keysNoteVKeys(*vkeyName, priv.Public()); err != nil {
			return err
		}
	}
	if *noPassword {
		fmt.Fprintf(e.Stderr, "bsi: warning: %s is not encrypted (--insecure-no-password)\n", *out)
	}
	if *asJSON {
		return writeJSONTo(e, g)
	}
	enc := "encrypted"
	if !g.Encrypted {
		enc = "NOT encrypted"
	}
	fmt.Fprintf(e.Stdout, "type:    %s\nscheme:  %s\nkeyid:   %s\nprivate: %s (%s)\npublic:  %s\n",
		g.Type, g.Scheme, g.KeyID, g.Private, enc, g.Public)
	g.print(e.Stdout)
	return nil
}

// keysMakeParent creates the directory that will hold the key file path,
// with mode 0700, when it does not exist, and returns the topmost directory
// it created ("" when it created none), so that a failure can remove it.
// A parent that exists but is not a directory is an error naming it.
func keysMakeParent(path string) (string, error) {
	dir := filepath.Dir(path)
	top := ""
	for d := dir; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err == nil {
			if !fi.IsDir() {
				return "", fmt.Errorf("key directory %s: not a directory, cannot hold %s", d, path)
			}
			break
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("key directory %s: %w", d, err)
		}
		top = d
		if filepath.Dir(d) == d {
			break
		}
	}
	if top == "" {
		return "", nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("creating key directory %s: %w", dir, err)
	}
	return top, nil
}

func keysShowCommand() *command {
	return &command{
		Name:    "keys show",
		Args:    "[--vkey NAME] [--json] PATH|URI",
		Summary: "print a key's kind, type, TUF scheme and TUF key id",
		Help:    keysShowHelp,
		Run:     runKeysShow,
	}
}

// shownKey is the --json output of "bsi keys show".
type shownKey struct {
	Ref       string        `json:"ref"`
	Kind      keys.Kind     `json:"kind"`
	Encrypted bool          `json:"encrypted"`
	Type      keys.Type     `json:"type"`
	Scheme    string        `json:"scheme"`
	KeyID     string        `json:"keyid"`
	TUFKey    *metadata.Key `json:"tuf_key"`
	noteVKeys
}

func runKeysShow(ctx context.Context, e *env, args []string) error {
	fl := newFlags("keys show")
	asJSON := fl.Bool("json", false, "print JSON")
	vkeyName := fl.String("vkey", "", "print the note verifier keys named NAME")
	pos, err := parseFlags(fl, args)
	if err != nil {
		return err
	}
	if err := wantArgs(pos, 1, 1, "key PATH or URI"); err != nil {
		return err
	}
	if *vkeyName != "" && !witness.ValidName(*vkeyName) {
		return usagef("--vkey %q: not a valid key name (non-empty, no spaces or \"+\")", *vkeyName)
	}
	ref := pos[0]
	info, err := keys.Inspect(ctx, ref, passwordFunc(e, ref))
	if err != nil {
		return keysHint(err)
	}
	var vk noteVKeys
	if *vkeyName != "" {
		if vk, err = keysNoteVKeys(*vkeyName, info.Public); err != nil {
			return err
		}
	}
	if *asJSON {
		return writeJSONTo(e, shownKey{Ref: info.Ref, Kind: info.Kind, Encrypted: info.Encrypted,
			Type: info.Type, Scheme: info.Scheme, KeyID: info.KeyID, TUFKey: info.TUFKey, noteVKeys: vk})
	}
	fmt.Fprintf(e.Stdout, "ref:     %s\nkind:    %s\ntype:    %s\nscheme:  %s\nkeyid:   %s\n",
		info.Ref, keysDescribeKind(info), info.Type, info.Scheme, info.KeyID)
	vk.print(e.Stdout)
	return nil
}

func keysDescribeKind(info *keys.Info) string {
	switch {
	case info.Kind == keys.KindPublic:
		return "public key file"
	case info.Kind == keys.KindKMS:
		return "kms key"
	case info.Kind == keys.KindPKCS11:
		return "pkcs11 key (on a token)"
	case info.Encrypted:
		return "private key file (encrypted)"
	default:
		return "private key file (NOT encrypted)"
	}
}

// keysHint adds a hint to the key errors a user can act on. A private key
// file open to group or others exits 1 (an operational error, like a
// missing file: the command line is right, the file is not).
func keysHint(err error) error {
	if h, ok := pkcs11Hint(err); ok {
		return h
	}
	var ue *keys.UnsupportedKeyError
	var pe *keys.PermissionError
	switch {
	case errors.As(err, &pe):
		return withHint(err, "chmod 600 %s", shellQuote(pe.Path))
	case errors.Is(err, keys.ErrNotRegular):
		return withHint(err, "a key file is a regular file, as \"bsi keys generate\" writes it")
	case errors.Is(err, keys.ErrWrongPassword):
		return withHint(err, "the password comes from %s_<NAME> (this key only), else the file %s names, else %s, else the terminal",
			passwordEnv, passwordFileEnv, passwordEnv)
	case errors.As(err, &ue):
		return withHint(err, "make a new key with \"bsi keys generate --type ed25519|ecdsa|rsa\"")
	case errors.Is(err, keys.ErrNotPEM), errors.Is(err, keys.ErrTruncated):
		return withHint(err, "a key file is one PEM block, as \"bsi keys generate\" writes it")
	}
	return err
}

// shellQuote quotes path for a shell command line when it needs it.
func shellQuote(path string) string {
	for _, r := range path {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/._-+,:@%=", r)) {
			return "'" + strings.ReplaceAll(path, "'", `'\''`) + "'"
		}
	}
	return path
}
