package install

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

// deepLinkArchive builds the hostile archive of issue item 6: a directory
// 2,047 parts deep, a link p to it, a link q through p and 2,047 more
// parts (so that resolving q reaches a path 4,094 parts deep), and links
// l0000, l0001, ... each through q. Resolving each link by re-joining the
// path prefix at every part costs O(depth²) per link and hours in all;
// resolved once per link and memoised, it costs a few steps per link.
func deepLinkArchive(t testing.TB, links int) []byte {
	deep := strings.TrimSuffix(strings.Repeat("a/", 2047), "/")
	ents := []ent{
		dir(deep + "/"),
		symlink("p", deep),
		symlink("q", "p/"+strings.TrimSuffix(strings.Repeat("b/", 2047), "/")),
	}
	for i := range links {
		// Self-cancelling: the target climbs back out of q's literal parts.
		ents = append(ents, symlink(fmt.Sprintf("l%05d", i), "q/x/../.."))
	}
	return tarBytes(t, true, ents...)
}

// validateCounting runs ValidateArchive's checks and returns the checker,
// so that tests can see how many resolution steps it took.
func validateCounting(t testing.TB, data []byte) (*checker, error) {
	t.Helper()
	tr, drain, release, err := openArchive(bytes.NewReader(data), Limits{}.withDefaults())
	if err != nil {
		return nil, err
	}
	defer release()
	c := newChecker(Limits{}.withDefaults())
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return c, readError("", err)
		}
		if _, _, err := c.add(hdr); err != nil {
			return c, err
		}
	}
	if err := drain(); err != nil {
		return c, err
	}
	_, err = c.finish()
	return c, err
}

// TestAttackQuadraticSymlinkArchive: a small signed .tar.gz of links
// through a 4,094-part path must be judged with work linear in the
// archive, not in the square of its paths' depth. The bound is on
// resolution steps, not on time: each link's target is walked once, so the
// steps are at most the parts of all link targets.
func TestAttackQuadraticSymlinkArchive(t *testing.T) {
	const links = 2000
	data := deepLinkArchive(t, links)
	if len(data) > 64<<10 {
		t.Fatalf("hostile archive is %d bytes; the attack needs it small", len(data))
	}
	c, err := validateCounting(t, data)
	if err != nil {
		t.Fatalf("the archive stays inside its directory and must be accepted: %v", err)
	}
	// p: 2,047 parts; q: 2,048; each l: 4.
	bound := 2047 + 2048 + 4*links
	if c.steps > bound {
		t.Errorf("%d resolution steps for %d links; want at most %d", c.steps, links, bound)
	}
	if c.parts > maxPathParts {
		t.Errorf("counted %d path parts, over the bound %d, yet accepted", c.parts, maxPathParts)
	}
}

// TestAttackLinkPartsOverBudget: path parts beyond maxPathParts are refused
// as they are read, naming the entry that crossed the bound, before any
// link is resolved.
func TestAttackLinkPartsOverBudget(t *testing.T) {
	target := strings.TrimSuffix(strings.Repeat("./", 2000), "/") // 2,000 parts, 3,999 bytes
	c := newChecker(Limits{MaxEntries: 1 << 20}.withDefaults())
	var err error
	var i int
	for i = 0; err == nil; i++ {
		_, _, err = c.add(&tar.Header{Name: fmt.Sprintf("l%d", i), Typeflag: tar.TypeSymlink, Linkname: target})
	}
	ae, ok := errors.AsType[*ArchiveError](err)
	if !ok || ae.Problem != ProblemTooDeep || ae.Entry != fmt.Sprintf("l%d", i-1) {
		t.Fatalf("after %d links: %v; want %q naming the last link", i, err, ProblemTooDeep)
	}
	if c.steps != 0 {
		t.Errorf("%d resolution steps taken before the refusal; want 0", c.steps)
	}
	if want := maxPathParts/2001 + 1; i != want {
		t.Errorf("refused at link %d; want %d", i, want)
	}
}

