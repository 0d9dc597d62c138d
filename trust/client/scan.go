package client

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// A role file trusted through the verified-state record was decoded,
// checked and verified in full when it was stored, and its bytes still hash
// to the record: what remains for a look-up is to find one entry. scanTargets
// walks the JSON structure of such bytes without building it, so that a
// look-up in a role of 100,000 targets costs one pass over the bytes and the
// decoding of one entry, not of every entry.

// scanner is a cursor over JSON bytes that skips values without decoding
// them. It checks structure only as far as it needs to walk it.
type scanner struct {
	b []byte
	i int
}

var errScan = errors.New("malformed json")

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *scanner) peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// str consumes the string at s.i and returns its bytes between the quotes,
// escapes included.
func (s *scanner) str() ([]byte, error) {
	if s.peek() != '"' {
		return nil, errScan
	}
	j := s.i + 1
	for {
		k := bytes.IndexByte(s.b[j:], '"')
		if k < 0 {
			return nil, errScan
		}
		q := j + k
		bs := 0
		for p := q - 1; p > s.i && s.b[p] == '\\'; p-- {
			bs++
		}
		if bs%2 == 0 {
			raw := s.b[s.i+1 : q]
			s.i = q + 1
			return raw, nil
		}
		j = q + 1
	}
}

// skip consumes one value.
func (s *scanner) skip() error {
	switch s.peek() {
	case '"':
		_, err := s.str()
		return err
	case '{', '[':
		depth := 0
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case '"':
				if _, err := s.str(); err != nil {
					return err
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					s.i++
					return nil
				}
			}
			s.i++
		}
		return errScan
	default: // number or literal
		start := s.i
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				if s.i == start {
					return errScan
				}
				return nil
			}
			s.i++
		}
		return errScan
	}
}

// members walks the object at s.i, calling f with each key (as in the
// source, escapes included) with s.i at its value; f must consume the
// value. f returning stop ends the walk early, leaving s.i after the value.
func (s *scanner) members(f func(key []byte) (stop bool, err error)) error {
	if s.peek() != '{' {
		return errScan
	}
	s.i++
	s.ws()
	if s.peek() == '}' {
		s.i++
		return nil
	}
	for {
		s.ws()
		key, err := s.str()
		if err != nil {
			return err
		}
		s.ws()
		if s.peek() != ':' {
			return errScan
		}
		s.i++
		s.ws()
		stop, err := f(key)
		if err != nil || stop {
			return err
		}
		s.ws()
		switch s.peek() {
		case ',':
			s.i++
		case '}':
			s.i++
			return nil
		default:
			return errScan
		}
	}
}

// pairs walks the object at s.i, calling f with each key, unescaped, and
// the raw JSON of its value.
func (s *scanner) pairs(f func(key, value []byte) error) error {
	return s.members(func(key []byte) (bool, error) {
		k := unquoteKey(key)
		if k == nil {
			return false, errScan
		}
		v, err := s.value()
		if err != nil {
			return false, err
		}
		return false, f(k, v)
	})
}

// keyIs reports whether the JSON string bytes key (escapes included)
// denote want.
func keyIs(key []byte, want string) bool {
	k := unquoteKey(key)
	return k != nil && string(k) == want
}

// value consumes a value and returns its bytes.
func (s *scanner) value() ([]byte, error) {
	start := s.i
	if err := s.skip(); err != nil {
		return nil, err
	}
	return s.b[start:s.i], nil
}

// scanSigned walks the envelope raw and calls f for each member of its
// signed part named one of fields, with the scanner at the member's value,
// which f must consume; other members are skipped. It gives up with
// errOddKey on a key encoding/json would take for "signed" or for one of
// fields without being its exact name (see errOddKey).
func scanSigned(raw []byte, fields []string, f func(s *scanner, field string) error) error {
	s := &scanner{b: raw}
	s.ws()
	signed := false
	err := s.members(func(key []byte) (bool, error) {
		if oddKey(key, "signed") || signed && keyIs(key, "signed") {
			return false, errOddKey
		}
		if !keyIs(key, "signed") {
			return false, s.skip()
		}
		signed = true
		return false, s.members(func(key []byte) (bool, error) {
			for _, field := range fields {
				if oddKey(key, field) {
					return false, errOddKey
				}
			}
			for _, field := range fields {
				if keyIs(key, field) {
					return false, f(s, field)
				}
			}
			return false, s.skip()
		})
	})
	if err != nil {
		return fmt.Errorf("offset %d: %w", s.i, err)
	}
	return nil
}

