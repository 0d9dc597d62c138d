//go:build cgo

package pkcs11_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bsiframework/bsi/keys/pkcs11"
	"github.com/bsiframework/bsi/keys/pkcs11/softhsmtest"
)

// Tokens of the test HSM: main holds the keys, locked is only ever
// logged into with a wrong PIN (login state is per process and token).
const (
	mainToken, mainPIN     = "bsi-main", "1111"
	lockedToken, lockedPIN = "bsi-pin", "2222"
)

var hsm *softhsmtest.HSM

func TestMain(m *testing.M) {
	code := func() int {
		if softhsmtest.Available() != nil {
			return m.Run() // the tests skip (or fail in CI) with the reason
		}
		dir, err := os.MkdirTemp("", "bsi-pkcs11-test-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		if hsm, err = softhsmtest.Start(dir); err == nil {
			err = errors.Join(hsm.InitToken(mainToken, mainPIN), hsm.InitToken(lockedToken, lockedPIN))
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return m.Run()
	}()
	os.Exit(code)
}

func needHSM(t *testing.T) *softhsmtest.HSM {
	t.Helper()
	softhsmtest.Require(t)
	return hsm
}

func pin(p string) pkcs11.PINFunc {
	return func(string) ([]byte, error) { return []byte(p), nil }
}

func parse(t *testing.T, s string) *pkcs11.URI {
	t.Helper()
	u, err := pkcs11.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestGenerateOpenSign makes a key of each type on the token, opens it
// again by its URI, and checks its signatures with Go's crypto.
func TestGenerateOpenSign(t *testing.T) {
	h := needHSM(t)
	ctx := context.Background()
	msg := []byte("signed metadata")
	digest := sha256.Sum256(msg)
	for _, alg := range []pkcs11.Algorithm{pkcs11.Ed25519, pkcs11.ECDSA, pkcs11.RSA} {
		t.Run(string(alg), func(t *testing.T) {
			u := parse(t, h.URI(mainToken, "gen-"+string(alg)))
			k, err := pkcs11.Generate(ctx, u, pin(mainPIN), alg)
			if err != nil {
				t.Fatal(err)
			}
			pub := k.Public()
			k.Close()
			if len(k.ID) != 16 || k.Label != "gen-"+string(alg) || k.Token != mainToken {
				t.Fatalf("generated key: label %q, id %x, token %q", k.Label, k.ID, k.Token)
			}
			k, err = pkcs11.Open(ctx, u, pin(mainPIN))
			if err != nil {
				t.Fatal(err)
			}
			defer k.Close()
			if !pub.(interface{ Equal(crypto.PublicKey) bool }).Equal(k.Public()) {
				t.Fatalf("Open found another public key than Generate made")
			}
			switch p := k.Public().(type) {
			case ed25519.PublicKey:
				sig, err := k.Sign(nil, msg, crypto.Hash(0))
				if err != nil || !ed25519.Verify(p, msg, sig) {
					t.Fatalf("ed25519 signature does not verify: %v", err)
				}
			case *ecdsa.PublicKey:
				sig, err := k.Sign(nil, digest[:], crypto.SHA256)
				if err != nil || !ecdsa.VerifyASN1(p, digest[:], sig) || p.Curve != elliptic.P256() {
					t.Fatalf("ecdsa signature does not verify: %v", err)
				}
			case *rsa.PublicKey:
				opts := &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256}
				sig, err := k.Sign(nil, digest[:], opts)
				if err != nil {
					t.Fatal(err)
				}
				if err := rsa.VerifyPSS(p, crypto.SHA256, digest[:], sig, opts); err != nil || p.N.BitLen() != pkcs11.RSABits {
					t.Fatalf("rsa-pss signature does not verify (%d bits): %v", p.N.BitLen(), err)
				}
			default:
				t.Fatalf("public key %T", p)
			}
			// By id alone, as the URI GeneratePKCS11 prints has it.
			byID := &pkcs11.URI{Token: mainToken, ID: k.ID, ModulePath: h.Module}
			k2, err := pkcs11.Open(ctx, byID, pin(mainPIN))
			if err != nil {
				t.Fatalf("Open(%s): %v", byID, err)
			}
			k2.Close()
			k.Close()
			if _, err := k.Sign(nil, msg, crypto.Hash(0)); err == nil || !strings.Contains(err.Error(), "is closed") {
				t.Fatalf("Sign after Close = %v, want an error saying the key is closed", err)
			}
		})
	}
}

// TestGenerateRefusesExisting: a label or id already on the token is
// never reused (a second key with the same label would make the URI
// ambiguous, and the first key must not be touched).
func TestGenerateRefusesExisting(t *testing.T) {
	h := needHSM(t)
	ctx := context.Background()
	u := parse(t, h.URI(mainToken, "taken"))
	k, err := pkcs11.Generate(ctx, u, pin(mainPIN), pkcs11.ECDSA)
	if err != nil {
		t.Fatal(err)
	}
	k.Close()
	for _, u := range []*pkcs11.URI{
		{Token: mainToken, Object: "taken", ModulePath: h.Module},           // same label
		{Token: mainToken, Object: "other", ID: k.ID, ModulePath: h.Module}, // same id
	} {
		_, err := pkcs11.Generate(ctx, u, pin(mainPIN), pkcs11.Ed25519)
		if !errors.Is(err, pkcs11.ErrExists) {
			t.Fatalf("Generate(%s) over an existing object = %v, want ErrExists", u, err)
		}
	}
}

// TestOpenErrors: each way a token key can be missing or wrong gives its
// own error, naming what failed.
func TestOpenErrors(t *testing.T) {
	h := needHSM(t)
	ctx := context.Background()
	for _, put := range []error{
		h.PutAES(mainToken, mainPIN, "aes-key", []byte{0xae}),
		h.PutECDSA(mainToken, mainPIN, "p384-key", []byte{0x38}, elliptic.P384()),
	} {
		if put != nil {
			t.Fatal(put)
		}
	}
	if k, err := pkcs11.Generate(ctx, parse(t, h.URI(mainToken, "present")), pin(mainPIN), pkcs11.ECDSA); err != nil {
		t.Fatal(err)
	} else {
		k.Close()
	}
	dir := t.TempDir()
	goodPIN := filepath.Join(dir, "pin")
	os.WriteFile(goodPIN, []byte(mainPIN+"\n"), 0o600)
	openPIN := filepath.Join(dir, "open-pin")
	os.WriteFile(openPIN, []byte(mainPIN+"\n"), 0o644)

	type check func(t *testing.T, err error)
	is := func(target error) check {
		return func(t *testing.T, err error) {
			if !errors.Is(err, target) {
				t.Fatalf("err = %v, want %v", err, target)
			}
		}
	}
	as := func(target any, msg string) check {
		return func(t *testing.T, err error) {
			if !errors.As(err, target) || !strings.Contains(err.Error(), msg) {
				t.Fatalf("err = %v, want a %T saying %q", err, target, msg)
			}
		}
	}
	for _, tc := range []struct {
		name string
		uri  string
		pin  pkcs11.PINFunc
		want check
	}{
		{"wrong PIN", h.URI(lockedToken, "present"), pin("0000"), is(pkcs11.ErrWrongPIN)},
		{"no PIN", h.URI(lockedToken, "present"), nil, is(pkcs11.ErrNoPIN)},
		{"PIN prompt fails", h.URI(lockedToken, "present"),
			func(string) ([]byte, error) { return nil, errors.New("no terminal") }, as(new(error), "no terminal")},
		{"missing token", h.URI("no-such-token", "present"), pin(mainPIN),
			as(new(*pkcs11.TokenNotFoundError), `no token matches token="no-such-token" (tokens present: "bsi-main", "bsi-pin"`)},
		{"token by serial", "pkcs11:serial=0000;object=present?module-path=" + h.Module, pin(mainPIN),
			as(new(*pkcs11.TokenNotFoundError), `serial="0000"`)},
		{"token mismatch on model", "pkcs11:token=" + mainToken + ";model=YubiKey;object=present?module-path=" + h.Module, pin(mainPIN),
			as(new(*pkcs11.TokenNotFoundError), `model="YubiKey"`)},
		{"missing object", h.URI(mainToken, "absent"), pin(mainPIN),
			as(new(*pkcs11.ObjectNotFoundError), `token "bsi-main" holds no private key with object="absent" (private keys present: `)},
		{"secret key", h.URI(mainToken, "aes-key"), pin(mainPIN),
			as(new(*pkcs11.UnsupportedKeyError), `object="aes-key" is a secret key (CKO_SECRET_KEY)`)},
		{"missing module", "pkcs11:token=a;object=b?module-path=/nonexistent/libnone.so", pin(mainPIN),
			as(new(*pkcs11.ModuleError), "/nonexistent/libnone.so: no such file")},
		{"unknown module name", "pkcs11:token=a;object=b?module-name=nonesuch", pin(mainPIN),
			as(new(*pkcs11.ModuleError), "nonesuch: not found")},
		{"no module", "pkcs11:token=a;object=b", pin(mainPIN), as(new(*pkcs11.URIError), "module-path")},
		{"no token attribute", "pkcs11:object=b?module-path=" + h.Module, pin(mainPIN), as(new(*pkcs11.URIError), `"token": missing`)},
		{"no object attribute", "pkcs11:token=a?module-path=" + h.Module, pin(mainPIN), as(new(*pkcs11.URIError), `"object": missing`)},
		{"type cert", h.URI(mainToken, "present") + "&type=x", pin(mainPIN), nil},
		{"pin-source open to others", h.URI(lockedToken, "present") + "&pin-source=" + openPIN, pin(lockedPIN),
			as(new(*pkcs11.PINFileModeError), "mode 0644")},
	} {
		if tc.want == nil {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			k, err := pkcs11.Open(ctx, parse(t, tc.uri), tc.pin)
			if err == nil {
				k.Close()
				t.Fatalf("Open(%s) succeeded", tc.uri)
			}
			tc.want(t, err)
		})
	}
	t.Run("type cert", func(t *testing.T) {
		u := parse(t, "pkcs11:token="+mainToken+";object=present;type=cert?module-path="+h.Module)
		var ue *pkcs11.URIError
		if _, err := pkcs11.Open(ctx, u, pin(mainPIN)); !errors.As(err, &ue) || ue.Attr != "type" {
			t.Fatalf("err = %v, want a *URIError on type", err)
		}
	})
	t.Run("pin-source", func(t *testing.T) {
		k, err := pkcs11.Open(ctx, parse(t, h.URI(mainToken, "present")+"&pin-source=file:"+goodPIN), nil)
		if err != nil {
			t.Fatal(err)
		}
		k.Close()
	})
	t.Run("P-384 opens; the caller refuses its curve", func(t *testing.T) {
		k, err := pkcs11.Open(ctx, parse(t, h.URI(mainToken, "p384-key")), pin(mainPIN))
		if err != nil {
			t.Fatal(err)
		}
		defer k.Close()
		if p, ok := k.Public().(*ecdsa.PublicKey); !ok || p.Curve != elliptic.P384() {
			t.Fatalf("public key %T", k.Public())
		}
	})
	t.Run("missing object lists the keys present", func(t *testing.T) {
		_, err := pkcs11.Open(ctx, parse(t, h.URI(mainToken, "absent")), pin(mainPIN))
		var oe *pkcs11.ObjectNotFoundError
		if !errors.As(err, &oe) || !slices.Contains(oe.Present, "present") {
			t.Fatalf("err = %v, want the label \"present\" listed", err)
		}
	})
}
