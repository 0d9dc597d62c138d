package keys

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// loaders are the three entry points that read key files, each as
// func(path) error.
type loader struct {
	name string
	load func(ctx context.Context, path string, pw PasswordFunc) error
}

var (
	loadSigner = loader{"LoadSigner", func(ctx context.Context, p string, pw PasswordFunc) error {
		_, err := LoadSigner(ctx, p, pw)
		return err
	}}
	loadPublic = loader{"LoadPublicKey", func(_ context.Context, p string, _ PasswordFunc) error {
		_, err := LoadPublicKey(p)
		return err
	}}
	inspect = loader{"Inspect", func(ctx context.Context, p string, pw PasswordFunc) error {
		_, err := Inspect(ctx, p, pw)
		return err
	}}
	allLoaders = []loader{loadSigner, loadPublic, inspect}
)

func pemOf(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestBadKeyFiles: every malformed, unsupported or misplaced key file is a
// *FileError naming the file and wrapping a specific cause.
func TestBadKeyFiles(t *testing.T) {
	ed, _ := Generate(Ed25519)
	edDER, _ := x509.MarshalPKCS8PrivateKey(ed)
	edPub, _ := x509.MarshalPKIXPublicKey(ed.Public())
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p384DER, _ := x509.MarshalPKCS8PrivateKey(p384)
	p384Pub, _ := x509.MarshalPKIXPublicKey(p384.Public())
	small, err := smallRSA()
	if err != nil {
		t.Fatal(err)
	}
	smallDER, _ := x509.MarshalPKCS8PrivateKey(small)
	smallPub, _ := x509.MarshalPKIXPublicKey(small.Public())
	good := pemOf("PRIVATE KEY", edDER)

	unsupported := func(found string) func(error) bool {
		return func(err error) bool {
			var ue *UnsupportedKeyError
			return errors.As(err, &ue) && ue.Found == found
		}
	}
	is := func(target error) func(error) bool { return func(err error) bool { return errors.Is(err, target) } }
	kind := func(want, found Kind) func(error) bool {
		return func(err error) bool {
			var ke *KindError
			return errors.As(err, &ke) && *ke == KindError{Want: want, Found: found}
		}
	}
	pemType := func(typ string, headers bool) func(error) bool {
		return func(err error) bool {
			var pe *PEMTypeError
			return errors.As(err, &pe) && *pe == PEMTypeError{Type: typ, Headers: headers}
		}
	}

	for _, tc := range []struct {
		name    string
		data    []byte
		loaders []loader
		check   func(error) bool
		msg     string // a part of the message
	}{
		{"empty", nil, allLoaders, is(ErrNotPEM), "not a PEM file"},
		{"text", []byte("hello, I am not a key\n"), allLoaders, is(ErrNotPEM), "not a PEM file"},
		{"binary DER", edDER, allLoaders, is(ErrNotPEM), "not a PEM file"},
		{"text before PEM", append([]byte("comment\n"), good...), allLoaders, is(ErrNotPEM), "not a PEM file"},
		{"truncated", good[:len(good)/2], allLoaders, is(ErrTruncated), "truncated"},
		{"no END line", bytes.TrimSuffix(good, []byte("-----END PRIVATE KEY-----\n")), allLoaders, is(ErrTruncated), "truncated"},
		{"bad base64", bytes.Replace(good, []byte("M"), []byte("!"), 1), allLoaders, is(ErrTruncated), "truncated"},
		{"trailing data", append(bytes.Clone(good), "extra"...), allLoaders, is(ErrTrailingData), "after the PEM block"},
		{"two blocks", append(bytes.Clone(good), good...), allLoaders, is(ErrTrailingData), "after the PEM block"},
		{"too large", bytes.Repeat([]byte("-----BEGIN PRIVATE KEY-----\n"), 3000), allLoaders, is(ErrTooLarge), "too large"},
		{"certificate", pemOf("CERTIFICATE", edDER), allLoaders, pemType("CERTIFICATE", false), `"CERTIFICATE" is not a key`},
		{"legacy encryption", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Headers: map[string]string{"Proc-Type": "4,ENCRYPTED"}, Bytes: edDER}),
			allLoaders, pemType("RSA PRIVATE KEY", true), "legacy OpenSSL encryption"},
		{"damaged private DER", pemOf("PRIVATE KEY", edDER[:len(edDER)-3]), []loader{loadSigner, inspect}, is(ErrDamaged), "damaged key data"},
		{"damaged public DER", pemOf("PUBLIC KEY", edPub[:len(edPub)-3]), []loader{loadPublic, inspect}, is(ErrDamaged), "damaged key data"},
		{"EC block holding PKCS#8", pemOf("EC PRIVATE KEY", edDER), []loader{loadSigner, inspect}, is(ErrDamaged), "damaged key data"},
		{"damaged encrypted envelope", pemOf("ENCRYPTED SIGSTORE PRIVATE KEY", []byte(`{"kdf":`)), []loader{loadSigner, inspect}, is(ErrDamaged), "encrypted envelope"},
		{"public where private expected", pemOf("PUBLIC KEY", edPub), []loader{loadSigner}, kind(KindPrivate, KindPublic), "holds a public key, but a private key is expected"},
		{"private where public expected", good, []loader{loadPublic}, kind(KindPublic, KindPrivate), "holds a private key, but a public key is expected"},
		{"encrypted where public expected", pemOf("ENCRYPTED SIGSTORE PRIVATE KEY", []byte("{}")), []loader{loadPublic}, kind(KindPublic, KindPrivate), "a public key is expected"},
		{"P-384 private", pemOf("PRIVATE KEY", p384DER), []loader{loadSigner, inspect}, unsupported("ecdsa P-384"), "unsupported key type ecdsa P-384"},
		{"P-384 public", pemOf("PUBLIC KEY", p384Pub), []loader{loadPublic, inspect}, unsupported("ecdsa P-384"), "unsupported key type ecdsa P-384"},
		{"RSA-1024 private", pemOf("PRIVATE KEY", smallDER), []loader{loadSigner, inspect}, unsupported("rsa 1024 bits"), "rsa 1024 bits"},
		{"RSA-1024 PKCS#1 private", pemOf("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(small)), []loader{loadSigner, inspect}, unsupported("rsa 1024 bits"), "rsa 1024 bits"},
		{"RSA-1024 public", pemOf("PUBLIC KEY", smallPub), []loader{loadPublic, inspect}, unsupported("rsa 1024 bits"), "rsa 1024 bits"},
		{"RSA-1024 PKCS#1 public", pemOf("RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(&small.PublicKey)), []loader{loadPublic, inspect}, unsupported("rsa 1024 bits"), "rsa 1024 bits"},
		{"DSA private", readTestdata(t, "dsa.key"), []loader{loadSigner, inspect}, unsupported("dsa"), "unsupported key type dsa"},
		{"DSA public", readTestdata(t, "dsa.key.pub"), []loader{loadPublic, inspect}, unsupported("dsa"), "unsupported key type dsa"},
		{"Ed448 private", readTestdata(t, "ed448.key"), []loader{loadSigner, inspect}, unsupported("ed448"), "ed448"},
		{"Ed448 public", readTestdata(t, "ed448.key.pub"), []loader{loadPublic, inspect}, unsupported("ed448"), "ed448"},
		{"secp256k1 private", readTestdata(t, "secp256k1.key"), []loader{loadSigner, inspect}, unsupported("ecdsa secp256k1"), "secp256k1"},
		{"secp256k1 public", readTestdata(t, "secp256k1.key.pub"), []loader{loadPublic, inspect}, unsupported("ecdsa secp256k1"), "secp256k1"},
		{"X25519 private", readTestdata(t, "x25519.key"), []loader{loadSigner, inspect}, unsupported("ecdh X25519"), "X25519"},
		{"X25519 public", readTestdata(t, "x25519.key.pub"), []loader{loadPublic, inspect}, unsupported("ecdh X25519"), "X25519"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, "key.pem", tc.data)
			for _, l := range tc.loaders {
				calls := 0
				err := l.load(t.Context(), path, staticPassword(testPassword, &calls))
				var fe *FileError
				if !errors.As(err, &fe) || fe.Path != path {
					t.Errorf("%s: %v, want a *FileError for %s", l.name, err, path)
					continue
				}
				if !tc.check(err) {
					t.Errorf("%s: wrong cause: %v", l.name, err)
				}
				if msg := err.Error(); !strings.Contains(msg, tc.msg) || !strings.Contains(msg, path) {
					t.Errorf("%s: message %q lacks %q or the path", l.name, msg, tc.msg)
				}
			}
		})
	}
}

func TestMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope")
	for _, l := range allLoaders {
		err := l.load(t.Context(), path, nil)
		var fe *FileError
		if !errors.Is(err, fs.ErrNotExist) || !errors.As(err, &fe) || fe.Path != path {
			t.Errorf("%s: %v, want a *FileError wrapping fs.ErrNotExist", l.name, err)
		}
	}
}

