package client

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"unicode/utf8"
)

// canonicalize appends the canonical JSON form (OLPC canonical JSON, as
// securesystemslib and go-tuf sign it) of the JSON value in src to dst:
// object keys sorted by their bytes, no insignificant whitespace, strings
// with only '"' and '\' escaped, integers only. It rejects what could make
// two parsers disagree about the signed content: duplicate keys, invalid
// UTF-8, floats, trailing data.
//
// Publishers sign the canonical form; the bytes on the wire may be pretty
// printed, so the verifier rebuilds the canonical form from what it
// received and checks the signature over that.
func canonicalize(dst, src []byte) ([]byte, error) {
	c := canon{src: src, out: dst}
	c.ws()
	if err := c.value(0); err != nil {
		return nil, err
	}
	c.ws()
	if c.pos != len(c.src) {
		return nil, fmt.Errorf("canonical json: trailing data at offset %d", c.pos)
	}
	return c.out, nil
}

const maxDepth = 64

type canon struct {
	src []byte
	pos int
	out []byte
}

func (c *canon) errf(format string, a ...any) error {
	return fmt.Errorf("canonical json: offset %d: %s", c.pos, fmt.Sprintf(format, a...))
}

func (c *canon) ws() {
	for c.pos < len(c.src) {
		switch c.src[c.pos] {
		case ' ', '\t', '\n', '\r':
			c.pos++
		default:
			return
		}
	}
}

func (c *canon) value(depth int) error {
	if depth > maxDepth {
		return c.errf("nested too deeply")
	}
	if c.pos >= len(c.src) {
		return c.errf("unexpected end")
	}
	switch b := c.src[c.pos]; {
	case b == '{':
		return c.object(depth)
	case b == '[':
		return c.array(depth)
	case b == '"':
		s, err := c.str()
		if err != nil {
			return err
		}
		c.out = appendCanonicalString(c.out, s)
		return nil
	case b == '-' || (b >= '0' && b <= '9'):
		return c.integer()
	default:
		for _, lit := range []string{"true", "false", "null"} {
			if bytes.HasPrefix(c.src[c.pos:], []byte(lit)) {
				c.pos += len(lit)
				c.out = append(c.out, lit...)
				return nil
			}
		}
		return c.errf("unexpected byte %q", b)
	}
}

func (c *canon) integer() error {
	start := c.pos
	end, why := integerEnd(c.src, c.pos)
	if why != "" {
		c.pos = end
		return c.errf("%s", why)
	}
	c.pos = end
	c.out = append(c.out, c.src[start:end]...)
	return nil
}

// integerEnd reads the integer at pos in src (an optional minus, digits
// without a leading zero, no fraction or exponent) and returns where it
// ends, or where it went wrong and why.
func integerEnd(src []byte, pos int) (end int, why string) {
	if src[pos] == '-' {
		pos++
	}
	digits := pos
	for pos < len(src) && src[pos] >= '0' && src[pos] <= '9' {
		pos++
	}
	n := src[digits:pos]
	if len(n) == 0 || (len(n) > 1 && n[0] == '0') {
		return pos, "malformed number"
	}
	if pos < len(src) {
		switch src[pos] {
		case '.', 'e', 'E':
			return pos, "floats are not allowed"
		}
	}
	return pos, ""
}

// str reads a JSON string at pos and returns its decoded value. A string
// without escapes is returned as a slice of the source, not copied.
func (c *canon) str() ([]byte, error) {
	start := c.pos
	c.pos++
	escaped := false
	for {
		if c.pos >= len(c.src) {
			return nil, c.errf("unterminated string")
		}
		b := c.src[c.pos]
		if b < 0x20 {
			return nil, c.errf("control character in string")
		}
		c.pos++
		if b == '\\' {
			escaped = true
			c.pos++
			continue
		}
		if b == '"' {
			break
		}
	}
	raw := c.src[start:c.pos]
	if !utf8.Valid(raw) {
		return nil, c.errf("invalid UTF-8 in string")
	}
	if !escaped {
		return raw[1 : len(raw)-1], nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, c.errf("bad string: %v", err)
	}
	return []byte(s), nil
}

