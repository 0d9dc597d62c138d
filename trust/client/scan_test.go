package client

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/bsiframework/bsi/trust"
)

// scanSeeds are role files: pretty and compact, with escapes in keys and
// strings, delegations before and after targets, and entries absent.
var scanSeeds = []string{
	`{"signatures":[{"keyid":"a","sig":"b"}],"signed":{"_type":"targets","delegations":{"keys":{},"roles":[{"name":"x","keyids":[],"threshold":1,"terminating":true,"paths":["x/*"]}]},"expires":"2030-01-01T00:00:00Z","targets":{"a/b.tar":{"custom":{"bsi":{"x":[1,{"y":"}\"]"}]}},"hashes":{"sha256":"00"},"length":3},"c":{"hashes":{"sha256":"11"},"length":0}},"version":2}}`,
	"{\n  \"signed\": {\n    \"targets\": {\n      \"w\\u002fx\": {\"length\": 1, \"hashes\": {\"sha512\": \"ab\"}},\n      \"q\\\\\": {\"length\": 2, \"hashes\": {\"sha256\": \"cd\"}}\n    },\n    \"delegations\": {\"keys\": {}, \"succinct_roles\": {\"keyids\": [], \"threshold\": 1, \"bit_length\": 8, \"name_prefix\": \"w.bin\"}},\n    \"version\": 1\n  },\n  \"signatures\": []\n}",
	`{"signed":{"targets":{}},"signatures":[]}`,
	`{"signed":{"version":1,"targets":{"a":{"length":1,"hashes":{"sha256":"00"},"custom":null}}}}`,
}

// TestScanTargetsMatchesDecode: for every target of each seed (and one
// that is absent), the scan finds what encoding/json decodes.
func TestScanTargetsMatchesDecode(t *testing.T) {
	for _, seed := range scanSeeds {
		checkScan(t, []byte(seed))
	}
}

func FuzzScanTargets(f *testing.F) {
	for _, s := range scanSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) { checkScan(t, raw) })
}

// checkScan compares scanTargets with a full decode of raw, for inputs
// that a full decode accepts (the scanner only ever sees such bytes).
func checkScan(t *testing.T, raw []byte) {
	// The client's own decode is the gate: plain encoding/json accepts
	// files (a second "signed", say) that no client would verify.
	var full struct{ Signed targetsSigned }
	if _, err := decode("r", roleTargets, raw, &full.Signed); err != nil || canonicalizeOK(raw) != nil {
		return
	}
	names := []string{"absent/target"}
	for p := range full.Signed.Targets {
		names = append(names, p)
	}
	for _, p := range names {
		f := &targetsFile{role: "r", raw: raw}
		e, d, err := f.find(p)
		if err != nil {
			// A file whose entries or delegations fail the checks in
			// full fails them when scanned too.
			if checkTargets("r", &full.Signed) == nil {
				t.Fatalf("find(%q): %v on a file that decodes and checks", p, err)
			}
			continue
		}
		if diff := cmp.Diff(full.Signed.Targets[p], e); diff != "" {
			t.Errorf("entry %q (-decode +scan):\n%s", p, diff)
		}
		if diff := cmp.Diff(full.Signed.Delegations, d); diff != "" {
			t.Errorf("delegations (-decode +scan):\n%s", diff)
		}
	}
}

// canonicalizeOK is the check every verified file passed: no duplicate
// keys, no floats, valid UTF-8.
func canonicalizeOK(raw []byte) error {
	_, err := canonicalize(nil, raw)
	return err
}

// bigTargets is a role file listing n targets, each with hashes and a
// custom manifest, as trust/repo writes them.
func bigTargets(n int) []byte {
	var b []byte
	b = append(b, `{"signatures":[],"signed":{"_type":"targets","expires":"2030-01-01T00:00:00Z","targets":{`...)
	for i := range n {
		if i > 0 {
			b = append(b, ',')
		}
		b = fmt.Appendf(b, `"webkit/webkit-%07d.tar.gz":{"custom":{"bsi":{"id":"webkit-%07d","sequence":%d,"title":"a fix"}},"hashes":{"sha256":"%064x","sha512":"%0128x"},"length":1234}`, i, i, i+1, i, i)
	}
	return append(b, `},"version":1}}`...)
}

// BenchmarkLookupScan is a look-up in a role trusted through the record
// (scan for one entry) against decoding the role in full.
func BenchmarkLookupScan(b *testing.B) {
	raw := bigTargets(10000)
	b.SetBytes(int64(len(raw)))
	b.Run("scan", func(b *testing.B) {
		for b.Loop() {
			f := &targetsFile{role: "webkit", raw: raw}
			if e, _, err := f.find("webkit/webkit-0005000.tar.gz"); err != nil || e == nil {
				b.Fatal(e, err)
			}
		}
	})
	b.Run("decode", func(b *testing.B) {
		for b.Loop() {
			var t targetsSigned
			if _, err := decode("webkit", roleTargets, raw, &t); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("canonical", func(b *testing.B) {
		for b.Loop() {
			if _, err := canonicalize(make([]byte, 0, len(raw)), raw); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestMalformedCustomRefused (a regression test, not an attack fixed: the
// old code refused this too): a target whose custom field is not JSON
// (here a trailing comma inside it) is refused as malformed metadata on
// both paths that read entries, the full decode and the scanner. No
// check of its own does it (checkEntry relies on encoding/json, which
// validates the whole document before it fills a json.RawMessage).
func TestMalformedCustomRefused(t *testing.T) {
	s := newSim(t)
	s.addTarget("targets", "webkit/a.tar.gz", []byte("a"), `{"bsi":{"sequence":1}}`)
	s.publish("targets")
	good := s.get("2.targets.json")
	i := bytes.Index(good, []byte(`"sequence"`))
	if i < 0 {
		t.Fatal("custom not found in targets.json")
	}
	i += bytes.IndexByte(good[i:], '}')
	bad := append(append(bytes.Clone(good[:i]), ','), good[i:]...)
	var ts targetsSigned
	_, err := decode("targets", roleTargets, bad, &ts)
	if err == nil {
		err = checkTargets("targets", &ts)
	}
	wantErr[*FormatError](t, err, trust.ErrSecurity)
	f := &targetsFile{role: "targets", raw: bad}
	_, _, err = f.scan("webkit/a.tar.gz", true)
	wantErr[*FormatError](t, err, trust.ErrSecurity)
	// The genuine file passes both.
	if _, err := decode("targets", roleTargets, good, &ts); err != nil {
		t.Fatal(err)
	}
	if e, _, err := (&targetsFile{role: "targets", raw: good}).scan("webkit/a.tar.gz", true); err != nil || e == nil {
		t.Fatalf("genuine entry: %v, %v", e, err)
	}
}
