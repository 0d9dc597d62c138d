package serve

import (
	"bytes"
	"net/http"
)

// requestHead is a request the fast path answers: a GET or HEAD in
// HTTP/1.1 of a plain path, without a body or a header it would have to
// interpret besides If-None-Match and Connection.
type requestHead struct {
	method string // http.MethodGet or http.MethodHead
	target []byte // the request target, an origin-form path without query
	inm    []byte // the If-None-Match value, without surrounding white space
	hasINM bool
	close  bool // Connection: close
}

// wireHandOn are the request headers that make the fast path hand a
// request to net/http: a body, an expectation, a range, conditions other
// than If-None-Match, a protocol upgrade.
var wireHandOn = [...]string{
	"Content-Length", "Transfer-Encoding", "Expect", "Trailer", "Upgrade",
	"Range", "If-Range", "If-Match", "If-Unmodified-Since", "If-Modified-Since",
}

// parseHead parses b, a request head ending in its blank line
// ("\r\n\r\n"). It reports false for every head the fast path leaves to
// net/http: another method or protocol version, a target that is not a
// plain path of unreserved and sub-delimiter characters (no escapes, no
// query), bare CR or LF, a header name that is not a token, a control
// character in a value, not exactly one valid Host, more than one
// If-None-Match, a Connection other than close or keep-alive, any header
// of wireHandOn. What it accepts, net/http reads as the same request (see
// FuzzParseHead).
func parseHead(b []byte) (requestHead, bool) {
	var h requestHead
	crlf := []byte("\r\n")
	line, rest, _ := bytes.Cut(b, crlf)
	switch {
	case bytes.HasPrefix(line, []byte("GET ")):
		h.method, line = http.MethodGet, line[4:]
	case bytes.HasPrefix(line, []byte("HEAD ")):
		h.method, line = http.MethodHead, line[5:]
	default:
		return h, false
	}
	target, proto, ok := bytes.Cut(line, []byte(" "))
	if !ok || string(proto) != "HTTP/1.1" || len(target) == 0 || target[0] != '/' {
		return h, false
	}
	for _, c := range target {
		if !isPathChar(c) {
			return h, false
		}
	}
	h.target = target
	hosts := 0
	for {
		line, rest, ok = bytes.Cut(rest, crlf)
		if !ok {
			return h, false
		}
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok || len(name) == 0 {
			return h, false
		}
		for _, c := range name {
			if !isTokenChar(c) {
				return h, false
			}
		}
		value = bytes.Trim(value, " \t")
		for _, c := range value {
			if c < 0x20 && c != '\t' || c == 0x7f {
				return h, false
			}
		}
		switch {
		case bytes.EqualFold(name, []byte("Host")):
			hosts++
			if !isPlainHost(value) {
				return h, false
			}
		case bytes.EqualFold(name, []byte("If-None-Match")):
			if h.hasINM {
				return h, false
			}
			h.hasINM, h.inm = true, value
		case bytes.EqualFold(name, []byte("Connection")):
			for tok := range bytes.SplitSeq(value, []byte(",")) {
				switch tok = bytes.Trim(tok, " \t"); {
				case bytes.EqualFold(tok, []byte("close")):
					h.close = true
				case bytes.EqualFold(tok, []byte("keep-alive")):
				default:
					return h, false
				}
			}
		default:
			for _, k := range wireHandOn {
				if bytes.EqualFold(name, []byte(k)) {
					return h, false
				}
			}
		}
	}
	return h, hosts == 1 && len(rest) == 0
}

// isPathChar reports whether c may appear in a plain path: an unreserved
// or sub-delimiter character, ':', '@' or '/' (RFC 3986), not '%'.
func isPathChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	switch c {
	case '-', '.', '_', '~', '!', '$', '&', '\'', '(', ')', '*', '+', ',', ';', '=', ':', '@', '/':
		return true
	}
	return false
}

// isTokenChar reports whether c may appear in a header name (RFC 9110
// tchar).
func isTokenChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}

// isPlainHost reports whether v is a non-empty host[:port] of letters,
// digits, '.', '-', '_', ':' and brackets (an IPv6 literal).
func isPlainHost(v []byte) bool {
	if len(v) == 0 {
		return false
	}
	for _, c := range v {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '.', c == '-', c == '_', c == ':', c == '[', c == ']':
		default:
			return false
		}
	}
	return true
}
