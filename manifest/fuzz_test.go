package manifest

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
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
			return
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
