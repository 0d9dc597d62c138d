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
	"math"
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
//   - the byte spans of signed.targets and signed.delegations;
//   - the file cut into segments that cover it exactly, each with its
//     SHA-256, so that each byte a look-up reads is checked against the
//     verified bytes;
//   - anchors: target entries, about one every runBytes(size) bytes of
//     signed.targets, each starting a segment, with its key (decoded).
//
// Segments start at every anchor, so the entries from one anchor to the
// next (a run) are one segment: a look-up binary-searches the anchor keys
// in the index, in memory, then reads and hashes that one segment and
// scans it. The run length balances the index (which is read and hashed
// whole) against the run read: about sqrt(80 * size) bytes, 43 KiB for a
// 22 MiB role (at most segMax), so a warm look-up hashes under 0.1 MiB
// in all (a 43 KiB index, one run) and reads the role file once. Outside
// signed.targets, segments are at most segMax bytes.
//
// The index is only built when the keys of signed.targets appear in
// strictly increasing byte order (canonical JSON sorts them, so every
// repository written by bsi, go-tuf or python-tuf does), so that a binary
// search over the anchors and a scan of one run finds a target or proves
// it absent. A role whose keys are not sorted, or that the scanner would
// give up on (errOddKey), gets no index and is scanned as before. An
// index in another format (bsi-lookup-index/1: 8 KiB chunks, anchors read
// from the role file) does not parse; the role is then loaded the usual
// way, which writes a new index.
//
// Enumeration (Components) reads such a role one run at a time, in key
// order, letting each run go before it reads the next, after hashing the
// whole file once without keeping it. A role of checkedMin bytes or more
// loaded from its stored bytes without a stored index (256 hash bins of
// 18 KiB, say) gets an index built in memory from those bytes, which are
// then let go: enumerating every bin holds one run of each.
//
// A segment that no longer hashes to the index (the file changed on disk),
// or a run whose first key is not its anchor's, fails the look-up with
// errStoredChanged; Lookup then drops the role and searches again the
// slow way, which re-hashes the file, finds it differs from the record,
// and verifies or fetches it in full.

const (
	// segMax bounds the segments outside the runs of target entries.
	segMax = 64 << 10
	// indexMin is the smallest role file worth an index: below it the
	// whole file is read and hashed in a few tens of microseconds. A hash
	// bin of 100,000 improvements in 256 bins (183 KB) has one: a warm
	// look-up reads about 8 KB of it instead of the whole, which took a
	// warm check from 1.7 to 1.1 ms and from 304 to 118 KB allocated.
	indexMin   = 64 << 10
	indexMagic = "bsi-lookup-index/2\n"
	// indexHeader is the length of the magic, the SHA-256 and the seven
	// 64-bit fields that follow it.
	indexHeader = len(indexMagic) + 32 + 8*7
)

// runBytes is the length of signed.targets between two anchors in a role
// file of size bytes: each anchor costs the index about 80 bytes (segment
// end and hash, key and its length), each look-up reads one run, so the
// bytes hashed per look-up, 80*size/run + run, are least at sqrt(80*size).
func runBytes(size int) int {
	r := 4 << 10
	for r*r < 80*size && r < segMax {
		r += r / 8
	}
	return min(r, segMax)
}

// errStoredChanged reports that a role file read through its index does
// not hash to what was verified.
var errStoredChanged = errors.New("stored role file changed since it was verified")

type span struct{ start, end int64 }

// anchor is a target entry that starts segment seg, at that segment's
// first byte (its key's opening quote); its decoded key ends at keyEnd in
// the index's keys (and starts where the anchor before's ends).
type anchor struct {
	seg    int32
	keyEnd int32
}

// segRec is the size of a segment's record: its end (big-endian 64 bits)
// and its SHA-256.
const segRec = 8 + 32

type roleIndex struct {
	sum     [32]byte
	size    int64
	targets span // the object signed.targets, braces included
	delegs  span // the value of signed.delegations; end 0: none
	// segs holds a segRec per segment: segment i ends at end(i) and
	// starts where segment i-1 ends (0 for the first); the last ends at
	// size. A parsed index's segs and keys are slices of the bytes it was
	// parsed from (not copies): a warm look-up allocates the index once.
	segs    []byte
	anchors []anchor
	keys    []byte
}

