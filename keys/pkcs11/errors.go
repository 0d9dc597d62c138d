package pkcs11

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors; test them with errors.Is. They come wrapped with the
// token or object they are about.
var (
	// ErrWrongPIN: the token refused the PIN (CKR_PIN_INCORRECT or
	// CKR_PIN_LEN_RANGE). Tokens count failed logins and may lock the PIN.
	ErrWrongPIN = errors.New("wrong PIN")
	// ErrPINLocked: the token locked its user PIN after too many wrong
	// ones; its security officer must unlock it.
	ErrPINLocked = errors.New("the user PIN is locked")
	// ErrNoPIN: the token needs a PIN and none was supplied.
	ErrNoPIN = errors.New("the token needs a PIN and none was supplied")
	// ErrNoCgo: this binary was built without cgo, which PKCS#11 needs.
	ErrNoCgo = errors.New("PKCS#11 keys need a bsi built with cgo (CGO_ENABLED=1)")
	// ErrExists: Generate found an object with the label or id already.
	ErrExists = errors.New("an object with this label or id already exists on the token")
)

// ModuleError is a PKCS#11 module that cannot be found or loaded.
type ModuleError struct {
	Module string // the module-path, or module-name as given
	Err    error
}

func (e *ModuleError) Error() string { return "pkcs11 module " + e.Module + ": " + e.Err.Error() }
func (e *ModuleError) Unwrap() error { return e.Err }

// TokenNotFoundError: no token of the module matches the URI.
type TokenNotFoundError struct {
	Want    string   // the URI's token attributes, e.g. `token="bsi-root"`
	Present []string // labels of the initialised tokens present, sorted
}

func (e *TokenNotFoundError) Error() string {
	present := "no initialised token is present"
	if len(e.Present) > 0 {
		present = "tokens present: " + quoteAll(e.Present)
	}
	return fmt.Sprintf("no token matches %s (%s)", e.Want, present)
}

// ObjectNotFoundError: the token holds no private key that matches the
// URI's object and id.
type ObjectNotFoundError struct {
	Want    string   // e.g. `object="root-1"`
	Token   string   // the token's label
	Present []string // labels of the private keys on the token (at most 20)
}

func (e *ObjectNotFoundError) Error() string {
	present := "it holds no private key"
	if len(e.Present) > 0 {
		present = "private keys present: " + quoteAll(e.Present)
	}
	return fmt.Sprintf("token %q holds no private key with %s (%s)", e.Token, e.Want, present)
}

// UnsupportedKeyError: the object found is not a key bsi signs with: a
// secret key, a certificate or data object, or a private key of a type
// other than RSA, EC and EdDSA. (Keys of those types on other curves or
// sizes than bsi accepts are refused by the caller, which checks the
// public key.)
type UnsupportedKeyError struct {
	Found string // e.g. "secret key (CKO_SECRET_KEY)", "dsa private key"
}

func (e *UnsupportedKeyError) Error() string {
	return "unsupported object: " + e.Found
}

// MechanismError: the token lacks the mechanism a key type needs (EdDSA
// on tokens that predate PKCS#11 3.0).
type MechanismError struct {
	Token     string
	Mechanism string // e.g. "CKM_EDDSA"
}

func (e *MechanismError) Error() string {
	return fmt.Sprintf("token %q does not support %s", e.Token, e.Mechanism)
}

func quoteAll(s []string) string {
	q := make([]string, len(s))
	for i, x := range s {
		q[i] = fmt.Sprintf("%q", x)
	}
	return strings.Join(q, ", ")
}
