package pkcs11

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Scheme starts every PKCS#11 URI.
const Scheme = "pkcs11:"

// maxURI bounds the length of a URI that Parse reads.
const maxURI = 4096

// Object types of the "type" attribute (RFC 7512 section 2.3).
const (
	TypePrivate   = "private"
	TypePublic    = "public"
	TypeCert      = "cert"
	TypeSecretKey = "secret-key"
	TypeData      = "data"
)

// URI is a parsed PKCS#11 URI: which module, which token, which object.
// Empty fields were absent. It never holds a PIN: a URI with pin-value is
// refused by Parse.
type URI struct {
	// Token selection (path attributes).
	Token        string // token=: the token label
	Manufacturer string // manufacturer=: the token manufacturer id
	Model        string // model=: the token model
	Serial       string // serial=: the token serial number
	SlotID       uint64 // slot-id=, when HasSlotID
	HasSlotID    bool

	// Object selection (path attributes).
	Object string // object=: CKA_LABEL
	ID     []byte // id=: CKA_ID, raw bytes (percent-encoded in the URI)
	Type   string // type=: one of the Type constants

	// Query attributes.
	ModulePath string // module-path=: absolute path of the PKCS#11 module
	ModuleName string // module-name=: module file name, looked up in the system's module directories
	PINSource  string // pin-source=: "file:/path" or "/path", a file holding the PIN
}

// URIError is a malformed or refused PKCS#11 URI. Attr names the
// attribute at fault ("" for the URI as a whole); the message never
// repeats a pin-value.
type URIError struct {
	Attr   string
	Reason string
}

func (e *URIError) Error() string {
	if e.Attr == "" {
		return "pkcs11 URI: " + e.Reason
	}
	return fmt.Sprintf("pkcs11 URI: attribute %q: %s", e.Attr, e.Reason)
}

// IsURI reports whether ref is a PKCS#11 URI, that is starts with
// "pkcs11:" (lower case, as RFC 7512 writes it). It says nothing about
// whether the rest parses.
func IsURI(ref string) bool { return strings.HasPrefix(ref, Scheme) }

// pathAttrs and queryAttrs are the attributes Parse reads. RFC 7512's
// library-*, slot-description and slot-manufacturer attributes, and vendor
// "x-" attributes, are refused: bsi cannot honour them, and ignoring a
// constraint would select a key the publisher did not name.
var (
	pathAttrs  = []string{"token", "manufacturer", "model", "serial", "slot-id", "object", "id", "type"}
	queryAttrs = []string{"module-path", "module-name", "pin-source", "pin-value"}
)

// Parse parses a PKCS#11 URI (RFC 7512) strictly: the "pkcs11:" scheme,
// path attributes separated by ";", query attributes after "?" separated
// by "&", each "name=value" with the value percent-encoded where RFC 7512
// requires it. Errors are a *URIError naming the attribute: an unknown or
// unsupported attribute, one given twice, a character that must be
// percent-encoded, a bad percent-encoding, a value that is not UTF-8 (all
// but id), an empty value, a slot-id that is not a decimal number, a type
// that RFC 7512 does not define, a relative module-path, both module-path
// and module-name, and pin-value (a PIN in the URI would be written in
// workspace.json, shown in messages and visible in process lists: use
// pin-source or the caller's PIN prompt).
//
// Example: pkcs11:token=bsi-root;object=root-1;type=private?module-name=softhsm2
func Parse(s string) (*URI, error) {
	if len(s) > maxURI {
		return nil, &URIError{Reason: fmt.Sprintf("longer than %d bytes", maxURI)}
	}
	rest, ok := strings.CutPrefix(s, Scheme)
	if !ok {
		return nil, &URIError{Reason: fmt.Sprintf("does not start with %q", Scheme)}
	}
	path, query, hasQuery := strings.Cut(rest, "?")
	u := &URI{}
	seen := map[string]bool{}
	if path != "" {
		for _, a := range strings.Split(path, ";") {
			if err := u.setAttr(a, pathAttrs, isPathChar, seen); err != nil {
				return nil, err
			}
		}
	}
	if hasQuery {
		if query == "" {
			return nil, &URIError{Reason: `empty query after "?"`}
		}
		for _, a := range strings.Split(query, "&") {
			if err := u.setAttr(a, queryAttrs, isQueryChar, seen); err != nil {
				return nil, err
			}
		}
	}
	if u.ModulePath != "" && u.ModuleName != "" {
		return nil, &URIError{Attr: "module-path", Reason: "module-path and module-name are both given; give one"}
	}
	// The URI is stored and read again as String writes it, which
	// escapes an id byte by byte ("%01" for 0x01): that form must parse
	// too.
	if n := len(u.String()); n > maxURI {
		return nil, &URIError{Reason: fmt.Sprintf("longer than %d bytes once written with its bytes escaped (%d)", maxURI, n)}
	}
	return u, nil
}

