package rollout

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"unicode/utf8"
)

// maxDepth bounds the nesting of a document; a schedule needs 4.
const maxDepth = 8

// Parse reads a schedule from its canonical JSON bytes (the rollout
// target file) and validates it. It refuses input over [MaxSize] bytes,
// invalid UTF-8, syntax errors, trailing data, duplicate keys, numbers
// with a fraction or an exponent, unknown fields, fields of the wrong
// type, and any input that is not exactly what [Schedule.Encode] writes
// (key order, white space, a field spelled in another case, a null or an
// empty list where the field must be absent). The error is a *FieldError.
func Parse(data []byte) (*Schedule, error) {
	s, canon, err := decode(data)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(canon, data) {
		return nil, fieldErr("", "not canonical JSON (sorted keys, no white space) at byte %d", firstDiff(canon, data))
	}
	return s, nil
}

// FromCustom reads the schedule from a rollout target's custom field. The
// field must be one JSON object in which "bsi_rollout" appears at most
// once; other keys (other tools' data) are ignored. Unlike [Parse] it
// accepts any spelling of the same JSON for the schedule (a role file may
// escape characters that the canonical form writes as they are, or add
// white space), but not duplicate keys, floats or unknown fields. It
// returns [ErrNoSchedule] when custom is empty, null, or has no
// "bsi_rollout" key, and otherwise a *FieldError for a schedule that Parse
// would refuse in canonical form.
func FromCustom(custom json.RawMessage) (*Schedule, error) {
	if t := bytes.TrimSpace(custom); len(t) == 0 || bytes.Equal(t, []byte("null")) {
		return nil, ErrNoSchedule
	}
	if len(custom) > 2*MaxSize {
		return nil, fieldErr("", "custom field is %d bytes, more than the limit of %d", len(custom), 2*MaxSize)
	}
	raw, err := customValue(custom)
	if err != nil {
		return nil, err
	}
	if raw == nil {
		return nil, ErrNoSchedule
	}
	if len(raw) > MaxSize {
		return nil, fieldErr(CustomKey, "%d bytes, more than the limit of %d", len(raw), MaxSize)
	}
	canon, err := canonicalize(raw)
	if err != nil {
		return nil, err
	}
	return Parse(canon)
}

// customValue returns the raw value of CustomKey in a custom object, nil
// when it has none.
func customValue(custom []byte) (json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(custom))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, fieldErr("", "custom field is not a JSON object")
	}
	var raw json.RawMessage
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fieldErr("", "custom field: syntax: %v", err)
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, fieldErr("", "custom field: syntax: %v", err)
		}
		if tok == CustomKey {
			if raw != nil {
				return nil, fieldErr(CustomKey, "duplicate key")
			}
			raw = v
		}
	}
	if _, err := dec.Token(); err != nil {
		return nil, fieldErr("", "custom field: syntax: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fieldErr("", "custom field: trailing data after the object")
	}
	return raw, nil
}

// decode parses data strictly and validates it, returning the schedule and
// the canonical form of data.
func decode(data []byte) (*Schedule, []byte, error) {
	if len(data) > MaxSize {
		return nil, nil, fieldErr("", "document is %d bytes, more than the limit of %d", len(data), MaxSize)
	}
	canon, err := canonicalize(data)
	if err != nil {
		return nil, nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(canon))
	dec.DisallowUnknownFields()
	s := new(Schedule)
	if err := dec.Decode(s); err != nil {
		return nil, nil, fieldErr(jsonPath(err), "%s", jsonProblem(err))
	}
	if err := s.Validate(); err != nil {
		return nil, nil, err
	}
	// encoding/json matches field names in any case and reads null as
	// absent: the schedule must encode back to exactly the input.
	again, err := s.encode()
	if err != nil {
		return nil, nil, err
	}
	if !bytes.Equal(again, canon) {
		i := firstDiff(again, canon)
		return nil, nil, fieldErr("", "a field is misspelled, null, or empty where it must be absent, near %q", snippet(canon, i))
	}
	return s, canon, nil
}

