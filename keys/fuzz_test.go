package keys

import (
	"crypto"
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParseKeyFile: no input makes the key file parser panic, and every
// key it accepts re-encodes to a file that parses to the same key.
func FuzzParseKeyFile(f *testing.F) {
	for _, typ := range Types() {
		var priv crypto.Signer
		if typ == RSA {
			priv, _ = rsaKey()
		} else {
			priv, _ = Generate(typ)
		}
		der, err := x509.MarshalPKCS8PrivateKey(priv)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(pemOf(pemPrivate, der))
		pub, _ := x509.MarshalPKIXPublicKey(priv.Public())
		f.Add(pemOf(pemPublic, pub))
	}
	if names, err := filepath.Glob("testdata/*"); err == nil {
		for _, n := range names {
			b, _ := os.ReadFile(n)
			f.Add(b)
		}
	}
	f.Add([]byte("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\ne30=\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n"))
	f.Add([]byte("-----BEGIN PUBLIC KEY-----\n"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, data []byte) {
		kf, err := parseKeyFile(data)
		if err != nil {
			return
		}
		switch kf.kind {
		case KindPublic:
			pub, err := kf.publicKey()
			if err != nil {
				return
			}
			der, err := x509.MarshalPKIXPublicKey(pub)
			if err != nil {
				t.Fatalf("accepted public key does not marshal: %v", err)
			}
			again, err := parseKeyFile(pemOf(pemPublic, der))
			if err != nil {
				t.Fatal(err)
			}
			pub2, err := again.publicKey()
			if err != nil || !equalKeys(pub2, pub) {
				t.Fatalf("public key round trip: %v", err)
			}
		case KindPrivate:
			if kf.encrypted {
				return // scrypt per input would make fuzzing crawl
			}
			priv, err := kf.privateKey(nil)
			if err != nil {
				return
			}
			der, err := x509.MarshalPKCS8PrivateKey(priv)
			if err != nil {
				t.Fatalf("accepted private key does not marshal: %v", err)
			}
			again, err := parseKeyFile(pemOf(pemPrivate, der))
			if err != nil {
				t.Fatal(err)
			}
			priv2, err := again.privateKey(nil)
			if err != nil || !equalKeys(priv2.Public(), priv.Public()) {
				t.Fatalf("private key round trip: %v", err)
			}
			if _, err := NewSigner(priv2); err != nil {
				t.Fatalf("accepted private key makes no signer: %v", err)
			}
		}
	})
}
