package client

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
)

// pubKey is a parsed public key of a role.
type pubKey struct {
	id          string
	fingerprint [32]byte // SHA-256 of the PKIX encoding: one key, one vote
	verify      func(msg, sig []byte) bool
}

// parseKey turns a key of the metadata into a verifier. Key types and
// schemes are those of the TUF specification: ed25519, ecdsa-sha2-nistp256
// and -nistp384 (keytype "ecdsa" or the scheme name), rsassa-pss-sha256.
func parseKey(id string, k *wireKey) (*pubKey, error) {
	if k == nil {
		return nil, errors.New("not defined by the delegator")
	}
	var pub crypto.PublicKey
	var verify func(msg, sig []byte) bool
	switch {
	case k.KeyType == "ed25519" && k.Scheme == "ed25519":
		raw, err := hex.DecodeString(k.KeyVal.Public)
		if err != nil || len(raw) != ed25519.PublicKeySize {
			return nil, errors.New("bad ed25519 public key")
		}
		edk := ed25519.PublicKey(raw)
		pub = edk
		verify = func(msg, sig []byte) bool { return ed25519.Verify(edk, msg, sig) }
	case (k.KeyType == "ecdsa" || k.KeyType == k.Scheme) &&
		(k.Scheme == "ecdsa-sha2-nistp256" || k.Scheme == "ecdsa-sha2-nistp384"):
		ek, err := parsePEM[*ecdsa.PublicKey](k.KeyVal.Public)
		if err != nil {
			return nil, err
		}
		curve, h := elliptic.P256(), crypto.SHA256
		if k.Scheme == "ecdsa-sha2-nistp384" {
			curve, h = elliptic.P384(), crypto.SHA384
		}
		if ek.Curve != curve {
			return nil, fmt.Errorf("key curve does not match scheme %s", k.Scheme)
		}
		pub = ek
		verify = func(msg, sig []byte) bool { return ecdsa.VerifyASN1(ek, digest(h, msg), sig) }
	case k.KeyType == "rsa" && k.Scheme == "rsassa-pss-sha256":
		rk, err := parsePEM[*rsa.PublicKey](k.KeyVal.Public)
		if err != nil {
			return nil, err
		}
		// Section 4: "All RSA keys MUST be at least 2048 bits."
		if bits := rk.N.BitLen(); bits < 2048 {
			return nil, fmt.Errorf("rsa key of %d bits, below the 2048 the specification requires", bits)
		}
		pub = rk
		opts := &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto, Hash: crypto.SHA256}
		verify = func(msg, sig []byte) bool {
			return rsa.VerifyPSS(rk, crypto.SHA256, digest(crypto.SHA256, msg), sig, opts) == nil
		}
	default:
		return nil, fmt.Errorf("scheme %s (key type %s) not supported", k.Scheme, k.KeyType)
	}
	der, err := pkix(pub)
	if err != nil {
		return nil, err
	}
	return &pubKey{id: id, fingerprint: sha256.Sum256(der), verify: verify}, nil
}

// pkix returns what x509.MarshalPKIXPublicKey returns for pub; an ed25519
// key's is built by hand, without the reflection of encoding/asn1 (a
// refresh parses every key of the root).
func pkix(pub crypto.PublicKey) ([]byte, error) {
	if edk, ok := pub.(ed25519.PublicKey); ok {
		return append([]byte(ed25519PKIX), edk...), nil
	}
	return x509.MarshalPKIXPublicKey(pub)
}

// ed25519PKIX is the DER SubjectPublicKeyInfo of an ed25519 key up to the
// key's 32 bytes (RFC 8410): SEQUENCE, SEQUENCE { OID 1.3.101.112 },
// BIT STRING of 33 bytes, no unused bits.
const ed25519PKIX = "\x30\x2a\x30\x05\x06\x03\x2b\x65\x70\x03\x21\x00"

func parsePEM[K any](s string) (K, error) {
	var zero K
	block, _ := pem.Decode([]byte(s))
	if block == nil {
		return zero, errors.New("public key is not PEM (hex-encoded keys are not supported)")
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return zero, err
	}
	k, ok := pub.(K)
	if !ok {
		return zero, fmt.Errorf("public key is a %T", pub)
	}
	return k, nil
}