func appendCanonicalString(dst []byte, s []byte) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			dst = append(dst, '\\')
		}
		dst = append(dst, s[i])
	}
	return append(dst, '"')
}

func (c *canon) array(depth int) error {
	c.pos++
	c.out = append(c.out, '[')
	c.ws()
	if c.pos < len(c.src) && c.src[c.pos] == ']' {
		c.pos++
		c.out = append(c.out, ']')
		return nil
	}
	for {
		c.ws()
		if err := c.value(depth + 1); err != nil {
			return err
		}
		c.ws()
		if c.pos >= len(c.src) {
			return c.errf("unterminated array")
		}
		switch c.src[c.pos] {
		case ',':
			c.pos++
			c.out = append(c.out, ',')
		case ']':
			c.pos++
			c.out = append(c.out, ']')
			return nil
		default:
			return c.errf("expected , or ]")
		}
	}
}

// member is one "key":value of an object, as a span of c.out.
type member struct {
	key        []byte
	start, end int
}

func (c *canon) object(depth int) error {
	c.pos++
	c.out = append(c.out, '{')
	base := len(c.out)
	var members []member
	c.ws()
	if c.pos < len(c.src) && c.src[c.pos] == '}' {
		c.pos++
		c.out = append(c.out, '}')
		return nil
	}
	for {
		c.ws()
		if c.pos >= len(c.src) || c.src[c.pos] != '"' {
			return c.errf("expected object key")
		}
		key, err := c.str()
		if err != nil {
			return err
		}
		c.ws()
		if c.pos >= len(c.src) || c.src[c.pos] != ':' {
			return c.errf("expected :")
		}
		c.pos++
		c.ws()
		if len(members) > 0 {
			c.out = append(c.out, ',')
		}
		start := len(c.out)
		c.out = appendCanonicalString(c.out, key)
		c.out = append(c.out, ':')
		if err := c.value(depth + 1); err != nil {
			return err
		}
		members = append(members, member{key, start, len(c.out)})
		c.ws()
		if c.pos >= len(c.src) {
			return c.errf("unterminated object")
		}
		if c.src[c.pos] == '}' {
			c.pos++
			break
		}
		if c.src[c.pos] != ',' {
			return c.errf("expected , or }")
		}
		c.pos++
	}
	return c.sortMembers(base, members)
}

// sortMembers puts the members written from base on (comma-separated) in
// key order and closes the object. Most signers already emit sorted keys,
// so the common case only checks the order.
func (c *canon) sortMembers(base int, members []member) error {
	byKey := func(a, b member) int { return bytes.Compare(a.key, b.key) }
	sorted := slices.IsSortedFunc(members, byKey)
	if !sorted {
		slices.SortFunc(members, byKey)
	}
	for i := 1; i < len(members); i++ {
		if bytes.Equal(members[i].key, members[i-1].key) {
			return fmt.Errorf("canonical json: duplicate key %q", members[i].key)
		}
	}
	if sorted {
		c.out = append(c.out, '}')
		return nil
	}
	body := make([]byte, 0, len(c.out)-base+len(members))
	for i, m := range members {
		if i > 0 {
			body = append(body, ',')
		}
		body = append(body, c.out[m.start:m.end]...)
	}
	c.out = append(append(c.out[:base], body...), '}')
	return nil
}

