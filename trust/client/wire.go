package client

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"reflect"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// The wire types are lean copies of the TUF metadata formats: only the
// fields the client acts on are decoded; unknown fields are ignored here
// but covered by the signature, which is checked over the canonical form
// of everything under "signed".

const (
	roleRoot      = "root"
	roleTimestamp = "timestamp"
	roleSnapshot  = "snapshot"
	roleTargets   = "targets"
)

// specMajor is the major version of the specification the client
// implements; metadata of another major version is refused.
const specMajor = "1"

func isTopLevel(role string) bool {
	switch role {
	case roleRoot, roleTimestamp, roleSnapshot, roleTargets:
		return true
	}
	return false
}

type envelope struct {
	Signed     json.RawMessage `json:"signed"`
	Signatures []wireSignature `json:"signatures"`
}

type wireSignature struct {
	KeyID string `json:"keyid"`
	Sig   string `json:"sig"`
}

type header struct {
	Type        string    `json:"_type"`
	SpecVersion *string   `json:"spec_version"` // nil when absent
	Version     int64     `json:"version"`
	Expires     time.Time `json:"expires"`
}

func (h *header) head() *header { return h }

// headed is a signed part: it has the header every role has.
type headed interface{ head() *header }

type wireKey struct {
	KeyType string `json:"keytype"`
	Scheme  string `json:"scheme"`
	KeyVal  struct {
		Public string `json:"public"`
	} `json:"keyval"`
}

type wireRole struct {
	KeyIDs    []string `json:"keyids"`
	Threshold int      `json:"threshold"`
}

type rootSigned struct {
	header
	ConsistentSnapshot bool                 `json:"consistent_snapshot"`
	Keys               map[string]*wireKey  `json:"keys"`
	Roles              map[string]*wireRole `json:"roles"`
}

// metaInfo is one entry of the "meta" of a timestamp or snapshot.
type metaInfo struct {
	Version int64             `json:"version"`
	Length  int64             `json:"length,omitempty"`
	Hashes  map[string]string `json:"hashes,omitempty"`
}

type timestampSigned struct {
	header
	Meta map[string]*metaInfo `json:"meta"`
}

type snapshotSigned struct {
	header
	Meta map[string]*metaInfo `json:"meta"`
}

type targetEntry struct {
	Length int64             `json:"length"`
	Hashes map[string]string `json:"hashes"`
	Custom json.RawMessage   `json:"custom,omitempty"`
}

type delegatedRole struct {
	Name             string   `json:"name"`
	KeyIDs           []string `json:"keyids"`
	Threshold        int      `json:"threshold"`
	Terminating      bool     `json:"terminating"`
	Paths            []string `json:"paths,omitempty"`
	PathHashPrefixes []string `json:"path_hash_prefixes,omitempty"`
}

type succinctRoles struct {
	KeyIDs     []string `json:"keyids"`
	Threshold  int      `json:"threshold"`
	BitLength  int      `json:"bit_length"`
	NamePrefix string   `json:"name_prefix"`
}

type delegations struct {
	Keys          map[string]*wireKey `json:"keys"`
	Roles         []*delegatedRole    `json:"roles,omitempty"`
	SuccinctRoles *succinctRoles      `json:"succinct_roles,omitempty"`
}

type targetsSigned struct {
	header
	Targets     map[string]*targetEntry `json:"targets"`
	Delegations *delegations            `json:"delegations,omitempty"`
}

// targetsChecked is targetsSigned for a large role: encoding/json reads
// it the same way (same fields, same matching of keys), but the targets
// are checked one by one (checkEntry) and not kept.
type targetsChecked struct {
	header
	Targets     checkedEntries `json:"targets"`
	Delegations *delegations   `json:"delegations,omitempty"`
}

// checkedEntries decodes each entry of signed.targets as the
// map[string]*targetEntry of targetsSigned would (decodeEntry, held to
// encoding/json by FuzzDecodeEntry), checks it and drops it. A signed
// part with two keys encoding/json takes for "targets" ("targets" and
// "Targets") is merged into one map by encoding/json, a later entry
// replacing an earlier one of the same path: merged then says to decode
// it that way instead.
type checkedEntries struct {
	role  string
	calls int   // values encoding/json handed over
	err   error // the first entry refused
}

