package transparency

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

var (
	h256 = strings.Repeat("ab", 32)
	h512 = strings.Repeat("cd", 64)
)

func improvement() *Entry {
	return &Entry{Kind: KindImprovement, Component: "webkit", Path: "webkit/wk-2026-001.tar.gz", Length: 5120,
		Hashes: map[string]string{"sha512": h512, "sha256": h256}, ManifestSHA256: h256, Role: "webkit", RoleVersion: 7}
}

func TestEntryRoundTrip(t *testing.T) {
	for _, e := range []*Entry{improvement(), {Kind: KindRoot, Version: 3, Length: 1789, Hashes: map[string]string{"sha256": h256}}} {
		b, err := e.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		got, err := ParseEntry(b)
		if err != nil {
			t.Fatalf("ParseEntry(%q): %v", b, err)
		}
		again, _ := got.Marshal()
		if !bytes.Equal(again, b) {
			t.Fatalf("round trip changed %q to %q", b, again)
		}
	}
	b, _ := improvement().Marshal()
	want := "bsi.tlog-entry/v1\nkind improvement\ncomponent webkit\npath webkit/wk-2026-001.tar.gz\nlength 5120\nhash sha256 " + h256 + "\nhash sha512 " + h512 + "\nmanifest-sha256 " + h256 + "\nrole webkit\nrole-version 7\n"
	if string(b) != want {
		t.Fatalf("Marshal =\n%s\nwant\n%s", b, want)
	}
}

func TestParseEntryRefuses(t *testing.T) {
	good, _ := improvement().Marshal()
	s := string(good)
	for name, in := range map[string]string{
		"no final newline": strings.TrimSuffix(s, "\n"),
		"crlf":             strings.ReplaceAll(s, "\n", "\r\n"),
		"header":           strings.Replace(s, "v1", "v2", 1),
		"order":            strings.Replace(strings.Replace(s, "role webkit\n", "", 1), "manifest-sha256", "role webkit\nmanifest-sha256", 1),
		"duplicate hash":   strings.Replace(s, "hash sha512 "+h512, "hash sha256 "+h256, 1),
		"unknown key":      s + "extra x\n",
		"leading zero":     strings.Replace(s, "length 5120", "length 05120", 1),
		"plus sign":        strings.Replace(s, "length 5120", "length +5120", 1),
		"upper hex":        strings.Replace(s, h256, strings.ToUpper(h256), 1),
		"md5":              strings.Replace(s, "hash sha512 "+h512, "hash md5 "+h256[:32], 1),
		"space in path":    strings.Replace(s, "path webkit/", "path web kit/", 1),
		"two spaces":       strings.Replace(s, "role webkit", "role  webkit", 1),
		"kind":             strings.Replace(s, "kind improvement", "kind rooot", 1),
		"root with path":   "bsi.tlog-entry/v1\nkind root\nversion 3\nlength 1\nhash sha256 " + h256 + "\npath x\n",
		"huge":             s + strings.Repeat("x", MaxEntrySize),
	} {
		if _, err := ParseEntry([]byte(in)); err == nil {
			t.Errorf("%s: ParseEntry accepted %q", name, in)
		} else if ee := new(EntryError); !errors.As(err, &ee) {
			t.Errorf("%s: error %T is not *EntryError", name, err)
		}
	}
}

func FuzzParseEntry(f *testing.F) {
	good, _ := improvement().Marshal()
	f.Add(good)
	f.Add([]byte("bsi.tlog-entry/v1\nkind root\nversion 3\nlength 1789\nhash sha256 " + h256 + "\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := ParseEntry(data)
		if err != nil {
			return
		}
		again, err := e.Marshal()
		if err != nil || !bytes.Equal(again, data) {
			t.Fatalf("accepted %q but re-marshals to %q (%v)", data, again, err)
		}
	})
}