// nSegs returns the number of segments.
func (ix *roleIndex) nSegs() int { return len(ix.segs) / segRec }

// end returns the end of segment i.
func (ix *roleIndex) end(i int) int64 {
	return int64(binary.BigEndian.Uint64(ix.segs[i*segRec:]))
}

// hash returns the SHA-256 of segment i.
func (ix *roleIndex) hash(i int) []byte { return ix.segs[i*segRec+8 : (i+1)*segRec] }

// segStart returns the offset of segment i.
func (ix *roleIndex) segStart(i int) int64 {
	if i == 0 {
		return 0
	}
	return ix.end(i - 1)
}

// key returns the decoded key of anchor a.
func (ix *roleIndex) key(a int) []byte {
	lo, hi := int32(0), ix.anchors[a].keyEnd
	if a > 0 {
		lo = ix.anchors[a-1].keyEnd
	}
	return ix.keys[lo:hi:hi]
}

// start returns the offset of anchor a: its segment's start.
func (ix *roleIndex) start(a int) int64 { return ix.segStart(int(ix.anchors[a].seg)) }

// addSeg appends a segment ending at end with the SHA-256 of seg.
func (ix *roleIndex) addSeg(end int64, seg []byte) {
	ix.segs = binary.BigEndian.AppendUint64(ix.segs, uint64(end))
	h := sha256.Sum256(seg)
	ix.segs = append(ix.segs, h[:]...)
}

// buildIndex indexes raw, the verified bytes of a role. It returns nil
// when raw does not qualify (small, unsorted keys, odd keys).
func buildIndex(raw []byte, sum [32]byte) *roleIndex {
	if len(raw) < indexMin {
		return nil
	}
	return indexOf(raw, sum)
}