// merged reports whether encoding/json found "targets" more than once.
func (c *checkedEntries) merged() bool { return c.calls > 1 }

// UnmarshalJSON is called by encoding/json with the value of "targets",
// a slice of a document it has already found valid.
func (c *checkedEntries) UnmarshalJSON(b []byte) error {
	if c.calls++; c.merged() {
		return nil
	}
	s := &scanner{b: b}
	s.ws()
	switch s.peek() {
	case 'n':
		return nil // null: no targets, as for a nil map
	case '{':
	default:
		return &json.UnmarshalTypeError{Value: "targets", Type: reflect.TypeFor[map[string]*targetEntry](), Field: "targets"}
	}
	return s.pairs(func(k, v []byte) error {
		e, err := decodeEntry(v)
		if err != nil {
			err = &FormatError{Role: c.role, Err: fmt.Errorf("target %q: %w", k, err)}
		} else {
			err = checkEntry(c.role, string(k), e)
		}
		if err != nil && c.err == nil {
			c.err = err // kept for after the decode: a second "targets" may replace this entry
		}
		return nil
	})
}

// decode parses data as metadata of type typ into signed and returns the
// envelope. It checks the type and the header fields every role has.
func decode(role, typ string, data []byte, signed headed) (*envelope, error) {
	// The envelope without a copy of "signed": encoding/json validates
	// the document and decodes the signatures; once envelopeKeys has made
	// sure the envelope spells "signed" exactly once, exactly, the value
	// encoding/json would copy into a RawMessage is the one the scanner
	// finds, and Signed is that slice of data (a role of 100,000 targets
	// is not held twice while it is verified).
	var sigs struct {
		Signatures []wireSignature `json:"signatures"`
	}
	if err := json.Unmarshal(data, &sigs); err != nil {
		return nil, &FormatError{Role: role, Err: err}
	}
	if err := envelopeKeys(data); err != nil {
		return nil, &FormatError{Role: role, Err: err}
	}
	env := envelope{Signatures: sigs.Signatures}
	if err := signedOf(data, &env); err != nil {
		return nil, &FormatError{Role: role, Err: err}
	}
	if len(env.Signed) == 0 || env.Signed[0] != '{' {
		return nil, &FormatError{Role: role, Err: errors.New(`"signed" is missing or not an object`)}
	}
	if err := json.Unmarshal(env.Signed, signed); err != nil {
		return nil, &FormatError{Role: role, Err: err}
	}
	h := signed.head()
	if h.Type != typ {
		return nil, &FormatError{Role: role, Err: fmt.Errorf("type %q, want %q", h.Type, typ)}
	}
	if h.Version < 1 {
		return nil, &FormatError{Role: role, Err: fmt.Errorf("version %d is below 1", h.Version)}
	}
	if h.Expires.IsZero() {
		return nil, &FormatError{Role: role, Err: errors.New("no expiry")}
	}
	// Section 4: clients MUST verify that spec_version matches the
	// expected version: major version 1, as go-tuf and python-tuf accept.
	// Metadata without the field claims no version and is taken (older
	// bsi test fixtures and hand-made metadata omit it).
	if v := h.SpecVersion; v != nil {
		if major, _, _ := strings.Cut(*v, "."); major != specMajor {
			return nil, &FormatError{Role: role, Err: fmt.Errorf("spec_version %q, want %s.x.y", *v, specMajor)}
		}
	}
	if err := checkSignatureKeyIDs(role, h.Version, env.Signatures); err != nil {
		return nil, err
	}
	return &env, nil
}

// signedOf sets env.Signed to the value of the envelope's "signed" key in
// data, a slice of data (nil when there is none).
func signedOf(data []byte, env *envelope) error {
	s := &scanner{b: data}
	s.ws()
	err := s.members(func(key []byte) (bool, error) {
		if !keyIs(key, "signed") {
			return false, s.skip()
		}
		v, err := s.value()
		env.Signed = v[:len(v):len(v)]
		return false, err
	})
	if err != nil {
		return fmt.Errorf("offset %d: %w", s.i, err)
	}
	return nil
}

