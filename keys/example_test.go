package keys_test

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/sigstore/sigstore/pkg/signature/kms/fake"
	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/bsiframework/bsi/keys"
)

// A new key's TUF form, as listed in root or in a delegation.
func ExampleGenerate() {
	priv, err := keys.Generate(keys.ECDSA)
	if err != nil {
		log.Fatal(err)
	}
	key, err := keys.TUFKey(priv.Public())
	if err != nil {
		log.Fatal(err)
	}
	id, _ := key.ID()
	fmt.Println(key.Type, key.Scheme, len(id))
	// Output: ecdsa ecdsa-sha2-nistp256 64
}

// The key id of a fixed ed25519 key: the SHA-256 of the canonical JSON
// {"keytype":"ed25519","keyval":{"public":"3b6a27bc..."},"scheme":"ed25519"}.
func ExampleKeyID() {
	seed := make([]byte, ed25519.SeedSize) // all zero: an example, never a real key
	pub := ed25519.NewKeyFromSeed(seed).Public()
	id, err := keys.KeyID(pub)
	if err != nil {
		log.Fatal(err)
	}
	scheme, _ := keys.Scheme(pub)
	fmt.Println(scheme, id)
	// Output: ed25519 4cc3f338069d638e761ed397f5c53df4129a276face46a446c202617331ca1b3
}

// A publisher writes a key pair, loads the private key as a signer, and
// signs a root that lists the public key; go-tuf verifies it.
func ExampleLoadSigner() {
	dir, err := os.MkdirTemp("", "bsi-keys-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "root-1.key")

	priv, err := keys.Generate(keys.Ed25519)
	if err != nil {
		log.Fatal(err)
	}
	// A real key gets a password: WriteKeyPair(path, priv, password).
	if err := keys.WriteKeyPair(path, priv, nil); err != nil {
		log.Fatal(err)
	}
	// The password function is only called for an encrypted key.
	signer, err := keys.LoadSigner(context.Background(), path, nil)
	if err != nil {
		log.Fatal(err)
	}
	pub, err := keys.LoadPublicKey(path + keys.PublicSuffix)
	if err != nil {
		log.Fatal(err)
	}
	key, _ := keys.TUFKey(pub)

	root := metadata.Root(time.Now().AddDate(1, 0, 0).Truncate(time.Second))
	if err := root.Signed.AddKey(key, metadata.ROOT); err != nil {
		log.Fatal(err)
	}
	if _, err := root.Sign(signer); err != nil {
		log.Fatal(err)
	}
	fmt.Println("root verifies:", root.VerifyDelegate(metadata.ROOT, root) == nil)
	// Output: root verifies: true
}

// A KMS key signs the same way; tests use fakekms:// with a fixed key.
func ExampleLoadSigner_kms() {
	priv, err := keys.Generate(keys.ECDSA)
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.WithValue(context.Background(), fake.KmsCtxKey{}, priv)
	signer, err := keys.LoadSigner(ctx, "fakekms://timestamp", nil)
	if err != nil {
		log.Fatal(err)
	}
	pub, _ := signer.PublicKey()
	key, _ := keys.TUFKey(pub)

	expiry := time.Now().Add(24 * time.Hour).Truncate(time.Second)
	root := metadata.Root(expiry)
	if err := root.Signed.AddKey(key, metadata.TIMESTAMP); err != nil {
		log.Fatal(err)
	}
	ts := metadata.Timestamp(expiry)
	if _, err := ts.Sign(signer); err != nil {
		log.Fatal(err)
	}
	fmt.Println("timestamp verifies:", root.VerifyDelegate(metadata.TIMESTAMP, ts) == nil)
	// Output: timestamp verifies: true
}
