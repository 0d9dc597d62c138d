package transparency

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/bsiframework/bsi/manifest"
)

// Paths of the log, the policy target and the proofs in a published tree.
const (
	// LogDir is the directory of the tiled log, relative to the tree root.
	LogDir = "tlog"
	// CheckpointPath is the witnessed checkpoint, relative to the tree root.
	CheckpointPath = LogDir + "/checkpoint"
	// PolicyTarget is the TUF target path of the C2SP tlog-policy, listed
	// by the top-level targets role only.
	PolicyTarget = "tlog-policy"
	// ProofSuffix is appended to a payload's published file path to name
	// its C2SP tlog-proof.
	ProofSuffix = ".tlog-proof"
	// MaxEntrySize bounds one entry.
	MaxEntrySize = 4096
	// MaxProofSize bounds one proof file (checkpoint, cosignatures,
	// inclusion proof of at most 63 hashes, entry).
	MaxProofSize = 64 << 10
)

// Entry kinds.
const (
	KindImprovement = "improvement"
	KindRoot        = "root"
)

const entryHeader = "bsi.tlog-entry/v1"

// Entry is one logged fact: a newly published improvement or a new root
// version.
type Entry struct {
	Kind string // KindImprovement or KindRoot

	// Improvement fields.
	Component      string
	Path           string            // the TUF target path
	Hashes         map[string]string // algorithm name → lowercase hex, as the target lists them
	ManifestSHA256 string            // hex SHA-256 of manifest.Encode of the target's custom field
	Role           string            // the role that signed the target
	RoleVersion    int64             // that role's version in the publish that logged the entry

	// Root fields (Hashes holds sha256 of the exact file bytes).
	Version int64

	Length int64 // of the payload, or of the root file
}

