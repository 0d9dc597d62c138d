package repo

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/secure-systems-lab/go-securesystemslib/cjson"
	"github.com/theupdateframework/go-tuf/v2/metadata"
)

func TestCanonicalJSON(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{"b":1,"a":[true,false,null,"x"]}`, `{"a":[true,false,null,"x"],"b":1}`},
		{` { "a" : { "d" : -3 , "c" : "q\"\\" } } `, `{"a":{"c":"q\"\\","d":-3}}`},
		{`{"a":1,"a":2}`, `{"a":2}`},
		{`"\u003c\n\u00e9"`, "\"<\n\u00e9\""},
		{`{"\u0062":1,"a":2}`, `{"a":2,"b":1}`},
		{`[]`, `[]`},
		{`{}`, `{}`},
	} {
		got, err := canonicalJSON([]byte(tc.in))
		if err != nil || string(got) != tc.want {
			t.Errorf("canonicalJSON(%s) = %s, %v; want %s", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{`1.5`, `{"a":1e3}`, `{"a":`, `99999999999999999999`, `{} x`} {
		if got, err := canonicalJSON([]byte(bad)); err == nil {
			t.Errorf("canonicalJSON(%s) = %s, want an error", bad, got)
		}
	}
}

// TestCanonicalOfTargets: a role with targets, custom data and
// delegations is encoded exactly as go-tuf's signing path does.
func TestCanonicalOfTargets(t *testing.T) {
	f := binnedRepo(t, 3)
	for _, role := range []string{"targets", "webkit", f.ws.roleForTarget("webkit", "webkit/webkit-001.tar.gz")} {
		m, err := f.ws.targetsRole(role)
		if err != nil {
			t.Fatal(err)
		}
		want, err := cjson.EncodeCanonical(m.Signed)
		if err != nil {
			t.Fatal(err)
		}
		got, err := canonicalOf(m.Signed)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: canonicalOf differs from cjson (%v):\n%s\n%s", role, err, got, want)
		}
	}
}

// FuzzCanonicalJSON: for any valid JSON, canonicalJSON agrees with
// cjson.EncodeCanonical, and its output is its own canonical form.
func FuzzCanonicalJSON(f *testing.F) {
	for _, s := range []string{`{"b":1,"a":[true,false,null,"x"]}`, `{"a":1,"a":2}`, `"\u003c\n\ud83d\ude00"`,
		`{"signed":{"_type":"targets","targets":{"x/y.tar":{"custom":{"bsi":{"title":"a<b"}},"length":3}}}}`, `-0`, "\"\xff\""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if !json.Valid(in) {
			return
		}
		want, wantErr := cjson.EncodeCanonical(json.RawMessage(in))
		got, err := canonicalJSON(in)
		if (err == nil) != (wantErr == nil) || !bytes.Equal(got, want) {
			t.Fatalf("canonicalJSON(%q) = %q, %v; cjson: %q, %v", in, got, err, want, wantErr)
		}
		if err == nil && json.Valid(got) {
			again, err := canonicalJSON(got)
			if err != nil || !bytes.Equal(again, got) {
				t.Fatalf("not idempotent: %q -> %q, %v", got, again, err)
			}
		}
	})
}

// canonicalTargetsCase is a role with one entry built from fuzz input, and
// entries around it.
func canonicalTargetsCase(path string, custom []byte, length int64, sha512 bool) *metadata.TargetsType {
	m := metadata.Targets(time.Date(2027, 1, 2, 3, 4, 5, 0, time.UTC))
	m.Signed.Version = 7
	for _, p := range []string{"webkit/a.tar.gz", "webkit/b.tar", "z/\u00e9\"\\.tar"} {
		raw := json.RawMessage(`{"bsi":{"id":"a","title":"x < y & \"z\" \u00e9"}}`)
		m.Signed.Targets[p] = &metadata.TargetFiles{Path: p, Length: 3, Hashes: metadata.Hashes{"sha256": []byte{1, 2, 3}}, Custom: &raw}
	}
	tf := &metadata.TargetFiles{Path: path, Length: length, Hashes: metadata.Hashes{"sha256": []byte(path)}}
	if sha512 {
		tf.Hashes["sha512"] = []byte{0xff, 0}
	}
	if custom != nil {
		raw := json.RawMessage(custom)
		tf.Custom = &raw
	}
	m.Signed.Targets[path] = tf
	return &m.Signed
}

// TestCanonicalTargetsMatchesCJSON: the role encoded entry by entry is
// byte for byte what cjson (go-tuf's signing and verifying path) gives.
func TestCanonicalTargetsMatchesCJSON(t *testing.T) {
	f := binnedRepo(t, 3)
	var cases []*metadata.TargetsType
	for _, role := range []string{"targets", "webkit", f.ws.roleForTarget("webkit", "webkit/webkit-001.tar.gz")} {
		m, err := f.ws.targetsRole(role)
		if err != nil {
			t.Fatal(err)
		}
		cases = append(cases, &m.Signed)
	}
	cases = append(cases,
		canonicalTargetsCase("webkit/c.tar", nil, 0, false),
		canonicalTargetsCase("webkit/c.tar", []byte(` {"b": [1, 2], "a": null} `), 1<<40, true),
		canonicalTargetsCase("\u00ff/<&>", []byte(`"\u003c\ud83d\ude00"`), 5, true),
		canonicalTargetsCase("x", []byte(`null`), 5, false))
	many := canonicalTargetsCase("webkit/m.tar", []byte(`{"b":1,"a":2}`), 9, true)
	for i := range 2*entriesPerPart + 3 { // three pieces written concurrently
		raw := json.RawMessage(fmt.Sprintf(`{"bsi": {"seq": %d, "id": "m%d"}}`, i, i))
		p := fmt.Sprintf("webkit/m-%06d.tar", i)
		many.Targets[p] = &metadata.TargetFiles{Path: p, Length: int64(i), Hashes: metadata.Hashes{"sha256": []byte(p)}, Custom: &raw}
	}
	cases = append(cases, many)
	withField := canonicalTargetsCase("y", nil, 1, false)
	withField.Targets["y"].UnrecognizedFields = map[string]any{"extra": "kept"}
	cases = append(cases, withField)
	for i, s := range cases {
		want, err := cjson.EncodeCanonical(s)
		if err != nil {
			t.Fatal(err)
		}
		got, err := canonicalTargets(s)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("case %d: canonicalTargets differs from cjson (%v):\n%s\n%s", i, err, got, want)
		}
	}
}

// TestCanonicalTargetsCache: encoding a role again with the entry cache
// of the last encoding gives cjson's bytes after entries are added,
// replaced (a new custom, a new length, a new entry with the same
// fields), removed, and after the cache's own bytes are overwritten by
// nothing: the cache is only used for the very entries it was made from.
func TestCanonicalTargetsCache(t *testing.T) {
	s := canonicalTargetsCase("webkit/m.tar", nil, 9, false)
	entry := func(p string, i int) *metadata.TargetFiles {
		raw := json.RawMessage(fmt.Sprintf(`{"bsi": {"seq": %d, "id": "m%d"}}`, i, i))
		return &metadata.TargetFiles{Path: p, Length: int64(i), Hashes: metadata.Hashes{"sha256": []byte(p)}, Custom: &raw}
	}
	for i := range entriesPerPart + 10 {
		p := fmt.Sprintf("webkit/m-%06d.tar", i)
		s.Targets[p] = entry(p, i)
	}
	var cache entryCache
	check := func(step string) {
		t.Helper()
		want, err := cjson.EncodeCanonical(s)
		if err != nil {
			t.Fatal(err)
		}
		got, next, err := canonicalTargetsCached(s, cache)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s: canonicalTargetsCached differs from cjson (%v)", step, err)
		}
		if len(next) != len(s.Targets) {
			t.Fatalf("%s: cache of %d entries for %d targets", step, len(next), len(s.Targets))
		}
		cache = next
	}
	check("first")
	check("unchanged")
	// Added at the start, in the middle and at the end (pieces shift).
	for _, p := range []string{"a-first.tar", "webkit/m-000100.5.tar", "zz-last.tar"} {
		s.Targets[p] = entry(p, 7)
	}
	check("added")
	// Replaced: a new custom (a withdrawal), a new length.
	p := "webkit/m-000005.tar"
	old := s.Targets[p]
	tf := *old
	raw := json.RawMessage(`{"bsi": {"status": "withdrawn"}}`)
	tf.Custom = &raw
	s.Targets[p] = &tf
	check("new custom")
	tf2 := *s.Targets[p]
	tf2.Length = 12345
	s.Targets[p] = &tf2
	check("new length")
	// The same entry in place with another custom pointer.
	raw2 := json.RawMessage(`{"bsi": {"status": "active"}}`)
	s.Targets[p].Custom = &raw2
	check("custom pointer changed in place")
	delete(s.Targets, "webkit/m-000000.tar")
	delete(s.Targets, "zz-last.tar")
	check("removed")
}

// TestCanonicalTargetsManyBadCustom: a custom value that is not canonical
// JSON (a float) in a late piece of a big role fails the whole role, naming
// the target.
func TestCanonicalTargetsManyBadCustom(t *testing.T) {
	s := canonicalTargetsCase("webkit/m.tar", nil, 9, false)
	for i := range 3 * entriesPerPart {
		raw := json.RawMessage(`{"n":1}`)
		if i == 2*entriesPerPart+5 {
			raw = json.RawMessage(`{"n":1.5}`)
		}
		p := fmt.Sprintf("webkit/m-%06d.tar", i)
		s.Targets[p] = &metadata.TargetFiles{Path: p, Length: 1, Hashes: metadata.Hashes{"sha256": []byte(p)}, Custom: &raw}
	}
	_, err := canonicalTargets(s)
	want := fmt.Sprintf("webkit/m-%06d.tar", 2*entriesPerPart+5)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("canonicalTargets = %v, want an error naming %s", err, want)
	}
}

// FuzzCanonicalTargets: for any path, custom value and length, the role
// encoded entry by entry agrees with cjson.
func FuzzCanonicalTargets(f *testing.F) {
	f.Add("webkit/a.tar", []byte(`{"bsi":{"id":"a"}}`), int64(3), false)
	f.Add("w/\"q\"", []byte(`[1,"\u00e9",{"b":1,"a":2}]`), int64(0), true)
	f.Add("\xff", []byte(`{}`), int64(-1), false)
	f.Fuzz(func(t *testing.T, path string, custom []byte, length int64, sha512 bool) {
		if !json.Valid(custom) {
			custom = nil
		}
		s := canonicalTargetsCase(path, custom, length, sha512)
		want, wantErr := cjson.EncodeCanonical(s)
		got, err := canonicalTargets(s)
		if (err == nil) != (wantErr == nil) || !bytes.Equal(got, want) {
			t.Fatalf("canonicalTargets = %q, %v; cjson: %q, %v", got, err, want, wantErr)
		}
	})
}
