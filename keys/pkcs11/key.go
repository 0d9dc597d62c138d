//go:build cgo

package pkcs11

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"

	"github.com/ThalesGroup/crypto11"
	p11 "github.com/miekg/pkcs11"
)

// Key is a private key on a token, open for signing: a crypto.Signer.
// For ECDSA and RSA keys Sign takes a digest (crypto11 signs with CKM_ECDSA
// and CKM_RSA_PKCS_PSS); for ed25519 keys it takes the message itself and
// crypto.Hash(0), as ed25519.PrivateKey does (CKM_EDDSA). Close releases
// the session; the key stays on the token.
type Key struct {
	t      *token
	handle p11.ObjectHandle
	c11    crypto11.Signer // ECDSA and RSA keys
	pub    crypto.PublicKey

	Label string // CKA_LABEL of the private key
	ID    []byte // CKA_ID of the private key
	Token string // the token's label
}

var _ crypto.Signer = (*Key)(nil)

// Open finds the private key that u names (object= and/or id=, type=
// private or absent) on the token that u names (token=, serial= or
// slot-id=, with module-path= or module-name=), logging in with the PIN
// from u's pin-source, else from pin. The key's public half is read from
// its public key object (or, for crypto11, a certificate with its id).
//
// Errors: a *URIError for a URI that does not name a module, a token or an
// object; a *ModuleError; a *TokenNotFoundError; ErrWrongPIN, ErrPINLocked
// or ErrNoPIN (wrapped with the token's label); an *ObjectNotFoundError; an
// *UnsupportedKeyError for a secret key, certificate or data object, or a
// private key of another type than RSA, EC or EdDSA (Ed25519); a
// *MechanismError for an Ed25519 key on a token without CKM_EDDSA; ErrNoCgo
// in a binary built without cgo. The caller checks the public key's curve
// and size.
func Open(ctx context.Context, u *URI, pin PINFunc) (*Key, error) {
	if u.Object == "" && len(u.ID) == 0 {
		return nil, &URIError{Attr: "object", Reason: "missing: name the key with object=LABEL (or id=)"}
	}
	if u.Type != "" && u.Type != TypePrivate {
		return nil, &URIError{Attr: "type", Reason: fmt.Sprintf("type=%s: bsi signs with a private key; use type=private or leave type out", u.Type)}
	}
	t, err := openToken(ctx, u, pin)
	if err != nil {
		return nil, err
	}
	k, err := t.findKey(u.Object, u.ID)
	if err != nil {
		t.close()
		return nil, err
	}
	return k, nil
}

// findKey returns the one private key with label and id.
func (t *token) findKey(label string, id []byte) (*Key, error) {
	hs, err := t.find(objectTemplate(label, id, p11.CKO_PRIVATE_KEY), 2)
	if err != nil {
		return nil, err
	}
	switch len(hs) {
	case 0:
		return nil, t.explainMissing(label, id)
	case 1:
	default:
		return nil, fmt.Errorf("token %q holds several private keys with %s: add id= to the URI", t.label, objectWant(label, id))
	}
	a, err := t.attrs(hs[0], p11.CKA_KEY_TYPE, p11.CKA_ID, p11.CKA_LABEL, p11.CKA_EC_PARAMS)
	if err != nil {
		return nil, err
	}
	k := &Key{t: t, handle: hs[0], ID: a[1], Label: string(a[2]), Token: t.label}
	switch kt := ulong(a[0]); kt {
	case p11.CKK_EC, p11.CKK_RSA:
		s, err := t.c11.FindKeyPair(nonEmpty(k.ID), nonEmpty([]byte(k.Label)))
		if err != nil {
			return nil, fmt.Errorf("token %q: key %s: %w", t.label, objectWant(k.Label, k.ID), err)
		}
		if s == nil {
			return nil, fmt.Errorf("token %q: key %s: its public key is not on the token", t.label, objectWant(k.Label, k.ID))
		}
		k.c11, k.pub = s, s.Public()
	case ckkECEdwards:
		if err := t.openEd25519(k, a[3]); err != nil {
			return nil, err
		}
	default:
		return nil, &UnsupportedKeyError{Found: keyTypeName(kt) + " private key"}
	}
	return k, nil
}

// openEd25519 checks an EdDSA private key's curve and the token's
// mechanism, and reads the public key.
func (t *token) openEd25519(k *Key, params []byte) error {
	if !isEd25519Params(params) {
		return &UnsupportedKeyError{Found: "EdDSA private key on another curve than Ed25519 (Ed448?)"}
	}
	if ok, err := t.hasMechanism(ckmEdDSA); err != nil {
		return err
	} else if !ok {
		return &MechanismError{Token: t.label, Mechanism: "CKM_EDDSA"}
	}
	tmpl := objectTemplate("", k.ID, p11.CKO_PUBLIC_KEY)
	if len(k.ID) == 0 {
		tmpl = objectTemplate(k.Label, nil, p11.CKO_PUBLIC_KEY)
	}
	tmpl = append(tmpl, p11.NewAttribute(p11.CKA_KEY_TYPE, ckkECEdwards))
	hs, err := t.find(tmpl, 2)
	if err != nil {
		return err
	}
	if len(hs) != 1 {
		return fmt.Errorf("token %q: key %s: found %d Ed25519 public keys with its id, want 1", t.label, objectWant(k.Label, k.ID), len(hs))
	}
	a, err := t.attrs(hs[0], p11.CKA_EC_POINT)
	if err != nil {
		return err
	}
	pub, err := ed25519Point(a[0])
	if err != nil {
		return fmt.Errorf("token %q: key %s: %w", t.label, objectWant(k.Label, k.ID), err)
	}
	k.pub = pub
	return nil
}