// setAttr parses one "name=value" attribute into u.
func (u *URI) setAttr(a string, allowed []string, valid func(byte) bool, seen map[string]bool) error {
	name, raw, ok := strings.Cut(a, "=")
	if !ok {
		if a == "" {
			return &URIError{Reason: "empty attribute (a doubled or trailing separator)"}
		}
		return &URIError{Attr: printableAttr(a), Reason: `missing "=value"`}
	}
	if !contains(allowed, name) {
		if contains(pathAttrs, name) || contains(queryAttrs, name) {
			return &URIError{Attr: name, Reason: "in the wrong part of the URI (path attributes before \"?\", separated by \";\"; query attributes after it, separated by \"&\")"}
		}
		return &URIError{Attr: printableAttr(name), Reason: "unknown or unsupported attribute; bsi reads " +
			strings.Join(pathAttrs, ", ") + " and, after \"?\", module-path, module-name, pin-source"}
	}
	if seen[name] {
		return &URIError{Attr: name, Reason: "given twice"}
	}
	seen[name] = true
	if name == "pin-value" {
		// Checked before decoding, so that no error repeats the PIN.
		return &URIError{Attr: name, Reason: "a PIN in the URI is refused (it would be stored in workspace.json, " +
			"printed in messages and visible in process lists); use pin-source=file:/path or the PIN prompt or environment"}
	}
	v, err := unescape(raw, valid)
	if err != nil {
		return &URIError{Attr: name, Reason: err.Error()}
	}
	if len(v) == 0 {
		return &URIError{Attr: name, Reason: "empty value"}
	}
	if name != "id" && !utf8.Valid(v) {
		return &URIError{Attr: name, Reason: "value is not UTF-8"}
	}
	switch name {
	case "token":
		u.Token = string(v)
	case "manufacturer":
		u.Manufacturer = string(v)
	case "model":
		u.Model = string(v)
	case "serial":
		u.Serial = string(v)
	case "slot-id":
		n, err := strconv.ParseUint(string(v), 10, 64)
		if err != nil || string(v) != strconv.FormatUint(n, 10) {
			return &URIError{Attr: name, Reason: fmt.Sprintf("%q is not a decimal number", v)}
		}
		u.SlotID, u.HasSlotID = n, true
	case "object":
		u.Object = string(v)
	case "id":
		u.ID = v
	case "type":
		switch t := string(v); t {
		case TypePrivate, TypePublic, TypeCert, TypeSecretKey, TypeData:
			u.Type = t
		default:
			return &URIError{Attr: name, Reason: fmt.Sprintf("%q is not one of private, public, cert, secret-key, data", t)}
		}
	case "module-path":
		if v[0] != '/' {
			return &URIError{Attr: name, Reason: fmt.Sprintf("%q is not an absolute path", v)}
		}
		u.ModulePath = string(v)
	case "module-name":
		if !validModuleName(string(v)) {
			return &URIError{Attr: name, Reason: fmt.Sprintf("%q is not a module file name (letters, digits, \".\", \"_\", \"+\", \"-\")", v)}
		}
		u.ModuleName = string(v)
	case "pin-source":
		if _, err := pinSourcePath(string(v)); err != nil {
			return &URIError{Attr: name, Reason: err.Error()}
		}
		u.PINSource = string(v)
	}
	return nil
}

// String returns the URI in canonical form: path attributes in the order
// token, manufacturer, model, serial, slot-id, object, id, type; query
// attributes module-path, module-name, pin-source; values percent-encoded
// where RFC 7512 requires it, id always fully. Parse(u.String()) gives u
// back.
func (u *URI) String() string {
	var path, query []string
	add := func(list *[]string, name, v string, valid func(byte) bool) {
		if v != "" {
			*list = append(*list, name+"="+escape([]byte(v), valid))
		}
	}
	add(&path, "token", u.Token, isPathChar)
	add(&path, "manufacturer", u.Manufacturer, isPathChar)
	add(&path, "model", u.Model, isPathChar)
	add(&path, "serial", u.Serial, isPathChar)
	if u.HasSlotID {
		path = append(path, "slot-id="+strconv.FormatUint(u.SlotID, 10))
	}
	add(&path, "object", u.Object, isPathChar)
	if len(u.ID) > 0 {
		path = append(path, "id="+escape(u.ID, func(byte) bool { return false }))
	}
	add(&path, "type", u.Type, isPathChar)
	add(&query, "module-path", u.ModulePath, isQueryChar)
	add(&query, "module-name", u.ModuleName, isQueryChar)
	add(&query, "pin-source", u.PINSource, isQueryChar)
	s := Scheme + strings.Join(path, ";")
	if len(query) > 0 {
		s += "?" + strings.Join(query, "&")
	}
	return s
}

