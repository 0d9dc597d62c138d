package repo

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// canonicalJSON rewrites a JSON document in OLPC canonical form, exactly
// as cjson.EncodeCanonical does for the value it decodes to (object keys
// sorted by their bytes, the last of duplicate keys kept, no whitespace,
// strings escaping only '"' and '\', integers only), but in one pass over
// the bytes instead of through a map[string]any: signing a hash bin of
// hundreds of targets costs a fraction of a millisecond rather than tens.
func canonicalJSON(data []byte) ([]byte, error) {
	return appendCanonicalJSON(make([]byte, 0, len(data)), data)
}

// appendCanonicalJSON appends the canonical form of data to out.
func appendCanonicalJSON(out, data []byte) ([]byte, error) {
	if !json.Valid(data) {
		return nil, errors.New("canonical json: invalid json")
	}
	c := canonicalizer{in: data, out: out}
	if err := c.value(); err != nil {
		return nil, err
	}
	return c.out, nil
}

// canonicalizer walks valid JSON; it needs no error checks for syntax.
type canonicalizer struct {
	in  []byte
	pos int
	out []byte
}

func (c *canonicalizer) skipSpace() {
	for c.pos < len(c.in) && strings.IndexByte(" \t\r\n", c.in[c.pos]) >= 0 {
		c.pos++
	}
}

func (c *canonicalizer) value() error {
	c.skipSpace()
	switch b := c.in[c.pos]; {
	case b == '{':
		return c.object()
	case b == '[':
		return c.array()
	case b == '"':
		s, err := c.str()
		c.out = appendCanonicalString(c.out, s)
		return err
	case b == 't' || b == 'f' || b == 'n':
		n := map[byte]int{'t': 4, 'f': 5, 'n': 4}[b]
		c.out = append(c.out, c.in[c.pos:c.pos+n]...)
		c.pos += n
		return nil
	}
	start := c.pos
	for c.pos < len(c.in) && strings.IndexByte("+-0123456789.eE", c.in[c.pos]) >= 0 {
		c.pos++
	}
	num := c.in[start:c.pos]
	if _, err := strconv.ParseInt(string(num), 10, 64); err != nil {
		return fmt.Errorf("canonical json: number %s is not an integer", num)
	}
	c.out = append(c.out, num...)
	return nil
}

func (c *canonicalizer) array() error {
	c.pos++ // [
	c.out = append(c.out, '[')
	for first := true; ; first = false {
		c.skipSpace()
		if c.in[c.pos] == ']' {
			c.pos++
			c.out = append(c.out, ']')
			return nil
		}
		if !first {
			c.pos++ // ,
			c.out = append(c.out, ',')
		}
		if err := c.value(); err != nil {
			return err
		}
	}
}

// member is one "key":value of an object, as written to out[start:end].
type member struct {
	key        string
	start, end int
}

func (c *canonicalizer) object() error {
	c.pos++ // {
	c.out = append(c.out, '{')
	base := len(c.out)
	var members []member
	for {
		c.skipSpace()
		if c.in[c.pos] == '}' {
			c.pos++
			break
		}
		if c.in[c.pos] == ',' {
			c.pos++
			c.skipSpace()
		}
		key, err := c.str()
		if err != nil {
			return err
		}
		if len(members) > 0 {
			c.out = append(c.out, ',')
		}
		start := len(c.out)
		c.out = append(appendCanonicalString(c.out, key), ':')
		c.skipSpace()
		c.pos++ // :
		if err := c.value(); err != nil {
			return err
		}
		members = append(members, member{key, start, len(c.out)})
	}
	if slices.IsSortedFunc(members, cmpMember) && !hasDuplicate(members) {
		c.out = append(c.out, '}')
		return nil
	}
	// Rewrite the members in order over what was written.
	members = sortMembers(members)
	body := slices.Clone(c.out[base:])
	c.out = c.out[:base]
	for i, m := range members {
		if i > 0 {
			c.out = append(c.out, ',')
		}
		c.out = append(c.out, body[m.start-base:m.end-base]...)
	}
	c.out = append(c.out, '}')
	return nil
}

func cmpMember(a, b member) int { return strings.Compare(a.key, b.key) }

func hasDuplicate(ms []member) bool {
	for i := 1; i < len(ms); i++ {
		if ms[i].key == ms[i-1].key {
			return true
		}
	}
	return false
}

