package keys

import (
	"crypto"
	"crypto/dsa" //nolint:staticcheck // only to name DSA keys when refusing them
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"fmt"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// Type is a key type bsi generates and accepts.
type Type string

// Key types. Each implies one TUF signature scheme (see Scheme).
const (
	Ed25519 Type = "ed25519"
	ECDSA   Type = "ecdsa" // NIST P-256 with SHA-256
	RSA     Type = "rsa"   // RSA-PSS with SHA-256; generated with 3072 bits
)

const (
	// rsaBits is the size of generated RSA keys.
	rsaBits = 3072
	// minRSABits is the smallest RSA key accepted.
	minRSABits = 2048
)

// Types lists the key types in the order help texts show them.
func Types() []Type { return []Type{Ed25519, ECDSA, RSA} }

// ParseType returns the Type named s, or an *UnknownTypeError.
func ParseType(s string) (Type, error) {
	switch t := Type(s); t {
	case Ed25519, ECDSA, RSA:
		return t, nil
	}
	return "", &UnknownTypeError{Name: s}
}

// PasswordFunc returns the password of a key; confirm is true when creating
// one (an interactive implementation then asks twice). An error it returns
// is passed on, wrapped, by the function that called it.
type PasswordFunc func(confirm bool) ([]byte, error)

// Generate returns a new private key of type t: ed25519, ECDSA P-256 or
// RSA-3072 (RSA generation takes about a second). An unknown t gives an
// *UnknownTypeError.
func Generate(t Type) (crypto.Signer, error) {
	switch t {
	case Ed25519:
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		return priv, err
	case ECDSA:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case RSA:
		return rsa.GenerateKey(rand.Reader, rsaBits)
	}
	return nil, &UnknownTypeError{Name: string(t)}
}

// TypeOf returns the Type of a public key, or an *UnsupportedKeyError naming
// what was found (ECDSA on another curve than P-256, RSA below 2048 bits,
// DSA, X25519...). A private key given here is a *KindError.
func TypeOf(pub crypto.PublicKey) (Type, error) {
	switch k := pub.(type) {
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return "", &UnsupportedKeyError{Found: fmt.Sprintf("ed25519 key of %d bytes", len(k))}
		}
		return Ed25519, nil
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return "", &UnsupportedKeyError{Found: "ecdsa " + curveName(k.Curve)}
		}
		return ECDSA, nil
	case *rsa.PublicKey:
		if n := k.N.BitLen(); n < minRSABits {
			return "", &UnsupportedKeyError{Found: fmt.Sprintf("rsa %d bits", n)}
		}
		return RSA, nil
	case *dsa.PublicKey:
		return "", &UnsupportedKeyError{Found: "dsa"}
	case *ecdh.PublicKey:
		return "", &UnsupportedKeyError{Found: "ecdh " + fmt.Sprint(k.Curve())}
	case ed25519.PrivateKey, *ecdsa.PrivateKey, *rsa.PrivateKey, *ecdh.PrivateKey, *dsa.PrivateKey:
		return "", &KindError{Want: KindPublic, Found: KindPrivate}
	case nil:
		return "", &UnsupportedKeyError{Found: "no key"}
	}
	return "", &UnsupportedKeyError{Found: fmt.Sprintf("%T", pub)}
}

func curveName(c elliptic.Curve) string {
	if c == nil || c.Params() == nil {
		return "on an unknown curve"
	}
	return c.Params().Name
}

// Scheme returns the TUF signature scheme of a public key:
// "ed25519", "ecdsa-sha2-nistp256" or "rsassa-pss-sha256". Errors as TypeOf.
func Scheme(pub crypto.PublicKey) (string, error) {
	t, err := TypeOf(pub)
	if err != nil {
		return "", err
	}
	return t.scheme(), nil
}

func (t Type) scheme() string {
	switch t {
	case Ed25519:
		return metadata.KeySchemeEd25519
	case ECDSA:
		return metadata.KeySchemeECDSA_SHA2_P256
	default:
		return metadata.KeySchemeRSASSA_PSS_SHA256
	}
}

// TUFKey returns the TUF key of a public key exactly as go-tuf computes it
// (metadata.KeyFromPublicKey), after refusing the key types TUF clients
// would mislabel or that are too weak (errors as TypeOf).
func TUFKey(pub crypto.PublicKey) (*metadata.Key, error) {
	if _, err := TypeOf(pub); err != nil {
		return nil, err
	}
	return metadata.KeyFromPublicKey(pub)
}

// KeyID returns the TUF key id of a public key: the hex SHA-256 of the
// canonical JSON of its TUF key (errors as TypeOf).
func KeyID(pub crypto.PublicKey) (string, error) {
	k, err := TUFKey(pub)
	if err != nil {
		return "", err
	}
	return k.ID()
}
