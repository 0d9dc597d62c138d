package keys

import (
	"context"
	"crypto"
	"io"
	"regexp"
	"slices"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/kms"
	"github.com/sigstore/sigstore/pkg/signature/options"

	// The KMS providers compiled into bsi. fakekms:// is an in-memory key
	// for tests: the private key in the context value fake.KmsCtxKey{}, or
	// a fresh random ECDSA P-256 key at every load.
	_ "github.com/sigstore/sigstore/pkg/signature/kms/aws"
	_ "github.com/sigstore/sigstore/pkg/signature/kms/azure"
	_ "github.com/sigstore/sigstore/pkg/signature/kms/fake"
	_ "github.com/sigstore/sigstore/pkg/signature/kms/gcp"
	_ "github.com/sigstore/sigstore/pkg/signature/kms/hashivault"
)

// uriScheme matches the "scheme://" that starts a key URI.
var uriScheme = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*://`)

// IsKMS reports whether ref names a key by URI rather than by file path: a
// KMS key ("scheme://...") or a PKCS#11 key ("pkcs11:...", see IsPKCS11).
// The scheme may still be unknown: LoadSigner and Inspect report that as an
// *UnknownKMSError. (A key file whose name starts with "pkcs11:" is
// reached as "./pkcs11:...".)
func IsKMS(ref string) bool { return uriScheme.MatchString(ref) || IsPKCS11(ref) }

// KMSSchemes returns the URI schemes of the compiled-in KMS providers,
// sorted: "awskms://", "azurekms://", "fakekms://", "gcpkms://",
// "hashivault://" and
// the providers' alternative names.
func KMSSchemes() []string {
	s := kms.SupportedProviders()
	slices.Sort(s)
	return s
}

// openKMS resolves a key URI to its provider's signer and the public key.
// Only compiled-in providers are used: sigstore's fallback to
// "sigstore-kms-*" plugin programs found in PATH is never reached.
func openKMS(ctx context.Context, ref string) (kms.SignerVerifier, crypto.PublicKey, error) {
	scheme := uriScheme.FindString(ref)
	supported := KMSSchemes()
	if !slices.Contains(supported, scheme) {
		return nil, nil, &UnknownKMSError{Scheme: scheme, Supported: supported}
	}
	sv, err := kms.Get(ctx, ref, crypto.SHA256)
	if err != nil {
		return nil, nil, &KMSError{Ref: ref, Err: err}
	}
	pub, err := sv.PublicKey(options.WithContext(ctx))
	if err != nil {
		return nil, nil, &KMSError{Ref: ref, Err: err}
	}
	t, err := TypeOf(pub)
	if err != nil {
		return nil, nil, &KMSError{Ref: ref, Err: err}
	}
	if t == Ed25519 {
		// ed25519 signs the message itself, not a digest: providers
		// that honour the hash (Vault) need crypto.Hash(0).
		if sv, err = kms.Get(ctx, ref, crypto.Hash(0)); err != nil {
			return nil, nil, &KMSError{Ref: ref, Err: err}
		}
	}
	return sv, pub, nil
}

// loadKMSSigner is LoadSigner for a key URI.
func loadKMSSigner(ctx context.Context, ref string) (signature.Signer, error) {
	sv, pub, err := openKMS(ctx, ref)
	if err != nil {
		return nil, err
	}
	s := &kmsSigner{redaction: kmsRedaction(ref), sv: sv, ctx: ctx, pub: pub}
	if err := checkTUF(s); err != nil {
		return nil, &KMSError{Ref: ref, Err: err}
	}
	return s, nil
}

// kmsSigner passes LoadSigner's context to every request of a KMS signer
// and answers PublicKey without a request. It prints as its URI only.
type kmsSigner struct {
	redaction
	sv  kms.SignerVerifier
	ctx context.Context
	pub crypto.PublicKey
}

var _ signature.Signer = (*kmsSigner)(nil)

func (k *kmsSigner) SignMessage(msg io.Reader, opts ...signature.SignOption) ([]byte, error) {
	return k.sv.SignMessage(msg, append([]signature.SignOption{options.WithContext(k.ctx)}, opts...)...)
}

func (k *kmsSigner) PublicKey(...signature.PublicKeyOption) (crypto.PublicKey, error) {
	return k.pub, nil
}