// sortMembers sorts by key and keeps the last of equal keys, as decoding
// into a map does.
func sortMembers(ms []member) []member {
	slices.SortStableFunc(ms, cmpMember)
	out := ms[:0]
	for i, m := range ms {
		if i+1 < len(ms) && ms[i+1].key == m.key {
			continue
		}
		out = append(out, m)
	}
	return out
}

// str reads a string token and returns its decoded value; the common case
// (no escapes, valid UTF-8) is the raw bytes themselves.
func (c *canonicalizer) str() (string, error) {
	start := c.pos
	c.pos++ // "
	escaped := false
	for c.in[c.pos] != '"' {
		if c.in[c.pos] == '\\' {
			escaped = true
			c.pos++
		}
		c.pos++
	}
	c.pos++
	raw := c.in[start:c.pos]
	if !escaped && utf8.Valid(raw) {
		return string(raw[1 : len(raw)-1]), nil
	}
	var s string
	err := json.Unmarshal(raw, &s)
	return s, err
}

func appendCanonicalString(out []byte, s string) []byte {
	if strings.IndexByte(s, '"') < 0 && strings.IndexByte(s, '\\') < 0 {
		return append(append(append(out, '"'), s...), '"')
	}
	out = append(out, '"')
	for {
		i := strings.IndexAny(s, `"\`)
		if i < 0 {
			break
		}
		out = append(append(append(out, s[:i]...), '\\'), s[i])
		s = s[i+1:]
	}
	return append(append(out, s...), '"')
}

// canonicalOf marshals v and returns its canonical form.
func canonicalOf(v any) ([]byte, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return canonicalJSON(bytes.TrimSpace(data))
}

// canonicalTargets returns the canonical form of a targets-family role's
// signed part, as canonicalOf does, without building go-tuf's map of
// every target entry: the role without its targets goes through
// canonicalOf, and the entries, sorted by path, are written straight in
// place of its empty "targets" object. An entry that is not plain (a
// field go-tuf keeps unrecognized, a path or algorithm that is not valid
// UTF-8) sends the whole role through canonicalOf.
func canonicalTargets(s *metadata.TargetsType) ([]byte, error) {
	b, _, err := canonicalTargetsCached(s, nil)
	return b, err
}

// entryCache holds the canonical member ("path":{entry}) of each target
// entry of a role as last encoded, by path, with the entry it was made
// from. Entries are replaced, never changed in place (every change of a
// target, an addition, a withdrawal, a rollout file or the log policy,
// lists a new *TargetFiles), so an entry whose pointer, custom pointer and
// length are those cached has the cached bytes: a commit of 10,000 new
// improvements to a role of 90,000 encodes 10,000 entries, not 100,000.
// The members are slices of the role's canonical bytes.
type entryCache map[string]cachedEntry

type cachedEntry struct {
	tf     *metadata.TargetFiles
	custom *json.RawMessage
	length int64
	member []byte
}

// member returns the cached member of the entry tf at path p, if the
// cache holds that very entry.
func (c entryCache) member(p string, tf *metadata.TargetFiles) ([]byte, bool) {
	e, ok := c[p]
	if !ok || tf == nil || e.tf != tf || e.custom != tf.Custom || e.length != tf.Length {
		return nil, false
	}
	return e.member, true
}

// canonicalTargetsCached is canonicalTargets taking the members of
// unchanged entries from cache (nil: none), and returns the cache of
// what it wrote (nil when the role went through canonicalOf).
func canonicalTargetsCached(s *metadata.TargetsType, cache entryCache) ([]byte, entryCache, error) {
	if len(s.UnrecognizedFields) > 0 {
		b, err := canonicalOf(s)
		return b, nil, err
	}
	bare := *s
	bare.Targets = map[string]*metadata.TargetFiles{}
	head, err := canonicalOf(&bare)
	if err != nil {
		return nil, nil, err
	}
	// "version" is the last key of the signed object and "targets" the one
	// before it: the empty targets object is in the tail.
	tail := fmt.Sprintf(`,"targets":{},"version":%d}`, s.Version)
	if !bytes.HasSuffix(head, []byte(tail)) {
		b, err := canonicalOf(s)
		return b, nil, err
	}
	paths := slices.Sorted(maps.Keys(s.Targets))
	parts, ends, err := canonicalEntries(s.Targets, paths, cache)
	if errors.Is(err, errNotPlain) {
		b, err := canonicalOf(s)
		return b, nil, err
	}
	if err != nil {
		return nil, nil, err
	}
	size := len(head) + len(parts) + 32
	for _, part := range parts {
		size += len(part)
	}
	out := make([]byte, 0, size)
	out = append(out, head[:len(head)-len(tail)]...)
	out = append(out, `,"targets":{`...)
	next := make(entryCache, len(paths))
	for i, part := range parts {
		if i > 0 {
			out = append(out, ',')
		}
		base, start := len(out), 0
		out = append(out, part...)
		for j, end := range ends[i] {
			p := paths[i*entriesPerPart+j]
			tf := s.Targets[p]
			next[p] = cachedEntry{tf: tf, custom: tf.Custom, length: tf.Length, member: out[base+start : base+end : base+end]}
			start = end + 1 // the comma
		}
	}
	return append(out, fmt.Sprintf(`},"version":%d}`, s.Version)...), next, nil
}

// entriesPerPart is the number of target entries canonicalEntries writes
// in one piece: a role with more is written by GOMAXPROCS workers.
const entriesPerPart = 4096

// errNotPlain reports a target entry appendCanonicalTarget does not
// write: the role goes through canonicalOf instead.
var errNotPlain = errors.New("target entry not plain")

// writesPlain reports whether appendCanonicalTarget writes the entry tf
// at path p as canonicalOf would: no field go-tuf keeps unrecognized, a
// path and algorithms that are valid UTF-8.
func writesPlain(p string, tf *metadata.TargetFiles) bool {
	if tf == nil || len(tf.UnrecognizedFields) > 0 || !utf8.ValidString(p) {
		return false
	}
	for alg := range tf.Hashes {
		if !utf8.ValidString(alg) {
			return false
		}
	}
	return true
}

// canonicalEntries returns the canonical "path":{entry} members of the
// targets at paths (sorted), in order, in pieces of up to entriesPerPart
// members separated by commas, written concurrently, with the end of each
// member in its piece. A member cache holds for the same entry is copied
// from it (a cached entry was plain); an entry not cached and not plain
// fails it with errNotPlain.
func canonicalEntries(targets map[string]*metadata.TargetFiles, paths []string, cache entryCache) ([][]byte, [][]int, error) {
	parts := make([][]byte, (len(paths)+entriesPerPart-1)/entriesPerPart)
	ends := make([][]int, len(parts))
	err := parallel(context.Background(), len(parts), func(i int) error {
		chunk := paths[i*entriesPerPart : min(len(paths), (i+1)*entriesPerPart)]
		cached := make([][]byte, len(chunk)) // nil: encoded here
		size := 0
		for j, p := range chunk {
			tf := targets[p]
			if m, ok := cache.member(p, tf); ok {
				cached[j] = m
				size += len(m) + 1
				continue
			}
			if !writesPlain(p, tf) {
				return errNotPlain
			}
			size += len(p) + 64 + 80*len(tf.Hashes)
			if tf.Custom != nil {
				size += len(*tf.Custom)
			}
		}
		out := make([]byte, 0, size)
		ends[i] = make([]int, len(chunk))
		for j, p := range chunk {
			if j > 0 {
				out = append(out, ',')
			}
			if m := cached[j]; m != nil {
				out = append(out, m...)
			} else {
				var err error
				if out, err = appendCanonicalTarget(out, p, targets[p]); err != nil {
					return err
				}
			}
			ends[i][j] = len(out)
		}
		parts[i] = out
		return nil
	})
	return parts, ends, err
}

// appendCanonicalTarget appends the member "p":{entry} of a plain target
// entry (see canonicalTargets).
func appendCanonicalTarget(out []byte, p string, tf *metadata.TargetFiles) ([]byte, error) {
	out = append(appendCanonicalString(out, p), ":{"...)
	if tf.Custom != nil {
		var err error
		if out, err = appendCanonicalJSON(append(out, `"custom":`...), bytes.TrimSpace(*tf.Custom)); err != nil {
			return nil, fmt.Errorf("target %s: custom: %w", p, err)
		}
		out = append(out, ',')
	}
	out = append(out, `"hashes":{`...)
	for j, alg := range slices.Sorted(maps.Keys(tf.Hashes)) {
		if j > 0 {
			out = append(out, ',')
		}
		out = append(appendCanonicalString(out, alg), ':', '"')
		out = append(hex.AppendEncode(out, tf.Hashes[alg]), '"')
	}
	out = append(out, `},"length":`...)
	return append(strconv.AppendInt(out, tf.Length, 10), '}'), nil
}
