package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// FuzzDecode requires that whatever Decode accepts encodes, decodes back to
// an equal manifest, encodes to the same bytes, and survives the custom
// field. Seeds: the valid manifests under testdata and a few broken ones.
func FuzzDecode(f *testing.F) {
	files, err := filepath.Glob("testdata/*.json")
	if err != nil || len(files) == 0 {
		f.Fatalf("no seeds: %v", err)
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(doc))
	f.Add([]byte(`{"schema":"bsi.improvement/v1","sequence":1e0,"sequence":1}`))
	f.Add([]byte(`{"applies_to":{"releases":["26.3","26.3"]}} {}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Decode(data)
		if err != nil {
			if m != nil {
				t.Fatal("manifest returned with an error")
			}
			if json.Valid(data) && isSyntaxError(err) {
				t.Fatalf("valid JSON refused as malformed: %v", err)
			}
			return
		}
		// Differential: encoding/json reads the same bytes the same way.
		var plain Manifest
		if err := json.Unmarshal(data, &plain); err != nil {
			t.Fatalf("accepted what encoding/json refuses: %v", err)
		}
		if diff := cmp.Diff(&plain, m, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("encoding/json reads it differently (-json +Decode):\n%s", diff)
		}
		enc, err := m.Encode()
		if err != nil {
			t.Fatalf("decoded manifest does not encode: %v", err)
		}
		m2, err := Decode(enc)
		if err != nil {
			t.Fatalf("encoded manifest does not decode: %v\n%s", err, enc)
		}
		if diff := cmp.Diff(m, m2); diff != "" {
			t.Fatalf("decode → encode → decode differs (-first +second):\n%s", diff)
		}
		if enc2, err := m2.Encode(); err != nil || !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding is not stable: %v\n%s\n%s", err, enc, enc2)
		}
		custom, err := m.Custom()
		if err != nil {
			t.Fatalf("Custom: %v", err)
		}
		m3, err := FromCustom(custom)
		if err != nil {
			t.Fatalf("FromCustom: %v\n%s", err, custom)
		}
		if diff := cmp.Diff(m, m3); diff != "" {
			t.Fatalf("custom round trip differs (-want +got):\n%s", diff)
		}
	})
}

// isSyntaxError reports whether Decode called the input malformed JSON (as
// opposed to a well-formed document that breaks the schema).
func isSyntaxError(err error) bool {
	var ve *ValidationError
	if !errors.As(err, &ve) {
		return false
	}
	for _, p := range ve.Problems {
		if strings.HasPrefix(p.Problem, "invalid JSON") || p.Problem == "unexpected end of JSON" ||
			strings.HasPrefix(p.Problem, "trailing data") || p.Problem == "empty document" {
			return true
		}
	}
	return false
}

// FuzzLexString requires that the lexer unescapes every string exactly as
// encoding/json does, and refuses the same malformed ones.
func FuzzLexString(f *testing.F) {
	for _, s := range []string{`abc`, `a\"b`, `\u00e9\ud83d\ude00`, `\ud800`, `\ud800\u0041`, `\udc00\ud800`, `\q`, `\u12`, "tab\there", "\x01"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		if !utf8.ValidString(body) {
			return // Decode refuses invalid UTF-8 before lexing
		}
		quoted := []byte(`"` + body + `"`)
		var want string
		wantErr := json.Unmarshal(quoted, &want)
		l := &lexer{data: quoted}
		got, err := l.str()
		if err == nil && l.pos != len(quoted) {
			return // the body holds a quote: encoding/json sees trailing data
		}
		switch {
		case wantErr == nil && err != nil:
			t.Fatalf("lexer refuses %q: %s", quoted, err.problem)
		case wantErr != nil && err == nil:
			t.Fatalf("lexer accepts %q, encoding/json: %v", quoted, wantErr)
		case err == nil && got != want:
			t.Fatalf("lexer reads %q as %q, encoding/json as %q", quoted, got, want)
		}
	})
}

// FuzzFromCustom requires that FromCustom never panics and agrees with
// Decode on the value it extracts.
func FuzzFromCustom(f *testing.F) {
	for _, m := range testdataManifests(f) {
		c, err := m.Custom()
		if err != nil {
			f.Fatal(err)
		}
		f.Add([]byte(c))
	}
	f.Add([]byte(`{"bsi":{},"bsi":{}}`))
	f.Add([]byte(`{"other":[1.5],"bsi":null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := FromCustom(data)
		if err != nil {
			return
		}
		c, err := m.Custom()
		if err != nil {
			t.Fatalf("accepted manifest does not re-encode: %v", err)
		}
		m2, err := FromCustom(c)
		if err != nil || !cmp.Equal(m, m2) {
			t.Fatalf("round trip: %v", err)
		}
	})
}
