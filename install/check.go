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
	// as in the Linux kernel; it also bounds the work on crafted link chains.
	maxLinkFollows = 40
)

// checker validates archive entries one header at a time, then resolves
// every symbolic link against the complete entry list in finish.
type checker struct {
	lim      Limits
	entries  []Entry
	byName   map[string]int  // explicit entry name -> index in entries
	implicit map[string]bool // directories created as parents of entries
	total    int64
	count    int
}

func newChecker(lim Limits) *checker {
	return &checker{lim: lim, byName: map[string]int{}, implicit: map[string]bool{}}
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
		e.Linkname = h.Linkname
	case Hardlink:
		target, p := cleanName(h.Linkname, false)
		i, ok := c.byName[target]
		if p != "" || !ok || c.entries[i].Type != File {
			return fail(ProblemHardlink)
		}
		e.Linkname, e.Mode, e.Size = target, c.entries[i].Mode, c.entries[i].Size
	}
	if p := c.place(name, typ); p != "" {
		return fail(p)
	}
	c.byName[name] = len(c.entries)
	c.entries = append(c.entries, e)
	return e, false, nil
}

// place checks that name is new and that every parent is (or will be) a
// directory, and records the parents as implicit directories.
func (c *checker) place(name string, typ EntryType) Problem {
	if _, dup := c.byName[name]; dup {
		return ProblemDuplicate
	}
	if c.implicit[name] && typ != Dir {
		return ProblemDuplicate
	}
	for i := 0; i < len(name); i++ {
		if name[i] != '/' {
			continue
		}
		parent := name[:i]
		if j, ok := c.byName[parent]; ok && c.entries[j].Type != Dir {
			return ProblemParent
		}
		c.implicit[parent] = true
	}
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
// any that leaves the version directory or loops.
func (c *checker) finish() ([]Entry, error) {
	if len(c.entries) == 0 {
		return nil, &ArchiveError{Problem: ProblemEmpty}
	}
	for _, e := range c.entries {
		if e.Type != Symlink {
			continue
		}
		follows := 0
		if _, ok := c.resolve(parentParts(e.Name), e.Linkname, &follows); !ok {
			return nil, &ArchiveError{Entry: e.Name, Problem: ProblemLinkEscapes}
		}
	}
	return c.entries, nil
}

func parentParts(name string) []string {
	parts := strings.Split(name, "/")
	return parts[:len(parts)-1]
}

// resolve walks target from the directory base (a list of path parts below
// the version directory), expanding links that are entries of the archive.
// ok is false when the walk climbs above the version directory or expands
// more than maxLinkFollows links. Parts that name no entry are taken
// literally: nothing but the archive's entries exists in a fresh version
// directory, so the kernel would fail on them rather than go elsewhere.
func (c *checker) resolve(base []string, target string, follows *int) (parts []string, ok bool) {
	cur := append([]string(nil), base...)
	for _, part := range strings.Split(target, "/") {
		switch part {
		case "", ".":
			continue
		case "..":
			if len(cur) == 0 {
				return nil, false
			}
			cur = cur[:len(cur)-1]
			continue
		}
		cur = append(cur, part)
		i, isEntry := c.byName[strings.Join(cur, "/")]
		if !isEntry || c.entries[i].Type != Symlink {
			continue
		}
		if *follows++; *follows > maxLinkFollows {
			return nil, false
		}
		if cur, ok = c.resolve(cur[:len(cur)-1], c.entries[i].Linkname, follows); !ok {
			return nil, false
		}
	}
	return cur, true
}
