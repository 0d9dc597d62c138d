package keys

import (
	"crypto"
	"fmt"
	"io"
	"log/slog"

	"github.com/sigstore/sigstore/pkg/signature"
)

// redaction is what a value holding key material prints instead of its
// fields, whatever the verb (%v, %+v, %#v, %s, %q, %x...) and in slog
// records: a description without the secret. Embedding it gives a struct
// these methods.
type redaction string

func (r redaction) String() string   { return string(r) }
func (r redaction) GoString() string { return string(r) }

// Format prints the description for every verb, so that %#v and %x
// cannot reach the fields.
func (r redaction) Format(f fmt.State, _ rune) { io.WriteString(f, string(r)) }

// LogValue keeps the fields out of slog records.
func (r redaction) LogValue() slog.Value { return slog.StringValue(string(r)) }

// signer is what NewSigner and LoadSigner return: the sigstore signer of a
// private key, which fmt would print with the key (sigstore's signers keep
// it in a field), behind a type that prints only its description.
type signer struct {
	redaction
	s signature.Signer
}

var (
	_ signature.Signer = (*signer)(nil)
	_ fmt.Formatter    = (*signer)(nil)
	_ fmt.GoStringer   = (*signer)(nil)
	_ slog.LogValuer   = (*signer)(nil)
)

// redact wraps s, the signer of the key whose public half is pub.
func redact(s signature.Signer, pub crypto.PublicKey) *signer {
	desc := "keys.Signer(private key redacted)"
	if t, err := TypeOf(pub); err == nil {
		if id, err := KeyID(pub); err == nil {
			desc = fmt.Sprintf("keys.Signer(%s %s, private key redacted)", t, id)
		}
	}
	return &signer{redaction: redaction(desc), s: s}
}

func (s *signer) SignMessage(msg io.Reader, opts ...signature.SignOption) ([]byte, error) {
	return s.s.SignMessage(msg, opts...)
}

func (s *signer) PublicKey(opts ...signature.PublicKeyOption) (crypto.PublicKey, error) {
	return s.s.PublicKey(opts...)
}

// kmsRedaction describes the KMS signer of ref: its provider client may
// hold credentials (a Vault token) or, for fakekms://, the key itself.
func kmsRedaction(ref string) redaction {
	return redaction("keys.Signer(kms " + ref + ", client redacted)")
}