// Redact returns ref with the value of any pin-value attribute replaced by
// "***", for messages about a string that may not parse.
func Redact(ref string) string {
	var b strings.Builder
	rest := ref
	for {
		i := strings.Index(rest, "pin-value=")
		if i < 0 {
			b.WriteString(rest)
			return b.String()
		}
		b.WriteString(rest[:i+len("pin-value=")])
		rest = rest[i+len("pin-value="):]
		if j := strings.IndexAny(rest, ";&?"); j >= 0 {
			rest = rest[j:]
		} else {
			rest = ""
		}
		b.WriteString("***")
	}
}

// unescape decodes the percent-encoding of v, refusing characters outside
// valid that are not percent-encoded.
func unescape(v string, valid func(byte) bool) ([]byte, error) {
	out := make([]byte, 0, len(v))
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '%':
			if i+2 >= len(v) {
				return nil, fmt.Errorf("truncated percent-encoding at byte %d", i)
			}
			hi, lo := unhex(v[i+1]), unhex(v[i+2])
			if hi < 0 || lo < 0 {
				return nil, fmt.Errorf("bad percent-encoding %q at byte %d", v[i:i+3], i)
			}
			out = append(out, byte(hi<<4|lo))
			i += 2
		case valid(c):
			out = append(out, c)
		default:
			return nil, fmt.Errorf("character %q at byte %d must be percent-encoded", c, i)
		}
	}
	return out, nil
}

// escape percent-encodes every byte of v outside valid.
func escape(v []byte, valid func(byte) bool) string {
	const hex = "0123456789ABCDEF"
	var b bytes.Buffer
	for _, c := range v {
		if valid(c) {
			b.WriteByte(c)
		} else {
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
	return b.String()
}

func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// isUnreserved is RFC 3986's unreserved set.
func isUnreserved(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// isPathChar is RFC 7512's pk11-pchar without the percent sign:
// unreserved and pk11-path-res (":[]@!$'()*+,=" and "&").
func isPathChar(c byte) bool {
	return isUnreserved(c) || strings.IndexByte(":[]@!$'()*+,=&", c) >= 0
}

// isQueryChar is RFC 7512's pk11-qchar without the percent sign:
// unreserved and pk11-query-res-avail (":[]@!$'()*+,=/?|").
func isQueryChar(c byte) bool {
	return isUnreserved(c) || strings.IndexByte(":[]@!$'()*+,=/?|", c) >= 0
}

func validModuleName(s string) bool {
	if s == "." || s == ".." {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("._+-", c) >= 0) {
			return false
		}
	}
	return true
}

// printableAttr quotes an attribute name from the input for a message.
func printableAttr(s string) string {
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	q := strconv.QuoteToASCII(s)
	return q[1 : len(q)-1]
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// tokenWant describes the URI's token attributes for a message, e.g.
// `token="bsi-root"`.
func (u *URI) tokenWant() string {
	var w []string
	if u.Token != "" {
		w = append(w, fmt.Sprintf("token=%q", u.Token))
	}
	if u.Serial != "" {
		w = append(w, fmt.Sprintf("serial=%q", u.Serial))
	}
	if u.Manufacturer != "" {
		w = append(w, fmt.Sprintf("manufacturer=%q", u.Manufacturer))
	}
	if u.Model != "" {
		w = append(w, fmt.Sprintf("model=%q", u.Model))
	}
	if u.HasSlotID {
		w = append(w, fmt.Sprintf("slot-id=%d", u.SlotID))
	}
	return strings.Join(w, " ")
}

// objectWant describes an object's label and id for a message, e.g.
// `object="root-1" id=%01%02`.
func objectWant(label string, id []byte) string {
	var w []string
	if label != "" {
		w = append(w, fmt.Sprintf("object=%q", label))
	}
	if len(id) > 0 {
		w = append(w, "id="+escape(id, func(byte) bool { return false }))
	}
	return strings.Join(w, " ")
}
