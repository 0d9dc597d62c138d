package keys

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
	"io"
	"io/fs"
	"strings"

	"github.com/secure-systems-lab/go-securesystemslib/encrypted"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
)

// maxKeyFile caps what is read of a key file: an RSA-4096 encrypted key is
// under 4 KiB.
const maxKeyFile = 64 << 10

// PEM block types bsi reads.
const (
	pemPublic          = string(cryptoutils.PublicKeyPEMType)                   // PKIX
	pemPublicPKCS1     = string(cryptoutils.PKCS1PublicKeyPEMType)              // RSA only
	pemPrivate         = string(cryptoutils.PrivateKeyPEMType)                  // PKCS#8, what bsi writes
	pemPrivateEC       = string(cryptoutils.ECPrivateKeyPEMType)                // SEC 1
	pemPrivatePKCS1    = string(cryptoutils.PKCS1PrivateKeyPEMType)             // RSA only
	pemEncrypted       = string(cryptoutils.EncryptedSigstorePrivateKeyPEMType) // what bsi writes
	pemEncryptedCosign = "ENCRYPTED COSIGN PRIVATE KEY"                         // same format, older name
	secretboxFailure   = "encrypted: decryption failed"                         // go-securesystemslib's secretbox failure
)

func pemTypeNames() []string {
	return []string{pemPublic, pemPublicPKCS1, pemPrivate, pemPrivateEC, pemPrivatePKCS1, pemEncrypted, pemEncryptedCosign}
}

// keyFile is a decoded key file: one PEM block and what it holds.
type keyFile struct {
	block     *pem.Block
	kind      Kind // KindPublic or KindPrivate
	encrypted bool
}

// readKeyFile reads and decodes path: a regular file (symbolic links are
// followed) of at most maxKeyFile bytes. A private key file must be closed
// to group and others (see checkPrivateMode); the mode is checked after the
// PEM type says the file is private and before anything else of it is
// used. Errors are *FileError or *PermissionError.
func readKeyFile(path string) (*keyFile, error) {
	f, err := openKeyFile(path)
	if err != nil {
		return nil, fileError(path, err)
	}
	defer f.Close()
	st, err := f.Stat() // the opened file: no race with a rename
	if err != nil {
		return nil, fileError(path, err)
	}
	if !st.Mode().IsRegular() {
		return nil, &FileError{Path: path, Err: fmt.Errorf("%w (%s)", ErrNotRegular, describeMode(st.Mode()))}
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return nil, fileError(path, err)
	}
	kf, err := parseKeyFile(data)
	if err != nil {
		return nil, &FileError{Path: path, Err: err}
	}
	if kf.kind == KindPrivate {
		if err := checkPrivateMode(path, st.Mode()); err != nil {
			return nil, err
		}
	}
	return kf, nil
}

// describeMode names the type of a file that is not a regular one.
func describeMode(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return "type " + m.Type().String()
}

// parseKeyFile decodes the one PEM block of a key file. It accepts only
// white space around the block.
func parseKeyFile(data []byte) (*keyFile, error) {
	if len(data) > maxKeyFile {
		return nil, ErrTooLarge
	}
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if !bytes.HasPrefix(trimmed, []byte("-----BEGIN ")) {
		return nil, ErrNotPEM
	}
	block, rest := pem.Decode(trimmed)
	if block == nil {
		return nil, ErrTruncated
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, ErrTrailingData
	}
	if len(block.Headers) != 0 {
		return nil, &PEMTypeError{Type: block.Type, Headers: true}
	}
	kf := &keyFile{block: block}
	switch block.Type {
	case pemPublic, pemPublicPKCS1:
		kf.kind = KindPublic
	case pemPrivate, pemPrivateEC, pemPrivatePKCS1:
		kf.kind = KindPrivate
	case pemEncrypted, pemEncryptedCosign:
		kf.kind, kf.encrypted = KindPrivate, true
	default:
		return nil, &PEMTypeError{Type: block.Type}
	}
	return kf, nil
}

// publicKey parses a public key block and checks its type.
func (kf *keyFile) publicKey() (crypto.PublicKey, error) {
	if kf.kind != KindPublic {
		return nil, &KindError{Want: KindPublic, Found: kf.kind}
	}
	var pub crypto.PublicKey
	var err error
	if kf.block.Type == pemPublicPKCS1 {
		pub, err = x509.ParsePKCS1PublicKey(kf.block.Bytes)
	} else {
		pub, err = x509.ParsePKIXPublicKey(kf.block.Bytes)
	}
	if err != nil {
		return nil, describeParseError(kf.block.Bytes, err)
	}
	if _, err := TypeOf(pub); err != nil {
		return nil, err
	}
	return pub, nil
}

