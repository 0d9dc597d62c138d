package client

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
)

// A look-up index lets a warm look-up in a large role read and hash a few
// kilobytes instead of the whole file (5.8 MiB at 10,000 targets, 58 MiB
// at 100,000), without trusting a single byte it has not hashed.
//
// It is built once, from the bytes of a role just verified in full (or
// trusted through the verified-state record after a full hash), and
// stored beside the record as a sidecar whose SHA-256 the record entry
// holds. It binds to the role file by that file's SHA-256 and size, and
// holds:
//
//   - the SHA-256 of every indexChunk bytes of the file, so that each
//     byte a look-up reads is checked against the verified bytes;
//   - the byte spans of signed.targets and signed.delegations;
//   - an anchor every anchorEvery target entries: the span of its key.
//
// It is only built when the keys of signed.targets appear in strictly
// increasing byte order (canonical JSON sorts them, so every repository
// written by bsi, go-tuf or python-tuf does), so that a binary search over
// the anchors and a scan of at most anchorEvery entries finds a target or
// proves it absent. A role whose keys are not sorted, or that the scanner
// would give up on (errOddKey), gets no index and is scanned as before.
//
// A chunk that no longer hashes to the index (the file changed on disk)
// fails the look-up with errStoredChanged; Lookup then drops the role and
// searches again the slow way, which re-hashes the file, finds it differs
// from the record, and verifies or fetches it in full.

const (
	indexChunk  = 8 << 10
	anchorEvery = 32
	// indexMin is the smallest role file worth an index: below it the
	// whole file is read and hashed in well under a millisecond.
	indexMin   = 256 << 10
	indexMagic = "bsi-lookup-index/1\n"
)

// errStoredChanged reports that a role file read through its index does
// not hash to what was verified.
var errStoredChanged = errors.New("stored role file changed since it was verified")

type span struct{ start, end int64 }

type roleIndex struct {
	sum     [32]byte
	size    int64
	targets span // the object signed.targets, braces included
	delegs  span // the value of signed.delegations; end 0: none
	anchors []span
	chunks  [][32]byte
}

// buildIndex indexes raw, the verified bytes of a role. It returns nil
// when raw does not qualify (small, unsorted keys, odd keys).
func buildIndex(raw []byte, sum [32]byte) *roleIndex {
	if len(raw) < indexMin {
		return nil
	}
	ix := &roleIndex{sum: sum, size: int64(len(raw))}
	s := &scanner{b: raw}
	s.ws()
	var prev []byte
	sorted := true
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
			switch {
			case oddKey(key, "delegations") || oddKey(key, "targets"):
				return false, errOddKey
			case keyIs(key, "delegations"):
				start := s.i
				err := s.skip()
				ix.delegs = span{int64(start), int64(s.i)}
				return false, err
			case keyIs(key, "targets"):
				start, n := s.i, 0
				err := s.members(func(key []byte) (bool, error) {
					k := unquoteKey(key)
					if k == nil || prev != nil && bytes.Compare(prev, k) >= 0 {
						sorted = false
					}
					prev = k
					if n%anchorEvery == 0 {
						// From the key's opening quote to its value.
						ix.anchors = append(ix.anchors, span{keyStart(raw, key), int64(s.i)})
					}
					n++
					return false, s.skip()
				})
				ix.targets = span{int64(start), int64(s.i)}
				return false, err
			default:
				return false, s.skip()
			}
		})
	})
	if err != nil || !sorted || ix.targets.end == 0 {
		return nil
	}
	for off := 0; off < len(raw); off += indexChunk {
		ix.chunks = append(ix.chunks, sha256.Sum256(raw[off:min(off+indexChunk, len(raw))]))
	}
	return ix
}

// keyStart returns the offset in raw of the opening quote of key, which
// the scanner returned as a subslice of raw (the bytes between the quotes).
func keyStart(raw, key []byte) int64 { return int64(cap(raw)-cap(key)) - 1 }

// unquoteKey returns the bytes a JSON key (escapes included) denotes, or
// nil when it cannot be decoded.
func unquoteKey(key []byte) []byte {
	if bytes.IndexByte(key, '\\') < 0 {
		return key
	}
	var s string
	q := append(append(append(make([]byte, 0, len(key)+2), '"'), key...), '"')
	if err := json.Unmarshal(q, &s); err != nil {
		return nil
	}
	return []byte(s)
}

// marshal encodes the index: magic, sum, sizes and spans as big-endian
// integers, then the anchors and chunk hashes.
func (ix *roleIndex) marshal() []byte {
	b := make([]byte, 0, len(indexMagic)+32+8*7+16*len(ix.anchors)+32*len(ix.chunks))
	b = append(b, indexMagic...)
	b = append(b, ix.sum[:]...)
	for _, v := range []int64{ix.size, ix.targets.start, ix.targets.end, ix.delegs.start, ix.delegs.end,
		int64(len(ix.anchors)), int64(len(ix.chunks))} {
		b = binary.BigEndian.AppendUint64(b, uint64(v))
	}
	for _, a := range ix.anchors {
		b = binary.BigEndian.AppendUint64(b, uint64(a.start))
		b = binary.BigEndian.AppendUint64(b, uint64(a.end))
	}
	for _, c := range ix.chunks {
		b = append(b, c[:]...)
	}
	return b
}

