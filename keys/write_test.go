package keys

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// listDir returns the names in dir, sorted.
func listDir(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// TestWriteKeyPairRefuses: each refusal leaves the directory as it was,
// existing files untouched.
func TestWriteKeyPairRefuses(t *testing.T) {
	ed := newKey(t, Ed25519)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	old := []byte("old content\n")
	for _, tc := range []struct {
		name     string
		existing []string // files present before, holding old
		path     string   // relative to the directory
		priv     crypto.Signer
		password []byte
		check    func(error) bool
	}{
		{"private exists", []string{"k"}, "k", ed, nil, func(err error) bool { return errors.Is(err, fs.ErrExist) }},
		{"public exists", []string{"k.pub"}, "k", ed, nil, func(err error) bool { return errors.Is(err, fs.ErrExist) }},
		{"both exist", []string{"k", "k.pub"}, "k", ed, testPassword, func(err error) bool { return errors.Is(err, fs.ErrExist) }},
		{"no such directory", nil, "sub/k", ed, nil, func(err error) bool { return errors.Is(err, fs.ErrNotExist) }},
		{"empty password", nil, "k", ed, []byte{}, func(err error) bool { return errors.Is(err, ErrEmptyPassword) }},
		{"P-384", nil, "k", p384, nil, func(err error) bool {
			var ue *UnsupportedKeyError
			return errors.As(err, &ue) && ue.Found == "ecdsa P-384"
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, name := range tc.existing {
				if err := os.WriteFile(filepath.Join(dir, name), old, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			before := listDir(t, dir)
			err := WriteKeyPair(filepath.Join(dir, tc.path), tc.priv, tc.password)
			if err == nil || !tc.check(err) {
				t.Fatalf("WriteKeyPair = %v", err)
			}
			if after := listDir(t, dir); !slices.Equal(before, after) {
				t.Errorf("directory went from %q to %q", before, after)
			}
			for _, name := range tc.existing {
				if b, _ := os.ReadFile(filepath.Join(dir, name)); !bytes.Equal(b, old) {
					t.Errorf("%s was overwritten", name)
				}
			}
			var fe *FileError
			if errors.Is(err, fs.ErrExist) && (!errors.As(err, &fe) || filepath.Dir(fe.Path) != dir) {
				t.Errorf("error %v does not name the existing file", err)
			}
		})
	}
}

// TestWriteKeyPairContent: the private file holds the PEM type that says
// whether it is encrypted, and nothing else is left in the directory.
func TestWriteKeyPairContent(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "plain.key")
	if err := WriteKeyPair(path, newKey(t, ECDSA), nil); err != nil {
		t.Fatal(err)
	}
	kf, err := readKeyFile(path)
	if err != nil || kf.block.Type != "PRIVATE KEY" || kf.encrypted {
		t.Errorf("unencrypted key file: %+v, %v", kf, err)
	}
	if got := listDir(t, dir); !slices.Equal(got, []string{"plain.key", "plain.key.pub"}) {
		t.Errorf("directory holds %q", got)
	}
	_, enc := encryptedKey(t, Ed25519)
	kf, err = readKeyFile(enc)
	if err != nil || kf.block.Type != "ENCRYPTED SIGSTORE PRIVATE KEY" || !kf.encrypted {
		t.Errorf("encrypted key file: %+v, %v", kf, err)
	}
	data, _ := os.ReadFile(enc)
	if bytes.Contains(data, testPassword) {
		t.Error("the encrypted key file holds the password")
	}
}
