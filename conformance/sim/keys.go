package sim

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"fmt"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// KeyType names a key type and its spelling in metadata.
type KeyType string

// Key types the simulator signs with.
const (
	Ed25519 KeyType = "ed25519"
	// ECDSA is P-256 with keytype "ecdsa" (the current spelling).
	ECDSA KeyType = "ecdsa"
	// ECDSALegacy is P-256 with keytype "ecdsa-sha2-nistp256" (the legacy spelling).
	ECDSALegacy KeyType = "ecdsa-sha2-nistp256"
	// RSAPSS is RSA 2048 with scheme rsassa-pss-sha256.
	RSAPSS KeyType = "rsa"
)

// Key is a key pair: its metadata form, id and signer.
type Key struct {
	ID     string
	Key    *metadata.Key
	Signer signature.Signer
}

// NewKey generates a key of type typ.
func NewKey(typ KeyType) (*Key, error) {
	var (
		pub crypto.PublicKey
		s   signature.Signer
		err error
	)
	switch typ {
	case Ed25519:
		var priv ed25519.PrivateKey
		pub, priv, err = ed25519.GenerateKey(rand.Reader)
		if err == nil {
			s, err = signature.LoadSigner(priv, crypto.Hash(0))
		}
	case ECDSA, ECDSALegacy:
		var priv *ecdsa.PrivateKey
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err == nil {
			pub = priv.Public()
			s, err = signature.LoadSigner(priv, crypto.SHA256)
		}
	case RSAPSS:
		var priv *rsa.PrivateKey
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
		if err == nil {
			pub = priv.Public()
			s, err = signature.LoadRSAPSSSigner(priv, crypto.SHA256,
				&rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256})
		}
	default:
		return nil, fmt.Errorf("sim: unknown key type %q", typ)
	}
	if err != nil {
		return nil, fmt.Errorf("sim: generating %s key: %w", typ, err)
	}
	k, err := metadata.KeyFromPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("sim: %s public key: %w", typ, err)
	}
	if typ == ECDSALegacy {
		k.Type = string(ECDSALegacy)
	}
	id, err := k.ID()
	if err != nil {
		return nil, err
	}
	return &Key{ID: id, Key: k, Signer: s}, nil
}
