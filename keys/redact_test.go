package keys

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/kms/fake"
)

// secretForms lists the ways the private key priv could show up in text:
// its secret bytes (the ed25519 seed and 64-byte key, ECDSA D, the RSA
// primes and private exponent, the PKCS#8 DER) in hex, base64, base64url
// and as fmt prints a byte slice, and big integers in decimal.
func secretForms(priv crypto.Signer) map[string]string {
	secrets := map[string][]byte{}
	ints := map[string]string{}
	switch k := priv.(type) {
	case ed25519.PrivateKey:
		secrets["ed25519 seed"] = k.Seed()
		secrets["ed25519 key"] = k
	case *ecdsa.PrivateKey:
		b, _ := k.Bytes()
		secrets["ecdsa D"] = b
		ints["ecdsa D"] = k.D.String() //nolint:staticcheck // exactly what fmt would print
	case *rsa.PrivateKey:
		secrets["rsa d"] = k.D.Bytes()
		ints["rsa d"], ints["rsa p"] = k.D.String(), k.Primes[0].String()
	}
	if der, err := x509.MarshalPKCS8PrivateKey(priv); err == nil {
		secrets["pkcs8"] = der
	}
	forms := map[string]string{}
	for name, b := range secrets {
		forms[name+" hex"] = hex.EncodeToString(b)
		forms[name+" HEX"] = strings.ToUpper(hex.EncodeToString(b))
		forms[name+" base64"] = base64.RawStdEncoding.EncodeToString(b)
		forms[name+" base64url"] = base64.RawURLEncoding.EncodeToString(b)
		forms[name+" go bytes"] = strings.Trim(fmt.Sprint(b), "[]")
	}
	for name, v := range ints {
		forms[name+" decimal"] = v
	}
	return forms
}

// findSecret returns the name of the first form of the key found in out.
func findSecret(out string, forms map[string]string) (string, bool) {
	for name, f := range forms {
		if len(f) >= 16 && strings.Contains(out, f) {
			return name, true
		}
	}
	return "", false
}

// printings formats v with every verb that could reach its fields, and
// logs it with slog's text and JSON handlers.
func printings(v any) map[string]string {
	out := map[string]string{}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d"} {
		out[verb] = fmt.Sprintf(verb, v)
	}
	wrapped := fmt.Errorf("signing failed with %v: %w", v, errors.New("boom"))
	out["wrapped %+v"] = fmt.Sprintf("%+v", wrapped)
	out["in a struct %+v"] = fmt.Sprintf("%+v", struct{ Signer any }{v})
	out["in a struct %#v"] = fmt.Sprintf("%#v", struct{ Signer any }{v})
	var text, js bytes.Buffer
	slog.New(slog.NewTextHandler(&text, nil)).Info("loaded", "signer", v)
	slog.New(slog.NewJSONHandler(&js, nil)).Info("loaded", "signer", v)
	out["slog text"], out["slog json"] = text.String(), js.String()
	return out
}