// TestLinkResolutionMatchesReference compares the memoised resolution with
// a direct one (the previous implementation: a fresh walk of every link,
// re-joining the path at each part) on hand-written link graphs.
func TestLinkResolutionMatchesReference(t *testing.T) {
	for _, desc := range linkGraphs {
		t.Run(desc, func(t *testing.T) { compareWithReference(t, desc) })
	}
}

var linkGraphs = []string{
	"f VERSION\ns lib/l ../VERSION\nh h VERSION",
	"d a\ns a/b .\ns c a/b/b/b\nf a/f",
	"d sub\ns sub/s2 ..\ns x sub/s2/..",
	"s a b\ns b a",
	"s a a",
	"s d .\nf d/x",
	"f a\ns b a/..",
	"f a\ns b a/../..",
	"d a\nd a/b\ns a/b/c ../../a\ns up a/b/c/..",
	"d a/b/c\ns l a/b/c/../../..\ns m l/..",
	"s x nowhere/../..\nd y",
	"s x nowhere/../../y",
	"d d\ns d/u ..\ns v d/u/d/u/d/u/d/u\ns w v/..",
	"s l0 .\ns l1 l0/l0\ns l2 l1/l1\ns l3 l2/l2\ns l4 l3/l3\ns l5 l4/l4\ns l6 l5/l5",
	"s l0 .\ns l1 l0/l0/l0/l0/l0/l0/l0/l0/l0/l0\ns l2 l1/l1/l1/l1/l1\ns l3 l2",
}

// compareWithReference builds the archive described by desc (lines of
// "f name", "d name", "s name target", "h name target") and checks that
// the checker refuses a link exactly when the reference does.
func compareWithReference(t *testing.T, desc string) {
	c := newChecker(Limits{MaxEntries: 64}.withDefaults())
	for _, line := range strings.Split(desc, "\n") {
		f := strings.SplitN(line, " ", 3)
		if len(f) < 2 {
			continue
		}
		h := &tar.Header{Name: f[1], Typeflag: tar.TypeReg}
		switch f[0] {
		case "d":
			h.Typeflag, h.Name = tar.TypeDir, h.Name+"/"
		case "s", "h":
			if len(f) < 3 {
				continue
			}
			h.Typeflag, h.Linkname = tar.TypeLink, f[2]
			if f[0] == "s" {
				h.Typeflag = tar.TypeSymlink
			}
		case "f":
		default:
			continue
		}
		if _, _, err := c.add(h); err != nil {
			return // refused while reading: nothing to resolve
		}
	}
	if len(c.entries) == 0 {
		return
	}
	_, err := c.finish()
	want := referenceFirstEscape(c.entries)
	got := ""
	if ae, ok := errors.AsType[*ArchiveError](err); ok {
		if ae.Problem != ProblemLinkEscapes {
			t.Fatalf("%q: finish = %v; want nil or %q", desc, err, ProblemLinkEscapes)
		}
		got = ae.Entry
	}
	if got != want {
		t.Errorf("%q: first link refused %q; reference refuses %q", desc, got, want)
	}
}

// referenceFirstEscape is the direct resolution: every link walked from
// scratch, the joined path looked up at every part.
func referenceFirstEscape(entries []Entry) string {
	byName := map[string]Entry{}
	for _, e := range entries {
		byName[e.Name] = e
	}
	for _, e := range entries {
		if e.Type != Symlink {
			continue
		}
		follows := 0
		parts := strings.Split(e.Name, "/")
		if _, ok := referenceResolve(byName, parts[:len(parts)-1], e.Linkname, &follows); !ok {
			return e.Name
		}
	}
	return ""
}

func referenceResolve(byName map[string]Entry, base []string, target string, follows *int) ([]string, bool) {
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
		e, ok := byName[strings.Join(cur, "/")]
		if !ok || e.Type != Symlink {
			continue
		}
		if *follows++; *follows > maxLinkFollows {
			return nil, false
		}
		if cur, ok = referenceResolve(byName, cur[:len(cur)-1], e.Linkname, follows); !ok {
			return nil, false
		}
	}
	return cur, true
}
