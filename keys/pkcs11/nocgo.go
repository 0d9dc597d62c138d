//go:build !cgo

package pkcs11

import (
	"context"
	"crypto"
	"io"
)

// Key is a private key on a token. Without cgo there are none: Open and
// Generate return ErrNoCgo.
type Key struct {
	Label string
	ID    []byte
	Token string
}

// Open returns ErrNoCgo: this binary was built without cgo.
func Open(context.Context, *URI, PINFunc) (*Key, error) { return nil, ErrNoCgo }

// Generate returns ErrNoCgo: this binary was built without cgo.
func Generate(context.Context, *URI, PINFunc, Algorithm) (*Key, error) { return nil, ErrNoCgo }

// Public returns nil.
func (k *Key) Public() crypto.PublicKey { return nil }

// Sign returns ErrNoCgo.
func (k *Key) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) { return nil, ErrNoCgo }

// Close does nothing.
func (k *Key) Close() error { return nil }
