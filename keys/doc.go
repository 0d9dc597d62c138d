// Package keys generates, stores and loads the signing keys of bsi
// publishers, and computes the TUF key and key id of a public key.
//
// # Trust model
//
// A key signs one or more TUF roles (root, targets, a component role,
// snapshot, timestamp). Whoever holds a private key can sign for its roles,
// up to the role's threshold, so private keys are kept encrypted at rest,
// or in a KMS that never lets them out. Public keys are not secret: they
// are listed in root (for top-level roles) and in delegations (for
// component roles), identified by their key id.
//
// This package only handles keys; it decides nothing about which key may
// sign what. It imports nothing of the rest of bsi, and the client side of
// bsi does not import it (a device needs no signing code).
//
// # Key types and TUF schemes
//
//	type      generated as             TUF keytype / scheme
//	ed25519   ed25519                  ed25519 / ed25519
//	ecdsa     ECDSA on NIST P-256      ecdsa / ecdsa-sha2-nistp256
//	rsa       RSA, 3072 bits           rsa / rsassa-pss-sha256
//
// RSA keys sign with RSA-PSS, SHA-256, salt length equal to the hash; PKCS#1
// v1.5 signatures do not verify in TUF. Keys that TUF clients would mislabel
// or that are too weak are refused everywhere with an *UnsupportedKeyError:
// ECDSA on other curves (go-tuf labels every ECDSA key nistp256), RSA below
// 2048 bits, DSA, Ed448, X25519.
//
// The key id is what go-tuf computes: the hex SHA-256 of the canonical JSON
// of the TUF key, e.g. for an ed25519 key
//
//	{"keytype":"ed25519","keyval":{"public":"<64 hex digits>"},"scheme":"ed25519"}
//
// # Key files
//
// WriteKeyPair writes two PEM files: PATH, the private key, mode 0600, and
// PATH.pub, the public key ("PUBLIC KEY", PKIX), mode 0644. The private key
// is sigstore's encrypted format unless the publisher explicitly asks for no
// password:
//
//	-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----
//	base64 of the JSON envelope
//	{"kdf":{"name":"scrypt","params":{"N":65536,"r":8,"p":1},"salt":"..."},
//	 "cipher":{"name":"nacl/secretbox","nonce":"..."},
//	 "ciphertext":"<secretbox of the PKCS#8 DER key>"}
//	-----END ENCRYPTED SIGSTORE PRIVATE KEY-----
//
// or, unencrypted, a PKCS#8 "PRIVATE KEY" block. Loading reads the PEM type
// to know whether to ask for a password: an unencrypted key never prompts.
// Keys made by cosign ("ENCRYPTED COSIGN PRIVATE KEY", same format) and by
// OpenSSL (unencrypted "PRIVATE KEY", "EC PRIVATE KEY", "RSA PRIVATE KEY")
// load too. A file holds exactly one PEM block and at most 64 KiB.
//
// A key file is a regular file (a symbolic link to one is followed; a
// directory, named pipe or device is refused with ErrNotRegular). On Unix a
// private key file, encrypted or not, must be closed to group and others:
// a mode with any of the bits 0o077 (0644, 0640, 0604...) is refused with
// a *PermissionError naming the file and its mode, before the key is
// decrypted or parsed; "chmod 600 FILE" fixes it. Public key files may have
// any mode. On other systems the mode is not checked.
//
// Files are never overwritten, and a failed write leaves nothing behind:
// each file is written to a temporary name, synced, and linked to its name.
//
// # KMS keys
//
// LoadSigner also takes a key URI: awskms://, azurekms://, hashivault://
// (through sigstore's KMS providers, configured by their usual environment
// variables) and fakekms:// for tests. Unknown schemes are refused
// (sigstore's fallback to plugin programs in PATH is never used). A KMS
// signer is checked once when loaded, by signing a small TUF root and
// verifying it with go-tuf: a KMS key whose signatures a TUF client would
// reject (RSA keys signed with PKCS#1 v1.5, as Vault does) fails at load
// with ErrSchemeMismatch.
//
// # PKCS#11 keys
//
// LoadSigner, Inspect and GeneratePKCS11 take a PKCS#11 URI (RFC 7512,
// "pkcs11:token=...;object=...?module-path=...") of a key on a hardware
// token, through package keys/pkcs11 (cgo): ECDSA P-256 and RSA (2048 bits
// or more, signed with RSA-PSS) everywhere, Ed25519 on tokens with
// CKM_EDDSA. The PasswordFunc then returns the token's PIN (when the URI
// has no pin-source); a URI with pin-value is refused. The key id is the
// one a key file of the same public key has. IsKMS is true for these URIs
// too, so that callers keep them as they are rather than as paths. The
// signer holds the token session and is an io.Closer.
//
// # Errors
//
// Every error names the file or URI it is about (*FileError, *KMSError,
// *PKCS11Error) and wraps a specific cause: ErrWrongPassword, ErrNotPEM, ErrTruncated, a
// *KindError (a private key where a public one is expected, or the
// reverse), an *UnsupportedKeyError, an *UnknownKMSError... No error carries
// a password or key material. The signers of NewSigner and LoadSigner
// print, with any fmt verb and in slog records, as their key type and key
// id (or KMS or PKCS#11 URI): never as the key they hold.
//
// # Example
//
// A publisher creates a root key and signs a root with it:
//
//	priv, _ := keys.Generate(keys.Ed25519)
//	_ = keys.WriteKeyPair("root-1.key", priv, password) // and root-1.key.pub
//	signer, _ := keys.LoadSigner(ctx, "root-1.key", askPassword)
//	pub, _ := keys.LoadPublicKey("root-1.key.pub")
//	key, _ := keys.TUFKey(pub)
//	root := metadata.Root(expiry)
//	_ = root.Signed.AddKey(key, metadata.ROOT)
//	_, _ = root.Sign(signer)
//	err := root.VerifyDelegate(metadata.ROOT, root) // nil
package keys
