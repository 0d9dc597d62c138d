package manifest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// customKey is the key of the manifest inside a TUF target's custom field.
const customKey = "bsi"

// Encode validates m and returns its JSON form for a file: fields in the
// order of the package documentation, two-space indentation, no HTML
// escaping, a final newline. The same manifest always encodes to the same
// bytes, and [Decode] reads them back to an equal manifest. The error is a
// *ValidationError.
func (m *Manifest) Encode() ([]byte, error) {
	return m.encode("  ")
}

func (m *Manifest) encode(indent string) ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", indent)
	if err := enc.Encode(m); err != nil {
		return nil, docError("encoding: %v", err)
	}
	if buf.Len() > MaxSize {
		return nil, docError("encoded manifest is %d bytes, more than the limit of %d", buf.Len(), MaxSize)
	}
	return buf.Bytes(), nil
}

// Custom validates m and returns the value for a TUF target's custom field:
// {"bsi":{...}} in compact form. [FromCustom] reads it back to an equal
// manifest. The error is a *ValidationError.
func (m *Manifest) Custom() (json.RawMessage, error) {
	b, err := m.encode("")
	if err != nil {
		return nil, err
	}
	b = bytes.TrimSuffix(b, []byte("\n"))
	out := make([]byte, 0, len(b)+len(customKey)+5)
	out = append(out, `{"`+customKey+`":`...)
	out = append(out, b...)
	return append(out, '}'), nil
}

// FromCustom reads the manifest from a TUF target's custom field. The field
// must be one JSON object; keys other than "bsi" (other tools' data) are
// ignored, but "bsi" may appear only once. It returns [ErrNoManifest] when
// custom is empty, null, or has no "bsi" key, and otherwise what [Decode]
// returns for the value of "bsi" (paths in errors are relative to the
// manifest).
func FromCustom(custom json.RawMessage) (*Manifest, error) {
	l := &lexer{data: custom}
	if c := l.peek(); c == 0 || c == 'n' && bytes.Equal(bytes.TrimSpace(custom), []byte("null")) {
		return nil, ErrNoManifest
	} else if c != '{' {
		return nil, docError("custom field is not a JSON object")
	}
	l.pos++
	var raw []byte
	dup := false
	err := l.object(func(key []byte) *fatal {
		l.peek()
		start := l.pos
		if err := l.skip(0); err != nil {
			return err
		}
		if string(key) == customKey {
			dup = raw != nil
			raw = l.data[start:l.pos]
		}
		return nil
	})
	switch {
	case err != nil:
		return nil, docError("custom field: %s", err.problem)
	case dup:
		return nil, docError("custom field: duplicate key %q", customKey)
	case l.peek() != 0:
		return nil, docError("custom field: trailing data after the object")
	case raw == nil:
		return nil, ErrNoManifest
	}
	return Decode(raw)
}

// CheckTargetPath checks that path is where this improvement's payload may
// be published: "<component>/<id>.tar.gz" or "<component>/<id>.tar". A
// client calls it on every target it reads, so that a role can neither ship
// another component's improvement nor rename one. The error is a *FieldError.
func (m *Manifest) CheckTargetPath(path string) error {
	for _, ext := range []string{".tar.gz", ".tar"} {
		if path == m.Component+"/"+m.ID+ext {
			return nil
		}
	}
	component, _, _ := strings.Cut(path, "/")
	if component != m.Component {
		return &FieldError{Path: "component", Problem: fmt.Sprintf("%q does not match the target path %q", m.Component, path)}
	}
	return &FieldError{Path: "id", Problem: fmt.Sprintf("target path %q is not %s/%s.tar.gz or .tar", path, m.Component, m.ID)}
}