// isCanonical reports whether src is already in canonical form: exactly
// the bytes canonicalize would return for it, without error. Signers
// write canonical JSON (bsi, go-tuf and python-tuf all do), so the
// verifier checks a signature over the bytes it received when they are
// canonical, and copies them into canonical form only when they are not
// (a 45 MB role of 100,000 targets is not held twice while it is
// verified).
//
// It is strict where canonicalize is lenient: any whitespace, any escape
// other than \" and \\, an object key holding an escape (its decoded
// order may differ from its bytes' order) or keys out of order make it
// false, and the caller canonicalizes as before. It never allocates.
func isCanonical(src []byte) bool {
	c := canonCheck{src: src}
	return c.value(0) && c.pos == len(src)
}

// canonCheck walks src as canon does, writing nothing: each value must
// be spelled as canon would write it.
type canonCheck struct {
	src []byte
	pos int
}

func (c *canonCheck) value(depth int) bool {
	if depth > maxDepth || c.pos >= len(c.src) {
		return false
	}
	switch b := c.src[c.pos]; {
	case b == '{':
		return c.object(depth)
	case b == '[':
		return c.array(depth)
	case b == '"':
		_, ok := c.str()
		return ok
	case b == '-' || (b >= '0' && b <= '9'):
		return c.integer()
	}
	for _, lit := range []string{"true", "false", "null"} {
		if bytes.HasPrefix(c.src[c.pos:], []byte(lit)) {
			c.pos += len(lit)
			return true
		}
	}
	return false
}

// integer is canon.integer: an optional minus, digits without a leading
// zero, and no fraction or exponent.
func (c *canonCheck) integer() bool {
	end, why := integerEnd(c.src, c.pos)
	c.pos = end
	return why == ""
}

// str checks a string at pos that canon would write back unchanged: valid
// UTF-8, no control character, and no escape but \" and \\ (canon writes
// every other character raw). It returns whether the string holds an
// escape and whether it is canonical.
func (c *canonCheck) str() (escaped, ok bool) {
	start := c.pos
	c.pos++
	for {
		if c.pos >= len(c.src) {
			return false, false
		}
		b := c.src[c.pos]
		switch {
		case b < 0x20:
			return false, false
		case b == '\\':
			if c.pos+1 >= len(c.src) || c.src[c.pos+1] != '"' && c.src[c.pos+1] != '\\' {
				return false, false
			}
			escaped = true
			c.pos += 2
			continue
		case b == '"':
			c.pos++
			return escaped, utf8.Valid(c.src[start:c.pos])
		}
		c.pos++
	}
}

func (c *canonCheck) array(depth int) bool {
	c.pos++
	if c.pos < len(c.src) && c.src[c.pos] == ']' {
		c.pos++
		return true
	}
	for {
		if !c.value(depth + 1) {
			return false
		}
		if more, ok := c.sep(']'); !more {
			return ok
		}
	}
}

// sep reads what follows an element or member: a comma (more follow)
// or close; ok is false for anything else.
func (c *canonCheck) sep(close byte) (more, ok bool) {
	if c.pos >= len(c.src) {
		return false, false
	}
	switch c.src[c.pos] {
	case ',':
		c.pos++
		return true, true
	case close:
		c.pos++
		return false, true
	}
	return false, false
}

// object checks that the keys come in strictly increasing byte order (so
// none repeats) and hold no escape: then their bytes are the decoded keys
// canon sorts.
func (c *canonCheck) object(depth int) bool {
	c.pos++
	if c.pos < len(c.src) && c.src[c.pos] == '}' {
		c.pos++
		return true
	}
	var prev []byte
	for i := 0; ; i++ {
		if c.pos >= len(c.src) || c.src[c.pos] != '"' {
			return false
		}
		start := c.pos
		escaped, ok := c.str()
		if !ok || escaped {
			return false
		}
		key := c.src[start+1 : c.pos-1]
		if i > 0 && bytes.Compare(prev, key) >= 0 {
			return false
		}
		prev = key
		if c.pos >= len(c.src) || c.src[c.pos] != ':' {
			return false
		}
		c.pos++
		if !c.value(depth + 1) {
			return false
		}
		if more, ok := c.sep('}'); !more {
			return ok
		}
	}
}
