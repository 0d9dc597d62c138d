package witness

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/options"
	"golang.org/x/mod/sumdb/note"
)

// Signature algorithm bytes of C2SP signed-note keys.
const (
	algEd25519        = 0x01
	algCosignatureV1  = 0x04
	cosignatureLength = 8 + ed25519.SignatureSize
)

// Cosigner makes C2SP tlog-cosignature v1 signatures (timestamped) with an
// ed25519 key held by a signature.Signer (a bsi key file or a KMS key), on
// an injected clock. It implements note.Signer.
type Cosigner struct {
	name string
	pub  ed25519.PublicKey
	hash uint32
	s    signature.Signer
	now  func() time.Time
}

var _ note.Signer = (*Cosigner)(nil)

// NewCosigner returns a cosigner named name (the witness's name in
// policies). The key must be ed25519; now nil means time.Now.
func NewCosigner(name string, s signature.Signer, now func() time.Time) (*Cosigner, error) {
	pub, err := ed25519Public(s)
	if err != nil {
		return nil, fmt.Errorf("witness key %s: %w", name, err)
	}
	if !ValidName(name) {
		return nil, fmt.Errorf("witness name %q: empty, or holds a space or a '+'", name)
	}
	if now == nil {
		now = time.Now
	}
	return &Cosigner{name: name, pub: pub, hash: KeyHash(name, algCosignatureV1, pub), s: s, now: now}, nil
}

// Name returns the witness name.
func (c *Cosigner) Name() string { return c.name }

// KeyHash returns the note key hash of the cosignature/v1 key.
func (c *Cosigner) KeyHash() uint32 { return c.hash }

// VerifierKey returns the witness's vkey (algorithm 0x04,
// cosignature/v1), the form a tlog-policy "witness" line carries.
func (c *Cosigner) VerifierKey() string { return VerifierKey(c.name, algCosignatureV1, c.pub) }

// Sign returns timestamp || ed25519 signature over the cosignature/v1
// message of the note text msg.
func (c *Cosigner) Sign(msg []byte) ([]byte, error) {
	if bytes.Count(msg, []byte("\n")) < 3 {
		return nil, errors.New("cosign: the note text is not a checkpoint (fewer than three lines)")
	}
	t := uint64(c.now().Unix())
	m := fmt.Appendf(nil, "cosignature/v1\ntime %d\n%s", t, msg)
	sig, err := c.s.SignMessage(bytes.NewReader(m), options.WithContext(context.Background()))
	if err != nil {
		return nil, fmt.Errorf("cosign: %w", err)
	}
	if len(sig) != ed25519.SignatureSize {
		return nil, fmt.Errorf("cosign: signature of %d bytes, not ed25519", len(sig))
	}
	return append(binary.BigEndian.AppendUint64(nil, t), sig...), nil
}

// ed25519Public returns the signer's ed25519 public key.
func ed25519Public(s signature.Signer) (ed25519.PublicKey, error) {
	pub, err := s.PublicKey()
	if err != nil {
		return nil, err
	}
	k, ok := pub.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("key of type %T, want ed25519", crypto.PublicKey(pub))
	}
	return k, nil
}

// ValidName reports whether name may name a note key: non-empty, valid
// UTF-8, no space and no '+'.
func ValidName(name string) bool {
	return name != "" && strings.IndexFunc(name, unicode.IsSpace) < 0 && !strings.Contains(name, "+") &&
		!strings.ContainsRune(name, unicode.ReplacementChar)
}

// KeyHash returns the C2SP signed-note key hash of an ed25519 key with
// algorithm byte alg: the first four bytes of SHA-256(name "\n" alg key).
func KeyHash(name string, alg byte, pub ed25519.PublicKey) uint32 {
	h := sha256.New()
	h.Write([]byte(name + "\n"))
	h.Write([]byte{alg})
	h.Write(pub)
	return binary.BigEndian.Uint32(h.Sum(nil))
}

// VerifierKey returns the vkey "name+hash+base64(alg key)".
func VerifierKey(name string, alg byte, pub ed25519.PublicKey) string {
	return fmt.Sprintf("%s+%08x+%s", name, KeyHash(name, alg, pub), base64.StdEncoding.EncodeToString(append([]byte{alg}, pub...)))
}

// NoteSigner is a plain ed25519 note signer (algorithm 0x01) over a
// signature.Signer: the log's checkpoint signer.
type NoteSigner struct {
	name string
	pub  ed25519.PublicKey
	s    signature.Signer
}

var _ note.Signer = (*NoteSigner)(nil)

// NewNoteSigner returns a note signer named name (the log origin) for an
// ed25519 key.
func NewNoteSigner(name string, s signature.Signer) (*NoteSigner, error) {
	pub, err := ed25519Public(s)
	if err != nil {
		return nil, fmt.Errorf("log key %s: %w", name, err)
	}
	if !ValidName(name) {
		return nil, fmt.Errorf("log origin %q: empty, or holds a space or a '+'", name)
	}
	return &NoteSigner{name: name, pub: pub, s: s}, nil
}

// Name returns the key name (the log origin).
func (n *NoteSigner) Name() string { return n.name }

// KeyHash returns the note key hash.
func (n *NoteSigner) KeyHash() uint32 { return KeyHash(n.name, algEd25519, n.pub) }

// VerifierKey returns the vkey of the log, as a policy's "log" line
// carries it.
func (n *NoteSigner) VerifierKey() string { return VerifierKey(n.name, algEd25519, n.pub) }

// Sign signs msg with ed25519.
func (n *NoteSigner) Sign(msg []byte) ([]byte, error) {
	sig, err := n.s.SignMessage(bytes.NewReader(msg), options.WithContext(context.Background()))
	if err != nil {
		return nil, fmt.Errorf("sign checkpoint: %w", err)
	}
	if len(sig) != ed25519.SignatureSize {
		return nil, fmt.Errorf("sign checkpoint: signature of %d bytes, not ed25519", len(sig))
	}
	return sig, nil
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
