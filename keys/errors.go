package keys

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// Sentinel errors. They come wrapped in a *FileError (for key files) or a
// *KMSError (for KMS keys) that says which key they are about; test them
// with errors.Is. None of them ever carries password or key material.
var (
	// ErrWrongPassword: the password does not open an encrypted key file.
	// The cipher (secretbox) cannot tell a wrong password from an altered
	// ciphertext, so this is also what a tampered encrypted key gives.
	ErrWrongPassword = errors.New("wrong password (or the encrypted key was altered)")
	// ErrNoPassword: the key file is encrypted and no PasswordFunc was given.
	ErrNoPassword = errors.New("the key is encrypted and no password was supplied")
	// ErrEmptyPassword: a password was required and an empty one was given.
	ErrEmptyPassword = errors.New("empty password")
	// ErrNotPEM: the file does not start with a PEM "-----BEGIN" line.
	ErrNotPEM = errors.New("not a PEM file")
	// ErrTruncated: the file starts a PEM block that does not decode: its
	// END line is missing or its base64 body is cut or malformed.
	ErrTruncated = errors.New("truncated or malformed PEM block")
	// ErrTrailingData: something other than white space follows the PEM block.
	ErrTrailingData = errors.New("unexpected data after the PEM block")
	// ErrTooLarge: the file is larger than any key file (64 KiB).
	ErrTooLarge = errors.New("file too large for a key file")
	// ErrNotRegular: the key file is a directory, a named pipe, a device or
	// a socket; a key file is a regular file (a symbolic link to one is
	// followed).
	ErrNotRegular = errors.New("not a regular file")
	// ErrDamaged: the PEM block decodes but its content is not a valid key
	// (bad DER, bad encrypted envelope).
	ErrDamaged = errors.New("damaged key data")
	// ErrSchemeMismatch: a signer's signatures do not verify under the TUF
	// scheme of its public key, the way a go-tuf client checks them. A KMS
	// that signs RSA keys with PKCS#1 v1.5 instead of RSA-PSS gives this.
	ErrSchemeMismatch = errors.New("signatures do not verify under the key's TUF scheme")
)

// FileError is an error about one key file.
type FileError struct {
	Path string
	Err  error
}

func (e *FileError) Error() string { return "key file " + e.Path + ": " + e.Err.Error() }
func (e *FileError) Unwrap() error { return e.Err }

// fileError wraps err for path, dropping the *fs.PathError or
// *os.LinkError around an I/O error so that the message names path (not a
// temporary name) once. errors.Is(err, fs.ErrNotExist) and the like still
// hold.
func fileError(path string, err error) *FileError {
	var pe *fs.PathError
	var le *os.LinkError
	switch {
	case errors.As(err, &pe):
		err = pe.Err
	case errors.As(err, &le):
		err = le.Err
	}
	return &FileError{Path: path, Err: err}
}

// PermissionError is returned for a private key file, encrypted or not,
// that its group or others may access: its mode has one of the bits 0o077
// (on Unix; elsewhere modes are not checked). It is not wrapped in a
// *FileError: it names the file itself. The file's content is not used.
// The fix is "chmod 600 PATH".
type PermissionError struct {
	Path string
	Mode fs.FileMode // the permission bits found, e.g. 0o644
}

func (e *PermissionError) Error() string {
	return fmt.Sprintf("key file %s: private key open to group or others (mode %#o, %s); want mode 0600",
		e.Path, uint32(e.Mode.Perm()), e.Mode.Perm())
}

// KMSError is an error about one KMS key, named by its URI. Key URIs name
// keys; they hold no secret (credentials come from the provider's usual
// environment), so the URI is part of the message.
type KMSError struct {
	Ref string
	Err error
}

func (e *KMSError) Error() string { return "kms key " + e.Ref + ": " + e.Err.Error() }
func (e *KMSError) Unwrap() error { return e.Err }

// Kind says what a key reference holds.
type Kind string

// Kinds of key references.
const (
	KindPublic  Kind = "public"  // a PEM public key file
	KindPrivate Kind = "private" // a PEM private key file, encrypted or not
	KindKMS     Kind = "kms"     // a key held by a KMS, named by URI
)

// KindError is returned when a private key is given where a public key is
// expected, or the reverse.
type KindError struct {
	Want, Found Kind
}

func (e *KindError) Error() string {
	return fmt.Sprintf("holds a %s key, but a %s key is expected", e.Found, e.Want)
}

// PEMTypeError is returned for a PEM block that is not a key bsi reads,
// such as a certificate or a legacy OpenSSL-encrypted key (PEM headers).
type PEMTypeError struct {
	Type    string // the PEM block type, e.g. "CERTIFICATE"
	Headers bool   // the block has headers (legacy "Proc-Type" encryption)
}

func (e *PEMTypeError) Error() string {
	if e.Headers {
		return fmt.Sprintf("PEM block %q has headers (legacy OpenSSL encryption), which bsi does not read; "+
			"convert it to PKCS#8", e.Type)
	}
	return fmt.Sprintf("PEM block %q is not a key; want one of %s", e.Type, strings.Join(pemTypeNames(), ", "))
}

// UnsupportedKeyError is returned for a key of a type that TUF or bsi does
// not accept: ECDSA on a curve other than P-256, RSA below 2048 bits, DSA,
// Ed448, X25519 and so on.
type UnsupportedKeyError struct {
	Found string // what was found: "ecdsa P-384", "rsa 1024 bits", "dsa"
}

func (e *UnsupportedKeyError) Error() string {
	return fmt.Sprintf("unsupported key type %s: bsi accepts ed25519, ecdsa P-256 and rsa of at least %d bits",
		e.Found, minRSABits)
}

// UnknownTypeError is returned for a key type name other than ed25519,
// ecdsa or rsa.
type UnknownTypeError struct {
	Name string
}

func (e *UnknownTypeError) Error() string {
	return fmt.Sprintf("unknown key type %q: want ed25519, ecdsa or rsa", e.Name)
}

// UnknownKMSError is returned for a key URI whose scheme is not one of the
// compiled-in KMS providers.
type UnknownKMSError struct {
	Scheme    string   // "foo://"
	Supported []string // sorted, e.g. "awskms://", "azurekms://", ...
}

func (e *UnknownKMSError) Error() string {
	return fmt.Sprintf("unknown KMS scheme %q; supported: %s", e.Scheme, strings.Join(e.Supported, ", "))
}
