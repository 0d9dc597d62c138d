package client

import (
	"bytes"
	"container/heap"
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
)

// entryTable holds the target entries of a role file that is not decoded
// whole (trusted through the verified-state record, or checked entry by
// entry when fetched): for each entry, where its key and its value are in
// the file's bytes, sorted by decoded key. It costs 20 bytes per entry and
// no allocation per entry (a map of the entries cost about 110 bytes and a
// string each), and finds an entry by binary search.
type entryTable struct {
	raw   []byte
	spans []entrySpan
	// dec holds the decoded keys of the entries whose key has escapes
	// (a path with "<" written as \u003c): their span's key is in dec.
	dec []byte
	// bounded is set for the table of one run of an indexed file
	// (indexedFile.run): it holds every entry of the file whose key is
	// at least lo and below hi (no bound when hi is nil), and says
	// nothing of the others.
	bounded bool
	lo, hi  []byte
}

// entrySpan is one entry: its key is raw[k0:k1] (dec[k0:k1] when inDec),
// decoded, and its value, the raw JSON of the entry, raw[v0:v1].
type entrySpan struct {
	k0, k1, v0, v1 uint32
	inDec          bool
}

// key returns the decoded key of entry i.
func (t *entryTable) key(i int) []byte {
	sp := &t.spans[i]
	if sp.inDec {
		return t.dec[sp.k0:sp.k1:sp.k1]
	}
	return t.raw[sp.k0:sp.k1:sp.k1]
}

// value returns the raw JSON of entry i (a slice of the file's bytes).
func (t *entryTable) value(i int) []byte {
	sp := &t.spans[i]
	return t.raw[sp.v0:sp.v1]
}

// len returns the number of entries (distinct keys).
func (t *entryTable) len() int { return len(t.spans) }

// find returns the raw JSON of the entry of target, or nil; covered is
// false when target is outside the keys of a bounded table, which then
// cannot tell.
func (t *entryTable) find(target string) (entry []byte, covered bool) {
	if t.bounded && (target < string(t.lo) || t.hi != nil && target >= string(t.hi)) {
		return nil, false
	}
	i := sort.Search(len(t.spans), func(i int) bool { return string(t.key(i)) >= target })
	if i < len(t.spans) && string(t.key(i)) == target {
		return t.value(i), true
	}
	return nil, true
}

// add appends the entry whose key (escapes included) is key and whose
// value is v, both slices of t.raw.
func (t *entryTable) add(key, v []byte) error {
	k := unquoteKey(key)
	if k == nil {
		return errScan
	}
	off := func(b []byte) uint32 { return uint32(cap(t.raw) - cap(b)) }
	sp := entrySpan{v0: off(v), v1: off(v) + uint32(len(v))}
	if bytes.IndexByte(key, '\\') >= 0 {
		// The key had escapes: its decoded form is kept apart.
		sp.inDec = true
		sp.k0 = uint32(len(t.dec))
		t.dec = append(t.dec, k...)
		sp.k1 = uint32(len(t.dec))
	} else {
		sp.k0 = off(key)
		sp.k1 = sp.k0 + uint32(len(key))
	}
	t.spans = append(t.spans, sp)
	return nil
}

// scanEntries reads signed.targets of the envelope raw into a table, and
// returns the raw JSON of signed.delegations (nil when absent). Keys are
// matched unescaped; of two entries with the same key (which verification
// refuses: it canonicalizes the signed part) the later one is kept, as
// encoding/json keeps it.
func scanEntries(raw []byte) (t *entryTable, delegs []byte, err error) {
	if len(raw) > math.MaxUint32 {
		return nil, nil, fmt.Errorf("%d bytes is too large to enumerate", len(raw))
	}
	t = &entryTable{raw: raw}
	err = scanSigned(raw, []string{"delegations", "targets"}, func(s *scanner, field string) error {
		if field == "delegations" {
			var err error
			delegs, err = s.value()
			return err
		}
		// A second "targets" (which verification refuses) adds to the
		// first, as it did to the map encoding/json decodes into.
		return s.members(func(key []byte) (bool, error) {
			v, err := s.value()
			if err != nil {
				return false, err
			}
			return false, t.add(key, v)
		})
	})
	if err != nil {
		return nil, nil, err
	}
	t.sort()
	t.spans = slices.Clip(t.spans)
	return t, delegs, nil
}

