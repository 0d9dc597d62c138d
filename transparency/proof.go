package transparency

import (
	"bytes"
	"fmt"

	fproof "github.com/transparency-dev/formats/proof"
)

// MaxProofHashes bounds the inclusion proof of a log of at most 2^63
// entries.
const MaxProofHashes = 63

// Proof is a C2SP tlog-proof (c2sp.org/tlog-proof@v1) whose "extra" data
// is the logged entry.
type Proof struct {
	// Entry is the entry's bytes, the leaf data of the log.
	Entry []byte
	// Index is the entry's index in the log.
	Index uint64
	// Hashes is the inclusion proof, from the leaf up.
	Hashes [][32]byte
	// Checkpoint is the cosigned checkpoint note the proof leads to.
	Checkpoint []byte
}

// ParseProof reads a C2SP tlog-proof, accepting only the bytes Marshal
// would write back: the header, an "extra" line (standard base64 of the
// entry, at most MaxEntrySize bytes), "index N", at most MaxProofHashes
// hashes, a blank line and a checkpoint note. Its size is checked before
// anything is allocated. The error is a *TransparencyError (Check
// CheckProofFormat).
func ParseProof(data []byte) (*Proof, error) {
	bad := func(format string, a ...any) error {
		return &TransparencyError{Check: CheckProofFormat, Reason: fmt.Sprintf(format, a...)}
	}
	if len(data) > MaxProofSize {
		return nil, bad("%d bytes, more than %d", len(data), MaxProofSize)
	}
	var tp fproof.TLogProof
	if err := tp.Unmarshal(data); err != nil {
		return nil, &TransparencyError{Check: CheckProofFormat, Reason: "not a c2sp.org/tlog-proof@v1", Err: err}
	}
	switch {
	case len(tp.ExtraData) == 0:
		return nil, bad("no extra line carrying the entry")
	case len(tp.ExtraData) > MaxEntrySize:
		return nil, bad("entry of %d bytes, more than %d", len(tp.ExtraData), MaxEntrySize)
	case len(tp.Hashes) > MaxProofHashes:
		return nil, bad("%d proof hashes, more than %d", len(tp.Hashes), MaxProofHashes)
	case len(tp.Checkpoint) == 0:
		return nil, bad("no checkpoint")
	}
	if !bytes.Equal(tp.Marshal(), data) {
		return nil, bad("not in canonical form (line endings, base64 padding, number or blank lines)")
	}
	return &Proof{Entry: tp.ExtraData, Index: tp.Index, Hashes: tp.Hashes, Checkpoint: tp.Checkpoint}, nil
}

// Marshal returns the proof in C2SP tlog-proof form.
func (p *Proof) Marshal() []byte {
	return fproof.TLogProof{Index: p.Index, Hashes: p.Hashes, Checkpoint: p.Checkpoint, ExtraData: p.Entry}.Marshal()
}
