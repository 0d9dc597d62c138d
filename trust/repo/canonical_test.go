package repo

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/secure-systems-lab/go-securesystemslib/cjson"
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
