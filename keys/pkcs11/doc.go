// Package pkcs11 signs with keys held by PKCS#11 tokens (HSMs, YubiKeys,
// smart cards, SoftHSM), named by RFC 7512 URIs. Package keys plugs it in
// wherever bsi takes a key; this package knows nothing of TUF.
//
// # Trust model
//
// The private key never leaves the token: Open finds it and the token
// signs. Whoever can log in to the token (its PIN) can sign with it. The
// module named by module-path or module-name is native code loaded into
// bsi, so the URI is as trusted as the command line that gives it (a
// workspace.json that names a module is the publisher's own file).
// module-path must be absolute; module-name is looked up only in the
// system's library directories.
//
// # URIs
//
//	pkcs11:token=bsi-root-1;object=root-1;id=%01?module-name=softhsm2&pin-source=file:/run/bsi/pin
//
// Path attributes (";"-separated): token, serial, slot-id (the token; at
// least one), manufacturer and model (further conditions), object (the
// key's CKA_LABEL), id (CKA_ID, percent-encoded bytes), type (private or
// absent). Query attributes ("&"-separated, after "?"): module-path or
// module-name, pin-source. Parse refuses anything else, including
// pin-value: a PIN written in a URI would end up in workspace.json, in
// messages and in process lists. Parse(u.String()) == u.
//
// # PIN
//
// From the file that pin-source names (mode 0600 or 0400), else from the
// caller's PINFunc (bsi: BSI_PKCS11_PIN, else the terminal). A wrong PIN
// is ErrWrongPIN; the first wrong one stops everything, since tokens lock
// the PIN after a few. Login state is the process's, per token: it lasts
// until the last Key of a module is closed.
//
// # Keys
//
// ECDSA and RSA keys are found and used through crypto11 (CKM_ECDSA;
// CKM_RSA_PKCS_PSS with the caller's PSS options). crypto11 1.6 lacks
// EdDSA, so Ed25519 keys (CKK_EC_EDWARDS, PKCS#11 3.0) are driven directly
// through miekg/pkcs11 with CKM_EDDSA, when the token lists it. crypto11
// owns the module (it initialises and finalises it, reference counted per
// process); this package uses a second handle on the loaded module that
// never initialises or finalises it. The public key is read from the
// token's public key object with the same id.
//
// # Errors
//
// A *URIError names the attribute at fault; then *ModuleError,
// *TokenNotFoundError (with the labels of the tokens present),
// ErrWrongPIN, ErrPINLocked, ErrNoPIN, *PINFileModeError,
// *ObjectNotFoundError (with the labels of the private keys present),
// *UnsupportedKeyError (a secret key, a certificate, a DSA key...),
// *MechanismError (Ed25519 without CKM_EDDSA), ErrExists (Generate over a
// label or id in use), and ErrNoCgo in a binary built without cgo. None
// repeats a PIN.
//
// # Example
//
//	u, _ := pkcs11.Parse("pkcs11:token=bsi-root-1;object=root-1?module-name=softhsm2")
//	k, err := pkcs11.Open(ctx, u, func(token string) ([]byte, error) { return pin, nil })
//	if err != nil { ... }
//	defer k.Close()
//	digest := sha256.Sum256(msg)
//	sig, err := k.Sign(nil, digest[:], crypto.SHA256) // ECDSA: ASN.1 DER
package pkcs11