// indexOf is buildIndex for a file of any size. The anchor keys are
// copied, so the index does not hold raw.
func indexOf(raw []byte, sum [32]byte) *roleIndex {
	ix := &roleIndex{sum: sum, size: int64(len(raw))}
	run := int64(runBytes(len(raw)))
	s := &scanner{b: raw}
	s.ws()
	var prev []byte
	var starts []int64 // of the anchors
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
			case keyIs(key, "delegations") && ix.delegs.end != 0, keyIs(key, "targets") && ix.targets.end != 0:
				// Twice (which verification refuses): no index.
				return false, errOddKey
			case keyIs(key, "delegations"):
				start := s.i
				err := s.skip()
				ix.delegs = span{int64(start), int64(s.i)}
				return false, err
			case keyIs(key, "targets"):
				start := s.i
				err := s.members(func(key []byte) (bool, error) {
					k := unquoteKey(key)
					if k == nil || prev != nil && bytes.Compare(prev, k) >= 0 {
						sorted = false
					}
					prev = k
					// From the key's opening quote.
					ks := keyStart(raw, key)
					if n := len(starts); n == 0 || ks-starts[n-1] >= run {
						starts = append(starts, ks)
						ix.keys = append(ix.keys, k...)
						ix.anchors = append(ix.anchors, anchor{keyEnd: int32(len(ix.keys))})
					}
					return false, s.skip()
				})
				ix.targets = span{int64(start), int64(s.i)}
				return false, err
			default:
				return false, s.skip()
			}
		})
	})
	if err != nil || !sorted || ix.targets.end == 0 || len(ix.keys) > math.MaxInt32 {
		return nil
	}
	// Segment boundaries: every anchor, the end of signed.targets, and
	// every segMax bytes in between where nothing else cuts.
	cuts := append(starts[:len(starts):len(starts)], ix.targets.end, ix.size)
	from, a := int64(0), 0
	for _, cut := range cuts {
		for ; from < cut; from = min(from+segMax, cut) {
			if a < len(starts) && starts[a] == from {
				ix.anchors[a].seg, a = int32(ix.nSegs()), a+1
			}
			end := min(from+segMax, cut)
			ix.addSeg(end, raw[from:end])
		}
	}
	if a != len(ix.anchors) {
		return nil // an anchor not at a cut: cannot happen with sorted keys
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

// marshal encodes the index: magic, sum, sizes, spans and counts as
// big-endian 64-bit integers, then each segment's end and SHA-256, each
// anchor's segment and key length (32 bits each), and the anchor keys.
func (ix *roleIndex) marshal() []byte {
	b := make([]byte, 0, indexHeader+len(ix.segs)+8*len(ix.anchors)+len(ix.keys))
	b = append(b, indexMagic...)
	b = append(b, ix.sum[:]...)
	for _, v := range []int64{ix.size, ix.targets.start, ix.targets.end, ix.delegs.start, ix.delegs.end,
		int64(ix.nSegs()), int64(len(ix.anchors))} {
		b = binary.BigEndian.AppendUint64(b, uint64(v))
	}
	b = append(b, ix.segs...)
	for i, a := range ix.anchors {
		b = binary.BigEndian.AppendUint32(b, uint32(a.seg))
		b = binary.BigEndian.AppendUint32(b, uint32(len(ix.key(i))))
	}
	return append(b, ix.keys...)
}

// parseIndex decodes an index written by marshal and checks that its
// spans lie inside the file, its segments cover it exactly, and its
// anchors start segments inside signed.targets, with keys in strictly
// increasing order. The segments and anchor keys alias b.
func parseIndex(b []byte) (*roleIndex, error) {
	bad := func(what string) (*roleIndex, error) { return nil, fmt.Errorf("look-up index: %s", what) }
	if !bytes.HasPrefix(b, []byte(indexMagic)) || len(b) < indexHeader {
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
	nSegs, nAnchors := v[5], v[6]
	if nSegs < 1 || nSegs > ix.size || nAnchors > nSegs || int64(len(b)) < segRec*nSegs+8*nAnchors ||
		int64(len(b)) > math.MaxInt32+segRec*nSegs+8*nAnchors {
		return bad("wrong length")
	}
	okSpan := func(s span) bool { return 0 <= s.start && s.start < s.end && s.end <= ix.size }
	if !okSpan(ix.targets) || ix.delegs != (span{}) && !okSpan(ix.delegs) {
		return bad("span outside the file")
	}
	ix.segs, b = b[:segRec*nSegs:segRec*nSegs], b[segRec*nSegs:]
	prev := int64(0)
	for i := range int(nSegs) {
		end := ix.end(i)
		if end <= prev || end > ix.size {
			return bad(fmt.Sprintf("segment %d ends at %d, after %d", i, end, prev))
		}
		prev = end
	}
	if prev != ix.size {
		return bad("segments do not cover the file")
	}
	ix.anchors = make([]anchor, nAnchors)
	ix.keys = b[8*nAnchors:]
	var prevKey []byte
	keyEnd := int64(0)
	for i := range ix.anchors {
		seg, n := int64(binary.BigEndian.Uint32(b)), int64(binary.BigEndian.Uint32(b[4:]))
		b = b[8:]
		if seg >= nSegs || i > 0 && seg <= int64(ix.anchors[i-1].seg) {
			return bad(fmt.Sprintf("anchor %d: segment %d out of order", i, seg))
		}
		if start := ix.segStart(int(seg)); start < ix.targets.start || start >= ix.targets.end {
			return bad(fmt.Sprintf("anchor %d outside signed.targets", i))
		}
		if n > int64(len(ix.keys))-keyEnd {
			return bad("wrong length")
		}
		keyEnd += n
		ix.anchors[i] = anchor{seg: int32(seg), keyEnd: int32(keyEnd)}
		key := ix.key(i)
		if i > 0 && bytes.Compare(prevKey, key) >= 0 {
			return bad(fmt.Sprintf("anchor %d: keys out of order", i))
		}
		prevKey = key
	}
	if keyEnd != int64(len(ix.keys)) {
		return bad("wrong length")
	}
	ix.keys = ix.keys[:keyEnd:keyEnd]
	return ix, nil
}

// indexedFile reads spans of a stored role file, hashing each segment it
// touches against the index once.
type indexedFile struct {
	path  string
	ix    *roleIndex
	valid map[int64][]byte // segment number -> verified bytes
	// fh, when set, is the file, open until the operation ends (files);
	// enumerating 256 hash bins run by run opens each once, not once per
	// run.
	fh    *os.File
	files *openFiles
	// checked is set once the whole file hashed to the index (check).
	checked bool
}

// read returns the verified bytes of [sp.start, sp.end), reading the
// segments it touches that are not verified yet with one read. The bytes
// may alias f's: callers only read them.
func (f *indexedFile) read(sp span) ([]byte, error) {
	ix := f.ix
	n := ix.nSegs()
	first := sort.Search(n, func(i int) bool { return ix.end(i) > sp.start })
	last := sort.Search(n, func(i int) bool { return ix.end(i) >= sp.end })
	if sp.start < 0 || sp.end > ix.size || sp.start >= sp.end || last >= n {
		return nil, fmt.Errorf("%w: %s, span %d to %d outside the index", errStoredChanged, filepath.Base(f.path), sp.start, sp.end)
	}
	// Unverified segments, from the first to the last not in f.valid.
	lo, hi := -1, -1
	for i := first; i <= last; i++ {
		if _, ok := f.valid[int64(i)]; !ok {
			if lo < 0 {
				lo = i
			}
			hi = i
		}
	}
	if lo >= 0 {
		if err := f.load(lo, hi); err != nil {
			return nil, err
		}
	}
	if first == last {
		// One segment (a run of entries): its verified bytes, uncopied.
		b, start := f.valid[int64(first)], f.ix.segStart(first)
		return b[sp.start-start : sp.end-start : sp.end-start], nil
	}
	out := make([]byte, 0, sp.end-sp.start)
	for i := first; i <= last; i++ {
		b, start := f.valid[int64(i)], f.ix.segStart(i)
		out = append(out, b[max(sp.start-start, 0):min(sp.end-start, int64(len(b)))]...)
	}
	return out, nil
}

// open returns the open file: fh, or the file opened now, which is kept
// in fh while files has room.
func (f *indexedFile) open() (*os.File, error) {
	if f.fh != nil {
		return f.fh, nil
	}
	fh, err := os.Open(f.path)
	if err == nil && f.files.keep(f) {
		f.fh = fh
	}
	return fh, err
}

// openFiles are the indexed files kept open during one operation of a
// client, at most maxOpen (a client may have 2^16 hash bins).
type openFiles struct {
	files []*indexedFile
}

const maxOpen = 512

// keep reports whether f may keep its file open, and then records it.
func (o *openFiles) keep(f *indexedFile) bool {
	if o == nil || len(o.files) >= maxOpen {
		return false
	}
	o.files = append(o.files, f)
	return true
}

// closeAll closes the files kept open.
func (o *openFiles) closeAll() {
	for _, f := range o.files {
		if f.fh != nil {
			f.fh.Close()
			f.fh = nil
		}
	}
	o.files = o.files[:0]
}

// load reads segments lo to hi with one read and keeps each that hashes
// to the index in f.valid.
func (f *indexedFile) load(lo, hi int) error {
	fh, err := f.open()
	if err != nil {
		return fmt.Errorf("%w: %v", errStoredChanged, err)
	}
	if fh != f.fh {
		defer fh.Close()
	}
	from := f.ix.segStart(lo)
	buf := make([]byte, f.ix.end(hi)-from)
	if n, err := fh.ReadAt(buf, from); n < len(buf) {
		return fmt.Errorf("%w: %s, bytes %d to %d: %v", errStoredChanged, filepath.Base(f.path), from, f.ix.end(hi), err)
	}
	for i := lo; i <= hi; i++ {
		b := buf[f.ix.segStart(i)-from : f.ix.end(i)-from]
		if _, ok := f.valid[int64(i)]; ok {
			continue
		}
		if h := sha256.Sum256(b); !bytes.Equal(h[:], f.ix.hash(i)) {
			return fmt.Errorf("%w: %s, bytes %d to %d", errStoredChanged, filepath.Base(f.path), f.ix.segStart(i), f.ix.end(i))
		}
		f.valid[int64(i)] = b
	}
	return nil
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

// check reads the whole file, without keeping it, and checks it against
// the full SHA-256: enumeration finds a file changed on disk before it
// passes any target on, while it can still start again.
func (f *indexedFile) check() error {
	if f.checked {
		return nil
	}
	fh, err := os.Open(f.path)
	if err != nil {
		return fmt.Errorf("%w: %v", errStoredChanged, err)
	}
	defer fh.Close()
	h := sha256.New()
	if _, err := io.Copy(h, fh); err != nil {
		return fmt.Errorf("%w: %s: %v", errStoredChanged, filepath.Base(f.path), err)
	}
	if [32]byte(h.Sum(nil)) != f.ix.sum {
		return fmt.Errorf("%w: %s", errStoredChanged, filepath.Base(f.path))
	}
	f.checked = true
	return nil
}

// run returns the entries of run i (from anchor i to the next, or to the
// end of signed.targets), read and hashed against the index, as a table
// bounded by the anchors' keys; the segments of the run before it are
// let go. Enumerating the runs in order holds one run at a time, not the
// whole file. A run that does not start with its anchor's key, or whose
// keys are not increasing within the anchors' bounds, means the index and
// the file disagree: errStoredChanged.
func (f *indexedFile) run(i int) (*entryTable, error) {
	ix := f.ix
	a := ix.anchors
	if i > 0 {
		for seg := a[i-1].seg; seg < a[i].seg; seg++ {
			delete(f.valid, int64(seg))
		}
	}
	end := ix.targets.end
	t := &entryTable{bounded: true, lo: ix.key(i)}
	if i+1 < len(a) {
		end, t.hi = ix.start(i+1), ix.key(i+1)
	}
	b, err := f.read(span{ix.start(i), end})
	if err != nil {
		return nil, err
	}
	t.raw = b
	bad := func(why string) error {
		return fmt.Errorf("%w: %s, run of anchor %d at byte %d: %s", errStoredChanged, filepath.Base(f.path), i, ix.start(i), why)
	}
	err = walkRun(b, func(key, value []byte) error {
		if err := t.add(key, value); err != nil {
			return err
		}
		k := t.key(len(t.spans) - 1)
		switch n := len(t.spans); {
		case n == 1 && !bytes.Equal(k, t.lo):
			return bad("the first key is not the anchor's")
		case n > 1 && bytes.Compare(t.key(n-2), k) >= 0:
			return bad("keys out of order")
		case t.hi != nil && bytes.Compare(k, t.hi) >= 0:
			return bad("a key past the next anchor's")
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, errStoredChanged) {
			return nil, err
		}
		return nil, bad(err.Error())
	}
	if len(t.spans) == 0 {
		return nil, bad("no entries")
	}
	return t, nil
}

// find returns the raw entry of target in signed.targets (nil when
// absent) and the raw delegations (nil when none).
func (f *indexedFile) find(target string, find bool) (entry, delegs []byte, err error) {
	if f.ix.delegs.end != 0 {
		if delegs, err = f.read(f.ix.delegs); err != nil {
			return nil, nil, err
		}
	}
	if !find {
		return nil, delegs, nil
	}
	ix := f.ix
	n := len(ix.anchors)
	want := []byte(target)
	// The last anchor whose key is <= target.
	i := sort.Search(n, func(i int) bool { return bytes.Compare(ix.key(i), want) > 0 }) - 1
	if i < 0 {
		// Before the first anchor, which must be the first entry: the
		// file holds nothing but the object's opening brace (and its
		// closing one when there are no entries) before it.
		end := ix.targets.end
		if n > 0 {
			end = ix.start(0)
		}
		b, err := f.read(span{ix.targets.start, end})
		if err != nil {
			return nil, nil, err
		}
		if b = bytes.TrimSpace(b); len(b) == 0 || b[0] != '{' ||
			n == 0 && string(bytes.TrimSpace(b[1:])) != "}" || n > 0 && len(b) != 1 {
			return nil, nil, fmt.Errorf("%w: %s, entries before the first anchor at byte %d", errStoredChanged, filepath.Base(f.path), end)
		}
		return nil, delegs, nil
	}
	end := ix.targets.end
	if i+1 < n {
		end = ix.start(i + 1)
	}
	b, err := f.read(span{ix.start(i), end})
	if err != nil {
		return nil, nil, err
	}
	// The run starts with its anchor's key: the index and the file agree.
	s := &scanner{b: b}
	if key, err := s.str(); err != nil || !bytes.Equal(unquoteKey(key), ix.key(i)) {
		return nil, nil, fmt.Errorf("%w: %s, anchor %d is not the key at byte %d", errStoredChanged, filepath.Base(f.path), i, ix.start(i))
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

// walkRun walks `"key": value, "key": value ...` (up to the end of b or
// a closing brace), calling f with each key (escapes included) and the
// raw JSON of its value, until f returns an error.
func walkRun(b []byte, f func(key, value []byte) error) error {
	s := &scanner{b: b}
	for {
		s.ws()
		if s.i == len(b) || s.peek() == '}' {
			return nil
		}
		key, err := s.str()
		if err != nil {
			return err
		}
		s.ws()
		if s.peek() != ':' {
			return errScan
		}
		s.i++
		s.ws()
		v, err := s.value()
		if err != nil {
			return err
		}
		if err := f(key, v); err != nil {
			return err
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
		lazy:       &indexedFile{path: path, ix: ix, valid: map[int64][]byte{}, files: &c.openFiles}}
}

// indexRole gives role, just loaded from raw the usual way and remembered
// in the record, a look-up index when it qualifies and has no sound one.
func (c *Client) indexRole(role string, raw []byte, sum [32]byte) {
	e := c.rec.Files[role]
	if e == nil || len(raw) < indexMin {
		return
	}
	if e.Index != "" {
		// A sound index in the current format stays; one in an older
		// format (which does not parse) is replaced.
		b, err := os.ReadFile(filepath.Join(c.store.dir, indexName(role)))
		if err == nil && indexSum(b) == e.Index {
			if _, err := parseIndex(b); err == nil {
				return
			}
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

// lazyMin is the smallest role file that enumeration reads one run at a
// time (through an index built in memory when it has none on disk): the
// size from which a role is checked entry by entry, not decoded whole.
const lazyMin = checkedMin

// readLazily makes f, just loaded from its stored bytes raw and not
// decoded whole, read from the stored file through an index built in
// memory from raw, and lets raw go: a device enumerating 256 hash bins
// of 18 KiB then holds one run of each (4 KiB), not every bin whole.
// Every byte read again is hashed against the index, as for an index
// stored beside the record; a file changed on disk since is found so
// (errStoredChanged).
func (c *Client) readLazily(f *targetsFile, raw []byte) {
	readFrom(f, raw, filepath.Join(c.store.dir, fileName(f.role)), &c.openFiles)
}

// readFrom makes f, not decoded whole, read its bytes raw from the file
// at path (which holds them: read and hashed, or written, just now)
// through an index built in memory from raw, and lets raw go. It returns
// the indexed file, or nil when f keeps raw (small, decoded whole, or a
// role whose keys are not sorted).
func readFrom(f *targetsFile, raw []byte, path string, files *openFiles) *indexedFile {
	if f.signed != nil || f.lazy != nil || len(raw) < lazyMin {
		return nil
	}
	ix := indexOf(raw, f.sum)
	if ix == nil {
		return nil // keys not sorted, or odd: the entries are read from raw
	}
	// checked: the file holds raw, hashed to f.sum.
	f.lazy = &indexedFile{path: path, ix: ix, valid: map[int64][]byte{}, checked: true, files: files}
	f.raw, f.entries = nil, nil
	return f.lazy
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