// explainMissing says why no private key has label and id: another kind
// of object has them (a secret key is unsupported), or nothing has.
func (t *token) explainMissing(label string, id []byte) error {
	hs, err := t.find(objectTemplate(label, id), 8)
	if err != nil {
		return err
	}
	for _, h := range hs {
		a, err := t.attrs(h, p11.CKA_CLASS)
		if err != nil {
			return err
		}
		switch ulong(a[0]) {
		case p11.CKO_SECRET_KEY:
			return &UnsupportedKeyError{Found: fmt.Sprintf("%s is a secret key (CKO_SECRET_KEY); bsi signs with an RSA, ECDSA P-256 or Ed25519 private key", objectWant(label, id))}
		case p11.CKO_CERTIFICATE, p11.CKO_DATA:
			continue
		case p11.CKO_PUBLIC_KEY:
			return fmt.Errorf("token %q holds only the public key %s, not its private key", t.label, objectWant(label, id))
		}
	}
	e := &ObjectNotFoundError{Want: objectWant(label, id), Token: t.label}
	priv, err := t.find(objectTemplate("", nil, p11.CKO_PRIVATE_KEY), 20)
	if err != nil {
		return err
	}
	for _, h := range priv {
		if a, err := t.attrs(h, p11.CKA_LABEL); err == nil {
			e.Present = append(e.Present, string(a[0]))
		}
	}
	return e
}

// Public returns the public key.
func (k *Key) Public() crypto.PublicKey { return k.pub }

// Sign signs with the key on the token. rand is not used: the token
// makes its own randomness.
func (k *Key) Sign(rand io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if k.t == nil {
		return nil, fmt.Errorf("token %q: key %s is closed", k.Token, objectWant(k.Label, k.ID))
	}
	if k.c11 != nil {
		sig, err := k.c11.Sign(rand, digest, opts)
		if err != nil {
			return nil, fmt.Errorf("token %q: signing with %s: %w", k.Token, objectWant(k.Label, k.ID), err)
		}
		return sig, nil
	}
	if opts.HashFunc() != crypto.Hash(0) {
		return nil, errors.New("ed25519 signs the message itself: want crypto.Hash(0)")
	}
	t := k.t
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.raw.SignInit(t.sh, []*p11.Mechanism{p11.NewMechanism(ckmEdDSA, nil)}, k.handle); err != nil {
		return nil, fmt.Errorf("token %q: signing with %s: %w", k.Token, objectWant(k.Label, k.ID), err)
	}
	sig, err := t.raw.Sign(t.sh, digest)
	if err != nil {
		return nil, fmt.Errorf("token %q: signing with %s: %w", k.Token, objectWant(k.Label, k.ID), err)
	}
	return sig, nil
}

// Close ends the key's session and releases the module (finalised when no
// other key of this process uses it).
func (k *Key) Close() error {
	if k.t != nil {
		k.t.close()
		k.t = nil
	}
	return nil
}

// Generate makes a key pair of type alg on the token u names, labelled
// with u's object (required) and with u's id, or a random 16-byte id when
// u has none. The private key is sensitive and not extractable. It refuses
// (ErrExists) when any object on the token already has the label or the
// id. Errors otherwise as Open, and a *MechanismError when the token
// cannot generate alg.
func Generate(ctx context.Context, u *URI, pin PINFunc, alg Algorithm) (*Key, error) {
	if u.Object == "" {
		return nil, &URIError{Attr: "object", Reason: "missing: a new key needs a label, object=LABEL"}
	}
	if u.Type != "" && u.Type != TypePrivate {
		return nil, &URIError{Attr: "type", Reason: fmt.Sprintf("type=%s: a new key pair is named by its private key; use type=private or leave type out", u.Type)}
	}
	switch alg {
	case Ed25519, ECDSA, RSA:
	default:
		return nil, fmt.Errorf("unknown key type %q: want ed25519, ecdsa or rsa", alg)
	}
	t, err := openToken(ctx, u, pin)
	if err != nil {
		return nil, err
	}
	k, err := t.generate(u, alg)
	if err != nil {
		t.close()
		return nil, err
	}
	return k, nil
}

