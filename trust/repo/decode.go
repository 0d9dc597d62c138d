package repo

import (
	"bytes"
	"encoding/json"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// decodeTargets decodes a targets-family role file. metadata.FromBytes
// decodes a file five times over (a generic map to check the type, then
// each level twice to keep fields it does not know), which dominates the
// cost of adding to a large role. Files written by this package hold no
// such fields: they are decoded once, straight into go-tuf's types, and
// anything unusual (an unknown field, a wrong type, no hashes, a repeated
// signature key id) goes through FromBytes, which keeps or rejects it.
func decodeTargets(data []byte) (*targetsMeta, error) {
	var f struct {
		Signatures []metadata.Signature `json:"signatures"`
		Signed     struct {
			Type        string                  `json:"_type"`
			SpecVersion string                  `json:"spec_version"`
			Version     int64                   `json:"version"`
			Expires     time.Time               `json:"expires"`
			Targets     map[string]*plainTarget `json:"targets"`
			Delegations *metadata.Delegations   `json:"delegations,omitempty"`
		} `json:"signed"`
	}
	if !plainKeys(data) {
		return new(targetsMeta).FromBytes(data)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil || f.Signed.Type != metadata.TARGETS || f.Signed.Targets == nil ||
		dec.InputOffset() != int64(len(bytes.TrimRight(data, " \t\r\n"))) || !uniqueKeyIDs(f.Signatures) {
		return new(targetsMeta).FromBytes(data)
	}
	m := &targetsMeta{Signatures: f.Signatures, UnrecognizedFields: map[string]any{}}
	s := &m.Signed
	s.Type, s.SpecVersion, s.Version, s.Expires, s.Delegations = f.Signed.Type, f.Signed.SpecVersion, f.Signed.Version, f.Signed.Expires, f.Signed.Delegations
	s.UnrecognizedFields = map[string]any{}
	s.Targets = make(map[string]*metadata.TargetFiles, len(f.Signed.Targets))
	for path, t := range f.Signed.Targets {
		if t == nil || len(t.Hashes) == 0 {
			return new(targetsMeta).FromBytes(data)
		}
		s.Targets[path] = &metadata.TargetFiles{Length: t.Length, Hashes: t.Hashes, Custom: t.Custom, Path: path,
			UnrecognizedFields: map[string]any{}}
	}
	return m, nil
}

// plainTarget is metadata.TargetFiles without its own UnmarshalJSON.
type plainTarget struct {
	Length int64            `json:"length"`
	Hashes metadata.Hashes  `json:"hashes"`
	Custom *json.RawMessage `json:"custom,omitempty"`
}

func uniqueKeyIDs(sigs []metadata.Signature) bool {
	seen := map[string]bool{}
	for _, s := range sigs {
		if seen[s.KeyID] {
			return false
		}
		seen[s.KeyID] = true
	}
	return true
}

// fieldNames are the JSON names of the fields decodeTargets fills.
var fieldNames = []string{"signatures", "signed", "_type", "spec_version", "version", "expires", "targets",
	"delegations", "length", "hashes", "custom", "keyid", "sig", "keys", "roles", "name", "keyids",
	"threshold", "paths", "path_hash_prefixes", "terminating", "keytype", "scheme", "keyval", "public",
	"succinct_roles", "bit_length", "name_prefix"}

// plainKeys reports whether every field name in data is spelled exactly:
// encoding/json matches names without regard to case (and through \u
// escapes, and folds "ſ" to "s" and the Kelvin sign to "k"), where
// metadata.FromBytes keeps a differently spelled key apart ("signEd" is
// not its "signed"). Data with any of those goes through FromBytes.
func plainKeys(data []byte) bool {
	if bytes.Contains(data, []byte(`\u`)) || bytes.Contains(data, []byte("\u017f")) || bytes.Contains(data, []byte("\u212a")) {
		return false
	}
	if ascii(data) {
		return plainKeysASCII(data)
	}
	return plainKeysFold(data)
}

// plainKeysFold is plainKeys by counting each quoted field name in data
// and in data lower-cased.
func plainKeysFold(data []byte) bool {
	lower := bytes.ToLower(data)
	for _, n := range fieldNames {
		q := []byte(`"` + n + `"`)
		if bytes.Count(lower, q) != bytes.Count(data, q) {
			return false
		}
	}
	return true
}

func ascii(data []byte) bool {
	for _, c := range data {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

// fieldSet holds fieldNames; maxFieldName is the longest.
var fieldSet, maxFieldName = func() (map[string]bool, int) {
	set, longest := map[string]bool{}, 0
	for _, n := range fieldNames {
		set[n] = true
		longest = max(longest, len(n))
	}
	return set, longest
}()

// plainKeysASCII is plainKeys for ASCII data, in one pass instead of two
// per field name: a quoted field name spelled with another case holds an
// upper-case letter between two quotes with no quote between, so each
// upper-case letter is looked at with the quoted word around it. It
// refuses exactly what plainKeys refuses (any string that folds to a
// field name, value or key), since ToLower keeps ASCII offsets.
func plainKeysASCII(data []byte) bool {
	for j, c := range data {
		if c < 'A' || c > 'Z' {
			continue
		}
		start := max(0, j-maxFieldName)
		p := bytes.LastIndexByte(data[start:j], '"')
		if p < 0 {
			continue
		}
		p += start
		n := bytes.IndexByte(data[j:min(len(data), p+maxFieldName+2)], '"')
		if n < 0 {
			continue
		}
		tok := data[p+1 : j+n]
		var buf [32]byte
		if len(tok) > len(buf) {
			continue
		}
		for i, c := range tok {
			if c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
			buf[i] = c
		}
		if fieldSet[string(buf[:len(tok)])] {
			return false
		}
	}
	return true
}
