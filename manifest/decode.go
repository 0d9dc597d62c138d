package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"
)

// maxProblems bounds the problems one document can report, so that a 64 KiB
// file of unknown fields does not produce thousands of lines.
const maxProblems = 50

// Decode parses a manifest strictly and validates it. It refuses input over
// MaxSize bytes, invalid UTF-8, syntax errors, a top level that is not one
// object, trailing data after it, unknown fields, missing required fields
// (every field without omitempty), values of the wrong JSON type (null
// included), numbers with a fraction or an exponent, integers out of range,
// and duplicate keys. The error is a *ValidationError naming the JSON path and
// the problem of each finding; structural problems are reported before, and
// instead of, the rules of [Manifest.Validate].
func Decode(data []byte) (*Manifest, error) {
	if len(data) > MaxSize {
		return nil, docError("document is %d bytes, more than the limit of %d", len(data), MaxSize)
	}
	if !utf8.Valid(data) {
		i := 0
		for i < len(data) {
			r, n := utf8.DecodeRune(data[i:])
			if r == utf8.RuneError && n <= 1 {
				break
			}
			i += n
		}
		return nil, docError("invalid UTF-8 at byte %d", i)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, docError("empty document")
	}
	m := new(Manifest)
	dc := &decoder{d: json.NewDecoder(bytes.NewReader(data))}
	dc.d.UseNumber()
	if err := dc.document(reflect.ValueOf(m).Elem()); err != nil {
		dc.ps.add(err.path, "%s", err.problem)
	}
	if err := dc.ps.err(); err != nil {
		return nil, err
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return m, nil
}

func docError(format string, a ...any) error {
	var ps problems
	ps.add("", format, a...)
	return ps.err()
}

// kind is the JSON type a manifest field wants.
type kind int

const (
	kindString kind = iota
	kindInt
	kindBool
	kindList // of strings
	kindObject
)

var kindNames = [...]string{"a string", "an integer", "true or false", "a list", "an object"}

// shape is the schema of a value, derived once from the Go types so that it
// cannot drift from them.
type shape struct {
	kind   kind
	elem   *shape  // kindList
	fields []field // kindObject, in declaration order
}

type field struct {
	name     string
	index    int
	required bool // no omitempty: Encode always writes it
	shape    *shape
}

var manifestShape = shapeOf(reflect.TypeFor[Manifest]())

func shapeOf(t reflect.Type) *shape {
	switch t.Kind() {
	case reflect.String:
		return &shape{kind: kindString}
	case reflect.Int:
		return &shape{kind: kindInt}
	case reflect.Bool:
		return &shape{kind: kindBool}
	case reflect.Slice:
		return &shape{kind: kindList, elem: shapeOf(t.Elem())}
	case reflect.Struct:
		s := &shape{kind: kindObject}
		for i := range t.NumField() {
			name, opts, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
			s.fields = append(s.fields, field{name: name, index: i, required: opts != "omitempty", shape: shapeOf(t.Field(i).Type)})
		}
		return s
	}
	panic("manifest: no JSON shape for " + t.String())
}

// decoder walks the token stream, filling the manifest and collecting
// problems. A *fatal stops the walk (syntax errors, too many problems).
type decoder struct {
	d  *json.Decoder
	ps problems
}

type fatal struct{ path, problem string }

func (dc *decoder) document(v reflect.Value) *fatal {
	if err := dc.value("", manifestShape, v); err != nil {
		return err
	}
	if _, err := dc.d.Token(); err != io.EOF {
		return &fatal{"", fmt.Sprintf("trailing data after the object at byte %d", dc.d.InputOffset())}
	}
	return nil
}

func (dc *decoder) token(path string) (json.Token, *fatal) {
	tok, err := dc.d.Token()
	if err == nil {
		return tok, nil
	}
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		return nil, &fatal{path, fmt.Sprintf("invalid JSON at byte %d: %v", se.Offset, se)}
	case err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF):
		return nil, &fatal{path, "unexpected end of JSON"}
	}
	return nil, &fatal{path, fmt.Sprintf("invalid JSON: %v", err)}
}

// problem records a finding, or stops the walk when there are too many.
func (dc *decoder) problem(path, format string, a ...any) *fatal {
	if len(dc.ps) >= maxProblems-1 {
		return &fatal{"", "too many problems, stopped"}
	}
	dc.ps.add(path, format, a...)
	return nil
}