func digest(h crypto.Hash, msg []byte) []byte {
	if h == crypto.SHA384 {
		d := sha512.Sum384(msg)
		return d[:]
	}
	d := sha256.Sum256(msg)
	return d[:]
}

// roleKeys is what a delegator says about one role: its keys and threshold.
type roleKeys struct {
	signer    string // the delegating metadata, for errors: "root v3", "targets"
	keys      []*pubKey
	threshold int
	// unusable are the listed keys this client cannot verify with, and
	// why ("key 1a2b… unusable: scheme rsa-pkcs1v15-sha256 not
	// supported"): they cannot contribute a signature, and a
	// SignatureError names them so that a publisher sees the cause.
	unusable []string
}

// newRoleKeys resolves keyIDs against keys. Unknown or unsupported keys
// cannot contribute a signature; they are recorded in roleKeys.unusable
// for the SignatureError. A threshold below 1 is refused.
func newRoleKeys(signer, role string, keyIDs []string, threshold int, keys map[string]*wireKey) (*roleKeys, error) {
	if threshold < 1 {
		return nil, &DelegationError{Role: role, Delegator: signer, Reason: fmt.Sprintf("threshold %d is below 1", threshold)}
	}
	rk := &roleKeys{signer: signer, threshold: threshold}
	seen := map[string]bool{}
	for _, id := range keyIDs {
		if seen[id] {
			continue
		}
		seen[id] = true
		k, err := parseKey(id, keys[id])
		if err != nil {
			rk.unusable = append(rk.unusable, fmt.Sprintf("key %s unusable: %v", shortID(id), err))
			continue
		}
		rk.keys = append(rk.keys, k)
	}
	return rk, nil
}

// verify checks that env carries valid signatures by at least threshold
// distinct keys over the canonical form of its signed part (5.3.3,
// 5.4.2, 5.5.3, 5.6.3). Two key ids for the same public key, or two
// signatures by one key, count once.
func (rk *roleKeys) verify(role string, version int64, env *envelope) error {
	// The signature covers the canonical form of the signed part: the
	// bytes received when they are canonical already (as every signer
	// writes them), a canonical copy of them otherwise.
	msg := []byte(env.Signed)
	if !isCanonical(msg) {
		var err error
		msg, err = canonicalize(make([]byte, 0, len(env.Signed)), env.Signed)
		if err != nil {
			return &FormatError{Role: role, Err: err}
		}
	}
	sigs := map[string][][]byte{}
	for _, s := range env.Signatures {
		if b, err := hex.DecodeString(s.Sig); err == nil {
			sigs[s.KeyID] = append(sigs[s.KeyID], b)
		}
	}
	var valid []string
	var seen [][32]byte
	for _, k := range rk.keys {
		if slices.Contains(seen, k.fingerprint) {
			continue
		}
		for _, sig := range sigs[k.id] {
			if k.verify(msg, sig) {
				seen = append(seen, k.fingerprint)
				valid = append(valid, k.id)
				break
			}
		}
	}
	if len(seen) < rk.threshold {
		return &SignatureError{Role: role, Version: version, Signer: rk.signer,
			Have: len(seen), Threshold: rk.threshold, KeyIDs: valid, Unusable: rk.unusable}
	}
	return nil
}

// sameKeys reports whether two role definitions name the same keys and
// threshold: used to detect a rotation of timestamp or snapshot keys.
func sameKeys(a, b *roleKeys) bool {
	if a.threshold != b.threshold || len(a.keys) != len(b.keys) {
		return false
	}
	for _, k := range a.keys {
		if !slices.ContainsFunc(b.keys, func(o *pubKey) bool { return o.fingerprint == k.fingerprint }) {
			return false
		}
	}
	return true
}

// shortID is a key id as errors show it: its first 12 characters.
func shortID(id string) string { return id[:min(len(id), 12)] + "…" }

// KeyUsable reports whether this client can verify signatures with a key
// of the metadata (key type, scheme and public value as published): nil,
// or why not ("scheme rsa-pkcs1v15-sha256 (key type rsa) not supported",
// "public key is not PEM …"). An unusable key never counts towards a
// threshold. Auditors use it to show which keys devices cannot use.
func KeyUsable(keyType, scheme, public string) error {
	k := &wireKey{KeyType: keyType, Scheme: scheme}
	k.KeyVal.Public = public
	_, err := parseKey("", k)
	return err
}