// sort orders the spans by key, keeping of equal keys the last in the
// file only. Canonical JSON has its keys sorted already: then it only
// checks.
func (t *entryTable) sort() {
	for i := 1; i < len(t.spans); i++ {
		if bytes.Compare(t.key(i-1), t.key(i)) >= 0 {
			slices.SortStableFunc(t.spans, func(a, b entrySpan) int {
				return bytes.Compare(t.spanKey(&a), t.spanKey(&b))
			})
			break
		}
	}
	out := t.spans[:0]
	for i := range t.spans {
		if i+1 < len(t.spans) && bytes.Equal(t.key(i), t.key(i+1)) {
			continue // a later entry has the same key
		}
		out = append(out, t.spans[i])
	}
	t.spans = out
}

func (t *entryTable) spanKey(sp *entrySpan) []byte {
	if sp.inDec {
		return t.dec[sp.k0:sp.k1]
	}
	return t.raw[sp.k0:sp.k1]
}

// pathStream is the target paths of one role, in increasing order.
type pathStream struct {
	table *entryTable // the role's entries; or else
	paths []string    // its decoded targets' paths, sorted; or else
	// runs, an indexed file read one run at a time: its runs from run on
	// are still to read, table is the current one.
	runs *targetsFile
	run  int
	i    int
	head string // the current path, once next returned true
	err  error  // why next returned false early
}

// next moves to the next path and reports whether there is one; when it
// reports none, err may say why.
func (p *pathStream) next() bool {
	if p.paths != nil {
		if p.i >= len(p.paths) {
			return false
		}
		p.head, p.i = p.paths[p.i], p.i+1
		return true
	}
	for p.runs != nil && (p.table == nil || p.i >= p.table.len()) {
		if p.run >= len(p.runs.lazy.ix.anchors) {
			return false
		}
		t, err := p.runs.lazy.run(p.run)
		if err != nil {
			p.err = err
			return false
		}
		// find answers from the run for its paths, from the file for
		// others.
		p.table, p.i, p.run, p.runs.entries = t, 0, p.run+1, t
	}
	if p.table == nil || p.i >= p.table.len() {
		return false
	}
	p.head, p.i = string(p.table.key(p.i)), p.i+1
	return true
}

// paths returns the target paths the role lists, in increasing order. A
// role trusted through the verified-state record, or checked entry by
// entry when fetched, is not decoded for it: the paths are read from its
// entry table, one at a time, and a role read through its look-up index
// is read one run at a time, as the paths are asked for.
func (f *targetsFile) paths() (*pathStream, error) {
	if err := f.readEntries(); err != nil {
		return nil, err
	}
	switch {
	case f.signed != nil:
		return &pathStream{paths: slices.Sorted(maps.Keys(f.signed.Targets))}, nil
	case f.raw == nil && f.lazy != nil:
		return &pathStream{runs: f}, nil
	case f.entries != nil:
		return &pathStream{table: f.entries}, nil
	}
	t, err := f.parsed()
	if err != nil {
		return nil, err
	}
	return &pathStream{paths: slices.Sorted(maps.Keys(t.Targets))}, nil
}

// mergePaths calls fn with every path of the streams once, in increasing
// order: a k-way merge of sorted streams, which holds one path per stream
// (the paths of a component's roles need not be gathered in a set). fn
// is called before its stream moves on (an indexed file's stream keeps
// the run of the path current while fn looks it up). It stops at the
// first error of fn or of a stream.
func mergePaths(streams []*pathStream, fn func(path string) error) error {
	h := pathHeap{}
	for _, s := range streams {
		if s.next() {
			h = append(h, s)
		} else if s.err != nil {
			return s.err
		}
	}
	heap.Init(&h)
	prev, any := "", false
	for len(h) > 0 {
		s := h[0]
		if p := s.head; !any || p != prev {
			// Not listed by another role of the component before.
			prev, any = p, true
			if err := fn(p); err != nil {
				return err
			}
		}
		if s.next() {
			heap.Fix(&h, 0)
		} else if s.err != nil {
			return s.err
		} else {
			heap.Pop(&h)
		}
	}
	return nil
}

// pathHeap orders streams by their current path.
type pathHeap []*pathStream

func (h pathHeap) Len() int           { return len(h) }
func (h pathHeap) Less(i, j int) bool { return h[i].head < h[j].head }
func (h pathHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *pathHeap) Push(x any)        { *h = append(*h, x.(*pathStream)) }
func (h *pathHeap) Pop() any {
	old := *h
	s := old[len(old)-1]
	*h = old[:len(old)-1]
	return s
}