// value decodes one JSON value at path into v according to s.
func (dc *decoder) value(path string, s *shape, v reflect.Value) *fatal {
	tok, err := dc.token(path)
	if err != nil {
		return err
	}
	switch t := tok.(type) {
	case string:
		if s.kind == kindString {
			v.SetString(t)
			return nil
		}
	case bool:
		if s.kind == kindBool {
			v.SetBool(t)
			return nil
		}
	case json.Number:
		if s.kind == kindInt {
			return dc.integer(path, t, v)
		}
	case json.Delim:
		if t == '{' && s.kind == kindObject {
			return dc.object(path, s, v)
		}
		if t == '[' && s.kind == kindList {
			return dc.list(path, s, v)
		}
	}
	if err := dc.problem(path, "want %s, got %s", kindNames[s.kind], tokenKind(tok)); err != nil {
		return err
	}
	return dc.skip(path, tok)
}

func (dc *decoder) integer(path string, n json.Number, v reflect.Value) *fatal {
	if strings.ContainsAny(string(n), ".eE") {
		return dc.problem(path, "%s is not an integer: numbers with a fraction or an exponent are not allowed", n)
	}
	i, err := strconv.ParseInt(string(n), 10, strconv.IntSize)
	if err != nil {
		return dc.problem(path, "%s is out of range", n)
	}
	v.SetInt(i)
	return nil
}

func (dc *decoder) list(path string, s *shape, v reflect.Value) *fatal {
	for i := 0; dc.d.More(); i++ {
		elem := reflect.New(v.Type().Elem()).Elem()
		if err := dc.value(fmt.Sprintf("%s[%d]", path, i), s.elem, elem); err != nil {
			return err
		}
		v.Set(reflect.Append(v, elem))
	}
	_, err := dc.token(path) // ']'
	return err
}

func (dc *decoder) object(path string, s *shape, v reflect.Value) *fatal {
	seen := make(map[string]bool, len(s.fields))
	for dc.d.More() {
		tok, err := dc.token(path)
		if err != nil {
			return err
		}
		key := tok.(string) // the decoder guarantees a string key here
		p := joinPath(path, key)
		var f *field
		for i := range s.fields {
			if s.fields[i].name == key {
				f = &s.fields[i]
			}
		}
		switch {
		case seen[key]:
			err = dc.problem(p, "duplicate key")
		case f == nil:
			err = dc.problem(p, "unknown field")
		}
		if err != nil {
			return err
		}
		if seen[key] || f == nil {
			if err := dc.skipValue(p); err != nil {
				return err
			}
			continue
		}
		seen[key] = true
		if err := dc.value(p, f.shape, v.Field(f.index)); err != nil {
			return err
		}
	}
	if _, err := dc.token(path); err != nil { // '}'
		return err
	}
	for _, f := range s.fields {
		if f.required && !seen[f.name] {
			if err := dc.problem(joinPath(path, f.name), "missing"); err != nil {
				return err
			}
		}
	}
	return nil
}

// skipValue reads and discards one value.
func (dc *decoder) skipValue(path string) *fatal {
	tok, err := dc.token(path)
	if err != nil {
		return err
	}
	return dc.skip(path, tok)
}

// skip discards the rest of a value whose first token was tok.
func (dc *decoder) skip(path string, tok json.Token) *fatal {
	if d, ok := tok.(json.Delim); !ok || d == '}' || d == ']' {
		return nil
	}
	for depth := 1; depth > 0; {
		tok, err := dc.token(path)
		if err != nil {
			return err
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
	}
	return nil
}

func tokenKind(tok json.Token) string {
	switch t := tok.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case json.Number:
		return "a number"
	case json.Delim:
		if t == '{' {
			return "an object"
		}
	}
	return "a list"
}

// joinPath appends an object key to a JSON path: "applies_to.releases". Keys
// that are not plain identifiers are quoted and shortened: `["a b"]`.
func joinPath(path, key string) string {
	plain := key != "" && len(key) <= 40 && !strings.ContainsFunc(key, func(r rune) bool { return !isLower(r) && !isDigit(r) && r != '_' })
	if !plain {
		if len(key) > 40 {
			key = strings.ToValidUTF8(key[:40], "") + "..."
		}
		return path + "[" + strconv.Quote(key) + "]"
	}
	if path == "" {
		return key
	}
	return path + "." + key
}
