package keys

import (
	"context"
	"crypto"
	"crypto/rsa"
	"fmt"
	"io"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// LoadSigner returns a signer for the key named by ref: a private key file,
// a KMS URI (see IsKMS and KMSSchemes) or a PKCS#11 URI (see IsPKCS11; the
// signer then holds a token session and is an io.Closer). The signer uses the TUF scheme
// of its key: ed25519; ECDSA P-256 with SHA-256; RSA-PSS with SHA-256 and a
// salt as long as the hash. password is called only for an encrypted key
// file, or for the PIN of a token that needs one when the PKCS#11 URI has
// no pin-source. The context is used for every KMS request, including the later
// ones of the returned signer.
//
// Before returning, LoadSigner signs a small TUF root with the signer and
// verifies it with go-tuf, so a signer that go-tuf clients would reject
// (such as a KMS that signs RSA with PKCS#1 v1.5) fails here with
// ErrSchemeMismatch instead of producing unverifiable metadata.
//
// A private key file must be a regular file that only its owner may
// access (mode 0600 or 0400 on Unix): one that group or others may access
// is refused with a *PermissionError before it is decrypted or parsed.
//
// Errors for files are a *PermissionError, or a *FileError wrapping: the
// sentinels of LoadPublicKey, ErrWrongPassword, ErrNoPassword,
// ErrEmptyPassword, an error from password, a *KindError for a public key
// file, or an *UnsupportedKeyError. For URIs: an *UnknownKMSError, or a *KMSError
// wrapping the provider's error, an *UnsupportedKeyError or
// ErrSchemeMismatch. For PKCS#11 URIs: a *PKCS11Error wrapping the errors
// of pkcs11.Parse and pkcs11.Open (a *pkcs11.URIError, pkcs11.ErrWrongPIN,
// a *pkcs11.TokenNotFoundError, a *pkcs11.ObjectNotFoundError...), an
// *UnsupportedKeyError or ErrSchemeMismatch.
func LoadSigner(ctx context.Context, ref string, password PasswordFunc) (signature.Signer, error) {
	if IsPKCS11(ref) {
		return loadPKCS11Signer(ctx, ref, password)
	}
	if IsKMS(ref) {
		return loadKMSSigner(ctx, ref)
	}
	kf, err := readKeyFile(ref)
	if err != nil {
		return nil, err
	}
	priv, err := kf.privateKey(password)
	if err != nil {
		return nil, &FileError{Path: ref, Err: err}
	}
	s, err := NewSigner(priv)
	if err != nil {
		return nil, &FileError{Path: ref, Err: err}
	}
	if err := checkTUF(s); err != nil {
		return nil, &FileError{Path: ref, Err: err}
	}
	return s, nil
}

// NewSigner returns a signer for an in-memory private key (from Generate,
// say) with the TUF scheme of its type. Errors as TypeOf. The signer
// prints (with any fmt verb, and in slog records) as its key type and key
// id, never as the key.
func NewSigner(priv crypto.Signer) (signature.Signer, error) {
	if priv == nil {
		return nil, &UnsupportedKeyError{Found: "no key"}
	}
	t, err := TypeOf(priv.Public())
	if err != nil {
		return nil, err
	}
	var s signature.Signer
	switch t {
	case Ed25519:
		s, err = signature.LoadSigner(priv, crypto.Hash(0))
	case ECDSA:
		s, err = signature.LoadSigner(priv, crypto.SHA256)
	default:
		s, err = signature.LoadRSAPSSSigner(priv.(*rsa.PrivateKey), crypto.SHA256,
			&rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256})
	}
	if err != nil {
		return nil, err
	}
	return redact(s, priv.Public()), nil
}

