package manifest

import (
	"bytes"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
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
	dc := &decoder{l: lexer{data: data}}
	dc.steps = dc.stepBuf[:0]
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

// manifestShape is built on first use, not at start-up: a process that
// decodes no manifest ("bsi-agent version") does not pay for it.
var manifestShape = sync.OnceValue(func() *shape { return shapeOf(reflect.TypeFor[Manifest]()) })

func shapeOf(t reflect.Type) *shape {
	switch t.Kind() {
	case reflect.String:
		return &shape{kind: kindString}
	case reflect.Int:
		return &shape{kind: kindInt}
	case reflect.Bool:
		return &shape{kind: kindBool}
	case reflect.Slice:
		if t.Elem().Kind() != reflect.String {
			panic("manifest: only lists of strings are supported, not " + t.String())
		}
		return &shape{kind: kindList, elem: shapeOf(t.Elem())}
	case reflect.Struct:
		s := &shape{kind: kindObject}
		if t.NumField() > 64 {
			panic("manifest: too many fields for the decoder's bit set")
		}
		for i := range t.NumField() {
			name, opts, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
			s.fields = append(s.fields, field{name: name, index: i, required: opts != "omitempty", shape: shapeOf(t.Field(i).Type)})
		}
		return s
	}
	panic("manifest: no JSON shape for " + t.String())
}

// decoder walks the document, filling the manifest and collecting problems.
// A *fatal stops the walk (syntax errors, too many problems).
type decoder struct {
	l     lexer
	ps    problems
	steps []step // the JSON path of the value being read
	// stepBuf backs steps: the schema is three levels deep.
	stepBuf [4]step
}

// step is one element of a JSON path: an object key, or a list index.
type step struct {
	key   []byte // when index < 0; may alias the input
	index int
}

// fatal is an error that stops decoding. The lexer leaves path unset; the
// decoder sets it where the error surfaces (located).
type fatal struct {
	path, problem string
	located       bool
}

// at gives err the current path, unless a deeper value already did.
func (dc *decoder) at(err *fatal) *fatal {
	if err != nil && !err.located {
		err.path, err.located = dc.path(), true
	}
	return err
}

func (dc *decoder) push(key []byte, index int) { dc.steps = append(dc.steps, step{key, index}) }
func (dc *decoder) pop()                       { dc.steps = dc.steps[:len(dc.steps)-1] }

// path renders the current JSON path: "applies_to.releases[1]". Keys that
// are not plain identifiers are quoted and shortened: `["a b"]`. It is
// called only to report a problem, so valid documents build no strings.
func (dc *decoder) path() string {
	var b strings.Builder
	for _, s := range dc.steps {
		key := string(s.key)
		plain := key != "" && len(key) <= 40 && !strings.ContainsFunc(key, func(r rune) bool { return !isLower(r) && !isDigit(r) && r != '_' })
		switch {
		case s.index >= 0:
			fmt.Fprintf(&b, "[%d]", s.index)
		case len(key) > 40:
			b.WriteString("[" + strconv.Quote(strings.ToValidUTF8(key[:40], "")+"...") + "]")
		case !plain:
			b.WriteString("[" + strconv.Quote(key) + "]")
		case b.Len() > 0:
			b.WriteString("." + key)
		default:
			b.WriteString(key)
		}
	}
	return b.String()
}

func (dc *decoder) document(v reflect.Value) *fatal {
	if err := dc.value(manifestShape(), v); err != nil {
		return err
	}
	if dc.l.peek(); dc.l.pos < len(dc.l.data) {
		return &fatal{problem: fmt.Sprintf("trailing data after the object at byte %d", dc.l.pos)}
	}
	return nil
}

// problem records a finding at the current path, or stops the walk when
// there are too many.
func (dc *decoder) problem(format string, a ...any) *fatal {
	if len(dc.ps) >= maxProblems-1 {
		return &fatal{problem: "too many problems, stopped", located: true}
	}
	dc.ps.add(dc.path(), format, a...)
	return nil
}

// value decodes one JSON value into v according to s.
func (dc *decoder) value(s *shape, v reflect.Value) *fatal {
	l := &dc.l
	switch c := l.peek(); {
	case c == '"' && s.kind == kindString:
		str, err := l.str()
		if err == nil {
			v.SetString(str)
		}
		return dc.at(err)
	case (c == '-' || isDigit(rune(c))) && s.kind == kindInt:
		n, err := l.number()
		if err != nil {
			return dc.at(err)
		}
		return dc.integer(n, v)
	case (c == 't' || c == 'f') && s.kind == kindBool:
		word, err := l.literal()
		if err == nil {
			v.SetBool(word == "true")
		}
		return dc.at(err)
	case c == '{' && s.kind == kindObject:
		l.pos++
		return dc.at(dc.object(s, v))
	case c == '[' && s.kind == kindList:
		l.pos++
		return dc.at(dc.list(v))
	case kindAt(c) == "":
		return dc.at(l.syntax("invalid character %s looking for the beginning of a value", l.char()))
	default:
		if err := dc.problem("want %s, got %s", kindNames[s.kind], kindAt(c)); err != nil {
			return err
		}
		return dc.at(l.skip(0))
	}
}

func (dc *decoder) integer(n string, v reflect.Value) *fatal {
	if strings.ContainsAny(n, ".eE") {
		return dc.problem("%s is not an integer: numbers with a fraction or an exponent are not allowed", n)
	}
	i, err := strconv.ParseInt(n, 10, strconv.IntSize)
	if err != nil {
		return dc.problem("%s is out of range", n)
	}
	v.SetInt(i)
	return nil
}

// list reads a list of strings (the only lists of the schema) into v.
func (dc *decoder) list(v reflect.Value) *fatal {
	elems := v.Addr().Interface().(*[]string)
	return dc.l.list(func(i int) *fatal {
		dc.push(nil, i)
		defer dc.pop()
		if dc.l.peek() != '"' {
			var s string
			return dc.value(&shape{kind: kindString}, reflect.ValueOf(&s).Elem())
		}
		s, err := dc.l.str()
		*elems = append(*elems, s)
		return dc.at(err)
	})
}

func (dc *decoder) object(s *shape, v reflect.Value) *fatal {
	var seen uint64 // bit i: s.fields[i] was read; shapeOf allows at most 64 fields
	err := dc.l.object(func(key []byte) *fatal {
		dc.push(key, -1)
		defer dc.pop()
		i := -1
		for j := range s.fields {
			if s.fields[j].name == string(key) {
				i = j
			}
		}
		var err *fatal
		switch {
		case i < 0:
			err = dc.problem("unknown field")
		case seen&(1<<i) != 0:
			err = dc.problem("duplicate key")
		default:
			seen |= 1 << i
			return dc.value(s.fields[i].shape, v.Field(s.fields[i].index))
		}
		if err != nil {
			return err
		}
		return dc.at(dc.l.skip(0))
	})
	if err != nil {
		return err
	}
	for i, f := range s.fields {
		if f.required && seen&(1<<i) == 0 {
			dc.push([]byte(f.name), -1)
			err := dc.problem("missing")
			dc.pop()
			if err != nil {
				return err
			}
		}
	}
	return nil
}