// privateKey decrypts (asking password only when the block is encrypted)
// and parses a private key block, and checks its type.
func (kf *keyFile) privateKey(password PasswordFunc) (crypto.Signer, error) {
	if kf.kind != KindPrivate {
		return nil, &KindError{Want: KindPrivate, Found: kf.kind}
	}
	der := kf.block.Bytes
	if kf.encrypted {
		var err error
		if der, err = decrypt(der, password); err != nil {
			return nil, err
		}
	}
	var key any
	var err error
	switch kf.block.Type {
	case pemPrivateEC:
		key, err = x509.ParseECPrivateKey(der)
	case pemPrivatePKCS1:
		key, err = x509.ParsePKCS1PrivateKey(der)
	default:
		key, err = x509.ParsePKCS8PrivateKey(der)
	}
	if err != nil {
		return nil, describeParseError(der, err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		if k, ok := key.(interface{ Public() crypto.PublicKey }); ok {
			if _, err := TypeOf(k.Public()); err != nil {
				return nil, err // names it: "ecdh X25519"
			}
		}
		return nil, &UnsupportedKeyError{Found: fmt.Sprintf("%T", key)}
	}
	if _, err := TypeOf(signer.Public()); err != nil {
		return nil, err
	}
	return signer, nil
}

// decrypt opens sigstore's encrypted key format (scrypt + secretbox, in a
// JSON envelope) with the password from password.
func decrypt(ciphertext []byte, password PasswordFunc) ([]byte, error) {
	if password == nil {
		return nil, ErrNoPassword
	}
	pw, err := password(false)
	if err != nil {
		return nil, err
	}
	if len(pw) == 0 {
		return nil, ErrEmptyPassword
	}
	der, err := encrypted.Decrypt(ciphertext, pw)
	switch {
	case err == nil:
		return der, nil
	case err.Error() == secretboxFailure:
		return nil, ErrWrongPassword
	default:
		return nil, fmt.Errorf("%w: encrypted envelope: %v", ErrDamaged, err)
	}
}

// Names of key algorithms and curves that Go's x509 does not parse, by
// object identifier, to name them in errors.
var oidNames = map[string]string{
	"1.2.840.10040.4.1":     "dsa",
	"1.3.101.111":           "x448",
	"1.3.101.113":           "ed448",
	"1.2.840.113549.1.1.10": "rsa-pss (RSASSA-PSS-only key)",
	"1.2.840.10045.3.1.1":   "P-192",
	"1.3.132.0.10":          "secp256k1",
}

// describeParseError turns an x509 parse failure into an
// *UnsupportedKeyError when der is a well-formed PKCS#8 or PKIX structure
// of an algorithm or curve Go does not parse, and into ErrDamaged otherwise.
func describeParseError(der []byte, err error) error {
	alg, ok := algorithmOf(der)
	msg := err.Error()
	switch {
	case !ok:
	case strings.Contains(msg, "elliptic curve"):
		var curve asn1.ObjectIdentifier
		if _, e := asn1.Unmarshal(alg.Parameters.FullBytes, &curve); e == nil {
			return &UnsupportedKeyError{Found: "ecdsa " + nameOID(curve)}
		}
		return &UnsupportedKeyError{Found: "ecdsa on an unknown curve"}
	case strings.Contains(msg, "unknown algorithm") || strings.Contains(msg, "unknown public key algorithm"):
		return &UnsupportedKeyError{Found: nameOID(alg.Algorithm)}
	}
	return fmt.Errorf("%w: %v", ErrDamaged, err)
}

// algorithmOf returns the algorithm identifier of a PKCS#8 private key or
// a PKIX public key.
func algorithmOf(der []byte) (pkix.AlgorithmIdentifier, bool) {
	var pkcs8 struct {
		Version    int
		Algorithm  pkix.AlgorithmIdentifier
		PrivateKey []byte
	}
	if rest, err := asn1.Unmarshal(der, &pkcs8); err == nil && len(rest) == 0 {
		return pkcs8.Algorithm, true
	}
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if rest, err := asn1.Unmarshal(der, &spki); err == nil && len(rest) == 0 {
		return spki.Algorithm, true
	}
	return pkix.AlgorithmIdentifier{}, false
}

func nameOID(oid asn1.ObjectIdentifier) string {
	if name, ok := oidNames[oid.String()]; ok {
		return name
	}
	return "with object identifier " + oid.String()
}

// LoadPublicKey loads a PEM public key file ("PUBLIC KEY", or "RSA PUBLIC
// KEY"), a regular file of any mode. Errors are a *FileError wrapping:
// ErrNotPEM, ErrTruncated, ErrTrailingData, ErrTooLarge, ErrNotRegular,
// ErrDamaged, a *PEMTypeError, a *KindError for a private key file, an
// *UnsupportedKeyError, or the os error; or a *PermissionError for a
// private key file that group or others may access.
func LoadPublicKey(path string) (crypto.PublicKey, error) {
	kf, err := readKeyFile(path)
	if err != nil {
		return nil, err
	}
	pub, err := kf.publicKey()
	if err != nil {
		return nil, &FileError{Path: path, Err: err}
	}
	return pub, nil
}
