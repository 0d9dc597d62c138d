package keys

import (
	"crypto"
	"path/filepath"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// BenchmarkSignTargets: one go-tuf signature over a small targets file,
// per key type, with the signers LoadSigner returns.
func BenchmarkSignTargets(b *testing.B) {
	for _, typ := range Types() {
		b.Run(string(typ), func(b *testing.B) {
			priv := newKeyB(b, typ)
			s, err := NewSigner(priv)
			if err != nil {
				b.Fatal(err)
			}
			targets := metadata.Targets(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
			for b.Loop() {
				targets.Signatures = nil
				if _, err := targets.Sign(s); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkLoadSigner: loading a key file, unencrypted and encrypted
// (scrypt N=65536, r=8, p=1 dominates).
func BenchmarkLoadSigner(b *testing.B) {
	for _, enc := range []bool{false, true} {
		name := map[bool]string{false: "plain", true: "encrypted"}[enc]
		b.Run(name, func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "k")
			var pw []byte
			if enc {
				pw = testPassword
			}
			if err := WriteKeyPair(path, newKeyB(b, Ed25519), pw); err != nil {
				b.Fatal(err)
			}
			calls := 0
			for b.Loop() {
				if _, err := LoadSigner(b.Context(), path, staticPassword(testPassword, &calls)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func newKeyB(b *testing.B, typ Type) crypto.Signer {
	b.Helper()
	if typ == RSA {
		k, err := rsaKey()
		if err != nil {
			b.Fatal(err)
		}
		return k
	}
	k, err := Generate(typ)
	if err != nil {
		b.Fatal(err)
	}
	return k
}
