package witness

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"strconv"
)

// Limits of an add-checkpoint request.
const (
	// MaxRequestSize bounds a request body.
	MaxRequestSize = 64 << 10
	// MaxProofHashes is the most consistency proof lines a request may
	// carry (C2SP tlog-witness).
	MaxProofHashes = 63
)

// AddCheckpoint is the body of a C2SP tlog-witness add-checkpoint request.
type AddCheckpoint struct {
	OldSize    uint64
	Proof      [][]byte // consistency proof from OldSize, 32-byte hashes
	Checkpoint []byte   // the signed checkpoint note, verbatim
}

// RequestError says why a request body does not parse.
type RequestError struct {
	Line   int // 1-based, 0 for the whole body
	Reason string
}

func (e *RequestError) Error() string {
	if e.Line == 0 {
		return "add-checkpoint request: " + e.Reason
	}
	return fmt.Sprintf("add-checkpoint request: line %d: %s", e.Line, e.Reason)
}

// Marshal returns the request body.
func (r *AddCheckpoint) Marshal() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "old %d\n", r.OldSize)
	for _, h := range r.Proof {
		b.WriteString(base64.StdEncoding.EncodeToString(h))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.Write(r.Checkpoint)
	return b.Bytes()
}

// ParseAddCheckpoint reads a request body, accepting only the canonical
// form Marshal writes: "old N" with N in decimal without leading zeroes,
// at most MaxProofHashes lines of base64 32-byte hashes, an empty line and
// a non-empty checkpoint. Errors are *RequestError.
func ParseAddCheckpoint(body []byte) (*AddCheckpoint, error) {
	if len(body) > MaxRequestSize {
		return nil, &RequestError{Reason: fmt.Sprintf("%d bytes, more than %d", len(body), MaxRequestSize)}
	}
	head, cp, ok := bytes.Cut(body, []byte("\n\n"))
	if !ok {
		return nil, &RequestError{Reason: "no empty line before the checkpoint"}
	}
	if len(cp) == 0 {
		return nil, &RequestError{Reason: "no checkpoint after the empty line"}
	}
	lines := bytes.Split(head, []byte("\n"))
	old, ok := bytes.CutPrefix(lines[0], []byte("old "))
	if !ok {
		return nil, &RequestError{Line: 1, Reason: `does not start with "old "`}
	}
	n, err := strconv.ParseUint(string(old), 10, 64)
	if err != nil || strconv.FormatUint(n, 10) != string(old) {
		return nil, &RequestError{Line: 1, Reason: fmt.Sprintf("old size %q is not a decimal without leading zeroes", old)}
	}
	r := &AddCheckpoint{OldSize: n, Checkpoint: cp}
	if len(lines)-1 > MaxProofHashes {
		return nil, &RequestError{Reason: fmt.Sprintf("%d proof lines, more than %d", len(lines)-1, MaxProofHashes)}
	}
	for i, l := range lines[1:] {
		h, err := base64.StdEncoding.Strict().DecodeString(string(l))
		if err != nil || len(h) != 32 || base64.StdEncoding.EncodeToString(h) != string(l) {
			return nil, &RequestError{Line: i + 2, Reason: "not the base64 of a 32-byte hash"}
		}
		r.Proof = append(r.Proof, h)
	}
	return r, nil
}
