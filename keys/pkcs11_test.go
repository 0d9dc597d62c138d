//go:build cgo

package keys

import (
	"context"
	"crypto/elliptic"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	p11 "github.com/bsiframework/bsi/keys/pkcs11"
	"github.com/bsiframework/bsi/keys/pkcs11/softhsmtest"
)

// TestPKCS11 generates a key of each type on a SoftHSM2 token, loads it
// through LoadSigner by its URI, and checks that go-tuf verifies its
// signatures under the key id a file key of the same public key has;
// then that keys TUF would mislabel or that are too weak are refused.
// (One test: the module is initialised once per process.)
func TestPKCS11(t *testing.T) {
	h := softhsmtest.New(t)
	const token, pin = "bsi-keys", "4321"
	if err := h.InitToken(token, pin); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var pinCalls int
	password := staticPassword([]byte(pin), &pinCalls)
	for _, typ := range Types() {
		t.Run(string(typ), func(t *testing.T) {
			g, err := GeneratePKCS11(ctx, h.URI(token, "key-"+string(typ)), typ, password)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(g.URI, ";id=%") || g.Type != typ {
				t.Fatalf("GeneratePKCS11 = %+v, want the URI with the new id", g)
			}
			s, err := LoadSigner(ctx, g.URI, password)
			if err != nil {
				t.Fatal(err)
			}
			defer s.(io.Closer).Close()
			pub, _ := s.PublicKey()
			if !equalKeys(pub, g.Public) {
				t.Fatal("LoadSigner's public key differs from the generated one")
			}
			verifyWithGoTUF(t, s, pub)
			info, err := Inspect(ctx, g.URI, password)
			if err != nil {
				t.Fatal(err)
			}
			wantID, _ := KeyID(g.Public)
			if info.Kind != KindPKCS11 || info.Type != typ || info.KeyID != wantID {
				t.Fatalf("Inspect = %+v, want pkcs11 %s key %s", info, typ, wantID)
			}
			for _, v := range []string{"%v", "%+v", "%#v", "%s", "%x"} {
				if got := fmt.Sprintf(v, s); got != "keys.Signer(pkcs11 "+g.URI+")" {
					t.Fatalf("Sprintf(%s, signer) = %q", v, got)
				}
			}
		})
	}
	if pinCalls == 0 {
		t.Error("the PIN was never asked for")
	}

	if err := h.PutECDSA(token, pin, "p384", []byte{0x38}, elliptic.P384()); err != nil {
		t.Fatal(err)
	}
	if err := h.PutRSA(token, pin, "rsa1024", []byte{0x10}, 1024); err != nil {
		t.Fatal(err)
	}
	if err := h.PutAES(token, pin, "aes", []byte{0xae}); err != nil {
		t.Fatal(err)
	}
	for object, found := range map[string]string{
		"p384":    "ecdsa P-384",
		"rsa1024": "rsa 1024 bits",
		"aes":     "secret key (CKO_SECRET_KEY)",
	} {
		t.Run("refuses "+object, func(t *testing.T) {
			ref := h.URI(token, object)
			_, err := LoadSigner(ctx, ref, password)
			var ue *UnsupportedKeyError
			var pe *PKCS11Error
			if !errors.As(err, &ue) || !strings.Contains(ue.Found, found) || !errors.As(err, &pe) || pe.Ref != ref {
				t.Fatalf("LoadSigner(%s) = %v, want a *PKCS11Error wrapping an *UnsupportedKeyError (%s)", ref, err, found)
			}
		})
	}
	t.Run("pin-value", func(t *testing.T) {
		ref := h.URI(token, "key-ecdsa") + "&pin-value=" + pin
		_, err := LoadSigner(ctx, ref, password)
		var ue *p11.URIError
		if !errors.As(err, &ue) || ue.Attr != "pin-value" || strings.Contains(err.Error(), pin) {
			t.Fatalf("LoadSigner with pin-value = %v, want a *URIError on pin-value not repeating the PIN", err)
		}
	})
	t.Run("exists", func(t *testing.T) {
		_, err := GeneratePKCS11(ctx, h.URI(token, "key-ecdsa"), ECDSA, password)
		if !errors.Is(err, p11.ErrExists) {
			t.Fatalf("GeneratePKCS11 over an existing label = %v, want ErrExists", err)
		}
	})
}
