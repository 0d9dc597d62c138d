package agent

import (
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// FuzzReadJournal feeds arbitrary bytes to the journal reader: it must
// never panic, and what it accepts must survive a write and a re-read.
func FuzzReadJournal(f *testing.F) {
	j := newJournal()
	in := inst(mf("webkit", 1))
	j.Installed["webkit"] = &in
	j.Pending = &Step{Kind: Install, Component: "webkit", From: &in, Reason: "desired", Started: start}
	j.decline("webkit", "webkit-26.3-b", "health check failed", start)
	j.LastCheck = &CheckRecord{At: start, Freshness: &Freshness{Verified: start, TimestampExpires: start.Add(24 * time.Hour)}}
	dir := f.TempDir()
	seed := filepath.Join(dir, "seed.json")
	if err := writeJSON(seed, j); err != nil {
		f.Fatal(err)
	}
	b, _ := os.ReadFile(seed)
	f.Add(b)
	f.Add([]byte(`{"format":1,"installed":{}}`))
	f.Add([]byte(`{"format":2}`))
	f.Add([]byte(`{"format":1,"installed":{"webkit":null}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "j.json")
		os.WriteFile(p, data, 0o600)
		j, err := readJournal(p)
		if err != nil {
			return
		}
		for _, in := range j.installedList() {
			_ = in.Label() // what status prints must not panic
		}
		if err := writeJSON(p, j); err != nil {
			t.Fatal(err)
		}
		if _, err := readJournal(p); err != nil {
			t.Fatalf("re-read of a written journal: %v", err)
		}
	})
}

// FuzzEscapeName: the cache file name of a target path is one plain name
// in the cache directory (no "/", "\\", NUL, no leading "." so neither
// "." nor ".." nor hidden), it decodes back to the path, and a change of
// the path's last byte changes the name.
func FuzzEscapeName(f *testing.F) {
	for _, s := range []string{"webkit/webkit-26.3-a.tar.gz", "..", ".", ".hidden", "a/../../b", "%2F", "~x", "é", "nul\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if p == "" {
			return // no target has an empty path
		}
		name := escapeName(p)
		if strings.ContainsAny(name, "/\\\x00") || strings.HasPrefix(name, ".") {
			t.Fatalf("%q -> unsafe file name %q", p, name)
		}
		if filepath.Base(name) != name {
			t.Fatalf("%q -> %q is not one path element", p, name)
		}
		if back, err := url.PathUnescape(name); err != nil || back != p {
			t.Fatalf("%q -> %q decodes to %q (%v)", p, name, back, err)
		}
		q := p[:len(p)-1] + string(p[len(p)-1]^1)
		if escapeName(q) == name {
			t.Fatalf("%q and %q share the name %q", p, q, name)
		}
	})
}

// FuzzSplitRef: a request ref is read without panicking; what is accepted
// is a bare id or one COMPONENT/ID pair, both non-empty, that writes back
// to the same ref.
func FuzzSplitRef(f *testing.F) {
	for _, s := range []string{"webkit-26.3-a", "webkit/fix-1", "webkit/", "/fix-1", "a/b/c", "", "/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ref string) {
		c, id, err := splitRef(ref)
		if err != nil {
			return
		}
		switch {
		case c == "" && id != ref:
			t.Errorf("splitRef(%q) = bare %q", ref, id)
		case c != "" && (id == "" || strings.Contains(id, "/") || strings.Contains(c, "/") || c+"/"+id != ref):
			t.Errorf("splitRef(%q) = %q, %q", ref, c, id)
		}
	})
}