// ManifestHash returns the hex SHA-256 of the manifest carried in a
// target's custom field, re-encoded by manifest.Encode (so a pretty-printed
// and a compact custom field hash alike).
func ManifestHash(custom json.RawMessage) (string, error) {
	m, err := manifest.FromCustom(custom)
	if err != nil {
		return "", err
	}
	b, err := m.Encode()
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// EntryError says why bytes are not an entry, and at which line.
type EntryError struct {
	Line   int // 1-based; 0 for the whole entry
	Reason string
}

func (e *EntryError) Error() string {
	if e.Line == 0 {
		return "transparency log entry: " + e.Reason
	}
	return fmt.Sprintf("transparency log entry: line %d: %s", e.Line, e.Reason)
}

func validHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// hashLen is the hex length of each hash algorithm an entry may carry.
var hashLen = map[string]int{"sha256": 64, "sha384": 96, "sha512": 128}

func validToken(s string) bool {
	if s == "" || len(s) > 1024 {
		return false
	}
	for _, r := range s {
		if r <= ' ' || r == 0x7f || r == '\uFFFD' {
			return false
		}
	}
	return true
}

// validate checks the fields without encoding them.
func (e *Entry) validate() error {
	bad := func(format string, a ...any) error { return &EntryError{Reason: fmt.Sprintf(format, a...)} }
	if e.Length < 0 {
		return bad("length %d is negative", e.Length)
	}
	if len(e.Hashes) == 0 {
		return bad("no hash")
	}
	for alg, h := range e.Hashes {
		n, ok := hashLen[alg]
		if !ok {
			return bad("hash algorithm %q is not sha256, sha384 or sha512", alg)
		}
		if !validHex(h, n) {
			return bad("hash %s is not %d lowercase hex digits", alg, n)
		}
	}
	switch e.Kind {
	case KindImprovement:
		if !validToken(e.Component) || !validToken(e.Path) || !validToken(e.Role) {
			return bad("component, path and role must be non-empty, without spaces or control characters")
		}
		if !validHex(e.ManifestSHA256, 64) {
			return bad("manifest-sha256 is not 64 lowercase hex digits")
		}
		if e.RoleVersion < 1 {
			return bad("role-version %d is below 1", e.RoleVersion)
		}
		if e.Version != 0 {
			return bad("an improvement entry has no version")
		}
	case KindRoot:
		if e.Version < 1 {
			return bad("root version %d is below 1", e.Version)
		}
		if _, ok := e.Hashes["sha256"]; !ok || len(e.Hashes) != 1 {
			return bad("a root entry carries exactly one hash, sha256")
		}
		if e.Component != "" || e.Path != "" || e.Role != "" || e.ManifestSHA256 != "" || e.RoleVersion != 0 {
			return bad("a root entry has only version, length and hash")
		}
	default:
		return bad("kind %q is not %q or %q", e.Kind, KindImprovement, KindRoot)
	}
	return nil
}

// Marshal returns the entry's canonical bytes, the leaf data of the log.
func (e *Entry) Marshal() ([]byte, error) {
	if err := e.validate(); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	line := func(k, v string) { b.WriteString(k); b.WriteByte(' '); b.WriteString(v); b.WriteByte('\n') }
	b.WriteString(entryHeader + "\n")
	line("kind", e.Kind)
	hashes := func() {
		algs := make([]string, 0, len(e.Hashes))
		for a := range e.Hashes {
			algs = append(algs, a)
		}
		slices.Sort(algs)
		for _, a := range algs {
			line("hash", a+" "+e.Hashes[a])
		}
	}
	if e.Kind == KindRoot {
		line("version", strconv.FormatInt(e.Version, 10))
		line("length", strconv.FormatInt(e.Length, 10))
		hashes()
	} else {
		line("component", e.Component)
		line("path", e.Path)
		line("length", strconv.FormatInt(e.Length, 10))
		hashes()
		line("manifest-sha256", e.ManifestSHA256)
		line("role", e.Role)
		line("role-version", strconv.FormatInt(e.RoleVersion, 10))
	}
	if b.Len() > MaxEntrySize {
		return nil, &EntryError{Reason: fmt.Sprintf("%d bytes, more than %d", b.Len(), MaxEntrySize)}
	}
	return b.Bytes(), nil
}

// ParseEntry reads an entry, accepting only the bytes Marshal produces.
func ParseEntry(data []byte) (*Entry, error) {
	if len(data) > MaxEntrySize {
		return nil, &EntryError{Reason: fmt.Sprintf("%d bytes, more than %d", len(data), MaxEntrySize)}
	}
	if len(data) == 0 || data[len(data)-1] != '\n' {
		return nil, &EntryError{Reason: "does not end in a newline"}
	}
	lines := strings.Split(string(data[:len(data)-1]), "\n")
	if lines[0] != entryHeader {
		return nil, &EntryError{Line: 1, Reason: fmt.Sprintf("first line is not %q", entryHeader)}
	}
	e := &Entry{Hashes: map[string]string{}}
	num := func(i int, s string) (int64, error) {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || strconv.FormatInt(n, 10) != s {
			return 0, &EntryError{Line: i + 1, Reason: fmt.Sprintf("%q is not a decimal integer", s)}
		}
		return n, nil
	}
	for i, l := range lines[1:] {
		i++
		k, v, ok := strings.Cut(l, " ")
		if !ok {
			return nil, &EntryError{Line: i + 1, Reason: "not \"key value\""}
		}
		var err error
		switch k {
		case "kind":
			e.Kind = v
		case "component":
			e.Component = v
		case "path":
			e.Path = v
		case "length":
			e.Length, err = num(i, v)
		case "version":
			e.Version, err = num(i, v)
		case "hash":
			alg, h, ok := strings.Cut(v, " ")
			if !ok {
				return nil, &EntryError{Line: i + 1, Reason: "hash line is not \"hash ALG HEX\""}
			}
			if _, dup := e.Hashes[alg]; dup {
				return nil, &EntryError{Line: i + 1, Reason: fmt.Sprintf("hash %s twice", alg)}
			}
			e.Hashes[alg] = h
		case "manifest-sha256":
			e.ManifestSHA256 = v
		case "role":
			e.Role = v
		case "role-version":
			e.RoleVersion, err = num(i, v)
		default:
			return nil, &EntryError{Line: i + 1, Reason: fmt.Sprintf("unknown key %q", k)}
		}
		if err != nil {
			return nil, err
		}
	}
	again, err := e.Marshal()
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(again, data) {
		return nil, &EntryError{Reason: "keys out of order, repeated or not in canonical form"}
	}
	return e, nil
}
