package keys

import (
	"crypto"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/sigstore/sigstore/pkg/cryptoutils"
)

// PublicSuffix is appended to a private key file's path to name its public
// key file.
const PublicSuffix = ".pub"

// WriteKeyPair writes the private key priv to path and its public key to
// path+".pub" (PEM "PUBLIC KEY"). The private key file is sigstore's
// encrypted PEM ("ENCRYPTED SIGSTORE PRIVATE KEY": scrypt, then secretbox)
// under password, or unencrypted PKCS#8 ("PRIVATE KEY") when password is
// nil; it gets mode 0600, the public key file 0644.
//
// Each file is written to a temporary file in the same directory, synced,
// then linked to its name, which fails if the name exists: an existing file
// is never overwritten, a reader never sees a half-written key, and on any
// error neither file is left behind. Errors: ErrEmptyPassword for a
// non-nil empty password, an *UnsupportedKeyError for a key type bsi does
// not accept, a *FileError wrapping fs.ErrExist when either file exists, or
// a *FileError wrapping the I/O error.
func WriteKeyPair(path string, priv crypto.Signer, password []byte) error {
	if priv == nil {
		return &UnsupportedKeyError{Found: "no key"}
	}
	if _, err := TypeOf(priv.Public()); err != nil {
		return err
	}
	if password != nil && len(password) == 0 {
		return ErrEmptyPassword
	}
	// Refuse early, before the slow encryption; the links below refuse
	// again if a file appears meanwhile.
	pubPath := path + PublicSuffix
	for _, p := range []string{path, pubPath} {
		if _, err := os.Lstat(p); err == nil {
			return &FileError{Path: p, Err: fs.ErrExist}
		} else if !errors.Is(err, fs.ErrNotExist) {
			return fileError(p, err)
		}
	}
	privPEM, err := encodePrivate(priv, password)
	if err != nil {
		return err
	}
	pubPEM, err := cryptoutils.MarshalPublicKeyToPEM(priv.Public())
	if err != nil {
		return fmt.Errorf("encoding the public key: %w", err)
	}
	if err := writeExclusive(path, privPEM, 0o600); err != nil {
		return err
	}
	if err := writeExclusive(pubPath, pubPEM, 0o644); err != nil {
		os.Remove(path)
		return err
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		os.Remove(pubPath)
		os.Remove(path)
		return fileError(path, err)
	}
	return nil
}

// encodePrivate returns the PEM of priv, encrypted under password unless
// password is nil.
func encodePrivate(priv crypto.Signer, password []byte) ([]byte, error) {
	if password == nil {
		der, err := cryptoutils.MarshalPrivateKeyToDER(priv)
		if err != nil {
			return nil, fmt.Errorf("encoding the private key: %w", err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: pemPrivate, Bytes: der}), nil
	}
	der, err := cryptoutils.MarshalPrivateKeyToEncryptedDER(priv, cryptoutils.StaticPasswordFunc(password))
	if err != nil {
		return nil, fmt.Errorf("encrypting the private key: %w", err)
	}
	return cryptoutils.PEMEncode(cryptoutils.EncryptedSigstorePrivateKeyPEMType, der), nil
}

// writeExclusive writes data to a temporary file beside path, syncs it and
// links it to path; the link fails if path exists. The temporary name is
// always removed.
func writeExclusive(path string, data []byte, mode fs.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fileError(path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	err = f.Chmod(mode)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Link(tmp, path)
	}
	if err != nil {
		return fileError(path, err)
	}
	return nil
}

// syncDir makes the new names in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// WritePublicKey writes pub to path as a PEM "PUBLIC KEY" (PKIX) file with
// mode 0644, the way WriteKeyPair writes PATH.pub: never over an existing
// file, and nothing left behind on error. Errors: an *UnsupportedKeyError,
// or a *FileError (wrapping fs.ErrExist when path exists).
func WritePublicKey(path string, pub crypto.PublicKey) error {
	if _, err := TypeOf(pub); err != nil {
		return err
	}
	data, err := cryptoutils.MarshalPublicKeyToPEM(pub)
	if err != nil {
		return fmt.Errorf("encoding the public key: %w", err)
	}
	if err := writeExclusive(path, data, 0o644); err != nil {
		return err
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		os.Remove(path)
		return fileError(path, err)
	}
	return nil
}
