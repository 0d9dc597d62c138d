package client

import (
	"bytes"
	"encoding/json"
	"maps"
	"testing"
)

// FuzzDecodeEntry checks that decodeEntry reads every valid JSON target
// entry as encoding/json does (the decoder of full verification), case
// folded and repeated keys included, and refuses what it refuses.
func FuzzDecodeEntry(f *testing.F) {
	for _, s := range []string{
		`{"custom":{"bsi":{"id":"a"}},"hashes":{"sha256":"00"},"length":3}`,
		`{"length":1,"Length":2,"hashes":{}}`,
		`{"\u006cength":7,"hashes":{"a":"b"},"hashes":{"c":"d"}}`,
		`{"custom":null,"length":0}`,
		`{"custom":1,"custom":[1,2],"x":{"length":9}}`,
		`null`, `[]`, `{"length":"x"}`, `{"hashes":[]}`, `{"CUSTOM":{}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if !json.Valid(raw) {
			return // decodeEntry only ever reads verified files
		}
		var want *targetEntry
		wantErr := json.Unmarshal(raw, &want)
		got, err := decodeEntry(raw)
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("%s: decodeEntry error %v, encoding/json error %v", raw, err, wantErr)
		}
		if err != nil {
			return
		}
		if (got == nil) != (want == nil) {
			t.Fatalf("%s: decodeEntry %+v, encoding/json %+v", raw, got, want)
		}
		if got == nil {
			return
		}
		if got.Length != want.Length || !maps.Equal(got.Hashes, want.Hashes) || (got.Hashes == nil) != (want.Hashes == nil) ||
			!bytes.Equal(got.Custom, want.Custom) || (got.Custom == nil) != (want.Custom == nil) {
			t.Fatalf("%s: decodeEntry %+v, encoding/json %+v", raw, got, want)
		}
	})
}