// scanTargets returns the raw JSON of signed.targets[target] (nil when
// absent, or when find is false) and of signed.delegations (nil when
// absent) in the envelope raw.
func scanTargets(raw []byte, target string, find bool) (entry, delegs []byte, err error) {
	err = scanSigned(raw, []string{"delegations", "targets"}, func(s *scanner, field string) error {
		var err error
		switch {
		case field == "delegations":
			delegs, err = s.value()
		case find:
			err = s.members(func(key []byte) (bool, error) {
				// Paths are unique (canonicalization refused duplicates
				// when the file verified).
				if entry == nil && keyIs(key, target) {
					var err error
					entry, err = s.value()
					return false, err
				}
				return false, s.skip()
			})
		default:
			err = s.skip()
		}
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	return entry, delegs, nil
}

// scanMember calls f with each key of the object signed.<field> of the
// envelope raw, with the scanner at its value, which f must consume.
func scanMember(raw []byte, field string, f func(s *scanner, key []byte) error) error {
	return scanSigned(raw, []string{field}, func(s *scanner, _ string) error {
		return s.members(func(key []byte) (bool, error) { return false, f(s, key) })
	})
}

// errOddKey makes scanTargets give up on a file with a key that
// encoding/json would take for "signed" (a second one, or one that
// differs only in case), or in the signed part for "targets" or
// "delegations" (encoding/json matches field names without regard to
// case, Unicode folding included, after unescaping, and keeps the last of
// several; verification canonicalizes the signed part only, so the
// envelope may repeat a key): such a file is decoded in full instead, so
// that both ways read it alike. Without the envelope check,
// {"signed": forged, "siGned": genuine} (or "\u0073igned") verified in
// full would be scanned as the forged part.
var errOddKey = errors.New("key differs from a field only in case")

// oddKey reports whether the JSON key (escapes included) is not want but
// encoding/json would match it to the field named want.
func oddKey(key []byte, want string) bool {
	k := unquoteKey(key)
	if k == nil {
		return false // not a valid string: the full decode refused the file
	}
	return string(k) != want && bytes.EqualFold(k, []byte(want))
}

// find returns the entry of target in the role (nil when it lists none)
// and the role's delegations. A role trusted through the verified-state
// record is scanned, not decoded: only the entry found and the
// delegations are, and they get the checks of checkTargets.
func (f *targetsFile) find(target string) (*targetEntry, *delegations, error) {
	if f.signed != nil {
		return f.signed.Targets[target], f.signed.Delegations, nil
	}
	if f.entries != nil {
		if e, d, covered, err := f.entry(target); covered || err != nil {
			return e, d, err
		}
	}
	return f.scan(target, true)
}

// readEntries reads a role not decoded whole (trusted through the
// verified-state record, or checked entry by entry when fetched) in full,
// once, and keeps where each entry is in its bytes for paths and find.
//
// A file read through its look-up index is only checked whole here,
// without being kept: paths reads it again one run at a time.
func (f *targetsFile) readEntries() error {
	if f.signed != nil || f.entries != nil && !f.entries.bounded {
		return nil
	}
	if f.raw == nil && f.lazy != nil {
		if err := f.lazy.check(); err != nil {
			return err
		}
		_, err := f.delegs()
		return err
	}
	raw, err := f.bytes()
	if err != nil {
		return err
	}
	entries, delegRaw, err := scanEntries(raw)
	switch {
	case errors.Is(err, errOddKey):
		// Read it the way verification did.
	case err != nil:
		return &FormatError{Role: f.role, Err: err}
	default:
		if _, err := f.setDelegations(delegRaw); err != nil {
			return err
		}
		f.entries = entries
	}
	return nil
}

// entry decodes and checks the entry of target in the entry table;
// covered is false when the table (one run of an indexed file) cannot
// tell whether the role lists target.
func (f *targetsFile) entry(target string) (e *targetEntry, d *delegations, covered bool, err error) {
	d = f.delegations
	raw, covered := f.entries.find(target)
	if raw == nil {
		return nil, d, covered, nil
	}
	e, err = decodeEntry(raw)
	if err != nil {
		return nil, nil, true, &FormatError{Role: f.role, Err: err}
	}
	if err := checkEntry(f.role, target, e); err != nil {
		return nil, nil, true, err
	}
	return e, d, true, nil
}

// decodeEntry decodes the raw JSON of a target entry of a verified file as
// encoding/json would, except that Custom is a slice of raw, not a copy
// (the file's bytes are kept as long as the role is: a component's
// 10,000 manifests are not held twice). An entry with a key encoding/json
// would match to a field without being its exact name is decoded by
// encoding/json.
func decodeEntry(raw []byte) (*targetEntry, error) {
	s := &scanner{b: raw}
	s.ws()
	if s.peek() == 'n' {
		return nil, nil // null: checkEntry refuses it
	}
	e := &targetEntry{}
	err := s.members(func(key []byte) (bool, error) {
		switch {
		case oddKey(key, "length") || oddKey(key, "hashes") || oddKey(key, "custom"):
			return false, errOddKey
		case keyIs(key, "length"), keyIs(key, "hashes"):
			v, err := s.value()
			if err != nil {
				return false, err
			}
			if keyIs(key, "length") {
				return false, json.Unmarshal(v, &e.Length)
			}
			return false, json.Unmarshal(v, &e.Hashes)
		case keyIs(key, "custom"):
			v, err := s.value()
			e.Custom = v[:len(v):len(v)] // "null" too, as encoding/json
			return false, err
		}
		return false, s.skip()
	})
	if errors.Is(err, errOddKey) {
		e = nil
		err = json.Unmarshal(raw, &e)
	}
	if err != nil {
		return nil, err
	}
	return e, nil
}

func (f *targetsFile) scan(target string, find bool) (*targetEntry, *delegations, error) {
	var entryRaw, delegRaw []byte
	var err error
	if f.raw == nil && f.lazy != nil {
		entryRaw, delegRaw, err = f.lazy.find(target, find)
		if err != nil {
			return nil, nil, err
		}
	} else {
		entryRaw, delegRaw, err = scanTargets(f.raw, target, find)
	}
	if errors.Is(err, errOddKey) {
		t, err := f.parsed()
		if err != nil {
			return nil, nil, err
		}
		return t.Targets[target], t.Delegations, nil
	}
	if err != nil {
		return nil, nil, &FormatError{Role: f.role, Err: err}
	}
	d, err := f.setDelegations(delegRaw)
	if err != nil || entryRaw == nil {
		return nil, d, err
	}
	var e *targetEntry
	if err := json.Unmarshal(entryRaw, &e); err != nil {
		return nil, nil, &FormatError{Role: f.role, Err: err}
	}
	if err := checkEntry(f.role, target, e); err != nil {
		return nil, nil, err
	}
	return e, d, nil
}

// delegs returns the role's delegations (nil when it has none).
func (f *targetsFile) delegs() (*delegations, error) {
	if f.signed != nil {
		return f.signed.Delegations, nil
	}
	if f.scanned {
		return f.delegations, nil
	}
	_, d, err := f.scan("", false)
	return d, err
}

func (f *targetsFile) setDelegations(raw []byte) (*delegations, error) {
	if f.scanned {
		return f.delegations, nil
	}
	var d *delegations
	if raw != nil {
		if err := json.Unmarshal(raw, &d); err != nil {
			return nil, &FormatError{Role: f.role, Err: err}
		}
		if err := checkDelegations(f.role, d); err != nil {
			return nil, err
		}
	}
	f.delegations, f.scanned = d, true
	return d, nil
}
