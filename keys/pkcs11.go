package keys

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"

	"github.com/sigstore/sigstore/pkg/signature"

	p11 "github.com/bsiframework/bsi/keys/pkcs11"
)

// KindPKCS11 is a key held by a PKCS#11 token (an HSM, a YubiKey, SoftHSM),
// named by a "pkcs11:" URI (RFC 7512).
const KindPKCS11 Kind = "pkcs11"

// PKCS11Error is an error about one PKCS#11 key, named by its URI. The
// URI holds no secret (a URI with pin-value is refused, and Ref has any
// pin-value replaced by "***").
type PKCS11Error struct {
	Ref string
	Err error
}

func (e *PKCS11Error) Error() string { return "pkcs11 key " + e.Ref + ": " + e.Err.Error() }
func (e *PKCS11Error) Unwrap() error { return e.Err }

// IsPKCS11 reports whether ref is a PKCS#11 URI ("pkcs11:...").
func IsPKCS11(ref string) bool { return p11.IsURI(ref) }

// pkcs11PIN adapts a PasswordFunc to the PIN prompt of package pkcs11:
// the caller's PasswordFunc for a PKCS#11 URI returns the token's PIN.
func pkcs11PIN(password PasswordFunc) p11.PINFunc {
	if password == nil {
		return nil
	}
	return func(string) ([]byte, error) { return password(false) }
}

// openPKCS11 opens the token key named by ref and checks its public key
// (ECDSA P-256, RSA of 2048 bits or more, Ed25519).
func openPKCS11(ctx context.Context, ref string, password PasswordFunc) (*p11.Key, Type, error) {
	u, err := p11.Parse(ref)
	if err != nil {
		return nil, "", &PKCS11Error{Ref: p11.Redact(ref), Err: err}
	}
	k, err := p11.Open(ctx, u, pkcs11PIN(password))
	if err != nil {
		return nil, "", &PKCS11Error{Ref: ref, Err: pkcs11Unsupported(err)}
	}
	t, err := TypeOf(k.Public())
	if err != nil {
		k.Close()
		return nil, "", &PKCS11Error{Ref: ref, Err: err}
	}
	return k, t, nil
}

// pkcs11Unsupported turns the package's *UnsupportedKeyError into this
// package's, so that callers test for one type.
func pkcs11Unsupported(err error) error {
	var ue *p11.UnsupportedKeyError
	if errors.As(err, &ue) {
		return &UnsupportedKeyError{Found: ue.Found}
	}
	return err
}

// loadPKCS11Signer is LoadSigner for a PKCS#11 URI.
func loadPKCS11Signer(ctx context.Context, ref string, password PasswordFunc) (signature.Signer, error) {
	k, t, err := openPKCS11(ctx, ref, password)
	if err != nil {
		return nil, err
	}
	s := &pkcs11Signer{redaction: redaction("keys.Signer(pkcs11 " + ref + ")"), key: k, typ: t}
	if err := checkTUF(s); err != nil {
		k.Close()
		return nil, &PKCS11Error{Ref: ref, Err: err}
	}
	return s, nil
}

// pkcs11Signer signs with a token key under the TUF scheme of its type. It
// holds the token session until Close (or the end of the process).
type pkcs11Signer struct {
	redaction
	key *p11.Key
	typ Type
}

var (
	_ signature.Signer = (*pkcs11Signer)(nil)
	_ io.Closer        = (*pkcs11Signer)(nil)
)

func (s *pkcs11Signer) SignMessage(msg io.Reader, _ ...signature.SignOption) ([]byte, error) {
	data, err := io.ReadAll(msg)
	if err != nil {
		return nil, err
	}
	switch s.typ {
	case Ed25519:
		return s.key.Sign(nil, data, crypto.Hash(0))
	case ECDSA:
		d := sha256.Sum256(data)
		return s.key.Sign(nil, d[:], crypto.SHA256)
	default:
		d := sha256.Sum256(data)
		return s.key.Sign(nil, d[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256})
	}
}

func (s *pkcs11Signer) PublicKey(...signature.PublicKeyOption) (crypto.PublicKey, error) {
	return s.key.Public(), nil
}

// Close ends the signer's token session.
func (s *pkcs11Signer) Close() error { return s.key.Close() }

// GeneratedPKCS11 describes a key pair made on a token by GeneratePKCS11.
type GeneratedPKCS11 struct {
	URI    string           // the key's URI: the one given, with the id of the new key
	Public crypto.PublicKey // the public key
	Type   Type
}

// GeneratePKCS11 makes a key pair of type t on the token that the PKCS#11
// URI ref names, labelled with its object= (required), with its id= or a
// random id, and returns its public key and its full URI (with id=).
// password returns the token's PIN when the URI has no pin-source. It
// refuses, with an error wrapping pkcs11.ErrExists, when an object with the
// label or id is already on the token. RSA keys have 3072 bits. Errors are a
// *PKCS11Error wrapping the errors of pkcs11.Generate, or an
// *UnknownTypeError.
func GeneratePKCS11(ctx context.Context, ref string, t Type, password PasswordFunc) (*GeneratedPKCS11, error) {
	if _, err := ParseType(string(t)); err != nil {
		return nil, err
	}
	u, err := p11.Parse(ref)
	if err != nil {
		return nil, &PKCS11Error{Ref: p11.Redact(ref), Err: err}
	}
	k, err := p11.Generate(ctx, u, pkcs11PIN(password), p11.Algorithm(t))
	if err != nil {
		return nil, &PKCS11Error{Ref: ref, Err: err}
	}
	defer k.Close()
	got, err := TypeOf(k.Public())
	if err != nil || got != t {
		return nil, &PKCS11Error{Ref: ref, Err: fmt.Errorf("the token made a %s key (%v), want %s", got, err, t)}
	}
	u.ID = bytes.Clone(k.ID)
	return &GeneratedPKCS11{URI: u.String(), Public: k.Public(), Type: t}, nil
}
