package client

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
)

// TestAttackUnusableKeysNamed: a role whose keys this client cannot use
// (an RSA PKCS#1 v1.5 scheme, an ECDSA key in hex instead of PEM) is
// refused, and the SignatureError says which keys were unusable and why
// instead of only "0 of 2 required signatures (valid: none)".
func TestAttackUnusableKeysNamed(t *testing.T) {
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsaDER, _ := x509.MarshalPKIXPublicKey(&rk.PublicKey)
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecDER, _ := x509.MarshalPKIXPublicKey(&ek.PublicKey)
	key := func(typ, scheme, public string) *wireKey {
		k := &wireKey{KeyType: typ, Scheme: scheme}
		k.KeyVal.Public = public
		return k
	}
	keys := map[string]*wireKey{
		"1a2b3c4d5e6f7a8b": key("rsa", "rsa-pkcs1v15-sha256", string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: rsaDER}))),
		"9f8e7d6c5b4a3f2e": key("ecdsa", "ecdsa-sha2-nistp256", hex.EncodeToString(ecDER)),
	}
	r, err := newRoleKeys("root v1", "targets", []string{"1a2b3c4d5e6f7a8b", "9f8e7d6c5b4a3f2e", "00deadbeef00"}, 2, keys)
	if err != nil {
		t.Fatal(err)
	}
	err = r.verify("targets", 3, &envelope{Signed: []byte(`{"_type":"targets"}`),
		Signatures: []wireSignature{{KeyID: "1a2b3c4d5e6f7a8b", Sig: "00"}}})
	var se *SignatureError
	if !errors.As(err, &se) {
		t.Fatalf("verify: %v, want a *SignatureError", err)
	}
	for _, want := range []string{
		"key 1a2b3c4d5e6f… unusable: scheme rsa-pkcs1v15-sha256 (key type rsa) not supported",
		"key 9f8e7d6c5b4a… unusable: public key is not PEM",
		"key 00deadbeef00… unusable: not defined by the delegator",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if len(se.Unusable) != 3 {
		t.Errorf("Unusable = %q, want 3 entries", se.Unusable)
	}
}