func (t *token) generate(u *URI, alg Algorithm) (*Key, error) {
	for _, tmpl := range [][]*p11.Attribute{objectTemplate(u.Object, nil), objectTemplate("", u.ID)} {
		if len(tmpl) == 0 {
			continue
		}
		hs, err := t.find(tmpl, 1)
		if err != nil {
			return nil, err
		}
		if len(hs) > 0 {
			return nil, fmt.Errorf("token %q: %s: %w", t.label, objectWant(u.Object, u.ID), ErrExists)
		}
	}
	id := u.ID
	if len(id) == 0 {
		id = make([]byte, 16)
		if _, err := rand.Read(id); err != nil {
			return nil, err
		}
	}
	label := []byte(u.Object)
	var err error
	switch alg {
	case ECDSA:
		_, err = t.c11.GenerateECDSAKeyPairWithLabel(id, label, elliptic.P256())
	case RSA:
		_, err = t.c11.GenerateRSAKeyPairWithLabel(id, label, RSABits)
	case Ed25519:
		err = t.generateEd25519(id, label)
	}
	if err != nil {
		return nil, fmt.Errorf("token %q: generating %s key %s: %w", t.label, alg, objectWant(u.Object, id), err)
	}
	return t.findKey(u.Object, id)
}

func (t *token) generateEd25519(id, label []byte) error {
	if ok, err := t.hasMechanism(ckmECEdwardsKeyPairGen); err != nil {
		return err
	} else if !ok {
		return &MechanismError{Token: t.label, Mechanism: "CKM_EC_EDWARDS_KEY_PAIR_GEN"}
	}
	params, _ := asn1.Marshal(oidEd25519)
	pub := []*p11.Attribute{
		p11.NewAttribute(p11.CKA_CLASS, p11.CKO_PUBLIC_KEY),
		p11.NewAttribute(p11.CKA_KEY_TYPE, ckkECEdwards),
		p11.NewAttribute(p11.CKA_TOKEN, true),
		p11.NewAttribute(p11.CKA_VERIFY, true),
		p11.NewAttribute(p11.CKA_EC_PARAMS, params),
		p11.NewAttribute(p11.CKA_ID, id),
		p11.NewAttribute(p11.CKA_LABEL, label),
	}
	priv := []*p11.Attribute{
		p11.NewAttribute(p11.CKA_CLASS, p11.CKO_PRIVATE_KEY),
		p11.NewAttribute(p11.CKA_KEY_TYPE, ckkECEdwards),
		p11.NewAttribute(p11.CKA_TOKEN, true),
		p11.NewAttribute(p11.CKA_PRIVATE, true),
		p11.NewAttribute(p11.CKA_SIGN, true),
		p11.NewAttribute(p11.CKA_SENSITIVE, true),
		p11.NewAttribute(p11.CKA_EXTRACTABLE, false),
		p11.NewAttribute(p11.CKA_ID, id),
		p11.NewAttribute(p11.CKA_LABEL, label),
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	_, _, err := t.raw.GenerateKeyPair(t.sh, []*p11.Mechanism{p11.NewMechanism(ckmECEdwardsKeyPairGen, nil)}, pub, priv)
	return err
}

// oidEd25519 is id-Ed25519 (RFC 8410).
var oidEd25519 = asn1.ObjectIdentifier{1, 3, 101, 112}

// isEd25519Params reports whether CKA_EC_PARAMS names Ed25519: the OID
// id-Ed25519, or the PrintableString "edwards25519" that PKCS#11 3.0 also
// allows.
func isEd25519Params(b []byte) bool {
	var oid asn1.ObjectIdentifier
	if rest, err := asn1.Unmarshal(b, &oid); err == nil && len(rest) == 0 {
		return oid.Equal(oidEd25519)
	}
	var name string
	if rest, err := asn1.UnmarshalWithParams(b, &name, "printable"); err == nil && len(rest) == 0 {
		return name == "edwards25519"
	}
	return false
}

// ed25519Point decodes CKA_EC_POINT of an Ed25519 public key: a DER
// OCTET STRING of 32 bytes (PKCS#11 3.0), or the 32 bytes themselves (as
// some tokens return).
func ed25519Point(b []byte) (ed25519.PublicKey, error) {
	if len(b) == ed25519.PublicKeySize {
		return ed25519.PublicKey(b), nil
	}
	var pt []byte
	if rest, err := asn1.Unmarshal(b, &pt); err != nil || len(rest) != 0 || len(pt) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("CKA_EC_POINT of %d bytes is not an Ed25519 public key", len(b))
	}
	return ed25519.PublicKey(pt), nil
}

func keyTypeName(kt uint) string {
	switch kt {
	case p11.CKK_DSA:
		return "dsa"
	case p11.CKK_DH:
		return "dh"
	case p11.CKK_GOSTR3410:
		return "gost r 34.10"
	case 0x41: // CKK_EC_MONTGOMERY
		return "x25519/x448"
	}
	return fmt.Sprintf("key type %#x", kt)
}

// nonEmpty returns b, or nil when empty (crypto11 then does not match on it).
func nonEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}
