package manifest

import (
	"bytes"
	"fmt"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// maxDepth bounds the nesting of values the lexer skips (unknown fields,
// values of the wrong type, other tools' custom data).
const maxDepth = 64

// lexer reads JSON (RFC 8259) from a byte slice that is already known to be
// valid UTF-8. It is a hand-written replacement for encoding/json's
// Decoder.Token, which allocates for every token; strings are unescaped
// exactly as encoding/json does (a lone surrogate becomes U+FFFD). Syntax
// errors are *fatal with the byte offset; the decoder adds the JSON path.
type lexer struct {
	data []byte
	pos  int
}

// peek skips white space and returns the next byte, or 0 at the end.
func (l *lexer) peek() byte {
	for l.pos < len(l.data) {
		switch c := l.data[l.pos]; c {
		case ' ', '\t', '\n', '\r':
			l.pos++
		default:
			return c
		}
	}
	return 0
}

// syntax reports a syntax error at the current position.
func (l *lexer) syntax(format string, a ...any) *fatal {
	if l.pos >= len(l.data) {
		return &fatal{problem: "unexpected end of JSON"}
	}
	return &fatal{problem: fmt.Sprintf("invalid JSON at byte %d: ", l.pos) + fmt.Sprintf(format, a...)}
}

// char quotes the character at the current position for a message.
func (l *lexer) char() string {
	r, _ := utf8.DecodeRune(l.data[l.pos:])
	return fmt.Sprintf("%q", r)
}

// str reads a string; the current byte is its opening quote.
func (l *lexer) str() (string, *fatal) {
	b, err := l.strBytes()
	return string(b), err
}

// strBytes is str without a copy when the string has no escapes: the result
// may alias the input.
func (l *lexer) strBytes() ([]byte, *fatal) {
	l.pos++
	start := l.pos
	for l.pos < len(l.data) {
		switch c := l.data[l.pos]; {
		case c == '"':
			l.pos++
			return l.data[start : l.pos-1], nil
		case c == '\\':
			return l.strEscaped(start)
		case c < 0x20:
			return nil, l.syntax("control character %#02x in string", c)
		}
		l.pos++
	}
	return nil, l.syntax("")
}

// strEscaped finishes a string that has escapes, from the first backslash.
func (l *lexer) strEscaped(start int) ([]byte, *fatal) {
	b := append(make([]byte, 0, l.pos-start+16), l.data[start:l.pos]...)
	for l.pos < len(l.data) {
		c := l.data[l.pos]
		switch {
		case c == '"':
			l.pos++
			return b, nil
		case c < 0x20:
			return nil, l.syntax("control character %#02x in string", c)
		case c != '\\':
			b = append(b, c)
			l.pos++
			continue
		}
		if l.pos+1 >= len(l.data) {
			l.pos = len(l.data)
			return nil, l.syntax("")
		}
		switch e := l.data[l.pos+1]; e {
		case '"', '\\', '/':
			b = append(b, e)
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			r := l.hex4(l.pos)
			if r < 0 {
				l.pos++
				return nil, l.syntax("invalid \\u escape in string")
			}
			l.pos += 6
			if utf16.IsSurrogate(r) { // as encoding/json: a pair, or U+FFFD
				if dec := utf16.DecodeRune(r, l.hex4(l.pos)); dec != unicode.ReplacementChar {
					r = dec
					l.pos += 6
				} else {
					r = unicode.ReplacementChar
				}
			}
			b = utf8.AppendRune(b, r)
			continue
		default:
			l.pos++
			return nil, l.syntax("invalid escape %s in string", l.char())
		}
		l.pos += 2
	}
	return nil, l.syntax("")
}

// hex4 decodes `\uXXXX` at i, or returns -1.
func (l *lexer) hex4(i int) rune {
	if i+6 > len(l.data) || l.data[i] != '\\' || l.data[i+1] != 'u' {
		return -1
	}
	var r rune
	for _, c := range l.data[i+2 : i+6] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
}

// number reads a number and returns its text: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func (l *lexer) number() (string, *fatal) {
	start := l.pos
	if l.at('-') {
		l.pos++
	}
	switch {
	case l.at('0'):
		l.pos++
	case l.digits() == 0:
		return "", l.syntax("invalid character %s in number", l.char())
	}
	if l.at('.') {
		l.pos++
		if l.digits() == 0 {
			return "", l.syntax("invalid character %s after decimal point in number", l.char())
		}
	}
	if l.at('e') || l.at('E') {
		l.pos++
		if l.at('+') || l.at('-') {
			l.pos++
		}
		if l.digits() == 0 {
			return "", l.syntax("invalid character %s in exponent of number", l.char())
		}
	}
	return string(l.data[start:l.pos]), nil
}

