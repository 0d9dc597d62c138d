package install

import (
	"archive/tar"
	"strings"
	"unicode/utf8"
)

// Name limits: longer names are refused as ProblemBadName.
const (
	maxNameLen      = 4096
	maxComponentLen = 255
	// maxLinkFollows is how many symbolic links one resolution may expand,
	// as in the Linux kernel; it also bounds the depth of nested resolutions.
	maxLinkFollows = 40
	// maxPathParts bounds the path parts of all names, symbolic link targets
	// and hard link targets of one archive together (ProblemTooDeep). It is
	// counted as headers are read, before any link is resolved, and it
	// bounds the whole validation: every part costs one step, whether it
	// places an entry in the tree or is walked while resolving a link
	// (each link's target is walked once; see checker.resolveLink).
	maxPathParts = 1 << 19
)

// checker validates archive entries one header at a time, then resolves
// every symbolic link against the complete entry tree in finish.
//
// The entries form a tree of nodes, one per path part, so that placing an
// entry and resolving a link cost one map look-up per part: nothing ever
// re-joins or re-hashes a path prefix (which made both quadratic in the
// depth of a path). A symbolic link's resolution is memoised on its node,
// so a link used by many others is walked once.
type checker struct {
	lim      Limits
	entries  []Entry
	nodes    []*node // the node of each entry
	root     *node
	children map[childKey]*node // one map for the whole tree: small per node
	total    int64
	count    int
	parts    int // path parts read so far, against maxPathParts
	steps    int // resolution steps taken (parts walked), for tests
}

// node is one path below the version directory: an entry of the archive,
// an implicit parent directory of one (entry -1), or the root (entry -1,
// parent nil).
type node struct {
	parent      *node
	entry       int
	hasChildren bool // an implicit or explicit directory

	// Symbolic links only: the memoised resolution of the target.
	state   linkState
	at      *node // the deepest existing node the target reaches
	beyond  int   // parts below at that name no entry (taken literally)
	follows int   // links expanded while resolving the target
}

// childKey names the child part of directory parent.
type childKey struct {
	parent *node
	part   string
}

type linkState uint8

const (
	linkUnresolved linkState = iota
	linkResolving            // on the stack: meeting it again is a loop
	linkInside
	linkRefused // leaves the version directory, loops, or expands too many links
)

func newChecker(lim Limits) *checker {
	return &checker{lim: lim, root: &node{entry: -1}, children: map[childKey]*node{}}
}

// add checks one header. skip is true for headers that produce nothing:
// PAX global headers and the archive's root directory ("./").
func (c *checker) add(h *tar.Header) (e Entry, skip bool, err error) {
	fail := func(p Problem) (Entry, bool, error) {
		return Entry{}, false, &ArchiveError{Entry: h.Name, Problem: p}
	}
	c.count++
	if c.count > c.lim.MaxEntries {
		return fail(ProblemTooMany)
	}
	if h.Typeflag == tar.TypeXGlobalHeader {
		return Entry{}, true, nil
	}
	typ, ok := entryType(h.Typeflag)
	if !ok {
		return fail(ProblemSpecialFile)
	}
	name, p := cleanName(h.Name, typ == Dir)
	if p != "" {
		return fail(p)
	}
	if name == "" {
		if typ != Dir {
			return fail(ProblemBadName)
		}
		return Entry{}, true, nil // "./": the version directory itself
	}
	if c.parts += countParts(name); c.parts > maxPathParts {
		return fail(ProblemTooDeep)
	}
	e = Entry{Name: name, Type: typ, Mode: 0o644}
	switch typ {
	case File:
		if h.Size > c.lim.MaxFileSize {
			return fail(ProblemFileTooLarge)
		}
		if h.Size > c.lim.MaxTotalSize-c.total {
			return fail(ProblemTooLarge)
		}
		c.total += h.Size
		e.Size = h.Size
		if h.Mode&0o111 != 0 {
			e.Mode = 0o755
		}
	case Dir:
		e.Mode = 0o755
	case Symlink:
		e.Mode = 0o777
		if p := checkLinkTarget(h.Linkname); p != "" {
			return fail(p)
		}
		if c.parts += countParts(h.Linkname); c.parts > maxPathParts {
			return fail(ProblemTooDeep)
		}
		e.Linkname = h.Linkname
	case Hardlink:
		target, p := cleanName(h.Linkname, false)
		if p != "" {
			return fail(ProblemHardlink)
		}
		if c.parts += countParts(target); c.parts > maxPathParts {
			return fail(ProblemTooDeep)
		}
		n := c.lookup(target)
		if n == nil || n.entry < 0 || c.entries[n.entry].Type != File {
			return fail(ProblemHardlink)
		}
		to := c.entries[n.entry]
		e.Linkname, e.Mode, e.Size = target, to.Mode, to.Size
	}
	if p := c.place(name, typ); p != "" {
		return fail(p)
	}
	c.entries = append(c.entries, e)
	return e, false, nil
}

// countParts is the number of slash-separated parts of a path.
func countParts(p string) int { return strings.Count(p, "/") + 1 }

// lookup returns the node of a clean name, or nil.
func (c *checker) lookup(name string) *node {
	n := c.root
	for part := range strings.SplitSeq(name, "/") {
		if n = c.children[childKey{n, part}]; n == nil {
			return nil
		}
	}
	return n
}

