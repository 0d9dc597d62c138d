package transparency

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"

	"github.com/transparency-dev/formats/witness"
	"golang.org/x/mod/sumdb/note"
)

// MaxPolicySize bounds the tlog-policy target.
const MaxPolicySize = 64 << 10

// placeholderURL stands for a witness URL the policy leaves out: devices
// never contact witnesses, and formats/witness requires one.
const placeholderURL = "https://witness.invalid/"

// Policy is a parsed C2SP tlog-policy: the log's key (whose name is the
// checkpoint origin), its witnesses and the quorum of them that must
// cosign a checkpoint.
type Policy struct {
	// Origin is the log's checkpoint origin: the name of its key.
	Origin string
	// LogURL is the log's URL as the policy gives it, "" when absent.
	LogURL string
	log    note.Verifier
	quorum witness.Group
	// witnesses are every witness the policy names, in order.
	witnesses []witness.Witness
	sum       string

	// last is the last checkpoint that verified, by the SHA-256 of its
	// bytes: the proofs of one publish all carry the checkpoint the check
	// verified, so each install costs no signature verification.
	mu      sync.Mutex
	lastSum [32]byte
	last    *Checkpoint
}

// ParsePolicy reads a C2SP tlog-policy as the device uses it: exactly one
// "log VKEY [URL]" line with an Ed25519 note key, "witness NAME VKEY
// [URL]" lines with cosignature/v1 keys, "group" lines and one "quorum"
// line, parsed by formats/witness. A policy whose quorum is "none" is
// refused: without witnesses a log can show each device its own view.
// The error is a *TransparencyError (Check CheckPolicy).
func ParsePolicy(data []byte) (*Policy, error) {
	bad := func(format string, a ...any) error {
		return &TransparencyError{Check: CheckPolicy, Reason: fmt.Sprintf(format, a...)}
	}
	if len(data) > MaxPolicySize {
		return nil, bad("%d bytes, more than %d", len(data), MaxPolicySize)
	}
	p := &Policy{}
	var rest bytes.Buffer
	for i, line := range strings.Split(string(data), "\n") {
		if j := strings.IndexByte(line, '#'); j >= 0 {
			line = line[:j]
		}
		f := strings.Fields(line)
		switch {
		case len(f) == 0:
			continue
		case f[0] == "log":
			if p.log != nil {
				return nil, bad("line %d: a second log line", i+1)
			}
			if len(f) != 2 && len(f) != 3 {
				return nil, bad("line %d: not \"log VKEY [URL]\"", i+1)
			}
			v, err := note.NewVerifier(f[1])
			if err != nil {
				return nil, bad("line %d: log key: %v", i+1, err)
			}
			p.log, p.Origin = v, v.Name()
			if len(f) == 3 {
				p.LogURL = f[2]
			}
			continue
		case f[0] == "witness" && len(f) == 3:
			f = append(f, placeholderURL)
		}
		rest.WriteString(strings.Join(f, " ") + "\n")
	}
	if p.log == nil {
		return nil, bad("no log line")
	}
	g, err := witness.ParsePolicy(rest.Bytes())
	if err != nil {
		return nil, &TransparencyError{Check: CheckPolicy, Reason: "witnesses and quorum", Err: err}
	}
	if g.N <= 0 {
		return nil, bad("quorum is none: a policy must require witnesses")
	}
	p.quorum = g
	p.witnesses = leaves(g, nil)
	seen := map[string]bool{p.Origin: true}
	for _, w := range p.witnesses {
		if seen[w.Key.Name()] {
			return nil, bad("key name %q is used twice", w.Key.Name())
		}
		seen[w.Key.Name()] = true
	}
	sum := sha256.Sum256(data)
	p.sum = hex.EncodeToString(sum[:])
	return p, nil
}

// leaves lists the witnesses of g, depth first, each once.
func leaves(g witness.Group, out []witness.Witness) []witness.Witness {
	for _, c := range g.Components {
		switch c := c.(type) {
		case witness.Witness:
			if !hasWitness(out, c.Key) {
				out = append(out, c)
			}
		case witness.Group:
			out = leaves(c, out)
		}
	}
	return out
}

func hasWitness(ws []witness.Witness, k note.Verifier) bool {
	for _, w := range ws {
		if w.Key.Name() == k.Name() && w.Key.KeyHash() == k.KeyHash() {
			return true
		}
	}
	return false
}

// SHA256 is the hex SHA-256 of the policy's bytes.
func (p *Policy) SHA256() string { return p.sum }

// Witnesses returns the names of the policy's witness keys.
func (p *Policy) Witnesses() []string {
	out := make([]string, len(p.witnesses))
	for i, w := range p.witnesses {
		out[i] = w.Key.Name()
	}
	return out
}

// verifiers are the log's verifier followed by every witness's.
func (p *Policy) witnessVerifiers() []note.Verifier {
	out := make([]note.Verifier, len(p.witnesses))
	for i, w := range p.witnesses {
		out[i] = w.Key
	}
	return out
}

// satisfied reports whether group g is satisfied by the witnesses for
// which ok returns true.
func satisfied(g witness.Group, ok func(witness.Witness) bool) bool {
	if g.N <= 0 {
		return true
	}
	n := 0
	for _, c := range g.Components {
		switch c := c.(type) {
		case witness.Witness:
			if ok(c) {
				n++
			}
		case witness.Group:
			if satisfied(c, ok) {
				n++
			}
		}
		if n >= g.N {
			return true
		}
	}
	return false
}