func (l *lexer) at(c byte) bool { return l.pos < len(l.data) && l.data[l.pos] == c }

func (l *lexer) digits() int {
	n := 0
	for l.pos < len(l.data) && isDigit(rune(l.data[l.pos])) {
		l.pos++
		n++
	}
	return n
}

// literal reads true, false or null, whichever starts here.
func (l *lexer) literal() (string, *fatal) {
	rest := l.data[l.pos:]
	for _, word := range []string{"true", "false", "null"} {
		if bytes.HasPrefix(rest, []byte(word)) {
			l.pos += len(word)
			return word, nil
		}
		if len(rest) < len(word) && bytes.HasPrefix([]byte(word), rest) {
			l.pos = len(l.data)
			return "", l.syntax("")
		}
	}
	return "", l.syntax("invalid character %s in literal", l.char())
}

// object reads the members of an object whose '{' was consumed, calling each
// with the key when the lexer stands before the member's value.
func (l *lexer) object(each func(key []byte) *fatal) *fatal {
	if l.peek() == '}' {
		l.pos++
		return nil
	}
	for {
		if l.peek() != '"' {
			return l.syntax("invalid character %s, want a string key", l.char())
		}
		key, err := l.strBytes()
		if err != nil {
			return err
		}
		if l.peek() != ':' {
			return l.syntax("invalid character %s after object key, want ':'", l.char())
		}
		l.pos++
		if err := each(key); err != nil {
			return err
		}
		switch l.peek() {
		case ',':
			l.pos++
		case '}':
			l.pos++
			return nil
		default:
			return l.syntax("invalid character %s after object value, want ',' or '}'", l.char())
		}
	}
}

// list reads the elements of a list whose '[' was consumed, calling each
// with the index when the lexer stands before the element.
func (l *lexer) list(each func(i int) *fatal) *fatal {
	if l.peek() == ']' {
		l.pos++
		return nil
	}
	for i := 0; ; i++ {
		if err := each(i); err != nil {
			return err
		}
		switch l.peek() {
		case ',':
			l.pos++
		case ']':
			l.pos++
			return nil
		default:
			return l.syntax("invalid character %s after list element, want ',' or ']'", l.char())
		}
	}
}

// skip reads and discards one value, checking its syntax.
func (l *lexer) skip(depth int) *fatal {
	if depth > maxDepth {
		return l.syntax("nested more than %d levels deep", maxDepth)
	}
	var err *fatal
	switch c := l.peek(); {
	case c == '{':
		l.pos++
		err = l.object(func([]byte) *fatal { return l.skip(depth + 1) })
	case c == '[':
		l.pos++
		err = l.list(func(int) *fatal { return l.skip(depth + 1) })
	case c == '"':
		_, err = l.strBytes()
	case c == '-' || isDigit(rune(c)):
		_, err = l.number()
	case c == 't' || c == 'f' || c == 'n':
		_, err = l.literal()
	default:
		err = l.syntax("invalid character %s looking for the beginning of a value", l.char())
	}
	return err
}

// kindAt names the JSON type of the value starting with c, or "".
func kindAt(c byte) string {
	switch {
	case c == '{':
		return "an object"
	case c == '[':
		return "a list"
	case c == '"':
		return "a string"
	case c == '-' || isDigit(rune(c)):
		return "a number"
	case c == 't' || c == 'f':
		return "a boolean"
	case c == 'n':
		return "null"
	}
	return ""
}