// place checks that name is new and that every parent is (or will be) a
// directory, and adds its node (and implicit parents) to the tree, the
// entry being the next index of c.entries.
func (c *checker) place(name string, typ EntryType) Problem {
	n := c.root
	for rest := name; ; {
		part, more, found := strings.Cut(rest, "/")
		rest = more
		if n.entry >= 0 && c.entries[n.entry].Type != Dir {
			return ProblemParent
		}
		child := c.children[childKey{n, part}]
		if child == nil {
			child = &node{parent: n, entry: -1}
			c.children[childKey{n, part}] = child
			n.hasChildren = true
		}
		n = child
		if !found {
			break
		}
	}
	switch {
	case n.entry >= 0:
		return ProblemDuplicate
	case n.hasChildren && typ != Dir: // an implicit directory already
		return ProblemDuplicate
	}
	n.entry = len(c.entries)
	c.nodes = append(c.nodes, n)
	return ""
}

func entryType(flag byte) (EntryType, bool) {
	switch flag {
	case tar.TypeReg:
		return File, true
	case tar.TypeDir:
		return Dir, true
	case tar.TypeSymlink:
		return Symlink, true
	case tar.TypeLink:
		return Hardlink, true
	}
	return 0, false
}

// cleanName returns the canonical form of an archive name: without a
// leading "./" and, for directories, without a trailing "/". Anything
// that is not already clean is refused rather than repaired.
func cleanName(name string, dir bool) (string, Problem) {
	if p := checkString(name); p != "" {
		return "", p
	}
	if strings.HasPrefix(name, "/") {
		return "", ProblemAbsolute
	}
	for strings.HasPrefix(name, "./") {
		name = name[2:]
	}
	if dir {
		name = strings.TrimSuffix(name, "/")
	}
	if name == "" || name == "." {
		return "", ""
	}
	for _, part := range strings.Split(name, "/") {
		switch {
		case part == "..":
			return "", ProblemDotDot
		case part == "" || part == "." || len(part) > maxComponentLen || strings.ContainsRune(part, '\\'):
			return "", ProblemBadName
		}
	}
	return name, ""
}

// checkString refuses NUL, invalid UTF-8 and overlong names.
func checkString(s string) Problem {
	switch {
	case strings.IndexByte(s, 0) >= 0:
		return ProblemNUL
	case !utf8.ValidString(s):
		return ProblemNotUTF8
	case len(s) > maxNameLen:
		return ProblemBadName
	}
	return ""
}

// checkLinkTarget refuses symbolic link targets that can be judged alone;
// finish resolves the rest against the other entries.
func checkLinkTarget(target string) Problem {
	if p := checkString(target); p != "" {
		return p
	}
	switch {
	case target == "":
		return ProblemBadName
	case strings.HasPrefix(target, "/"):
		return ProblemLinkEscapes
	}
	return ""
}

// finish resolves every symbolic link the way the kernel will once all
// entries exist, following links that are themselves entries, and refuses
// any that leaves the version directory, loops, or expands more than
// maxLinkFollows links. Each link's target is walked once (the result is
// kept on its node), so the work is at most the parts counted against
// maxPathParts.
func (c *checker) finish() ([]Entry, error) {
	if len(c.entries) == 0 {
		return nil, &ArchiveError{Problem: ProblemEmpty}
	}
	for i, e := range c.entries {
		if e.Type != Symlink {
			continue
		}
		if !c.resolveLink(c.nodes[i], 0) {
			return nil, &ArchiveError{Entry: e.Name, Problem: ProblemLinkEscapes}
		}
	}
	return c.entries, nil
}

// resolveLink resolves the target of the symbolic link at n from n's
// parent directory, once: the result stays on n. depth is how many link
// resolutions enclose this one. It reports whether the target stays inside
// the version directory within maxLinkFollows expansions.
func (c *checker) resolveLink(n *node, depth int) bool {
	switch n.state {
	case linkInside:
		return true
	case linkRefused, linkResolving: // linkResolving: a loop
		return false
	}
	if depth > maxLinkFollows {
		return false
	}
	n.state = linkResolving
	at, beyond, follows, ok := c.walk(n.parent, c.entries[n.entry].Linkname, depth)
	if !ok {
		n.state = linkRefused
		return false
	}
	n.state, n.at, n.beyond, n.follows = linkInside, at, beyond, follows
	return true
}

// walk follows target from the directory node dir, expanding links that
// are entries of the archive. The result is the deepest existing node
// reached and how many literal parts lie below it: parts that name no
// entry are taken literally, since nothing but the archive's entries
// exists in a fresh version directory, so the kernel would fail on them
// rather than go elsewhere. ok is false when the walk climbs above the
// version directory or expands more than maxLinkFollows links.
func (c *checker) walk(dir *node, target string, depth int) (at *node, beyond, follows int, ok bool) {
	at = dir
	for rest := target; rest != ""; {
		var part string
		part, rest, _ = strings.Cut(rest, "/")
		c.steps++
		switch {
		case part == "" || part == ".":
			continue
		case part == "..":
			switch {
			case beyond > 0:
				beyond--
			case at.parent == nil:
				return nil, 0, 0, false
			default:
				at = at.parent
			}
			continue
		case beyond > 0:
			beyond++
			continue
		}
		next := c.children[childKey{at, part}]
		if next == nil {
			beyond = 1
			continue
		}
		if next.entry < 0 || c.entries[next.entry].Type != Symlink {
			at = next
			continue
		}
		if !c.resolveLink(next, depth+1) {
			return nil, 0, 0, false
		}
		if follows += 1 + next.follows; follows > maxLinkFollows {
			return nil, 0, 0, false
		}
		at, beyond = next.at, next.beyond
	}
	return at, beyond, follows, true
}