// checkMeta checks one meta entry's own fields.
func checkMeta(role, name string, m *metaInfo) error {
	if m == nil || m.Version < 1 || m.Length < 0 {
		return &FormatError{Role: role, Err: fmt.Errorf("bad entry for %s", name)}
	}
	return nil
}

// newHash returns the hash function for a TUF hash algorithm name.
func newHash(alg string) (hash.Hash, bool) {
	switch alg {
	case "sha256":
		return sha256.New(), true
	case "sha512":
		return sha512.New(), true
	}
	return nil, false
}

// checkLengthHashes verifies data against a listed length (0: none) and
// hashes (none: nothing to check). sum is data's SHA-256, known already.
func checkLengthHashes(name string, data []byte, sum [32]byte, length int64, hashes map[string]string) error {
	if length != 0 && int64(len(data)) != length {
		return &LengthError{Name: name, Want: length, Got: int64(len(data))}
	}
	for alg, want := range hashes {
		var got []byte
		if alg == "sha256" {
			got = sum[:]
		} else {
			h, ok := newHash(alg)
			if !ok {
				return &HashError{Name: name, Algorithm: alg, Want: want, Got: "(unsupported algorithm)"}
			}
			h.Write(data)
			got = h.Sum(nil)
		}
		w, err := hex.DecodeString(want)
		if err != nil || !bytes.Equal(w, got) {
			return &HashError{Name: name, Algorithm: alg, Want: want, Got: hex.EncodeToString(got)}
		}
	}
	return nil
}

// envelopeKeys refuses an envelope with a key twice, or with a key that
// encoding/json would take for "signed" or "signatures": it matches field
// names by Unicode simple case folding, so "SIGNED", "ſigned" (long s)
// and "signatures" spelled with a Kelvin sign would all reach the field.
// Keys are compared after the same folding encoding/json applies
// (jsonFold), so the guarantee does not depend on the decoder: the bytes
// verified and the bytes a later reader finds must be the same object.
func envelopeKeys(data []byte) error {
	s := &scanner{b: data}
	s.ws()
	seen := map[string]bool{}
	signed, signatures := jsonFold("signed"), jsonFold("signatures")
	return s.members(func(key []byte) (bool, error) {
		k := string(unquoteKey(key))
		fold := jsonFold(k)
		if (fold == signed && k != "signed") || (fold == signatures && k != "signatures") {
			return false, fmt.Errorf("envelope key %q is not spelled exactly, but encoding/json would take it for %q", k, strings.ToLower(fold))
		}
		if seen[fold] {
			return false, fmt.Errorf("envelope key %q appears twice (after case folding)", k)
		}
		seen[fold] = true
		return false, s.skip()
	})
}

// jsonFold folds s as encoding/json folds field names before comparing
// them (its appendFoldedName): ASCII letters to upper case, every other
// rune to the smallest rune of its Unicode simple-folding orbit. Two keys
// match the same struct field exactly when their folds are equal
// ("ſ" (long s) folds to "S", "K" (Kelvin sign) to "K"; the
// dotless "ı" stays itself).
func jsonFold(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		if r < utf8.RuneSelf {
			if 'a' <= r && r <= 'z' {
				r -= 'a' - 'A'
			}
			b.WriteRune(r)
			continue
		}
		for {
			r2 := unicode.SimpleFold(r)
			if r2 <= r {
				r = r2
				break
			}
			r = r2
		}
		b.WriteRune(r)
	}
	return b.String()
}

// checkSignatureKeyIDs refuses a signatures array that lists a key id
// twice: "the keyid MUST be unique in the signatures array" (spec 4.2).
func checkSignatureKeyIDs(role string, version int64, sigs []wireSignature) error {
	seen := make(map[string]bool, len(sigs))
	for _, s := range sigs {
		if seen[s.KeyID] {
			return &DuplicateSignatureError{Role: role, Version: version, KeyID: s.KeyID}
		}
		seen[s.KeyID] = true
	}
	return nil
}
