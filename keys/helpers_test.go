package keys

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// fixtureDir holds files shared by the tests of this binary; TestMain
// removes it.
var fixtureDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "bsi-keys-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fixtureDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// testPassword is the password of the shared encrypted fixtures.
var testPassword = []byte("correct horse battery staple")

// rsaKey is generated once per test binary: RSA-3072 generation takes
// about a second.
var rsaKey = sync.OnceValues(func() (crypto.Signer, error) { return Generate(RSA) })

// newKey returns a fresh key of type t (the shared one for RSA).
func newKey(t *testing.T, typ Type) crypto.Signer {
	t.Helper()
	var k crypto.Signer
	var err error
	if typ == RSA {
		k, err = rsaKey()
	} else {
		k, err = Generate(typ)
	}
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// fixture is a key and the path of its private key file.
type fixture struct {
	key  crypto.Signer
	path string
}

// encryptedFixtures write, once per type, a key pair encrypted with
// testPassword (scrypt is slow, above all under -race). The map is only
// read after package initialisation.
var encryptedFixtures = func() map[Type]func() (fixture, error) {
	m := map[Type]func() (fixture, error){}
	for _, typ := range Types() {
		m[typ] = sync.OnceValues(func() (fixture, error) {
			var k crypto.Signer
			var err error
			if typ == RSA {
				k, err = rsaKey()
			} else {
				k, err = Generate(typ)
			}
			if err != nil {
				return fixture{}, err
			}
			path := filepath.Join(fixtureDir, "encrypted-"+string(typ)+".key")
			return fixture{k, path}, WriteKeyPair(path, k, testPassword)
		})
	}
	return m
}()

func encryptedKey(t *testing.T, typ Type) (crypto.Signer, string) {
	t.Helper()
	f, err := encryptedFixtures[typ]()
	if err != nil {
		t.Fatal(err)
	}
	return f.key, f.path
}

// staticPassword returns a PasswordFunc giving pw and counting its calls.
func staticPassword(pw []byte, calls *int) PasswordFunc {
	return func(confirm bool) ([]byte, error) {
		*calls++
		return pw, nil
	}
}

// verifyWithGoTUF signs a root and a targets file with signer and verifies
// them with go-tuf against a root that lists pub for both roles.
func verifyWithGoTUF(t *testing.T, signer signature.Signer, pub crypto.PublicKey) {
	t.Helper()
	key, err := TUFKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	expiry := time.Now().Add(time.Hour).Truncate(time.Second)
	root := metadata.Root(expiry)
	if err := root.Signed.AddKey(key, metadata.TARGETS); err != nil {
		t.Fatal(err)
	}
	// A root signed by the key, which root lists for itself.
	if err := root.Signed.AddKey(key, metadata.ROOT); err != nil {
		t.Fatal(err)
	}
	if _, err := root.Sign(signer); err != nil {
		t.Fatal(err)
	}
	if err := root.VerifyDelegate(metadata.ROOT, root); err != nil {
		t.Fatalf("go-tuf rejects the root signature: %v", err)
	}
	// A targets file signed by the key, which root lists for targets.
	targets := metadata.Targets(expiry)
	if _, err := targets.Sign(signer); err != nil {
		t.Fatal(err)
	}
	if err := root.VerifyDelegate(metadata.TARGETS, targets); err != nil {
		t.Fatalf("go-tuf rejects the signature: %v", err)
	}
	// And a signature over other content does not verify.
	targets.Signed.Version++
	if err := root.VerifyDelegate(metadata.TARGETS, targets); err == nil {
		t.Fatal("go-tuf accepts a signature over other content")
	}
}

// writeFile writes data to name in a fresh temporary directory.
func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// smallRSA returns an RSA key below the 2048-bit minimum.
var smallRSA = sync.OnceValues(func() (*rsa.PrivateKey, error) { return rsa.GenerateKey(rand.Reader, 1024) })
