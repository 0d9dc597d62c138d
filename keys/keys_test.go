package keys

import (
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/theupdateframework/go-tuf/v2/metadata"
)

func TestParseType(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    Type
		wantErr bool
	}{
		{"ed25519", Ed25519, false},
		{"ecdsa", ECDSA, false},
		{"rsa", RSA, false},
		{"", "", true},
		{"RSA", "", true},
		{"dsa", "", true},
		{"ecdsa-p384", "", true},
	} {
		got, err := ParseType(tc.in)
		var ute *UnknownTypeError
		if tc.wantErr != errors.As(err, &ute) || got != tc.want {
			t.Errorf("ParseType(%q) = %q, %v; want %q, error %v", tc.in, got, err, tc.want, tc.wantErr)
		}
		if tc.wantErr && ute.Name != tc.in {
			t.Errorf("ParseType(%q): error names %q", tc.in, ute.Name)
		}
	}
	if _, err := Generate("dsa"); !errors.As(err, new(*UnknownTypeError)) {
		t.Errorf("Generate(dsa) = %v, want *UnknownTypeError", err)
	}
}

func TestGenerateSchemes(t *testing.T) {
	for _, tc := range []struct {
		typ              Type
		keytype, scheme  string
		checkKeyMaterial func(crypto.PublicKey) bool
	}{
		{Ed25519, "ed25519", "ed25519", func(p crypto.PublicKey) bool { _, ok := p.(ed25519.PublicKey); return ok }},
		{ECDSA, "ecdsa", "ecdsa-sha2-nistp256", func(p crypto.PublicKey) bool {
			k, ok := p.(*ecdsa.PublicKey)
			return ok && k.Curve == elliptic.P256()
		}},
		{RSA, "rsa", "rsassa-pss-sha256", func(p crypto.PublicKey) bool {
			k, ok := p.(*rsa.PublicKey)
			return ok && k.N.BitLen() == 3072
		}},
	} {
		t.Run(string(tc.typ), func(t *testing.T) {
			priv := newKey(t, tc.typ)
			pub := priv.Public()
			if !tc.checkKeyMaterial(pub) {
				t.Fatalf("Generate(%s) made a %T", tc.typ, pub)
			}
			if got, err := TypeOf(pub); err != nil || got != tc.typ {
				t.Errorf("TypeOf = %q, %v", got, err)
			}
			if got, err := Scheme(pub); err != nil || got != tc.scheme {
				t.Errorf("Scheme = %q, %v; want %q", got, err, tc.scheme)
			}
			key, err := TUFKey(pub)
			if err != nil {
				t.Fatal(err)
			}
			if key.Type != tc.keytype || key.Scheme != tc.scheme {
				t.Errorf("TUFKey = %s/%s, want %s/%s", key.Type, key.Scheme, tc.keytype, tc.scheme)
			}
			// The key id is go-tuf's.
			goTUF, err := metadata.KeyFromPublicKey(pub)
			if err != nil {
				t.Fatal(err)
			}
			wantID, _ := goTUF.ID()
			if id, err := KeyID(pub); err != nil || id != wantID {
				t.Errorf("KeyID = %q, %v; go-tuf says %q", id, err, wantID)
			}
			// NewSigner signs what go-tuf verifies.
			s, err := NewSigner(priv)
			if err != nil {
				t.Fatal(err)
			}
			verifyWithGoTUF(t, s, pub)
		})
	}
}

func TestTypeOfRefuses(t *testing.T) {
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p224, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	x25519, _ := ecdh.X25519().GenerateKey(rand.Reader)
	ed, _ := Generate(Ed25519)
	small, err := smallRSA()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		pub   crypto.PublicKey
		found string // UnsupportedKeyError.Found, or "" for a KindError
	}{
		{"p384", p384.Public(), "ecdsa P-384"},
		{"p224", p224.Public(), "ecdsa P-224"},
		{"rsa1024", small.Public(), "rsa 1024 bits"},
		{"x25519", x25519.PublicKey(), "ecdh X25519"},
		{"short ed25519", ed25519.PublicKey(make([]byte, 31)), "ed25519 key of 31 bytes"},
		{"nil", nil, "no key"},
		{"string", "not a key", "string"},
		{"private ed25519", ed, ""},
		{"private p384", p384, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for fn, f := range map[string]func(crypto.PublicKey) error{
				"TypeOf": func(p crypto.PublicKey) error { _, err := TypeOf(p); return err },
				"Scheme": func(p crypto.PublicKey) error { _, err := Scheme(p); return err },
				"TUFKey": func(p crypto.PublicKey) error { _, err := TUFKey(p); return err },
				"KeyID":  func(p crypto.PublicKey) error { _, err := KeyID(p); return err },
			} {
				err := f(tc.pub)
				if tc.found == "" {
					want := &KindError{Want: KindPublic, Found: KindPrivate}
					var got *KindError
					if !errors.As(err, &got) || *got != *want {
						t.Errorf("%s: %v, want %v", fn, err, want)
					}
					continue
				}
				var ue *UnsupportedKeyError
				if !errors.As(err, &ue) || ue.Found != tc.found {
					t.Errorf("%s: %v, want unsupported %q", fn, err, tc.found)
				}
			}
		})
	}
}