// parseIndex decodes an index written by marshal and checks that its
// spans lie inside the file and its chunks cover it exactly.
func parseIndex(b []byte) (*roleIndex, error) {
	bad := func(what string) (*roleIndex, error) { return nil, fmt.Errorf("look-up index: %s", what) }
	if !bytes.HasPrefix(b, []byte(indexMagic)) || len(b) < len(indexMagic)+32+8*7 {
		return bad("no header")
	}
	b = b[len(indexMagic):]
	ix := &roleIndex{}
	copy(ix.sum[:], b)
	b = b[32:]
	var v [7]int64
	for i := range v {
		u := binary.BigEndian.Uint64(b)
		if u > 1<<40 {
			return bad("field out of range")
		}
		v[i], b = int64(u), b[8:]
	}
	ix.size, ix.targets, ix.delegs = v[0], span{v[1], v[2]}, span{v[3], v[4]}
	nAnchors, nChunks := v[5], v[6]
	if nChunks != (ix.size+indexChunk-1)/indexChunk || int64(len(b)) != 16*nAnchors+32*nChunks {
		return bad("wrong length")
	}
	okSpan := func(s span) bool { return 0 <= s.start && s.start < s.end && s.end <= ix.size }
	if !okSpan(ix.targets) || ix.delegs != (span{}) && !okSpan(ix.delegs) {
		return bad("span outside the file")
	}
	ix.anchors = make([]span, nAnchors)
	for i := range ix.anchors {
		a := span{int64(binary.BigEndian.Uint64(b)), int64(binary.BigEndian.Uint64(b[8:]))}
		if !okSpan(a) || a.start < ix.targets.start || a.end > ix.targets.end {
			return bad("anchor outside signed.targets")
		}
		ix.anchors[i], b = a, b[16:]
	}
	ix.chunks = make([][32]byte, nChunks)
	for i := range ix.chunks {
		copy(ix.chunks[i][:], b)
		b = b[32:]
	}
	return ix, nil
}

// indexedFile reads spans of a stored role file, hashing each chunk it
// touches against the index once.
type indexedFile struct {
	path  string
	ix    *roleIndex
	valid map[int64][]byte // chunk number -> verified bytes
}

// read returns the verified bytes of [sp.start, sp.end).
func (f *indexedFile) read(sp span) ([]byte, error) {
	first, last := sp.start/indexChunk, (sp.end-1)/indexChunk
	var fh *os.File
	defer func() {
		if fh != nil {
			fh.Close()
		}
	}()
	out := make([]byte, 0, sp.end-sp.start)
	for c := first; c <= last; c++ {
		b, ok := f.valid[c]
		if !ok {
			if fh == nil {
				var err error
				if fh, err = os.Open(f.path); err != nil {
					return nil, fmt.Errorf("%w: %v", errStoredChanged, err)
				}
			}
			b = make([]byte, min(indexChunk, f.ix.size-c*indexChunk))
			if _, err := fh.ReadAt(b, c*indexChunk); err != nil && !(errors.Is(err, io.EOF) && len(b) > 0) {
				return nil, fmt.Errorf("%w: %v", errStoredChanged, err)
			}
			if sha256.Sum256(b) != f.ix.chunks[c] {
				return nil, fmt.Errorf("%w: %s, bytes %d to %d", errStoredChanged, filepath.Base(f.path), c*indexChunk, c*indexChunk+int64(len(b)))
			}
			f.valid[c] = b
		}
		lo, hi := max(sp.start-c*indexChunk, 0), min(sp.end-c*indexChunk, int64(len(b)))
		out = append(out, b[lo:hi]...)
	}
	return out, nil
}

// all returns the whole file, checked against the full SHA-256.
func (f *indexedFile) all() ([]byte, error) {
	raw, err := os.ReadFile(f.path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errStoredChanged, err)
	}
	if sha256.Sum256(raw) != f.ix.sum {
		return nil, fmt.Errorf("%w: %s", errStoredChanged, filepath.Base(f.path))
	}
	return raw, nil
}