func jsonPath(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return te.Field
	}
	return ""
}

func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("want %s, got a JSON %s", te.Type, te.Value)
	}
	return err.Error()
}

func firstDiff(a, b []byte) int {
	n := min(len(a), len(b))
	for i := range n {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}

func snippet(b []byte, i int) string {
	lo, hi := max(0, i-20), min(len(b), i+20)
	return string(b[lo:hi])
}

// canonicalize returns data as canonical JSON: keys sorted, no white
// space, strings escaped only where JSON requires it ('"', '\\' and
// control characters) and U+2028/U+2029, integers only. It refuses
// invalid UTF-8, duplicate keys, numbers with a fraction or exponent,
// nesting deeper than maxDepth and trailing data.
func canonicalize(data []byte) ([]byte, error) {
	if !utf8.Valid(data) {
		return nil, fieldErr("", "invalid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var buf bytes.Buffer
	if err := canonValue(dec, &buf, 0, ""); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fieldErr("", "trailing data after the document")
	}
	return buf.Bytes(), nil
}

func canonValue(dec *json.Decoder, buf *bytes.Buffer, depth int, path string) error {
	tok, err := dec.Token()
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return fieldErr(path, "syntax: %v", err)
	}
	switch v := tok.(type) {
	case json.Delim:
		if depth >= maxDepth {
			return fieldErr(path, "nested deeper than %d", maxDepth)
		}
		if v == '[' {
			return canonList(dec, buf, depth, path)
		}
		if v == '{' {
			return canonObject(dec, buf, depth, path)
		}
		return fieldErr(path, "syntax: unexpected %q", v)
	case string:
		writeString(buf, v)
	case json.Number:
		if !isInteger(string(v)) {
			return fieldErr(path, "%s is not an integer (no fractions or exponents)", v)
		}
		buf.WriteString(string(v))
	case bool:
		buf.WriteString(fmt.Sprint(v))
	case nil:
		buf.WriteString("null")
	}
	return nil
}

func canonList(dec *json.Decoder, buf *bytes.Buffer, depth int, path string) error {
	buf.WriteByte('[')
	for i := 0; dec.More(); i++ {
		if i > 0 {
			buf.WriteByte(',')
		}
		if err := canonValue(dec, buf, depth+1, fmt.Sprintf("%s[%d]", path, i)); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil {
		return fieldErr(path, "syntax: %v", err)
	}
	buf.WriteByte(']')
	return nil
}

func canonObject(dec *json.Decoder, buf *bytes.Buffer, depth int, path string) error {
	members := map[string][]byte{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fieldErr(path, "syntax: %v", err)
		}
		key, _ := tok.(string)
		sub := join(path, key)
		if _, dup := members[key]; dup {
			return fieldErr(sub, "duplicate key")
		}
		var v bytes.Buffer
		if err := canonValue(dec, &v, depth+1, sub); err != nil {
			return err
		}
		members[key] = v.Bytes()
	}
	if _, err := dec.Token(); err != nil {
		return fieldErr(path, "syntax: %v", err)
	}
	buf.WriteByte('{')
	for i, k := range slices.Sorted(maps.Keys(members)) {
		if i > 0 {
			buf.WriteByte(',')
		}
		writeString(buf, k)
		buf.WriteByte(':')
		buf.Write(members[k])
	}
	buf.WriteByte('}')
	return nil
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// writeString writes s as encoding/json does without HTML escaping.
func writeString(buf *bytes.Buffer, s string) {
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	enc.Encode(s) // a string always encodes
	buf.Truncate(buf.Len() - 1)
}

// isInteger reports whether a JSON number is -?(0|[1-9][0-9]*).
func isInteger(n string) bool {
	if len(n) > 0 && n[0] == '-' {
		n = n[1:]
	}
	if n == "" || n[0] == '0' && len(n) > 1 {
		return false
	}
	for _, c := range []byte(n) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