// TestRoundTripFiles writes each key type encrypted and not, loads it back
// as a signer and a public key, and verifies a signature with go-tuf.
func TestRoundTripFiles(t *testing.T) {
	for _, typ := range Types() {
		for _, enc := range []bool{false, true} {
			if enc && raceEnabled && typ != Ed25519 {
				// scrypt takes seconds under -race; the encryption
				// does not depend on the key type.
				continue
			}
			name := string(typ) + "/plain"
			if enc {
				name = string(typ) + "/encrypted"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				var priv crypto.Signer
				var path string
				if enc {
					priv, path = encryptedKey(t, typ)
				} else {
					priv = newKey(t, typ)
					path = filepath.Join(t.TempDir(), "k")
					if err := WriteKeyPair(path, priv, nil); err != nil {
						t.Fatal(err)
					}
				}
				checkModes(t, path)
				calls := 0
				signer, err := LoadSigner(t.Context(), path, staticPassword(testPassword, &calls))
				if err != nil {
					t.Fatal(err)
				}
				if want := map[bool]int{false: 0, true: 1}[enc]; calls != want {
					t.Errorf("password asked %d times, want %d", calls, want)
				}
				pub, err := LoadPublicKey(path + PublicSuffix)
				if err != nil {
					t.Fatal(err)
				}
				if !equalKeys(pub, priv.Public()) {
					t.Fatal("the public key file holds another key")
				}
				verifyWithGoTUF(t, signer, pub)
				if !enc {
					checkInspect(t, path, priv.Public(), KindPrivate, false)
				}
				checkInspect(t, path+PublicSuffix, priv.Public(), KindPublic, false)
			})
		}
	}
}

// TestInspectEncrypted inspects an encrypted key file: one password call.
func TestInspectEncrypted(t *testing.T) {
	priv, path := encryptedKey(t, Ed25519)
	checkInspect(t, path, priv.Public(), KindPrivate, true)
}

func checkInspect(t *testing.T, ref string, pub crypto.PublicKey, kind Kind, enc bool) {
	t.Helper()
	calls := 0
	info, err := Inspect(t.Context(), ref, staticPassword(testPassword, &calls))
	if err != nil {
		t.Fatal(err)
	}
	if want := map[bool]int{false: 0, true: 1}[enc]; calls != want {
		t.Errorf("Inspect(%s): password asked %d times, want %d", ref, calls, want)
	}
	typ, _ := TypeOf(pub)
	key, _ := TUFKey(pub)
	id, _ := key.ID()
	if !equalKeys(info.Public, pub) {
		t.Errorf("Inspect(%s): public key %v, want %v", ref, info.Public, pub)
	}
	if info.TUFKey == nil || info.TUFKey.Type != key.Type || info.TUFKey.Scheme != key.Scheme || info.TUFKey.Value.PublicKey != key.Value.PublicKey {
		t.Errorf("Inspect(%s): TUF key %+v, want %+v", ref, info.TUFKey, key)
	}
	info.Public, info.TUFKey = nil, nil
	want := &Info{Ref: ref, Kind: kind, Encrypted: enc, Type: typ, Scheme: key.Scheme, KeyID: id}
	if diff := cmp.Diff(want, info); diff != "" {
		t.Errorf("Inspect(%s) (-want +got):\n%s", ref, diff)
	}
	got, err := LoadPublicKeyRef(t.Context(), ref, staticPassword(testPassword, &calls))
	if err != nil || !equalKeys(got, pub) {
		t.Errorf("LoadPublicKeyRef(%s) = %v, %v", ref, got, err)
	}
}

func checkModes(t *testing.T, path string) {
	t.Helper()
	for p, want := range map[string]os.FileMode{path: 0o600, path + PublicSuffix: 0o644} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s: mode %v, want %v", p, got, want)
		}
	}
}

func equalKeys(a, b crypto.PublicKey) bool {
	k, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && k.Equal(b)
}