// TestPasswordErrors: the password of an encrypted key file, for
// LoadSigner and Inspect. Only the wrong-password case runs scrypt.
func TestPasswordErrors(t *testing.T) {
	_, path := encryptedKey(t, Ed25519)
	errTTY := errors.New("no terminal")
	for _, tc := range []struct {
		name   string
		pw     PasswordFunc
		target error
		msg    string
	}{
		{"nil func", nil, ErrNoPassword, "no password was supplied"},
		{"empty", func(bool) ([]byte, error) { return []byte{}, nil }, ErrEmptyPassword, "empty password"},
		{"func fails", func(bool) ([]byte, error) { return nil, errTTY }, errTTY, "no terminal"},
		{"wrong", func(bool) ([]byte, error) { return []byte("Tr0ub4dor&3"), nil }, ErrWrongPassword, "wrong password"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			loaders := []loader{loadSigner, inspect}
			if tc.name == "wrong" {
				loaders = loaders[:1] // scrypt is slow: once is enough
			}
			for _, l := range loaders {
				err := l.load(t.Context(), path, tc.pw)
				var fe *FileError
				if !errors.Is(err, tc.target) || !errors.As(err, &fe) || fe.Path != path {
					t.Errorf("%s: %v, want a *FileError wrapping %v", l.name, err, tc.target)
				}
				if msg := err.Error(); !strings.Contains(msg, tc.msg) || strings.Contains(msg, "Tr0ub4dor") {
					t.Errorf("%s: message %q", l.name, msg)
				}
			}
		})
	}
}

