package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/bsiframework/bsi/keys"
	"github.com/bsiframework/bsi/keys/pkcs11"
)

// pinEnv names the environment variable that holds the PIN of PKCS#11
// tokens whose URI has no pin-source.
const pinEnv = "BSI_PKCS11_PIN"

// errNoPIN is returned when a token needs a PIN but none can be had.
var errNoPIN = errors.New("the token needs a PIN but the URI has no pin-source, " + pinEnv + " is not set, and stdin is not a terminal")

// pkcs11PIN returns the PIN source of the PKCS#11 key ref (used when its
// URI has no pin-source): BSI_PKCS11_PIN, else a prompt on the terminal
// naming the token. The PIN is never echoed or printed.
func pkcs11PIN(e *env, ref string) keys.PasswordFunc {
	return func(bool) ([]byte, error) {
		if p := e.Getenv(pinEnv); p != "" {
			return []byte(p), nil
		}
		if !e.StdinTerminal {
			return nil, errNoPIN
		}
		name := ref
		if u, err := pkcs11.Parse(ref); err == nil && u.Token != "" {
			name = fmt.Sprintf("token %q", u.Token)
		}
		fmt.Fprintf(e.Stderr, "PIN for %s: ", name)
		p, err := readPassword(int(os.Stdin.Fd()))
		fmt.Fprintln(e.Stderr)
		if err != nil {
			return nil, fmt.Errorf("reading the PIN: %w", err)
		}
		return p, nil
	}
}

// runKeysGeneratePKCS11 is "bsi keys generate --pkcs11 URI": the key pair
// is made on the token; out, when set, receives the public key (PEM).
func runKeysGeneratePKCS11(ctx context.Context, e *env, ref string, typ keys.Type, out string, asJSON bool) error {
	if out != "" {
		if _, err := os.Lstat(out); err == nil {
			return withHint(&keys.FileError{Path: out, Err: os.ErrExist}, "keys are never overwritten: choose another --out")
		}
	}
	g, err := keys.GeneratePKCS11(ctx, ref, typ, pkcs11PIN(e, ref))
	if err != nil {
		return keysHint(err)
	}
	if out != "" {
		made, err := keysMakeParent(out)
		if err != nil {
			return err
		}
		if err := keys.WritePublicKey(out, g.Public); err != nil {
			if made != "" {
				os.RemoveAll(made)
			}
			return fmt.Errorf("the key is on the token as %s, but writing its public key failed: %w", g.URI, err)
		}
	}
	id, err := keys.KeyID(g.Public)
	if err != nil {
		return err
	}
	scheme, _ := keys.Scheme(g.Public)
	res := generatedKey{Type: typ, Scheme: scheme, KeyID: id, Private: g.URI, Public: out, Encrypted: false, PKCS11: true}
	if asJSON {
		return writeJSONTo(e, res)
	}
	pub := out
	if pub == "" {
		pub = "(on the token; --out PATH writes it to a file)"
	}
	fmt.Fprintf(e.Stdout, "type:    %s\nscheme:  %s\nkeyid:   %s\nprivate: %s (on the token, not extractable)\npublic:  %s\n",
		typ, scheme, id, g.URI, pub)
	return nil
}

// pkcs11Hint adds a hint to the errors of PKCS#11 keys; a malformed or
// incomplete URI is a usage error (exit 2), the rest are operational
// (exit 1): none is a security failure.
func pkcs11Hint(err error) (error, bool) {
	var ue *pkcs11.URIError
	var te *pkcs11.TokenNotFoundError
	var oe *pkcs11.ObjectNotFoundError
	var me *pkcs11.ModuleError
	var fe *pkcs11.PINFileModeError
	switch {
	case errors.As(err, &ue):
		return withHint(&usageError{Msg: err.Error()},
			"a PKCS#11 key is named as pkcs11:token=LABEL;object=LABEL?module-path=/usr/lib/softhsm/libsofthsm2.so (see docs/hardware-keys.md)"), true
	case errors.Is(err, pkcs11.ErrWrongPIN):
		return withHint(err, "the PIN comes from the URI's pin-source, else %s, else the terminal; tokens lock the PIN after a few wrong ones", pinEnv), true
	case errors.Is(err, errNoPIN), errors.Is(err, pkcs11.ErrNoPIN):
		return withHint(err, "set %s, add pin-source=file:/path/to/pin-file to the URI, or run on a terminal", pinEnv), true
	case errors.Is(err, pkcs11.ErrPINLocked):
		return withHint(err, "the token's security officer must unlock the PIN (softhsm2-util or the token vendor's tool)"), true
	case errors.As(err, &te):
		return withHint(err, "list the tokens with: pkcs11-tool --module MODULE --list-token-slots (softhsm2-util --show-slots for SoftHSM)"), true
	case errors.As(err, &oe):
		return withHint(err, "make the key with: bsi keys generate --pkcs11 'URI' --type ed25519|ecdsa|rsa"), true
	case errors.As(err, &me):
		return withHint(err, "install the module (Debian: softhsm2, ykcs11, opensc) or fix module-path="), true
	case errors.As(err, &fe):
		return withHint(err, "chmod 600 %s", shellQuote(fe.Path)), true
	case errors.Is(err, pkcs11.ErrExists):
		return withHint(err, "a new key needs an object= label (and id=) that the token does not hold yet"), true
	}
	return err, false
}