// TestSignersNeverPrintKeys: the signers NewSigner and LoadSigner return
// (files, encrypted files, KMS) print as their description with every
// verb, in wrapped errors, in structs and in slog records; never as any
// form of their key. The unwrapped sigstore ed25519 signer does print it,
// which is why the wrapper exists (the test checks that it would see it).
func TestSignersNeverPrintKeys(t *testing.T) {
	for _, typ := range Types() {
		t.Run(string(typ), func(t *testing.T) {
			// One encrypted key file is enough (scrypt is slow under -race).
			priv, keyPath, pw := newKey(t, typ), "", PasswordFunc(nil)
			if typ == Ed25519 {
				priv, keyPath = encryptedKey(t, typ)
				pw = func(bool) ([]byte, error) { return testPassword, nil }
			} else {
				der, _ := x509.MarshalPKCS8PrivateKey(priv)
				keyPath = writeFile(t, "k.key", pem.EncodeToMemory(&pem.Block{Type: pemPrivate, Bytes: der}))
			}
			forms := secretForms(priv)
			if typ == Ed25519 {
				// sigstore's ed25519 signer keeps the key as a byte slice,
				// which fmt prints: what the wrapper must hide.
				raw, err := signature.LoadSigner(priv, crypto.Hash(0))
				if err != nil {
					t.Fatal(err)
				}
				if _, leaks := findSecret(fmt.Sprintf("%+v", raw), forms); !leaks {
					t.Errorf("the unwrapped sigstore signer does not print its key: the test would not see a leak")
				}
			}
			ctx := context.WithValue(t.Context(), fake.KmsCtxKey{}, priv)
			signers := map[string]func() (signature.Signer, error){
				"NewSigner":          func() (signature.Signer, error) { return NewSigner(priv) },
				"LoadSigner file":    func() (signature.Signer, error) { return LoadSigner(ctx, keyPath, pw) },
				"LoadSigner fakekms": func() (signature.Signer, error) { return LoadSigner(ctx, "fakekms://"+string(typ), nil) },
			}
			for name, load := range signers {
				s, err := load()
				if errors.Is(err, ErrSchemeMismatch) {
					continue // fakekms signs RSA with PKCS#1 v1.5: refused, nothing to print
				}
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				for how, out := range printings(s) {
					if form, ok := findSecret(out, forms); ok {
						t.Errorf("%s printed with %s shows the key (%s): %s", name, how, form, out)
					}
					if !strings.Contains(out, "redacted") {
						t.Errorf("%s printed with %s = %q, want its redacted description", name, how, out)
					}
				}
			}
		})
	}
}

// TestErrorsAndInfoNeverPrintKeys: the values the loaders return besides
// signers (Info of a private key file, every error) hold no key material,
// printed any way.
func TestErrorsAndInfoNeverPrintKeys(t *testing.T) {
	priv, encPath := encryptedKey(t, Ed25519)
	forms := secretForms(priv)
	der, _ := x509.MarshalPKCS8PrivateKey(priv)
	plainPEM := pem.EncodeToMemory(&pem.Block{Type: pemPrivate, Bytes: der})
	plain := writeFile(t, "plain.key", plainPEM)
	loose := writeFile(t, "loose.key", plainPEM)
	if err := os.Chmod(loose, 0o644); err != nil {
		t.Fatal(err)
	}
	damaged := writeFile(t, "damaged.key", pem.EncodeToMemory(&pem.Block{Type: pemPrivate, Bytes: der[:len(der)-3]}))
	trailing := writeFile(t, "trailing.key", append(append([]byte{}, plainPEM...), "tail"...))
	wrong := func(bool) ([]byte, error) { return []byte("not the password"), nil }
	pwErr := func(bool) ([]byte, error) { return nil, errors.New("no terminal") }

	var values []any
	info, err := Inspect(t.Context(), plain, nil)
	if err != nil {
		t.Fatal(err)
	}
	values = append(values, info, *info)
	for _, c := range []struct {
		path string
		pw   PasswordFunc
	}{{loose, nil}, {damaged, nil}, {trailing, nil}, {encPath, pwErr}, {encPath, nil}, {plain + ".pub", nil}} {
		for _, l := range allLoaders {
			if err := l.load(t.Context(), c.path, c.pw); err != nil {
				values = append(values, err)
			}
		}
	}
	// A wrong password runs scrypt: once.
	if _, err := LoadSigner(t.Context(), encPath, wrong); err != nil {
		values = append(values, err)
	}
	if len(values) < 15 {
		t.Fatalf("only %d values to print: the loaders accept bad files", len(values))
	}
	for _, v := range values {
		for how, out := range printings(v) {
			if form, ok := findSecret(out, forms); ok {
				t.Errorf("%T printed with %s shows the key (%s): %s", v, how, form, out)
			}
			if strings.Contains(out, string(testPassword)) {
				t.Errorf("%T printed with %s shows the password: %s", v, how, out)
			}
		}
	}
}