// findIndexed returns the raw entry of target in signed.targets (nil when
// absent) and the raw delegations (nil when none).
func (f *indexedFile) find(target string, find bool) (entry, delegs []byte, err error) {
	if f.ix.delegs.end != 0 {
		if delegs, err = f.read(f.ix.delegs); err != nil {
			return nil, nil, err
		}
	}
	if !find || len(f.ix.anchors) == 0 {
		return nil, delegs, nil
	}
	want := []byte(target)
	// The last anchor whose key is <= target.
	var serr error
	i := sort.Search(len(f.ix.anchors), func(i int) bool {
		if serr != nil {
			return true
		}
		b, err := f.read(f.ix.anchors[i])
		if err != nil {
			serr = err
			return true
		}
		s := &scanner{b: b}
		key, err := s.str()
		if err != nil {
			serr = fmt.Errorf("%w: anchor %d is not a key", errStoredChanged, i)
			return true
		}
		return bytes.Compare(unquoteKey(key), want) > 0
	}) - 1
	if serr != nil {
		return nil, nil, serr
	}
	if i < 0 {
		return nil, delegs, nil
	}
	end := f.ix.targets.end
	if i+1 < len(f.ix.anchors) {
		end = f.ix.anchors[i+1].start
	}
	b, err := f.read(span{f.ix.anchors[i].start, end})
	if err != nil {
		return nil, nil, err
	}
	entry, err = scanRun(b, want)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: entries after anchor %d: %v", errStoredChanged, i, err)
	}
	return entry, delegs, nil
}

// scanRun walks `"key": value, "key": value ...` (up to the end of b or
// a closing brace) and returns the value of want.
func scanRun(b, want []byte) ([]byte, error) {
	s := &scanner{b: b}
	for {
		s.ws()
		if s.i == len(b) || s.peek() == '}' {
			return nil, nil
		}
		key, err := s.str()
		if err != nil {
			return nil, err
		}
		s.ws()
		if s.peek() != ':' {
			return nil, errScan
		}
		s.i++
		s.ws()
		k := unquoteKey(key)
		if c := bytes.Compare(k, want); c == 0 {
			return s.value()
		} else if c > 0 {
			return nil, nil
		}
		if err := s.skip(); err != nil {
			return nil, err
		}
		s.ws()
		if s.peek() == ',' {
			s.i++
		}
	}
}

// indexName is the sidecar of role's index in the metadata directory.
func indexName(role string) string { return recordFile + "." + fileName(role) }

// indexSum returns the hex SHA-256 of an encoded index.
func indexSum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// loadIndexed returns role as the verified-state record trusts it, read
// through its look-up index, or nil when the record, the index or the
// file's size do not all agree with each other and with what the snapshot
// lists (the caller then loads the role the usual way).
func (c *Client) loadIndexed(role, delegator string, signerSum [32]byte, meta *metaInfo) *targetsFile {
	e := c.rec.Files[role]
	if e == nil || e.Index == "" || e.Version != meta.Version || e.Signer != delegator ||
		e.SignerSHA256 != hex.EncodeToString(signerSum[:]) {
		return nil
	}
	for alg := range meta.Hashes {
		if alg != "sha256" {
			return nil // other algorithms need the whole file hashed
		}
	}
	b, err := os.ReadFile(filepath.Join(c.store.dir, indexName(role)))
	if err != nil || indexSum(b) != e.Index {
		return nil
	}
	ix, err := parseIndex(b)
	if err != nil || hex.EncodeToString(ix.sum[:]) != e.SHA256 {
		return nil
	}
	path := filepath.Join(c.store.dir, fileName(role))
	fi, err := os.Stat(path)
	if err != nil || !fi.Mode().IsRegular() || fi.Size() != ix.size {
		return nil
	}
	return &targetsFile{role: role, sum: ix.sum, version: e.Version, expires: e.Expires,
		verifiedBy: map[string]bool{delegator: true},
		lazy:       &indexedFile{path: path, ix: ix, valid: map[int64][]byte{}}}
}

// indexRole gives role, just loaded from raw the usual way and remembered
// in the record, a look-up index when it qualifies and has no sound one.
func (c *Client) indexRole(role string, raw []byte, sum [32]byte) {
	e := c.rec.Files[role]
	if e == nil || len(raw) < indexMin {
		return
	}
	if e.Index != "" {
		b, err := os.ReadFile(filepath.Join(c.store.dir, indexName(role)))
		if err == nil && indexSum(b) == e.Index {
			return
		}
	}
	ix := buildIndex(raw, sum)
	if ix == nil {
		if e.Index != "" {
			e.Index, c.recDirty = "", true
		}
		return
	}
	b := ix.marshal()
	c.pending = append(c.pending, namedData{name: indexName(role), data: b})
	e.Index, c.recDirty = indexSum(b), true
}

// dropIndexed forgets every role of ts read through an index, and the
// indexes in the record, after one of them failed its chunk hashes: the
// next search loads those roles the usual way.
func (c *Client) dropIndexed(ts *trustedSet) {
	for role, f := range ts.roles {
		if f.lazy != nil {
			delete(ts.roles, role)
			if e := c.rec.Files[role]; e != nil && e.Index != "" {
				e.Index, c.recDirty = "", true
			}
		}
	}
}