// TestUnencryptedNeverAsks: an unencrypted key file loads with a nil
// PasswordFunc and with one that fails.
func TestUnencryptedNeverAsks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k")
	if err := WriteKeyPair(path, newKey(t, Ed25519), nil); err != nil {
		t.Fatal(err)
	}
	fail := func(bool) ([]byte, error) { t.Error("password asked"); return nil, errors.New("asked") }
	for _, pw := range []PasswordFunc{nil, fail} {
		if _, err := LoadSigner(t.Context(), path, pw); err != nil {
			t.Error(err)
		}
	}
}

// TestForeignFormats: keys made by OpenSSL in PKCS#1 and SEC 1 load.
func TestForeignFormats(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalECPrivateKey(ec)
	rsaPriv := newKey(t, RSA)
	rsaPub, _ := x509.MarshalPKIXPublicKey(rsaPriv.Public())
	for name, data := range map[string][]byte{
		"EC PRIVATE KEY":  pemOf("EC PRIVATE KEY", ecDER),
		"RSA PRIVATE KEY": pemOf("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaPriv.(*rsa.PrivateKey))),
	} {
		path := writeFile(t, "k", data)
		s, err := LoadSigner(t.Context(), path, nil)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		pub, _ := s.PublicKey()
		verifyWithGoTUF(t, s, pub)
	}
	path := writeFile(t, "k.pub", pemOf("RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(&rsaPriv.(*rsa.PrivateKey).PublicKey)))
	pub, err := LoadPublicKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if der, _ := x509.MarshalPKIXPublicKey(pub); !bytes.Equal(der, rsaPub) {
		t.Error("RSA PUBLIC KEY loads as another key")
	}
}
