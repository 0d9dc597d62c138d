package keys

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/sigstore/sigstore/pkg/signature/kms/fake"

	p11 "github.com/bsiframework/bsi/keys/pkcs11"
)

// TestKMSRoundTrip loads each key type through fakekms:// and verifies its
// signatures with go-tuf. sigstore signs RSA KMS keys with PKCS#1 v1.5 in
// the fake provider (as Vault does), which TUF rejects: LoadSigner must
// refuse that signer rather than return it.
func TestKMSRoundTrip(t *testing.T) {
	for _, typ := range Types() {
		t.Run(string(typ), func(t *testing.T) {
			priv := newKey(t, typ)
			ctx := context.WithValue(t.Context(), fake.KmsCtxKey{}, priv)
			const ref = "fakekms://publisher/root-1"
			s, err := LoadSigner(ctx, ref, nil)
			if typ == RSA {
				var ke *KMSError
				if !errors.Is(err, ErrSchemeMismatch) || !errors.As(err, &ke) || ke.Ref != ref {
					t.Fatalf("LoadSigner = %v, want a *KMSError wrapping ErrSchemeMismatch", err)
				}
				if !strings.Contains(err.Error(), "rsassa-pss-sha256") {
					t.Errorf("message %q does not name the scheme", err)
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				pub, err := s.PublicKey()
				if err != nil || !equalKeys(pub, priv.Public()) {
					t.Fatalf("PublicKey = %v, %v", pub, err)
				}
				verifyWithGoTUF(t, s, pub)
			}
			// Inspect needs only the public key: it works for RSA too.
			info, err := Inspect(ctx, ref, nil)
			if err != nil {
				t.Fatal(err)
			}
			wantID, _ := KeyID(priv.Public())
			if info.Kind != KindKMS || info.Type != typ || info.KeyID != wantID || info.Encrypted {
				t.Errorf("Inspect = %+v, want kms %s key %s", info, typ, wantID)
			}
		})
	}
}

// TestKMSWithoutFixedKey: fakekms:// without a context key makes a random
// ECDSA P-256 key, which must work end to end.
func TestKMSWithoutFixedKey(t *testing.T) {
	s, err := LoadSigner(t.Context(), "fakekms://any", nil)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := s.PublicKey()
	if typ, err := TypeOf(pub); err != nil || typ != ECDSA {
		t.Fatalf("TypeOf = %q, %v", typ, err)
	}
	verifyWithGoTUF(t, s, pub)
}

func TestKMSUnsupportedKey(t *testing.T) {
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	ctx := context.WithValue(t.Context(), fake.KmsCtxKey{}, p384)
	for _, l := range []loader{loadSigner, inspect} {
		err := l.load(ctx, "fakekms://p384", nil)
		var ke *KMSError
		var ue *UnsupportedKeyError
		if !errors.As(err, &ke) || !errors.As(err, &ue) || ue.Found != "ecdsa P-384" {
			t.Errorf("%s: %v, want a *KMSError wrapping unsupported ecdsa P-384", l.name, err)
		}
	}
}

// TestPKCS11URIIsNotAKMSScheme: "pkcs11:" URIs go to package pkcs11,
// whose strict parser names what is wrong with "pkcs11://slot".
func TestPKCS11URIIsNotAKMSScheme(t *testing.T) {
	for _, l := range []loader{loadSigner, inspect} {
		err := l.load(t.Context(), "pkcs11://slot", nil)
		var ue *p11.URIError
		var pe *PKCS11Error
		if !errors.As(err, &ue) || ue.Attr != "//slot" || !errors.As(err, &pe) || pe.Ref != "pkcs11://slot" {
			t.Errorf("%s(pkcs11://slot): %v, want a *PKCS11Error wrapping a *pkcs11.URIError", l.name, err)
		}
	}
}

func TestUnknownKMSScheme(t *testing.T) {
	for _, ref := range []string{"foo://bar", "AWSKMS://key", "PKCS11://slot", "file://key.pem"} {
		for _, l := range []loader{loadSigner, inspect} {
			err := l.load(t.Context(), ref, nil)
			var ue *UnknownKMSError
			if !errors.As(err, &ue) {
				t.Errorf("%s(%s): %v, want *UnknownKMSError", l.name, ref, err)
				continue
			}
			if want := ref[:strings.Index(ref, "://")+3]; ue.Scheme != want {
				t.Errorf("%s(%s): scheme %q, want %q", l.name, ref, ue.Scheme, want)
			}
			if !slices.Equal(ue.Supported, KMSSchemes()) || !strings.Contains(err.Error(), "awskms://, ") {
				t.Errorf("%s(%s): %q does not list the schemes", l.name, ref, err)
			}
		}
	}
}

func TestKMSSchemes(t *testing.T) {
	got := KMSSchemes()
	for _, want := range []string{"awskms://", "azurekms://", "gcpkms://", "hashivault://", "fakekms://"} {
		if !slices.Contains(got, want) {
			t.Errorf("KMSSchemes() = %q lacks %q", got, want)
		}
	}
	if !slices.IsSorted(got) {
		t.Errorf("KMSSchemes() = %q is not sorted", got)
	}
}

func TestIsKMS(t *testing.T) {
	for ref, want := range map[string]bool{
		"awskms:///arn:aws:kms:eu-west-1:1:key/2": true,
		"hashivault://root-1":                     true,
		"fakekms://x":                             true,
		"foo+bar.baz-1://x":                       true,
		"root.key":                                false,
		"/etc/bsi/root.key":                       false,
		"./awskms://x":                            false,
		"C:\\keys\\root.key":                      false,
		"1abc://x":                                false,
		"awskms:/x":                               false,
		"pkcs11:token=t;object=o":                 true,
		"pkcs11:":                                 true,
		"./pkcs11:token=t":                        false,
		"PKCS11:token=t":                          false,
		"":                                        false,
	} {
		if got := IsKMS(ref); got != want {
			t.Errorf("IsKMS(%q) = %v, want %v", ref, got, want)
		}
	}
}