// probeExpiry is the expiry of the root that checkTUF signs; it is never
// written anywhere and expiry is not part of the check.
var probeExpiry = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// checkTUF signs a root that lists the signer's key with go-tuf and
// verifies it with go-tuf, the way a client verifies metadata.
func checkTUF(s signature.Signer) error {
	pub, err := s.PublicKey()
	if err != nil {
		return fmt.Errorf("reading the public key: %w", err)
	}
	key, err := TUFKey(pub)
	if err != nil {
		return err
	}
	root := metadata.Root(probeExpiry)
	if err := root.Signed.AddKey(key, metadata.ROOT); err != nil {
		return err
	}
	rec := &recordingSigner{Signer: s}
	if _, err := root.Sign(rec); err != nil {
		if rec.err != nil {
			return fmt.Errorf("signing: %w", rec.err) // go-tuf hides the cause
		}
		return fmt.Errorf("signing: %w", err)
	}
	if err := root.VerifyDelegate(metadata.ROOT, root); err != nil {
		return fmt.Errorf("%w (%s): %v", ErrSchemeMismatch, key.Scheme, err)
	}
	return nil
}

// recordingSigner keeps the error of the last SignMessage, which go-tuf's
// Sign replaces with a generic one.
type recordingSigner struct {
	signature.Signer
	err error
}

func (r *recordingSigner) SignMessage(msg io.Reader, opts ...signature.SignOption) ([]byte, error) {
	sig, err := r.Signer.SignMessage(msg, opts...)
	r.err = err
	return sig, err
}

// Info describes a key reference without its secret.
type Info struct {
	Ref       string           // the path or URI given
	Kind      Kind             // public or private key file, or KMS key
	Encrypted bool             // a private key file that is encrypted
	Public    crypto.PublicKey // the public key
	Type      Type
	Scheme    string // TUF scheme
	KeyID     string // TUF key id
	TUFKey    *metadata.Key
}

// Inspect describes the key named by ref: a public key file, a private key
// file (password is called only when it is encrypted), a KMS URI (one
// request for its public key; nothing is signed) or a PKCS#11 URI (a
// login, with the PIN from password unless the URI has a pin-source;
// nothing is signed). Errors as LoadSigner and
// LoadPublicKey, except that any kind of key is accepted; a private key
// file is checked as LoadSigner checks it (*PermissionError).
func Inspect(ctx context.Context, ref string, password PasswordFunc) (*Info, error) {
	info := &Info{Ref: ref}
	if IsPKCS11(ref) {
		k, _, err := openPKCS11(ctx, ref, password)
		if err != nil {
			return nil, err
		}
		info.Kind, info.Public = KindPKCS11, k.Public()
		k.Close()
	} else if IsKMS(ref) {
		_, pub, err := openKMS(ctx, ref)
		if err != nil {
			return nil, err
		}
		info.Kind, info.Public = KindKMS, pub
	} else {
		kf, err := readKeyFile(ref)
		if err != nil {
			return nil, err
		}
		info.Kind, info.Encrypted = kf.kind, kf.encrypted
		if kf.kind == KindPublic {
			info.Public, err = kf.publicKey()
		} else {
			var priv crypto.Signer
			if priv, err = kf.privateKey(password); err == nil {
				info.Public = priv.Public()
			}
		}
		if err != nil {
			return nil, &FileError{Path: ref, Err: err}
		}
	}
	var err error
	if info.TUFKey, err = TUFKey(info.Public); err != nil {
		return nil, err
	}
	info.Type, _ = TypeOf(info.Public)
	info.Scheme = info.TUFKey.Scheme
	if info.KeyID, err = info.TUFKey.ID(); err != nil {
		return nil, err
	}
	return info, nil
}

// LoadPublicKeyRef returns the public key named by ref: a public key file,
// a private key file (password is called only when it is encrypted) or a
// KMS URI. Errors as Inspect.
func LoadPublicKeyRef(ctx context.Context, ref string, password PasswordFunc) (crypto.PublicKey, error) {
	info, err := Inspect(ctx, ref, password)
	if err != nil {
		return nil, err
	}
	return info.Public, nil
}
