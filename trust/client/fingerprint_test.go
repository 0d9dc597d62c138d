package client

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"testing"
)

// TestEd25519FingerprintIsPKIX: the fingerprint that makes one key one
// vote is, for an ed25519 key, the SHA-256 of its PKIX encoding, as for
// every other key type (built without encoding/asn1).
func TestEd25519FingerprintIsPKIX(t *testing.T) {
	for range 20 {
		pub, _, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		k := &wireKey{KeyType: "ed25519", Scheme: "ed25519"}
		k.KeyVal.Public = hex.EncodeToString(pub)
		got, err := parseKey("id", k)
		if err != nil {
			t.Fatal(err)
		}
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		if got.fingerprint != sha256.Sum256(der) {
			t.Fatalf("fingerprint of %x: not the SHA-256 of its PKIX encoding %x", pub, der)
		}
	}
}
